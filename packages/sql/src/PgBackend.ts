/**
 * The PostgreSQL `ResultBackend`: a `PgClient` from `@effect/sql-pg` (one
 * node-postgres pool), migrations at start (under an advisory lock), and
 * push-based waiting: the client's LISTEN connection receives the NOTIFY a
 * trigger sends for every READY write (Celery's included), with polling as
 * the safety net.
 *
 * A program that already has a `PgClient.layer` hands it to
 * `SqlBackend.layer` instead; this module is the convenience that builds one
 * from a URL.
 *
 * @since 0.1.0
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import type { Duplex } from "node:stream"
import * as PgClient from "@effect/sql-pg/PgClient"
import type * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import { answerTimeoutStream } from "./internal/answerTimeout.js"
import { retryStartup } from "./internal/classify.js"
import * as ServerConfig from "./internal/serverConfig.js"
import { serverLayers } from "./internal/serverLayers.js"
import * as SqlBackend from "./SqlBackend.js"
import * as TableNames from "./TableNames.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlBackend.Options {
  /** `postgresql://user:password@host:port/database`; kept `Redacted`, never logged. */
  readonly url: Redacted.Redacted<string>
  /** Connections in the pool (the LISTEN connection is extra). Default 10. */
  readonly poolSize?: number | undefined
  /** `application_name` of the connections. Default `taskmeta`. */
  readonly applicationName?: string | undefined
  /** Give up connecting after this long. Default 10 s. */
  readonly connectTimeout?: Duration.DurationInput | undefined
  /**
   * Client-side statement timeout: a connection that sent a statement and
   * heard nothing back for this long is dropped, and the statement fails as
   * a lost connection (retried by the policy on a fresh one). Default
   * `query_timeout` (milliseconds) from the URL, else 30 s. See
   * `statementTimeoutStream`.
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
 * A `stream` for `PgClient.make` / `PgClient.layer` that gives the client a
 * statement timeout against dead peers: a connection that has sent something
 * and heard nothing back within `timeout` is destroyed (`ETIMEDOUT`), so the
 * statement fails instead of waiting forever and the pool drops the
 * connection. Idle connections (LISTEN included) are never dropped; any bytes
 * back count as an answer. `makeClient` uses it; a program that builds its
 * own client adds it the same way:
 * `PgClient.layer({ url, stream: PgBackend.statementTimeoutStream("30 seconds") })`.
 * Not applied under TLS (`ssl`), where node reads the socket itself.
 *
 * @since 0.1.0
 * @category constructors
 */
export const statementTimeoutStream = (timeout: Duration.DurationInput): () => Duplex =>
  answerTimeoutStream(Duration.toMillis(Duration.decode(timeout)))

/** `query_timeout` (milliseconds, as node-postgres reads it) from a URL's query, if any. */
const urlQueryTimeout = (url: Redacted.Redacted<string>): Duration.Duration | undefined => {
  const query = /[?&]query_timeout=(\d+)(?:&|$)/.exec(Redacted.value(url))
  return query === null || Number(query[1]) <= 0 ? undefined : Duration.millis(Number(query[1]))
}

/** A query value as node-postgres reads it (`+` is a space), or `undefined` when malformed. */
const decodeQueryValue = (value: string): string | undefined => {
  try {
    return decodeURIComponent(value.replace(/\+/g, " "))
  } catch {
    return undefined
  }
}

/**
 * Adds server settings (`-c name=value`) to a connection URL's `options`
 * parameter, after those the URL already sets: `search_path=<schema>` (a
 * validated identifier), so tables addressed without a schema (the pipeline
 * store's) live in the schema too; `default_transaction_read_only=on` for a
 * read-only client.
 */
