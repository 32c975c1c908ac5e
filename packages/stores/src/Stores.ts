/**
 * From a backend URL to layers: the store the URL names, with its
 * `ResultBackend`, `ResultBrowser`, `PipelineStore` and `PipelineBrowser`
 * over one client (one pool, one SQLite connection). This is what the
 * `taskmeta` CLI and the demo worker share; a program that only stores
 * results can use `backendLayerFromUrl` the same way.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Context from "effect/Context"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Schedule from "effect/Schedule"
import { causeMessage } from "@taskmeta/core/BackendError"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as MemoryBackend from "@taskmeta/core/MemoryBackend"
import * as MemoryBrowser from "@taskmeta/core/MemoryBrowser"
import type * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import * as TableNames from "@taskmeta/sql/TableNames"
import * as Path from "node:path"
import * as BackendUrl from "./BackendUrl.js"
import * as Pipelines from "./Pipelines.js"
import { lazyLayer } from "./internal/lazy.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends BackendOptions.Input {
  /** Where a relative SQLite path is resolved. Default: the process's working directory. */
  readonly baseDirectory?: string | undefined
  /** SQL table names (and PostgreSQL schema); Celery's by default. */
  readonly tables?: TableNames.Input | undefined
  /**
   * How SQL backends write the `result` column: `json` (default) or `pickle`
   * (what Python Celery reads back). Ignored by memory and ArangoDB. Reading
   * does not depend on it: both encodings are always decoded. Programs read
   * it from `TASKMETA_ENCODING` with `encodingConfig`.
   */
  readonly encoding?: ResultCodec.Encoding | undefined
  /**
   * Open the store only to read it: nothing is created or migrated. A
   * SQLite file is opened read-only and must exist; PostgreSQL sessions run
   * with `default_transaction_read_only = on`, create no schema and run no
   * DDL; MySQL / MariaDB sessions are `SET SESSION TRANSACTION READ ONLY`
   * (`MysqlBackend.READ_ONLY_SESSION`) and create no database; ArangoDB creates no database or collection (it never does from a
   * URL). The tables the layer serves must exist: when they do not, building
   * it fails with a `BackendOpenError` whose cause is `SqlMigrations.MissingTables`
   * (the missing tables, or a missing schema) or `SqliteBackend.MissingDatabase`.
   * Writes through a read-only SQL store fail (memory and ArangoDB do not
   * enforce it). Default off.
   */
  readonly readOnly?: boolean | undefined
}

/**
 * The encodings `Options.encoding` takes: `json` and `pickle`.
 *
 * @since 0.1.0
 * @category config
 */
export const encodings: ReadonlyArray<ResultCodec.Encoding> = ResultCodec.encodings

/**
 * `TASKMETA_ENCODING` (`json` or `pickle`, any case), `json` when unset or empty: how
 * the CLI and the worker write SQL result columns unless told otherwise.
 * `pickle` is the Celery-compatible mode.
 *
 * @since 0.1.0
 * @category config
 */
export const encodingConfig: Config.Config<ResultCodec.Encoding> = Config.string("TASKMETA_ENCODING").pipe(
  Config.mapOrFail((text) => {
    const value = text.trim().toLowerCase()
    if (value === "") return Either.right<ResultCodec.Encoding>("json")
    return value === "json" || value === "pickle"
      ? Either.right<ResultCodec.Encoding>(value)
      : Either.left(ConfigError.InvalidData([], `expected json or pickle, got ${JSON.stringify(text)}`))
  }),
  Config.withDefault<ResultCodec.Encoding>("json")
)

/**
 * The backend could not be opened: the database refused the connection,
 * the file cannot be opened, the migrations failed. The message names the
 * backend as `BackendUrl.describe` does (no password).
 *
 * @since 0.1.0
 * @category errors
 */
export class BackendOpenError extends Schema.TaggedError<BackendOpenError>("@taskmeta/stores/BackendOpenError")(
  "BackendOpenError",
  {
    backend: Schema.String,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    return `cannot open ${this.backend}: ${causeChain(this.cause)}`
  }
}

/**
 * The messages along a cause chain (`error.cause.cause…`), each once:
 * "could not set up …: Failed to acquire connection: connect ECONNREFUSED …".
 *
 * @since 0.1.0
 * @category errors
 */
export const causeChain = (cause: unknown): string => causeMessage(cause)

/**
 * What `layerFromUrl` gives: every service over one store.
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | ResultBackend.ResultBackend
  | ResultBrowser.ResultBrowser
  | PipelineStore.PipelineStore
  | Pipelines.PipelineBrowser

const toUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl
): Either.Either<BackendUrl.BackendUrl, BackendUrl.BackendConfigError> =>
  typeof url === "string" || Redacted.isRedacted(url) ? BackendUrl.parse(url) : Either.right(url)

/**
 * The SQLite file a URL names, resolved against `baseDirectory`.
 *
 * @since 0.1.0
 * @category paths
 */
