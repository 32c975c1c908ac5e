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
 * `search_path`, and it is created when missing).
 *
 * @since 0.1.0
 * @category layers
 */
export const clientLayer = (
  url: Extract<BackendUrl.BackendUrl, { _tag: "Sqlite" | "Postgres" | "Mysql" }>,
  options: Options = {}
): Layer.Layer<SqlClient.SqlClient, BackendOpenError> => {
  if (url._tag === "Mysql") {
    return opened(url)(
      lazyLayer(() => import("@taskmeta/sql/MysqlBackend"), (MysqlBackend) => MysqlBackend.layerClient({ url: url.url }))
    )
  }
  if (url._tag === "Sqlite") {
    const filename = sqliteFilename(url, options.baseDirectory)
    return opened(url)(
      lazyLayer(() => import("@taskmeta/sql/SqliteBackend"), (SqliteBackend) => SqliteBackend.layerClient({ filename }))
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
    PgBackend.layerClient({ url: url.url, tables: options.tables }).pipe(
      // Tables addressed without a schema (the pipeline store's) live in `schema` too. CREATE SCHEMA
      // IF NOT EXISTS in two sessions at once can still collide (23505): take the lock taskmeta's
      // migrations hold while they create it, and try again if another writer raced anyway.
      Layer.tap((context) => {
        if (schema === undefined) return Effect.void
        const sql = Context.get(context, PgClient.PgClient)
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
  const { baseDirectory: _base, encoding, tables, ...backendOptions } = options
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
          filename,
          tables: tables === undefined ? undefined : { tasks: tables.tasks, groups: tables.groups }
        })))
    }
    case "Postgres":
      return open(lazyLayer(() => import("@taskmeta/sql/PgBackend"), (PgBackend) =>
        PgBackend.layer({ ...backendOptions, encoding, url: parsed.url, tables })))
    case "Mysql":
      return open(lazyLayer(() => import("@taskmeta/sql/MysqlBackend"), (MysqlBackend) =>
        MysqlBackend.layer({ ...backendOptions, encoding, url: parsed.url, tables })))
    case "Arango":
      return open(lazyLayer(() => import("@taskmeta/arango/ArangoBackend"), (ArangoBackend) =>
        ArangoBackend.layer({ url: parsed.url }, backendOptions)))
  }
}

/**
 * The `ResultBackend` a URL selects (what a worker needs). Relative SQLite
 * paths resolve against `options.baseDirectory`.
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
 * The store a URL names, every service over one client: the
 * `ResultBackend`, a `ResultBrowser`, the `PipelineStore` and a
 * `PipelineBrowser` (what tools and workers need). On SQL that is
 * `SqlStore` over the one client `clientLayer` opens; relative SQLite paths
 * resolve against `options.baseDirectory`. For ArangoDB the browser is
 * `ArangoBrowser` (lists are newest first by `date_done`, see there);
 * nothing is created in the database.
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
      const { baseDirectory: _base, encoding, tables, ...backendOptions } = options
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
 * Runs the SQL migrations for a URL's database and returns the steps
 * applied (empty when the tables were up to date, and for memory and
 * ArangoDB, which need none).
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
    const SqlMigrations = yield* Effect.promise(() => import("@taskmeta/sql/SqlMigrations"))
    const names = yield* TableNames.make(options.tables).pipe(
      Effect.mapError((cause) => new BackendOpenError({ backend: BackendUrl.describe(parsed), cause }))
    )
    return yield* SqlMigrations.run(names).pipe(
      Effect.mapError((cause) => new BackendOpenError({ backend: BackendUrl.describe(parsed), cause })),
      Effect.provide(clientLayer(parsed, options))
    )
  }).pipe(Effect.withSpan("Stores.migrate"))