const withSettings = (url: Redacted.Redacted<string>, settings: ReadonlyArray<string>): Redacted.Redacted<string> => {
  if (settings.length === 0) return url
  const text = Redacted.value(url)
  const flags = settings.map((setting) => `-c ${setting}`).join(" ")
  const existing = /([?&])options=([^&#]*)/.exec(text)
  const before = existing === null ? undefined : decodeQueryValue(existing[2])
  if (existing !== null && before !== undefined) {
    const merged = `${existing[1]}options=${encodeURIComponent(`${before} ${flags}`)}`
    return Redacted.make(text.slice(0, existing.index) + merged + text.slice(existing.index + existing[0].length))
  }
  return Redacted.make(`${text}${text.includes("?") ? "&" : "?"}options=${encodeURIComponent(flags)}`)
}

/**
 * What `makeClient` and `layerClient` take.
 *
 * @since 0.1.0
 * @category models
 */
export type ClientOptions = Pick<
  Options,
  "url" | "poolSize" | "applicationName" | "connectTimeout" | "statementTimeout" | "tables" | "retry" | "readOnly"
>

/**
 * The `PgClient` taskmeta opens for a URL: a pool of `poolSize`
 * connections with a client-side statement timeout
 * (`statementTimeoutStream`); with a `tables.schema`, its connections use it
 * as their `search_path`. With `readOnly`, every session starts with
 * `default_transaction_read_only = on`, so the server refuses any write or
 * DDL from it (LISTEN and `pg_notify` still work).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeClient = (
  options: ClientOptions
): Effect.Effect<PgClient.PgClient, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SqlBackend.SetupError({ reason: e.message, cause: e })
    )
    // A refused or lost first connection is retried by the backend's policy, like any statement.
    const retry = retryStartup(options, "cannot connect to PostgreSQL yet")
    return yield* retry(PgClient.make({
      url: withSettings(options.url, [
        ...(names.schema === undefined ? [] : [`search_path=${names.schema}`]),
        ...(options.readOnly === true ? ["default_transaction_read_only=on"] : [])
      ]),
      maxConnections: options.poolSize ?? 10,
      applicationName: options.applicationName ?? "taskmeta",
      connectTimeout: options.connectTimeout ?? Duration.seconds(10),
      stream: statementTimeoutStream(options.statementTimeout ?? urlQueryTimeout(options.url) ?? DEFAULT_STATEMENT_TIMEOUT),
      spanAttributes: { "db.taskmeta": "postgres" }
    })).pipe(
      Effect.mapError((cause) => new SqlBackend.SetupError({ reason: "cannot connect to PostgreSQL", cause })),
      Effect.catchAllDefect((cause) => Effect.fail(new SqlBackend.SetupError({ reason: "cannot connect to PostgreSQL", cause })))
    )
  })

const layers = serverLayers<PgClient.PgClient, PgClient.PgClient, ClientOptions, Options>(PgClient.PgClient, makeClient)

/**
 * The `PgClient` (and `SqlClient`) for a URL, as `makeClient` opens it: for
 * `SqlBackend.layer` or `SqlStore.layer` sharing it with a program's own
 * statements.
 *
 * @example
 * ```ts
 * import { SqlClient } from "@effect/sql"
 * import { PgBackend, SqlBackend } from "@taskmeta/sql"
 * import { Effect, Layer, Redacted } from "effect"
 *
 * // taskmeta's client for a URL: `search_path` set to the schema, the client-side statement
 * // timeout, the first connection retried. The backend and the program's own queries share it.
 * const Client = PgBackend.layerClient({
 *   url: Redacted.make("postgresql://app:secret@db.internal:5432/celery"),
 *   tables: { schema: "results" }
 * })
 * const Live = SqlBackend.layer({ tables: { schema: "results" } }).pipe(Layer.provideMerge(Client))
 *
 * const countDone = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql`SELECT count(*) AS n FROM celery_taskmeta WHERE status = 'SUCCESS'`
 * })
 *
 * // Run it with Effect.runPromise(main) or NodeRuntime.runMain(main).
 * const main = countDone.pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layerClient = layers.layerClient

/**
 * Connects, migrates and builds the service (waiting pushed by LISTEN unless
 * `listen: false`). With `readOnly`: a read-only client, no migrations, and
 * the tables must exist (`SqlMigrations.MissingTables` otherwise).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = layers.make

/**
 * The backend on a PostgreSQL database (`make` in a layer): the pool is
 * opened, and the tables migrated, while the layer is built, and closed with
 * its scope.
 *
 * @example
 * ```ts
 * import { ResultBackend } from "@taskmeta/core"
 * import { PgBackend } from "@taskmeta/sql"
 * import { Effect, Redacted } from "effect"
 *
 * // One pool (10 connections, plus one for LISTEN while someone waits); Celery's tables in the
 * // schema `results`, created or migrated while the layer is built.
 * const Backend = PgBackend.layer({
 *   url: Redacted.make("postgresql://app:secret@db.internal:5432/celery"),
 *   tables: { schema: "results" },
 *   resultExtended: true
 * })
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* ResultBackend.ResultBackend
 *   // Woken by the NOTIFY the worker's READY write sends (polling is the safety net).
 *   const record = yield* backend.waitFor("task-1", { timeout: "30 seconds" })
 *   yield* Effect.log(`${record.taskId}: ${record.status}`)
 * })
 *
 * // Run it with Effect.runPromise(main) or NodeRuntime.runMain(main).
 * const main = program.pipe(Effect.provide(Backend))
 * ```
 *
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
 * Options from configuration: `url` (redacted), `schema`, `taskTable`,
 * `groupTable`, `poolSize`, `statementTimeout` (a duration), `encoding` (`json`, the default, or `pickle` for
 * Celery-compatible rows), and `BackendOptions.config`.
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