export const sqliteFilename = (
  url: Extract<BackendUrl.BackendUrl, { _tag: "Sqlite" }>,
  baseDirectory: string | undefined
): string =>
  url.isAbsolute || baseDirectory === undefined ? url.filename : Path.resolve(baseDirectory, url.filename)

const opened = (url: BackendUrl.BackendUrl) => <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.mapError(layer, (cause) => new BackendOpenError({ backend: BackendUrl.describe(url), cause }))

/**
 * The client on the database a SQLite, PostgreSQL or MySQL URL names, as the
 * SQL backends open it (`SqliteBackend.layerClient`, `PgBackend.layerClient`,
 * `MysqlBackend.layerClient`;
 * with a `tables.schema`, PostgreSQL connections use it as their
 * `search_path`, and it is created when missing). With `readOnly`, the
 * client is read-only (see `Options.readOnly`) and a missing schema fails
 * the layer (`SqlMigrations.MissingTables`) instead of being created.
 *
 * @since 0.1.0
 * @category layers
 */
export const clientLayer = (
  url: Extract<BackendUrl.BackendUrl, { _tag: "Sqlite" | "Postgres" | "Mysql" }>,
  options: Options = {}
): Layer.Layer<SqlClient.SqlClient, BackendOpenError> => {
  const readOnly = options.readOnly === true
  if (url._tag === "Mysql") {
    return opened(url)(
      lazyLayer(
        () => import("@taskmeta/sql/MysqlBackend"),
        (MysqlBackend) => MysqlBackend.layerClient({ url: url.url, readOnly })
      )
    )
  }
  if (url._tag === "Sqlite") {
    const filename = sqliteFilename(url, options.baseDirectory)
    return opened(url)(
      lazyLayer(
        () => import("@taskmeta/sql/SqliteBackend"),
        (SqliteBackend) => SqliteBackend.layerClient({ filename, readOnly })
      )
    )
  }
  const schema = options.tables?.schema
  const modules = () =>
    Promise.all([
      import("@taskmeta/sql/PgBackend"),
      import("@effect/sql-pg/PgClient"),
      import("@taskmeta/sql/SqlMigrations")
    ])
  return lazyLayer(modules, ([PgBackend, PgClient, SqlMigrations]) =>
    PgBackend.layerClient({ url: url.url, tables: options.tables, readOnly }).pipe(
      // Tables addressed without a schema (the pipeline store's) live in `schema` too. CREATE SCHEMA
      // IF NOT EXISTS in two sessions at once can still collide (23505): take the lock taskmeta's
      // migrations hold while they create it, and try again if another writer raced anyway.
      // A reader only looks for it.
      Layer.tap((context) => {
        if (schema === undefined) return Effect.void
        const sql = Context.get(context, PgClient.PgClient)
        if (readOnly) return Effect.provide(SqlMigrations.checkTables(schema, []), context)
        return sql.withTransaction(
          Effect.zipRight(
            sql`SELECT pg_advisory_xact_lock(${sql.literal(String(SqlMigrations.ADVISORY_LOCK_KEY))})`,
            sql`CREATE SCHEMA IF NOT EXISTS ${sql.literal(TableNames.quote(schema))}`
          )
        ).pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("50 millis") }))
      })
    )).pipe(opened(url))
}

const backendFor = (parsed: BackendUrl.BackendUrl, options: Options): Layer.Layer<
  ResultBackend.ResultBackend,
  BackendOpenError
> => {
  const { baseDirectory: _base, encoding, readOnly, tables, ...backendOptions } = options
  const open = opened(parsed)
  switch (parsed._tag) {
    case "Memory":
      return MemoryBackend.layer(backendOptions)
    case "Sqlite": {
      const filename = sqliteFilename(parsed, options.baseDirectory)
      return open(lazyLayer(() => import("@taskmeta/sql/SqliteBackend"), (SqliteBackend) =>
        SqliteBackend.layer({
          ...backendOptions,
          encoding,
          readOnly,
          filename,
          tables: tables === undefined ? undefined : { tasks: tables.tasks, groups: tables.groups }
        })))
    }
    case "Postgres":
      return open(lazyLayer(() => import("@taskmeta/sql/PgBackend"), (PgBackend) =>
        PgBackend.layer({ ...backendOptions, encoding, readOnly, url: parsed.url, tables })))
    case "Mysql":
      return open(lazyLayer(() => import("@taskmeta/sql/MysqlBackend"), (MysqlBackend) =>
        MysqlBackend.layer({ ...backendOptions, encoding, readOnly, url: parsed.url, tables })))
    case "Arango":
      return open(lazyLayer(() => import("@taskmeta/arango/ArangoBackend"), (ArangoBackend) =>
        ArangoBackend.layer({ url: parsed.url }, backendOptions)))
  }
}

