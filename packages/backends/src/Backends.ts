/**
 * From a backend URL to layers: the `ResultBackend` the URL selects and a
 * `ResultBrowser` over the same storage. This is what the `taskmeta` CLI and
 * the demo worker share; a program that only stores results can use
 * `layerFromUrl` the same way.
 *
 * @since 0.1.0
 */
import type * as Scope from "effect/Scope"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ArangoBackend from "@taskmeta/arango/ArangoBackend"
import * as ArangoBrowser from "@taskmeta/arango/ArangoBrowser"
import { causeMessage } from "@taskmeta/core/BackendError"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as MemoryBackend from "@taskmeta/core/MemoryBackend"
import * as MemoryBrowser from "@taskmeta/core/MemoryBrowser"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as PgBackend from "@taskmeta/sql/PgBackend"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import * as SqlBrowser from "@taskmeta/sql/SqlBrowser"
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import * as SqlMigrations from "@taskmeta/sql/SqlMigrations"
import * as TableNames from "@taskmeta/sql/TableNames"
import * as Path from "node:path"
import * as BackendUrl from "./BackendUrl.js"
import * as SqlClients from "./internal/sqlClient.js"

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
export class BackendOpenError extends Schema.TaggedError<BackendOpenError>("@taskmeta/backends/BackendOpenError")(
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
export const causeChain = (cause: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    const text = causeMessage(current)
    if (text !== "" && !parts.some((p) => p.includes(text))) parts.push(text)
    current = typeof current === "object" ? (current as { readonly cause?: unknown }).cause : undefined
  }
  return parts.join(": ")
}

/**
 * What the layers give: both services over one store.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = ResultBackend.ResultBackend | ResultBrowser.ResultBrowser

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

/** A browser that fails every call with `reason` (for stores that cannot be browsed). */
const unsupported = (kind: string, reason: string): ResultBrowser.Service => {
  const error = (operation: string) => new ResultBrowser.BrowseError({ operation, cause: new Error(reason) })
  return {
    kind,
    list: () => Stream.fail(error("list tasks")),
    stats: Effect.fail(error("count tasks")),
    exportTasks: Stream.fail(error("export tasks")),
    exportGroups: Stream.fail(error("export groups")),
    countExpired: Effect.fail(error("count expired records"))
  }
}

const opened = (url: BackendUrl.BackendUrl) => <A, E, R>(layer: Layer.Layer<A, E, R>) =>
  Layer.mapError(layer, (cause) => new BackendOpenError({ backend: BackendUrl.describe(url), cause }))

/**
 * A `SqlClient` on the database a SQLite or PostgreSQL URL names (with a
 * `tables.schema`, PostgreSQL connections use it as their `search_path`).
 *
 * @since 0.1.0
 * @category layers
 */
export const clientLayer = (
  url: Extract<BackendUrl.BackendUrl, { _tag: "Sqlite" | "Postgres" }>,
  options: Options = {}
): Layer.Layer<SqlClient.SqlClient, BackendOpenError> => {
  const schema = options.tables?.schema
  if (schema !== undefined && !TableNames.IDENTIFIER.test(schema)) {
    return Layer.fail(
      new BackendOpenError({
        backend: BackendUrl.describe(url),
        cause: new TableNames.InvalidTableName({ field: "schema", value: schema })
      })
    )
  }
  const client: Effect.Effect<SqlClient.SqlClient, unknown, Scope.Scope | Reactivity.Reactivity> = url._tag === "Sqlite"
    ? SqlClients.sqlite(sqliteFilename(url, options.baseDirectory))
    : SqlClients.pg(url.url, options.tables?.schema)
  return Layer.scoped(SqlClient.SqlClient, client).pipe(Layer.provide(Reactivity.layer), opened(url))
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
    case "Sqlite":
      return open(SqliteBackend.layer({
        ...backendOptions,
        encoding,
        filename: sqliteFilename(parsed, options.baseDirectory),
        tables: tables === undefined ? undefined : { tasks: tables.tasks, groups: tables.groups }
      }))
    case "Postgres":
      return open(PgBackend.layer({ ...backendOptions, encoding, url: parsed.url, tables }))
    case "Arango":
      return open(ArangoBackend.layer({ url: parsed.url }, backendOptions))
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
 * The `ResultBackend` a URL selects and a `ResultBrowser` over the same
 * storage (what tools need). Relative SQLite paths resolve against
 * `options.baseDirectory`. For ArangoDB the browser is `ArangoBrowser`
 * (lists are newest first by `date_done`, see there); nothing is created in
 * the database.
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
      switch (parsed._tag) {
        case "Memory": {
          const { baseDirectory: _base, encoding: _encoding, tables: _tables, ...backendOptions } = options
          return MemoryBrowser.layer(backendOptions)
        }
        case "Sqlite":
        case "Postgres": {
          const browser = parsed._tag === "Sqlite" && parsed.filename === ":memory:"
            ? Layer.succeed(
              ResultBrowser.ResultBrowser,
              unsupported("sqlite", "an in-memory SQLite database cannot be browsed from outside; use memory://")
            )
            : SqlBrowser.layer({ tables: options.tables }).pipe(
              Layer.provide(clientLayer(parsed, options)),
              Layer.mapError((cause) =>
                cause._tag === "BackendOpenError"
                  ? cause
                  : new BackendOpenError({ backend: BackendUrl.describe(parsed), cause })
              )
            )
          // The backend first: it runs the migrations the browser's queries need.
          return Layer.provideMerge(browser, backendFor(parsed, options))
        }
        case "Arango":
          // The browser counts with the backend's options (what `cleanup` would delete).
          return Layer.provideMerge(
            opened(parsed)(ArangoBrowser.layer({ url: parsed.url })),
            backendFor(parsed, options)
          )
      }
    }
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
    if (parsed._tag !== "Sqlite" && parsed._tag !== "Postgres") return []
    const names = yield* TableNames.make(options.tables).pipe(
      Effect.mapError((cause) => new BackendOpenError({ backend: BackendUrl.describe(parsed), cause }))
    )
    return yield* SqlMigrations.run(names).pipe(
      Effect.mapError((cause) => new BackendOpenError({ backend: BackendUrl.describe(parsed), cause })),
      Effect.provide(clientLayer(parsed, options))
    )
  }).pipe(Effect.withSpan("Backends.migrate"))
