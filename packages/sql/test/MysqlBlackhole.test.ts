/**
 * A dead MySQL / MariaDB peer that keeps its sockets open (PgBlackhole's
 * case on the third engine): a TCP proxy between the backend and MariaDB
 * stops forwarding but never closes a connection. Without a client-side
 * statement timeout a statement waits until the kernel gives the TCP
 * connection up (many minutes). With it, the connection that hears nothing
 * back is dropped after `statementTimeout`, the retry policy takes over on a
 * fresh connection, and a store either succeeds after reconnecting or fails
 * with a typed error. Nothing acknowledged is lost. And a migration that
 * waits for another process's migration lock longer than the statement
 * timeout is not taken for a dead peer: it waits in short `GET_LOCK`s.
 * (Vitest's per-test timeout is the hang guard; no assertion reads the clock.)
 */
import { describe, expect, it } from "@effect/vitest"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as Mysql from "mysql2/promise"
import * as net from "node:net"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqlMigrations from "../src/SqlMigrations.js"
import { blackholeProxy, storeThroughDeath } from "./blackholeProxy.js"
import { HAS_MYSQL, MYSQL_TAG, MYSQL_URL, mysqlDatabaseForSuite, mysqlQuery, mysqlUrlFor, suffix } from "./helpers.js"

const database = mysqlDatabaseForSuite("blackhole")
const target = new URL(MYSQL_URL.replace(/^mysql:/, "http:"))
const proxy = blackholeProxy(target.hostname, Number(target.port || 3306))

const urlThrough = (port: number) => {
  const url = new URL(Redacted.value(mysqlUrlFor(database)).replace(/^mysql:/, "http:"))
  url.port = String(port)
  url.hostname = "127.0.0.1"
  return Redacted.make(`mysql:${url.href.slice("http:".length)}`)
}

const storedIds = (ids: ReadonlyArray<string>) =>
  Effect.promise(() =>
    ids.length === 0
      ? Promise.resolve([])
      : mysqlQuery("SELECT task_id FROM celery_taskmeta WHERE task_id IN (?)", [ids], database)
  ).pipe(Effect.map((rows) => new Set((rows as Array<{ task_id: string }>).map((row) => row.task_id))))

describe.runIf(HAS_MYSQL)(`MariaDB behind a proxy that stops answering but keeps its sockets open ${MYSQL_TAG}`, () => {
  it.live("stores fail typed or succeed after reconnecting, never hang, and nothing acknowledged is lost", () =>
    Effect.gen(function*() {
      const p = yield* proxy
      const context = yield* Layer.build(
        MysqlBackend.layer({
          url: urlThrough(p.port),
          poolSize: 2,
          statementTimeout: Duration.seconds(1),
          connectTimeout: Duration.seconds(1),
          retry: { maxRetries: 4, baseSleep: Duration.millis(50), maxSleep: Duration.millis(400) }
        })
      )
      const backend = Context.get(context, ResultBackend.ResultBackend)
      // A lost store fails with its statement's own timeout, or (after the retries) the connect timeout.
      const acknowledged = yield* storeThroughDeath(backend, p, /no answer from MySQL within 1000 ms|connect ETIMEDOUT/)

      // nothing acknowledged is lost (read on the server directly, not through the proxy)
      const found = yield* storedIds(acknowledged)
      for (const id of acknowledged) expect(found.has(id)).toBe(true)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 90_000)

  it.live("a user's own MysqlClient with statementTimeoutStream: SqlBackend.layer over it fails typed instead of hanging", () =>
    Effect.gen(function*() {
      const p = yield* proxy
      // Built the way the README tells a user to: their client, their stream, our backend layer over it.
      const Client = MysqlClient.layer({
        host: "127.0.0.1",
        port: p.port,
        username: decodeURIComponent(target.username) || "root",
        database,
        maxConnections: 2,
        poolConfig: { stream: MysqlBackend.statementTimeoutStream("300 millis") }
      })
      // No retries: the error is the dropped statement's own (a retry would meet mysql2's 10 s connect timeout).
      const context = yield* Layer.build(SqlBackend.layer({ retry: { maxRetries: 0 } }).pipe(Layer.provide(Client)))
      const backend = Context.get(context, ResultBackend.ResultBackend)
      expect((yield* backend.store("user-client-ok", 1, "SUCCESS"))._tag).toBe("Stored")
      p.blackhole()
      const error = yield* Effect.flip(backend.store("user-client-lost", 2, "SUCCESS"))
      expect(error._tag).toBe("StoreError")
      expect(error.message).toMatch(/no answer from MySQL within 300 ms/)
      const found = yield* storedIds(["user-client-ok", "user-client-lost"])
      expect(found.has("user-client-ok")).toBe(true)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 30_000)

  it.live("migrations wait for another process's locks longer than the statement timeout, without being cut", () => {
    const prefix = `bh${suffix().slice(0, 6)}_`
    const fresh = `tm_blackhole_locks_${suffix()}`
    return Effect.gen(function*() {
      // Another process migrating: it holds the result tables' lock for 2.5 s and the pipeline
      // tables' lock for 5 s, each longer than the 2 s statement timeout below.
      const holder = yield* Effect.acquireRelease(
        Effect.promise(() => Mysql.createConnection({ uri: MYSQL_URL })),
        (conn) => Effect.promise(() => conn.end())
      )
      const take = (lock: string) =>
        Effect.promise(() => holder.query("SELECT GET_LOCK(?, 0) AS locked", [lock])).pipe(
          Effect.map(([rows]) => (rows as Array<{ locked: number }>)[0].locked)
        )
      const release = (lock: string) => Effect.promise(() => holder.query("SELECT RELEASE_LOCK(?)", [lock]))
      const pipelineLock = `taskmeta:${prefix}pipeline_migrations`
      expect(yield* take(SqlMigrations.MYSQL_LOCK)).toBe(1)
      expect(yield* take(pipelineLock)).toBe(1)
      yield* Effect.fork(
        Effect.sleep("2500 millis").pipe(
          Effect.zipRight(release(SqlMigrations.MYSQL_LOCK)),
          Effect.zipRight(Effect.sleep("2500 millis")),
          Effect.zipRight(release(pipelineLock))
        )
      )
      // No retries: a GET_LOCK cut by the statement timeout would fail the layer.
      const context = yield* Layer.build(
        MysqlBackend.layerStore({
          url: mysqlUrlFor(database),
          tables: { schema: fresh },
          pipelinePrefix: prefix,
          poolSize: 2,
          statementTimeout: Duration.seconds(2),
          retry: { maxRetries: 0 }
        })
      )
      const backend = Context.get(context, ResultBackend.ResultBackend)
      expect((yield* backend.store("after-the-locks", 1, "SUCCESS"))._tag).toBe("Stored")
      const pipelines = Context.get(context, PipelineStore.PipelineStore)
      expect(yield* pipelines.getRuns([])).toEqual([])
    }).pipe(
      Effect.scoped,
      Effect.ensuring(Effect.promise(() => mysqlQuery(`DROP DATABASE IF EXISTS \`${fresh}\``))),
      Logger.withMinimumLogLevel(LogLevel.Error)
    )
  }, 60_000)

  it("statementTimeoutStream connects the socket mysql2 is handed", () => {
    const make = MysqlBackend.statementTimeoutStream("5 seconds")
    const socket = make({ config: { host: target.hostname, port: Number(target.port || 3306) } })
    expect(socket).toBeInstanceOf(net.Socket)
    socket.destroy()
    expect(Duration.toMillis(MysqlBackend.DEFAULT_STATEMENT_TIMEOUT)).toBe(30_000)
  })
})
