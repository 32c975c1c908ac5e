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
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
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
import { blackholeProxy } from "./blackholeProxy.js"
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
      const acknowledged: Array<string> = []
      const store = (id: string) =>
        Effect.either(backend.store(id, { id }, "SUCCESS")).pipe(
          Effect.tap((outcome) => Effect.sync(() => Either.isRight(outcome) && acknowledged.push(id)))
        )

      // 1. a healthy start: both pool connections in use, lone and multi-row statements
      const before = yield* Effect.forEach(Array.from({ length: 20 }, (_, i) => `ok-${i}`), store, { concurrency: 8 })
      expect(before.filter(Either.isLeft)).toEqual([])

      // 2. the peer goes silent mid-stream; new connections forward again a little later
      p.blackhole()
      const during = yield* Effect.fork(
        Effect.forEach(Array.from({ length: 10 }, (_, i) => `gap-${i}`), store, { concurrency: 4 })
      )
      yield* Effect.sleep("300 millis")
      p.healNew()
      const recovered = yield* Fiber.join(during)
      // each statement on a dead connection was dropped after 1 s and retried on a new one
      expect(recovered.filter(Either.isRight)).toHaveLength(10)
      expect(p.swallowed()).toBeGreaterThan(0)

      // 3. the peer goes silent for good: every store ends with a typed error
      p.blackhole()
      const lost = yield* Effect.forEach(Array.from({ length: 3 }, (_, i) => `lost-${i}`), store, { concurrency: 3 })
      expect(lost.filter(Either.isLeft)).toHaveLength(3)
      for (const outcome of lost) {
        if (Either.isLeft(outcome)) {
          expect(outcome.left._tag).toBe("StoreError")
          // the statement's own timeout, or (after the retries) the connect timeout of a fresh connection
          expect(outcome.left.message).toMatch(/no answer from MySQL within 1000 ms|connect ETIMEDOUT/)
        }
      }

      // nothing acknowledged is lost (read on the server directly, not through the proxy)
      const found = yield* storedIds(acknowledged)
      expect(acknowledged).toHaveLength(30)
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
