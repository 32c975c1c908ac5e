import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_faults_${suffix()}`
const app = `tm_faults_${suffix()}`
afterAll(() => dropSchema(schema))

describe("PostgreSQL with connections terminated every 200 ms", () => {
  it.live("a stream of stores keeps every record exactly once", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      let kills = 0
      const killer = yield* Effect.promise(() =>
        pgQuery(
          `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
          [`${app}%`]
        )
      ).pipe(
        Effect.tap((r) => Effect.sync(() => (kills += r.rows[0].n))),
        Effect.repeat(Schedule.spaced("200 millis")),
        Effect.fork
      )
      const count = 4000
      const started = Date.now()
      const outcomes = yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) =>
          Effect.zipRight(
            // Pace every write so the stream lasts at least 4,000 × 20 ms / 32 = 2.5 s,
            // however fast the stores are: a dozen kills land inside it.
            Effect.sleep("20 millis"),
            backend.store(`rec-${i}`, { i, big: 2n ** 70n }, "SUCCESS", { args: [i], kwargs: { i } })
          ),
        { concurrency: 32 }
      )
      yield* Fiber.interrupt(killer)
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThan(2000)
      expect(kills).toBeGreaterThan(5)
      expect(outcomes.every((o) => o._tag === "Stored")).toBe(true)

      const rows = yield* Effect.promise(() =>
        pgQuery(`SELECT task_id, count(*)::int AS n FROM "${schema}".celery_taskmeta GROUP BY task_id`)
      )
      expect(rows.rows.length).toBe(count)
      expect(rows.rows.every((r) => r.n === 1)).toBe(true)
      const records = yield* backend.getMany(Array.from({ length: count }, (_, i) => `rec-${i}`))
      records.forEach((record, i) => {
        expect(record.status).toBe("SUCCESS")
        expect(record.result).toEqual({ i, big: 2n ** 70n })
        expect(record.args).toEqual([i])
      })
    }).pipe(
      Effect.provide(PgBackend.layer({
        url: pgUrl,
        tables: { schema },
        applicationName: app,
        poolSize: 8,
        resultExtended: true,
        retry: { maxRetries: 30, baseSleep: Duration.millis(5), maxSleep: Duration.millis(250) }
      })),
      Logger.withMinimumLogLevel(LogLevel.Error)
    ), 120_000)
})
