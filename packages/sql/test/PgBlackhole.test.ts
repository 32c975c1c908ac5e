/**
 * A dead peer that keeps its sockets open (issue 14, finding 5): a TCP proxy
 * between the backend and PostgreSQL stops forwarding but never closes a
 * connection, the way a hung server, a stateful firewall or a half-dead NAT
 * does. Before the client-side statement timeout, stores neither failed nor
 * finished (86 s later nothing had been acknowledged or reported). Now the
 * connection that hears nothing back is dropped after `statementTimeout`,
 * the retry policy takes over on a fresh connection, and a store either
 * succeeds after reconnecting or fails with a typed error: never hangs.
 * Nothing acknowledged is lost. (Vitest's per-test timeout is the hang guard;
 * no assertion reads the clock.)
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import { blackholeProxy, storeThroughDeath } from "./blackholeProxy.js"
import { dropSchema, PG_URL, pgQuery, suffix } from "./helpers.js"

const schema = `tm_blackhole_${suffix()}`
afterAll(() => dropSchema(schema))

const target = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))
const proxy = blackholeProxy(target.hostname, Number(target.port || 5432))

const urlThrough = (port: number) => {
  const url = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))
  url.port = String(port)
  url.hostname = "127.0.0.1"
  return Redacted.make(`postgresql:${url.href.slice("http:".length)}`)
}

const storedIds = (ids: ReadonlyArray<string>) =>
  Effect.promise(() =>
    pgQuery(`SELECT task_id FROM "${schema}".celery_taskmeta WHERE task_id = ANY($1)`, [ids])
  ).pipe(Effect.map((r) => new Set(r.rows.map((row: { task_id: string }) => row.task_id))))

describe("PostgreSQL behind a proxy that stops answering but keeps its sockets open", () => {
  it.live("stores fail typed or succeed after reconnecting, never hang, and nothing acknowledged is lost", () =>
    Effect.gen(function*() {
      const p = yield* proxy
      const context = yield* Layer.build(
        PgBackend.layer({
          url: urlThrough(p.port),
          tables: { schema },
          poolSize: 2,
          listen: false,
          statementTimeout: Duration.seconds(1),
          connectTimeout: Duration.seconds(1),
          retry: { maxRetries: 4, baseSleep: Duration.millis(50), maxSleep: Duration.millis(400) }
        })
      )
      const backend = Context.get(context, ResultBackend.ResultBackend)
      const acknowledged = yield* storeThroughDeath(backend, p, /no answer from PostgreSQL within 1000 ms|timeout/i)

      // nothing acknowledged is lost (read on the server directly, not through the proxy)
      const found = yield* storedIds(acknowledged)
      for (const id of acknowledged) expect(found.has(id)).toBe(true)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 90_000)

  it.live("query_timeout in the URL sets the timeout when no option does", () =>
    Effect.gen(function*() {
      const p = yield* proxy
      const url = Redacted.make(`${Redacted.value(urlThrough(p.port))}?query_timeout=300`)
      const context = yield* Layer.build(PgBackend.layerClient({ url, poolSize: 1, connectTimeout: Duration.seconds(1) }))
      const sql = Context.get(context, SqlClient.SqlClient)
      expect(yield* sql<{ x: number }>`SELECT 1 AS x`).toEqual([{ x: 1 }])
      p.blackhole()
      const error = yield* Effect.flip(sql`SELECT 2 AS x`)
      expect(error._tag).toBe("SqlError")
      expect(String((error.cause as Error).message)).toMatch(/within 300 ms|Query read timeout/)
    }).pipe(Effect.scoped), 30_000)

  it.live("a user's own PgClient with statementTimeoutStream: SqlBackend.layer over it fails typed instead of hanging", () =>
    Effect.gen(function*() {
      const p = yield* proxy
      // Built the way the README tells a user to: their client, their stream, our backend layer over it.
      const Client = PgClient.layer({
        url: urlThrough(p.port),
        maxConnections: 2,
        stream: PgBackend.statementTimeoutStream("300 millis")
      })
      const context = yield* Layer.build(
        SqlBackend.layer({ tables: { schema }, listen: false, retry: { maxRetries: 1, baseSleep: Duration.millis(10) } }).pipe(
          Layer.provide(Client)
        )
      )
      const backend = Context.get(context, ResultBackend.ResultBackend)
      expect((yield* backend.store("user-client-ok", 1, "SUCCESS"))._tag).toBe("Stored")
      p.blackhole()
      const error = yield* Effect.flip(backend.store("user-client-lost", 2, "SUCCESS"))
      expect(error._tag).toBe("StoreError")
      expect(error.message).toMatch(/no answer from PostgreSQL within 300 ms/)
      const found = yield* storedIds(["user-client-ok"])
      expect(found.has("user-client-ok")).toBe(true)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 30_000)

  it("statementTimeoutStream is the stream a user's own PgClient takes", () => {
    const make = PgBackend.statementTimeoutStream("5 seconds")
    const socket = make()
    expect(socket).toBeInstanceOf(net.Socket)
    socket.destroy()
    expect(Duration.toMillis(PgBackend.DEFAULT_STATEMENT_TIMEOUT)).toBe(30_000)
  })
})
