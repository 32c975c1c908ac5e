/**
 * The MySQL / MariaDB `ResultBackend`: a `MysqlClient` from
 * `@effect/sql-mysql2` (one mysql2 pool), migrations at start (under
 * `GET_LOCK`), and waiting by polling.
 *
 * The tables are Celery's as its SQLAlchemy models create them on MySQL /
 * MariaDB (on MariaDB ids come from the sequences `task_id_sequence` /
 * `taskset_id_sequence`), whoever created them; `date_done` is read as text
 * (`DATE_FORMAT`), so neither the client's nor the session's time zone
 * matters.
 *
 * A program that already has a `MysqlClient.layer` hands it to
 * `SqlBackend.layer` (or `SqlStore.layer`) instead; this module is the
 * convenience that builds one from a URL.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import type { Duplex } from "node:stream"
import { mysqlAnswerTimeoutStream, type MysqlStreamOptions } from "./internal/answerTimeout.js"
import { retryStartup } from "./internal/classify.js"
import * as ServerConfig from "./internal/serverConfig.js"
import { serverLayers } from "./internal/serverLayers.js"
import * as SqlBackend from "./SqlBackend.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlBackend.Options {
  /**
   * `mysql://user:password@host:port/database` (mysql2's options may follow as
   * query parameters); kept `Redacted`, never logged.
   */
  readonly url: Redacted.Redacted<string>
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number | undefined
  /** Give up connecting after this long. Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Client-side statement timeout: a connection that sent a statement and
   * heard nothing back for this long is dropped, and the statement fails as
   * a lost connection (retried by the policy on a fresh one). Default 30 s.
   * See `statementTimeoutStream`.
   */
  readonly statementTimeout?: Duration.DurationInput | undefined
}

/**
 * The default client-side statement timeout (30 s).
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_STATEMENT_TIMEOUT: Duration.Duration = ServerConfig.DEFAULT_STATEMENT_TIMEOUT

/**
 * A `stream` for mysql2's pool options that gives the client a statement
 * timeout against dead peers: a connection that has sent something and
 * heard nothing back within `timeout` is destroyed (`ETIMEDOUT`), so the
 * statement fails instead of waiting forever and the pool drops the
 * connection. Idle connections are never dropped; any bytes back count as
 * an answer. It connects the socket as mysql2 would (Unix socket or host and
 * port, `TCP_NODELAY`, keep-alive). `makeClient` uses it; a program that
 * builds its own client adds it through `poolConfig`:
 * `MysqlClient.layer({ host, username, database, poolConfig: { stream: MysqlBackend.statementTimeoutStream("30 seconds") } })`.
 * Not applied under TLS (`ssl`), where node reads the socket itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const statementTimeoutStream = (
  timeout: Duration.DurationInput
): (options: MysqlStreamOptions) => Duplex => mysqlAnswerTimeoutStream(Duration.toMillis(Duration.decode(timeout)))

/**
 * The URL mysql2 is given: the user's, plus `connectTimeout` unless the URL
 * sets it.
 */
const clientUrl = (url: Redacted.Redacted<string>, connectTimeout: Duration.DurationInput | undefined) => {
  const text = Redacted.value(url)
  if (/[?&]connectTimeout=/.test(text)) return url
  const millis = Math.max(1, Math.round(Duration.toMillis(Duration.decode(connectTimeout ?? Duration.seconds(10)))))
  return Redacted.make(`${text}${text.includes("?") ? "&" : "?"}connectTimeout=${millis}`)
}

const SPAN_ATTRIBUTES = { "db.taskmeta": "mysql" }

/**
 * The statement that makes a session read-only: every later transaction in
 * it, autocommitted statements included, is READ ONLY, and the server
 * refuses writes in it (MySQL and MariaDB error 1792,
 * `ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION`).
 *
 * @since 0.1.0
 * @category read-only
 */
export const READ_ONLY_SESSION = "SET SESSION TRANSACTION READ ONLY"

/**
 * A client over `client`'s pool whose every connection is read-only on the
 * server. mysql2 has no statement to run when a pooled connection opens, and
 * `@effect/sql-mysql2` keeps its pool to itself, so each connection the
 * client takes from the pool (for a statement, a stream or a transaction) is
 * made read-only before it is used: one short extra round trip per
 * statement, whatever the pool does to the session between uses
 * (`resetOnRelease` included).
 */
