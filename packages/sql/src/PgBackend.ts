/**
 * The PostgreSQL `ResultBackend`: a node-postgres pool through
 * `@effect/sql-pg`, migrations at start (under an advisory lock), and
 * push-based waiting: one LISTEN connection per backend instance receives
 * the NOTIFY a trigger sends for every READY write (Celery's included), with
 * polling as the safety net.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import type * as Cron from "effect/Cron"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Pg from "pg"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as Expiry from "@taskmeta/core/Expiry"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Listener from "./internal/listener.js"
import * as PgExecutor from "./internal/pgExecutor.js"
import * as SqlBackend from "./SqlBackend.js"
import * as SqlMigrations from "./SqlMigrations.js"
import * as TableNames from "./TableNames.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends Omit<SqlBackend.Options, "notifications"> {
  /** `postgresql://user:password@host:port/database`; kept `Redacted`, never logged. */
  readonly url: Redacted.Redacted<string>
  /** Connections in the pool (the LISTEN connection is extra). Default 10. */
  readonly poolSize?: number | undefined
  /** `application_name` of the connections. Default `taskmeta`. */
  readonly applicationName?: string | undefined
  /** Give up connecting after this long. Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /** Push-based waiting with LISTEN/NOTIFY. Default on; off polls. */
  readonly listen?: boolean | undefined
  /**
   * Run the hot statements (writes, reads by id) as named prepared
   * statements, parsed once per connection. Default on; turn it off behind a
   * pooler that cannot keep them (PgBouncer before 1.21 in transaction mode).
   */
  readonly prepare?: boolean | undefined
}

const TIMESTAMP_OID = 1114

// `timestamp without time zone` holds naive UTC: keep the text and parse it as
// UTC (node-postgres would read it in the process's local zone).
const types: Pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: "text" | "binary") =>
    oid === TIMESTAMP_OID && format !== "binary"
      ? (text: string) => text
      : Pg.types.getTypeParser(oid, format as "text")) as Pg.CustomTypesConfig["getTypeParser"]
}

/**
 * Connects, migrates, starts the listener and builds the service.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options
): Effect.Effect<ResultBackend.Service, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SqlBackend.SetupError({ reason: e.message, cause: e })
    )
    const connectTimeout = Duration.toMillis(Duration.decode(options.connectTimeout ?? Duration.seconds(10)))
    const config: Pg.PoolConfig = {
      connectionString: Redacted.value(options.url),
      max: options.poolSize ?? 10,
      application_name: options.applicationName ?? "taskmeta",
      connectionTimeoutMillis: connectTimeout,
      types
    }
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const pool = new Pg.Pool(config)
        // An idle connection that dies is dropped by the pool; the error is not ours to throw.
        pool.on("error", () => {})
        return pool
      }),
      (pool) => Effect.promise(() => pool.end()).pipe(Effect.timeoutOption("2 seconds"), Effect.interruptible)
    )
    const client = yield* PgClient.fromPool({
      acquire: Effect.succeed(pool),
      applicationName: config.application_name,
      spanAttributes: { "db.taskmeta": "postgres" }
    }).pipe(Effect.mapError((cause) => new SqlBackend.SetupError({ reason: "cannot create the client", cause })))
    yield* client.unsafe("SELECT 1").pipe(
      Effect.timeoutFail({
        duration: connectTimeout,
        onTimeout: () => new SqlError({ message: "connection timed out" })
      }),
      Effect.mapError((cause) => new SqlBackend.SetupError({ reason: "cannot connect to PostgreSQL", cause }))
    )
    if (options.migrate !== false) {
      yield* SqlMigrations.run(names).pipe(
        Effect.provideService(SqlClient.SqlClient, client),
        Effect.mapError((cause) => new SqlBackend.SetupError({ reason: "migrations failed", cause }))
      )
    }
    let notifications: SqlBackend.DriverOptions["notifications"]
    if (options.listen !== false) {
      const listener = yield* Listener.make(
        () => new Pg.Client({ ...config, application_name: `${config.application_name}-listen` }),
        SqlMigrations.channel(names),
        { registry: SqlMigrations.listenersTable(names) }
      )
      yield* listener.ready.pipe(
        Effect.timeoutOption(Duration.millis(connectTimeout)),
        Effect.tap((ok) => Option.isNone(ok) ? Effect.logWarning("LISTEN is not up yet; waiting polls meanwhile") : Effect.void)
      )
      notifications = listener.subscribe
    }
    const executor = PgExecutor.make(pool, { prepare: options.prepare !== false })
    return yield* SqlBackend.make({ ...options, migrate: false, notifications }, executor).pipe(
      Effect.provideService(SqlClient.SqlClient, client)
    )
  })

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options)).pipe(Layer.provide(Reactivity.layer))

/**
 * The layer plus the expiry sweep (`Expiry.layer`) on `when`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithExpiry = (
  options: Options,
  when: Expiry.When = Expiry.daily
): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError | Cron.ParseError> =>
  Layer.provideMerge(Expiry.layer(when), layer(options))

/**
 * Options from configuration: `url` (redacted), `schema`, `taskTable`,
 * `groupTable`, `poolSize`, `encoding` (`json`, the default, or `pickle` for
 * Celery-compatible rows), and `BackendOptions.config`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = Config.all({
  url: Config.redacted("url"),
  schema: Config.option(Config.string("schema")),
  tasks: Config.option(Config.string("taskTable")),
  groups: Config.option(Config.string("groupTable")),
  poolSize: Config.integer("poolSize").pipe(Config.withDefault(10)),
  encoding: SqlBackend.encodingConfig,
  backend: BackendOptions.config
}).pipe(Config.map((c): Options => ({
  ...c.backend,
  url: c.url,
  poolSize: c.poolSize,
  encoding: c.encoding,
  tables: {
    schema: Option.getOrUndefined(c.schema),
    tasks: Option.getOrUndefined(c.tasks),
    groups: Option.getOrUndefined(c.groups)
  }
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
