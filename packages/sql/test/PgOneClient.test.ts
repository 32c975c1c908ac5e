/**
 * One client per store: a store built from one PostgreSQL URL (result
 * backend, pipeline store, browser) opens at most its pool size plus the
 * client's one LISTEN connection, counted in `pg_stat_activity` while every
 * service is busy at once.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Stream from "effect/Stream"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_one_${suffix()}`
const app = `tm_one_${suffix()}`
const POOL = 3
afterAll(() => dropSchema(schema))

interface Seen {
  readonly sessions: number
  readonly listening: number
}

const sessions = Effect.promise(() =>
  pgQuery(
    `SELECT count(*)::int AS n, count(*) FILTER (WHERE query LIKE 'LISTEN %')::int AS l ` +
      `FROM pg_stat_activity WHERE application_name = $1`,
    [app]
  )
).pipe(Effect.map((result): Seen => ({ sessions: result.rows[0].n, listening: result.rows[0].l })))

describe("one client per store (PostgreSQL)", () => {
  it.live("the backend, the pipeline store and the browser busy at once open at most poolSize + 1 sessions", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const pipelines = yield* PipelineStore.PipelineStore
      const browser = yield* ResultBrowser.ResultBrowser

      const seen: Array<Seen> = []
      const sampler = yield* Effect.fork(
        Effect.repeat(Effect.flatMap(sessions, (s) => Effect.sync(() => seen.push(s))), Schedule.spaced("10 millis"))
      )

      const ids = Array.from({ length: 300 }, (_, i) => `one-${i}`)
      const waiter = yield* Effect.fork(backend.waitFor("one-last", { timeout: "30 seconds" }))
      yield* Effect.all([
        Effect.forEach(ids, (id) => backend.store(id, { id }, "SUCCESS"), { concurrency: 64, discard: true }),
        Effect.forEach(
          Array.from({ length: 20 }, (_, i) => `run-${i}`),
          (runId) =>
            pipelines.build({
              runId,
              pipelineId: "one-client",
              pipelineResults: [{ tasks: [{ taskName: "t", results: [{ object: runId }] }] }]
            }),
          { concurrency: 8, discard: true }
        ),
        Effect.repeatN(browser.stats, 10),
        Stream.runCount(browser.list({ limit: 100 }))
      ], { concurrency: "unbounded", discard: true })
      yield* backend.store("one-last", 1, "SUCCESS")
      const last = yield* Fiber.join(waiter)
      expect(last.status).toBe("SUCCESS")
      expect((yield* backend.getMany(ids)).every((r) => r.status === "SUCCESS")).toBe(true)
      expect(Option.isSome(yield* pipelines.getExecution("run-0"))).toBe(true)
      // A loaded machine may sample only a few times during the work: wait for
      // enough samples (the pool's connections stay open meanwhile) instead of
      // counting on the clock.
      yield* Effect.repeat(Effect.sleep("20 millis"), { until: () => seen.length > 5 })
      yield* Fiber.interrupt(sampler)

      const most = Math.max(...seen.map((s) => s.sessions))
      expect(seen.length).toBeGreaterThan(5)
      // The pool filled up under 64 concurrent writers, and a LISTEN session was seen.
      expect(most).toBeGreaterThanOrEqual(POOL)
      expect(seen.some((s) => s.listening === 1)).toBe(true)
      expect(most).toBeLessThanOrEqual(POOL + 1)
      expect(Math.max(...seen.map((s) => s.listening))).toBe(1)
    }).pipe(
      Effect.provide(PgBackend.layerStore({ url: pgUrl, poolSize: POOL, applicationName: app, tables: { schema } }))
    ), 60_000)
})
