/**
 * The SQLite `ResultBackend`: one file (Celery's `db+sqlite:///results.sqlite`),
 * WAL journal, a busy timeout for several processes sharing the file,
 * migrations at start, and waiting by polling with a short adaptive interval.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Scope from "effect/Scope"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import type * as Cron from "effect/Cron"
import * as Expiry from "@taskmeta/core/Expiry"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqliteConnection from "./internal/sqliteClient.js"
import * as SqlBackend from "./SqlBackend.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<SqlBackend.Options, "notifications" | "tables"> {
  /** The database file. Default `results.sqlite` in the working directory. */
  readonly filename?: string | undefined
  readonly tables?: { readonly tasks?: string | undefined; readonly groups?: string | undefined } | undefined
  /** How long a writer waits for another process's lock. Default 5 s. */
  readonly busyTimeout?: Duration.DurationInput | undefined
  /**
   * `PRAGMA synchronous`. Default `NORMAL`: with WAL the file cannot be
   * corrupted, but a power loss may drop the last commits; `FULL` syncs every
   * commit.
   */
  readonly synchronous?: "NORMAL" | "FULL" | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_FILENAME = "results.sqlite"

/**
 * Opens the file the way taskmeta opens every SQLite file: WAL,
 * `busy_timeout`, `synchronous`; the client plus the executor the backend's
 * hot statements use (see `internal/sqliteClient`).
 */
const open = (
  options: Pick<Options, "filename" | "busyTimeout" | "synchronous">
): Effect.Effect<SqliteConnection.SqliteClient, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const filename = options.filename ?? DEFAULT_FILENAME
    const opened = yield* SqliteConnection.make({ filename, spanAttributes: { "db.taskmeta": "sqlite" } }).pipe(
      // better-sqlite3 throws while opening (missing directory, not a database).
      Effect.mapError((cause) => new SqlBackend.SetupError({ reason: `cannot open ${filename}`, cause })),
      Effect.catchAllDefect((cause) => new SqlBackend.SetupError({ reason: `cannot open ${filename}`, cause }))
    )
    const busy = Math.round(Duration.toMillis(Duration.decode(options.busyTimeout ?? Duration.seconds(5))))
    yield* Effect.try({
      try: () => {
        opened.db.pragma(`busy_timeout = ${busy}`)
        opened.db.pragma(`synchronous = ${options.synchronous === "FULL" ? "FULL" : "NORMAL"}`)
      },
      catch: (cause) => new SqlBackend.SetupError({ reason: `cannot configure ${filename}`, cause })
    })
    return opened
  })

/**
 * The `SqlClient` the backend uses on a SQLite file, configured the same way
 * wherever taskmeta opens one: WAL, `busy_timeout`, `synchronous`. It is an
 * `@effect/sql` client (built with `SqlClient.make` over better-sqlite3, the
 * SQLite dialect); a prepare that fails is never cached, so a statement works
 * again as soon as its table is back.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (
  options: Pick<Options, "filename" | "busyTimeout" | "synchronous"> = {}
): Effect.Effect<SqlClient.SqlClient, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.map(open(options), (opened) => opened.client)

/**
 * Opens the file, sets the pragmas, migrates and builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ResultBackend.Service, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const opened = yield* open(options)
    return yield* SqlBackend.make({ ...options, tables: { ...options.tables, schema: undefined } }, opened.executor).pipe(
      Effect.provideService(SqlClient.SqlClient, opened.client)
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options)).pipe(Layer.provide(Reactivity.layer))

/**
 * The layer plus the expiry sweep (`Expiry.layer`) on `when`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithExpiry = (
  options: Options = {},
  when: Expiry.When = Expiry.daily
): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError | Cron.ParseError> =>
  Layer.provideMerge(Expiry.layer(when), layer(options))

/**
 * Options from configuration: `filename` (default `results.sqlite`),
 * `taskTable`, `groupTable`, `busyTimeout`, `encoding` (`json`, the default,
 * or `pickle` for Celery-compatible rows), and `BackendOptions.config`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  filename: Config.string("filename").pipe(Config.withDefault(DEFAULT_FILENAME)),
  tasks: Config.option(Config.string("taskTable")),
  groups: Config.option(Config.string("groupTable")),
  busyTimeout: Config.duration("busyTimeout").pipe(Config.withDefault(Duration.seconds(5))),
  encoding: SqlBackend.encodingConfig,
  backend: BackendOptions.config
}).pipe(Config.map((c): Options => ({
  ...c.backend,
  filename: c.filename,
  busyTimeout: c.busyTimeout,
  encoding: c.encoding,
  tables: { tasks: Option.getOrUndefined(c.tasks), groups: Option.getOrUndefined(c.groups) }
})))

/**
 * The layer from configuration (see `config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  options: Config.Config<Options> = config
): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
