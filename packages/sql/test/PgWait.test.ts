import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as Queue from "effect/Queue"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Listener from "../src/internal/listener.js"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_wait_${suffix()}`
const app = `tm_wait_${suffix()}`
afterAll(() => dropSchema(schema))

// Waiters poll once an hour: within a test, only a notification can wake them.
const layer = PgBackend.layer({ url: pgUrl, tables: { schema }, applicationName: app, pollInterval: "1 hour" })

/** The pids of this backend's sessions that LISTEN (the last statement they ran). */
const listeners = Effect.promise(() =>
  pgQuery(
    `SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`,
    [app]
  )
).pipe(Effect.map((result) => result.rows.map((row: { pid: number }) => row.pid)))

/** Polls until `ok` holds for the listening pids (bounded). */
const listenersUntil = (ok: (pids: ReadonlyArray<number>) => boolean) =>
  listeners.pipe(
    Effect.filterOrFail(ok, () => "not yet"),
    Effect.retry(Schedule.spaced("50 millis")),
    Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("the LISTEN session did not show up") })
  )

describe("PostgreSQL waiting (LISTEN/NOTIFY)", () => {
  it.live("a write by another client (Celery) wakes a waiter", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const waiter = yield* Effect.fork(backend.waitFor("external", { timeout: "20 seconds" }))
      yield* listenersUntil((pids) => pids.length === 1)
      yield* Effect.promise(() =>
        pgQuery(
          `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result, date_done) ` +
            `VALUES (nextval('"${schema}".task_id_sequence'), 'external', 'SUCCESS', NULL, now() at time zone 'utc')`
        )
      )
      const record = yield* Fiber.join(waiter)
      expect(record.status).toBe("SUCCESS")
    }).pipe(Effect.provide(layer)), 30_000)

  it.live("the LISTEN connection comes back after it is terminated while a waiter waits", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const waiter = yield* Effect.fork(backend.waitFor("after-kill", { timeout: "40 seconds" }))
      const [first] = yield* listenersUntil((pids) => pids.length === 1)
      const killed = yield* Effect.promise(() => pgQuery(`SELECT pg_terminate_backend($1) AS ok`, [first]))
      expect(killed.rows[0].ok).toBe(true)
      // The heartbeat notices the silent session and listens on a new connection.
      const [second] = yield* listenersUntil((pids) => pids.length === 1 && pids[0] !== first)
      expect(second).not.toBe(first)
      yield* backend.store("after-kill", 1, "SUCCESS")
      const record = yield* Fiber.join(waiter)
      expect(record.result).toBe(1)
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Error)), 60_000)

  it.live("one LISTEN session serves many waiters, and it stops listening after the last leaves", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const ids = Array.from({ length: 20 }, (_, i) => `many-${i}`)
      const waiters = yield* Effect.forEach(ids, (id) => Effect.fork(backend.waitFor(id, { timeout: "20 seconds" })))
      yield* listenersUntil((pids) => pids.length === 1)
      yield* Effect.forEach(ids, (id) => backend.store(id, id, "SUCCESS"), { concurrency: 8 })
      const records = yield* Fiber.joinAll(waiters)
      expect(records.map((r) => r.result)).toEqual(ids)
      // After the linger, the session runs UNLISTEN.
      yield* listenersUntil((pids) => pids.length === 0)
    }).pipe(Effect.provide(layer)), 30_000)

  it.live("the listener's heartbeat comes back: a session listening for a while logs no loss, and notifications arrive", () => {
    const logs: Array<string> = []
    const capture = Logger.replace(
      Logger.defaultLogger,
      Logger.make(({ message }) => void logs.push(Array.isArray(message) ? message.join(" ") : String(message)))
    )
    const channel = `tm_hb_${suffix()}`
    return Effect.gen(function*() {
      const client = yield* PgClient.PgClient
      const listener = yield* Listener.make(client, channel, { heartbeat: "100 millis" })
      const ids = yield* listener.subscribe
      // Ten heartbeats; a heartbeat that does not come back logs "LISTEN connection lost".
      yield* Effect.sleep("1500 millis")
      yield* client`SELECT pg_notify(${channel}, ${JSON.stringify(["hb-1", "hb-2"])})`
      expect(yield* Queue.take(ids)).toBe("hb-1")
      expect(yield* Queue.take(ids)).toBe("hb-2")
      expect(logs.filter((line) => line.includes("LISTEN connection lost"))).toEqual([])
    }).pipe(Effect.scoped, Effect.provide(PgClient.layer({ url: pgUrl })), Effect.provide(capture))
  }, 30_000)
})
