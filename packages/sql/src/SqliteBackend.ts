/**
 * The SQLite `ResultBackend`: one file (Celery's `db+sqlite:///results.sqlite`)
 * opened with `@effect/sql-sqlite-node`'s `SqliteClient`, WAL journal, a busy
 * timeout for several processes sharing the file, migrations at start, and
 * waiting by polling with a short adaptive interval.
 *
 * A program that already has a `SqliteClient.layer` hands it to
 * `SqlBackend.layer` instead; this module is the convenience that builds one.
 *
 * @since 0.1.0
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import type * as Cron from "effect/Cron"
import * as Expiry from "@taskmeta/core/Expiry"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Fs from "node:fs"
import * as SqlBackend from "./SqlBackend.js"
import type * as SqlMigrations from "./SqlMigrations.js"
import * as SqlStore from "./SqlStore.js"

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
 * How long the client keeps a prepared statement (and a failed prepare).
 *
 * @since 0.1.0
 * @category constants
 */
export const PREPARE_CACHE_TTL = Duration.millis(500)

/**
 * A read-only open found no database file (nothing was created).
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingDatabase extends Schema.TaggedError<MissingDatabase>("@taskmeta/sql/MissingDatabase")(
  "MissingDatabase",
  { filename: Schema.String }
) {
  override get message(): string {
    return `no SQLite database at ${this.filename} (a read-only open never creates one)`
  }
}

/** In-memory and temporary databases: SQLite cannot open them read-only. */
const isPrivate = (filename: string) => filename === ":memory:" || filename === ""

/**
 * A `SqliteClient` on the file, configured the same way wherever taskmeta
 * opens one: WAL (the client's default), `busy_timeout`, `synchronous`.
 *
 * With `readOnly`, the file is opened read-only (`SqliteClient`'s `readonly`,
 * better-sqlite3's `SQLITE_OPEN_READONLY`): it must exist (`MissingDatabase`
 * otherwise, and it is not created), its journal mode is left as it is, and
 * every write fails with `SQLITE_READONLY`. An in-memory database cannot be
 * read-only; it is opened as usual (it is private and empty).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (
  options: Pick<Options, "filename" | "busyTimeout" | "synchronous" | "readOnly"> = {}
): Effect.Effect<
  SqliteClient.SqliteClient,
  SqlBackend.SetupError | MissingDatabase,
  Scope.Scope | Reactivity.Reactivity
> =>
  Effect.gen(function*() {
    const filename = options.filename ?? DEFAULT_FILENAME
    const failed = (reason: string) => (cause: unknown) => new SqlBackend.SetupError({ reason: `${reason} ${filename}`, cause })
    const readOnly = options.readOnly === true && !isPrivate(filename)
    // better-sqlite3 throws while opening (missing directory or file, not a database).
    // The client caches a failed prepare ("no such table" while a table is
    // replaced, SQLITE_BUSY under an exclusive lock) as long as a prepared
    // statement: a short time to live makes the statement work again soon
    // after the table or the lock is back (a re-prepare costs microseconds).
    const client = yield* SqliteClient.make({
      filename,
      readonly: readOnly,
      // Turning WAL on writes to the file; a reader leaves the journal mode as the writers set it.
      disableWAL: readOnly,
      prepareCacheTTL: PREPARE_CACHE_TTL,
      spanAttributes: { "db.taskmeta": "sqlite" }
    }).pipe(
      Effect.catchAllDefect((cause) =>
        Effect.flatMap(
          Effect.sync(() => readOnly && !Fs.existsSync(filename)),
          (missing): Effect.Effect<never, SqlBackend.SetupError | MissingDatabase> =>
            Effect.fail(missing ? new MissingDatabase({ filename }) : failed("cannot open")(cause))
        )
      )
    )
    const busy = Math.max(0, Math.round(Duration.toMillis(Duration.decode(options.busyTimeout ?? Duration.seconds(5)))))
    const synchronous = options.synchronous === "FULL" ? "FULL" : "NORMAL"
    yield* Effect.all([
      client`PRAGMA busy_timeout = ${client.literal(String(busy))}`,
      client`PRAGMA synchronous = ${client.literal(synchronous)}`
    ], { discard: true }).pipe(
      Effect.mapError(failed("cannot configure")),
      Effect.catchAllDefect((cause) => Effect.fail(failed("cannot open")(cause)))
    )
    return client
  })

/**
 * The `SqliteClient` (and `SqlClient`) on the file, as `makeClient` opens it.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = (
  options: Pick<Options, "filename" | "busyTimeout" | "synchronous" | "readOnly"> = {}
): Layer.Layer<SqliteClient.SqliteClient | SqlClient.SqlClient, SqlBackend.SetupError | MissingDatabase> =>
  Layer.scopedContext(
    Effect.map(makeClient(options), (client) =>
      Context.make(SqliteClient.SqliteClient, client).pipe(Context.add(SqlClient.SqlClient, client)))
  ).pipe(Layer.provide(Reactivity.layer))

/**
 * What building a SQLite backend may fail with.
 *
 * @since 0.1.0
 * @category errors
 */
