import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_wait_${suffix()}`
const app = `tm_wait_${suffix()}`
afterAll(() => dropSchema(schema))

const layer = PgBackend.layer({ url: pgUrl, tables: { schema }, applicationName: app, pollInterval: "20 seconds" })

describe("PostgreSQL waiting (LISTEN/NOTIFY)", () => {
  it.live("a write by another client (Celery) wakes a waiter long before the next poll", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const waiter = yield* Effect.fork(backend.waitFor("external", { timeout: "5 seconds" }))
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      yield* Effect.promise(() =>
        pgQuery(
          `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result, date_done) ` +
            `VALUES (nextval('"${schema}".task_id_sequence'), 'external', 'SUCCESS', NULL, now() at time zone 'utc')`
        )
      )
      const record = yield* Fiber.join(waiter)
      expect(record.status).toBe("SUCCESS")
      expect(Date.now() - started).toBeLessThan(2000)
    }).pipe(Effect.provide(layer)), 30_000)

  it.live("the LISTEN connection comes back after it is terminated", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const killed = yield* Effect.promise(() =>
        pgQuery(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`,
          [`${app}-listen`]
        )
      )
      expect(killed.rows[0].n).toBe(1)
      yield* Effect.sleep("1 second")
      const waiter = yield* Effect.fork(backend.waitFor("after-kill", { timeout: "5 seconds" }))
      yield* Effect.sleep("100 millis")
      const started = Date.now()
      yield* backend.store("after-kill", 1, "SUCCESS")
      yield* Fiber.join(waiter)
      expect(Date.now() - started).toBeLessThan(2000)
    }).pipe(Effect.provide(layer), Logger.withMinimumLogLevel(LogLevel.Error)), 30_000)
})
