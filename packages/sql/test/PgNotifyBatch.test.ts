import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_notify_${suffix()}`
afterAll(() => dropSchema(schema))

describe("PostgreSQL notifications per statement", () => {
  it.live("one multi-row write wakes the waiters of every READY row in it, and not of the others", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const ids = Array.from({ length: 120 }, (_, i) => `multi-${i}`)
      // A long poll interval: only a notification can wake these waiters in time.
      const waiters = yield* Effect.fork(backend.waitForMany(ids, { timeout: "3 seconds" }))
      yield* Effect.sleep("100 millis")
      const values = ids.map((id, i) => `((SELECT nextval('"${schema}".task_id_sequence')), '${id}', '${i % 2 === 0 ? "SUCCESS" : "FAILURE"}', '2026-01-01 00:00:00.000000')`)
      // One outside statement (as Celery or another tool would write), 120 READY rows plus one unready row.
      yield* Effect.promise(() =>
        pgQuery(
          `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, date_done) VALUES ${values.join(", ")}, ` +
            `((SELECT nextval('"${schema}".task_id_sequence')), 'multi-unready', 'STARTED', NULL)`
        )
      )
      const records = yield* Fiber.join(waiters)
      expect(records.map((r) => r.status)).toEqual(ids.map((_, i) => (i % 2 === 0 ? "SUCCESS" : "FAILURE")))
      const unready = yield* Effect.flip(backend.waitFor("multi-unready", { timeout: "300 millis" }))
      expect(unready._tag).toBe("WaitTimeout")
    }).pipe(
      Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, pollInterval: "60 seconds" }))
    ), 30_000)

  it.live("a statement of many long non-ASCII ids stays under NOTIFY's 8000-byte payload limit", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const ids = Array.from({ length: 200 }, (_, i) => `${i}-` + "任".repeat(140) + "\"\\")
      const waiters = yield* Effect.fork(backend.waitForMany(ids, { timeout: "5 seconds" }))
      yield* Effect.sleep("100 millis")
      const outcomes = yield* Effect.forEach(ids, (id, i) => backend.store(id, i, "SUCCESS"), { concurrency: "unbounded" })
      expect(outcomes.every((o) => o._tag === "Stored")).toBe(true)
      const records = yield* Fiber.join(waiters)
      expect(records.map((r) => r.result)).toEqual(ids.map((_, i) => i))
    }).pipe(
      Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, pollInterval: "60 seconds" }))
    ), 30_000)
})