export type SetupError = SqlBackend.SetupError | MissingDatabase | SqlMigrations.MissingTables

/**
 * Opens the file, sets the pragmas, migrates and builds the service. With
 * `readOnly`: the file opened read-only (it must exist), no migrations, and
 * the tables must exist (`SqlMigrations.MissingTables` otherwise).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ResultBackend.Service, SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const client = yield* makeClient(options)
    return yield* SqlBackend.make({ ...options, tables: { ...options.tables, schema: undefined } }).pipe(
      Effect.provideService(SqlClient.SqlClient, client)
    )
  })

/**
 * The backend on a SQLite file (`make` in a layer): the file is opened, and
 * the tables migrated, while the layer is built, and closed with its scope.
 *
 * @example
 * ```ts
 * import { ResultBackend } from "@taskmeta/core"
 * import { SqliteBackend } from "@taskmeta/sql"
 * import { Effect } from "effect"
 *
 * // Celery's tables in results.sqlite, created or migrated while the layer is built; extended
 * // results on; rows pickled the way Celery 5 writes them, so a Python worker can share the file.
 * const Backend = SqliteBackend.layer({ filename: "results.sqlite", resultExtended: true, encoding: "pickle" })
 *
 * const program = Effect.gen(function*() {
 *   yield* ResultBackend.markAsDone("task-1", 256, { name: "multiply_two_numbers", args: [16, 16] })
 *   const record = yield* (yield* ResultBackend.ResultBackend).get("task-1")
 *   yield* Effect.log(`${record.taskId}: ${record.status}`)
 * })
 *
 * // Opening the file may fail with SqlBackend.SetupError; it is closed when the program's scope ends.
 * // Run it with Effect.runPromise(main) or NodeRuntime.runMain(main).
 * const main = program.pipe(Effect.provide(Backend))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<ResultBackend.ResultBackend, SetupError> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options)).pipe(Layer.provide(Reactivity.layer))

/**
 * Everything in one store over one client: the `ResultBackend`, the
 * `PipelineStore` and the `ResultBrowser` (see `SqlStore`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore = (
  options: Options & Pick<SqlStore.Options, "pipelinePrefix" | "pageSize"> = {}
): Layer.Layer<SqlStore.Services, SqlStore.SetupError | MissingDatabase> =>
  SqlStore.layer({ ...options, tables: { ...options.tables, schema: undefined } }).pipe(
    Layer.provide(layerClient(options))
  )

/**
 * The layer plus the expiry sweep (`Expiry.layer`) on `when`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithExpiry = (
  options: Options = {},
  when: Expiry.When = Expiry.daily
): Layer.Layer<ResultBackend.ResultBackend, SetupError | Cron.ParseError> =>
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
): Layer.Layer<ResultBackend.ResultBackend, SetupError | ConfigError.ConfigError> =>
  Layer.unwrapEffect(Effect.map(options, layer))