/**
 * The `ResultBackend` a URL selects (what a worker needs). Relative SQLite
 * paths resolve against `options.baseDirectory`. With `readOnly`, it reads
 * an existing store and changes nothing (see `Options.readOnly`).
 *
 * @since 0.1.0
 * @category layers
 */
export const backendLayerFromUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Options = {}
): Layer.Layer<ResultBackend.ResultBackend, BackendUrl.BackendConfigError | BackendOpenError> =>
  Either.match(toUrl(url), { onLeft: (error) => Layer.fail(error), onRight: (parsed) => backendFor(parsed, options) })

/**
 * What `resultsLayerFromUrl` gives: the task results of one store.
 *
 * @since 0.1.0
 * @category models
 */
export type ResultServices = ResultBackend.ResultBackend | ResultBrowser.ResultBrowser

/**
 * The task results a URL names, over one client: the `ResultBackend` and a
 * `ResultBrowser` (list, stats, export), without the pipeline store. This
 * is the layer for reading a store, Celery's included:
 * `resultsLayerFromUrl(url, { readOnly: true })` creates nothing and fails
 * with a `BackendOpenError` naming what is missing (`Options.readOnly`); only
 * `celery_taskmeta` and `celery_tasksetmeta` (or the configured names) need
 * to exist.
 *
 * @since 0.1.0
 * @category layers
 */
export const resultsLayerFromUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Options = {}
): Layer.Layer<ResultServices, BackendUrl.BackendConfigError | BackendOpenError> =>
  Either.match(toUrl(url), {
    onLeft: (error) => Layer.fail(error),
    onRight: (parsed): Layer.Layer<ResultServices, BackendUrl.BackendConfigError | BackendOpenError> => {
      const { baseDirectory: _base, encoding, readOnly, tables, ...backendOptions } = options
      switch (parsed._tag) {
        case "Memory":
          return MemoryBrowser.layer(backendOptions)
        case "Sqlite":
        case "Postgres":
        case "Mysql": {
          const names = parsed._tag === "Sqlite" && tables !== undefined
            ? { tasks: tables.tasks, groups: tables.groups }
            : tables
          return lazyLayer(
            () => Promise.all([import("@taskmeta/sql/SqlBackend"), import("@taskmeta/sql/SqlBrowser")]),
            ([SqlBackend, SqlBrowser]) =>
              Layer.provideMerge(
                SqlBrowser.layer({ tables: names }),
                SqlBackend.layer({ ...backendOptions, encoding, readOnly, tables: names })
              )
          ).pipe(opened(parsed), Layer.provide(clientLayer(parsed, options)))
        }
        case "Arango":
          return Layer.provideMerge(
            opened(parsed)(
              lazyLayer(() => import("@taskmeta/arango/ArangoBrowser"), (ArangoBrowser) =>
                ArangoBrowser.layer({ url: parsed.url }))
            ),
            backendFor(parsed, options)
          )
      }
    }
  })