const readOnlyClient = (
  client: MysqlClient.MysqlClient
): Effect.Effect<MysqlClient.MysqlClient, never, Reactivity.Reactivity> => {
  const acquirer = Effect.tap(client.reserve, (conn) => conn.executeUnprepared(READ_ONLY_SESSION, [], undefined))
  return Effect.map(
    SqlClient.make({
      acquirer,
      transactionAcquirer: acquirer,
      compiler: MysqlClient.makeCompiler(),
      spanAttributes: [...Object.entries(SPAN_ATTRIBUTES), ["db.system.name", "mysql"], ["db.taskmeta.read_only", true]]
    }),
    (readOnly): MysqlClient.MysqlClient =>
      Object.assign(readOnly, { [MysqlClient.TypeId]: MysqlClient.TypeId as MysqlClient.TypeId, config: client.config })
  )
}

/**
 * What `makeClient` and `layerClient` take.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientOptions = Pick<Options, "url" | "poolSize" | "connectTimeout" | "statementTimeout" | "retry" | "readOnly">

/**
 * The `MysqlClient` taskmeta opens for a URL: a mysql2 pool of `poolSize`
 * connections (idle ones are kept for a minute, mysql2's default) with a
 * client-side statement timeout (`statementTimeoutStream`). With
 * `readOnly`, every session the client uses is read-only
 * (`READ_ONLY_SESSION`): the server refuses any write through it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (
  options: ClientOptions
): Effect.Effect<MysqlClient.MysqlClient, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> => {
  // A refused or lost first connection is retried by the backend's policy, like any statement.
  const retry = retryStartup(options, "cannot connect to MySQL yet")
  const poolSize = options.poolSize ?? 10
  // The URL goes to mysql2 as `uri` in the pool options, the only way to hand it a `stream`:
  // mysql2 reads host, port, user, password, database and the query's options from it.
  return retry(MysqlClient.make({
    poolConfig: {
      uri: Redacted.value(clientUrl(options.url, options.connectTimeout)),
      stream: statementTimeoutStream(options.statementTimeout ?? DEFAULT_STATEMENT_TIMEOUT),
      maxIdle: poolSize
    },
    maxConnections: poolSize,
    spanAttributes: SPAN_ATTRIBUTES
  })).pipe(
    Effect.flatMap((client) => options.readOnly === true ? readOnlyClient(client) : Effect.succeed(client)),
    Effect.mapError((cause) => new SqlBackend.SetupError({ reason: "cannot connect to MySQL", cause })),
    Effect.catchAllDefect((cause) => Effect.fail(new SqlBackend.SetupError({ reason: "cannot connect to MySQL", cause })))
  )
}

const layers = serverLayers<MysqlClient.MysqlClient, MysqlClient.MysqlClient, ClientOptions, Options>(MysqlClient.MysqlClient, makeClient)

/**
 * The `MysqlClient` (and `SqlClient`) for a URL, as `makeClient` opens it
 * (read-only sessions with `readOnly`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = layers.layerClient

/**
 * Connects, migrates and builds the service. With `readOnly`: a read-only
 * client, no migrations, and the tables must exist
 * (`SqlMigrations.MissingTables` otherwise).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = layers.make

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = layers.layer

/**
 * Everything in one store over one client: the `ResultBackend`, the
 * `PipelineStore` and the `ResultBrowser` (see `SqlStore`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerStore = layers.layerStore

/**
 * The layer plus the expiry sweep (`Expiry.layer`) on `when`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithExpiry = layers.layerWithExpiry

/**
 * Options from configuration: `url` (redacted), `schema` (the database, if not
 * the URL's), `taskTable`, `groupTable`, `poolSize`, `statementTimeout` (a
 * duration), `encoding` (`json`, the
 * default, or `pickle` for Celery-compatible rows), and `BackendOptions.config`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Options> = ServerConfig.serverConfig

/**
 * The layer from configuration (see `config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (options: Config.Config<Options> = config) => layers.layerConfig(options)