/**
 * The store a URL names, every service over one client: the
 * `ResultBackend`, a `ResultBrowser`, the `PipelineStore` and a
 * `PipelineBrowser` (what tools and workers need). On SQL that is
 * `SqlStore` over the one client `clientLayer` opens; relative SQLite paths
 * resolve against `options.baseDirectory`. For ArangoDB the browser is
 * `ArangoBrowser` (lists are newest first by `date_done`, see there);
 * nothing is created in the database. With `readOnly` nothing is created
 * or migrated anywhere, and every table the services use must exist, the
 * pipeline tables included (`resultsLayerFromUrl` needs only the task and
 * group tables).
 *
 * @example
 * ```ts
 * import { ResultBackend, ResultBrowser } from "@taskmeta/core"
 * import { Stores } from "@taskmeta/stores"
 * import { Effect, Stream } from "effect"
 *
 * // Celery's URLs: memory://, db+sqlite:///results.sqlite, db+postgresql://user:pass@host/db,
 * // arangodb://user:pass@host:8529/database/collection. Every service shares one client.
 * const Store = Stores.layerFromUrl("memory://", { resultExtended: true })
 *
 * const program = Effect.gen(function*() {
 *   yield* ResultBackend.markAsDone("task-1", 256, { name: "multiply_two_numbers", args: [16, 16] })
 *   yield* ResultBackend.markAsFailure("task-2", new RangeError("too big"), { name: "multiply_two_numbers" })
 *
 *   const browser = yield* ResultBrowser.ResultBrowser
 *   const stats = yield* browser.stats
 *   console.log(stats.tasks, stats.byState, stats.failureRate) // 2 { SUCCESS: 1, FAILURE: 1 } 0.5
 *   const failed = yield* Stream.runCollect(browser.list({ states: ["FAILURE"] }))
 *   console.log(Array.from(failed, (record) => record.taskId)) // [ "task-2" ]
 * })
 *
 * // A bad URL fails the layer with a BackendConfigError; an unreachable store with a BackendOpenError.
 * Effect.runPromise(program.pipe(Effect.provide(Store)))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Options = {}
): Layer.Layer<Services, BackendUrl.BackendConfigError | BackendOpenError> =>
  Either.match(toUrl(url), {
    onLeft: (error) => Layer.fail(error),
    onRight: (parsed): Layer.Layer<Services, BackendUrl.BackendConfigError | BackendOpenError> => {
      const { baseDirectory: _base, encoding, readOnly, tables, ...backendOptions } = options
      switch (parsed._tag) {
        case "Memory":
          return Layer.merge(MemoryBrowser.layer(backendOptions), Pipelines.layerFromUrl(parsed, options))
        case "Sqlite":
        case "Postgres":
        case "Mysql": {
          const store = lazyLayer(() => import("@taskmeta/sql/SqlStore"), (SqlStore) =>
            SqlStore.layer({
              ...backendOptions,
              encoding,
              readOnly,
              tables: parsed._tag === "Sqlite" && tables !== undefined
                ? { tasks: tables.tasks, groups: tables.groups }
                : tables
            }))
          return Layer.merge(store, Pipelines.layerSqlBrowser()).pipe(
            opened(parsed),
            Layer.provide(clientLayer(parsed, options))
          )
        }
        case "Arango":
          // The browser counts with the backend's options (what `cleanup` would delete).
          return Layer.merge(
            Layer.provideMerge(
              opened(parsed)(
                lazyLayer(() => import("@taskmeta/arango/ArangoBrowser"), (ArangoBrowser) =>
                  ArangoBrowser.layer({ url: parsed.url }))
              ),
              backendFor(parsed, options)
            ),
            Pipelines.layerFromUrl(parsed, options)
          )
      }
    }
  })

/**
 * The pipeline store's settings from a store's options.
 *
 * @since 0.1.0
 * @category layers
 */
export const pipelineOptions = (options: Options): PipelineStore.Options => ({
  retry: options.retry === undefined ? undefined : { ...RetryPolicy.defaults, ...options.retry },
  cleanupBatchSize: options.cleanupBatchSize
})

/**
 * Runs the SQL migrations for a URL's database — Celery's task and group
 * tables, then the pipeline tables (default prefix) — and returns the steps
 * applied (the pipeline ones as `pipelines_<version>_<name>`; empty when
 * the tables were up to date, and for memory and ArangoDB, which need none).
 * This is what creates the tables a `readOnly` store expects.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrate = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Options = {}
): Effect.Effect<ReadonlyArray<string>, BackendUrl.BackendConfigError | BackendOpenError> =>
  Effect.gen(function*() {
    const parsed = yield* toUrl(url)
    if (parsed._tag !== "Sqlite" && parsed._tag !== "Postgres" && parsed._tag !== "Mysql") return []
    const [SqlMigrations, PipelineMigrations] = yield* Effect.promise(() =>
      Promise.all([import("@taskmeta/sql/SqlMigrations"), import("@taskmeta/sql/PipelineMigrations")])
    )
    const failed = (cause: unknown) => new BackendOpenError({ backend: BackendUrl.describe(parsed), cause })
    const names = yield* Effect.mapError(TableNames.make(options.tables), failed)
    const pipelineNames = yield* Effect.mapError(PipelineMigrations.tableNames(), failed)
    const named = new Map(PipelineMigrations.migrations.map((m) => [m.version, m.name.replace(/\W+/g, "_")]))
    return yield* Effect.gen(function*() {
      const tables = yield* SqlMigrations.run(names)
      const pipelines = yield* PipelineMigrations.run(pipelineNames, { retry: pipelineOptions(options).retry })
      return [...tables, ...pipelines.map((version) => `pipelines_${version}_${named.get(version) ?? ""}`)]
    }).pipe(
      Effect.mapError(failed),
      Effect.provide(clientLayer(parsed, { ...options, readOnly: false }))
    )
  }).pipe(Effect.withSpan("Stores.migrate"))
