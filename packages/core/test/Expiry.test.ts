import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as ConfigProvider from "effect/ConfigProvider"
import { BackendDriver, BackendError, BackendOptions, Expiry, MemoryBackend, ResultBackend } from "@taskmeta/core"

describe("Expiry", () => {
  it.scoped("sweeps on a fixed interval in the background", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      yield* Layer.buildWithScope(Expiry.layer({ every: "1 hour" }).pipe(Layer.provide(Layer.succeed(ResultBackend.ResultBackend, backend))), yield* Effect.scope)
      yield* backend.store("old", 1, "SUCCESS")
      yield* TestClock.adjust(Duration.hours(23))
      expect(yield* backend.exists("old")).toBe(true)
      yield* TestClock.adjust(Duration.hours(2))
      expect(yield* backend.exists("old")).toBe(false)
    }).pipe(Effect.provide(MemoryBackend.layer())))

  it.scoped("runs daily at 04:00 UTC by default", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      // 1970-01-01T00:00Z: store, then the 04:00 sweeps of day 1 (too young) and day 2 (expired).
      yield* backend.store("t", 1, "SUCCESS")
      yield* Layer.buildWithScope(Expiry.layer().pipe(Layer.provide(Layer.succeed(ResultBackend.ResultBackend, backend))), yield* Effect.scope)
      yield* TestClock.adjust(Duration.minutes(27 * 60 + 59))
      expect(yield* backend.exists("t")).toBe(true)
      yield* TestClock.adjust(Duration.minutes(2))
      expect(yield* backend.exists("t")).toBe(false)
    }).pipe(Effect.provide(MemoryBackend.layer())))

  it.scoped("logs a failed sweep and keeps going", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.makeDriver
      let calls = 0
      const flaky: BackendDriver.BackendDriver = {
        ...memory,
        cleanupTasks: (rule, limit) =>
          Effect.suspend(() =>
            ++calls === 1
              ? Effect.fail(new BackendError.DriverError({ operation: "cleanup", cause: new Error("disk on fire") }))
              : memory.cleanupTasks(rule, limit)
          )
      }
      const backend = yield* ResultBackend.make(flaky)
      yield* Layer.buildWithScope(Expiry.layer({ every: "1 hour" }).pipe(Layer.provide(Layer.succeed(ResultBackend.ResultBackend, backend))), yield* Effect.scope)
      yield* backend.store("x", 1, "SUCCESS")
      yield* TestClock.adjust(Duration.hours(25))
      expect(calls).toBeGreaterThanOrEqual(2)
      expect(yield* backend.exists("x")).toBe(false)
    }))

  it.effect("stops with its scope", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.makeDriver
      let sweeps = 0
      const counting: BackendDriver.BackendDriver = {
        ...memory,
        cleanupTasks: (rule, limit) => Effect.suspend(() => {
          sweeps++
          return memory.cleanupTasks(rule, limit)
        })
      }
      const backend = yield* ResultBackend.make(counting)
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Layer.buildWithScope(Expiry.layer({ every: "1 hour" }).pipe(Layer.provide(Layer.succeed(ResultBackend.ResultBackend, backend))), yield* Effect.scope)
        yield* TestClock.adjust(Duration.hours(3))
      }))
      const before = sweeps
      expect(before).toBeGreaterThan(0)
      yield* TestClock.adjust(Duration.hours(5))
      expect(sweeps).toBe(before)
    }))

  it.effect("lets other fibers run between cleanup batches, even on a synchronous driver", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.makeDriver
      const log: Array<string> = []
      let batches = 0
      // Five full batches (logged), then empty ones, each returned synchronously (as better-sqlite3 runs).
      const synchronous: BackendDriver.BackendDriver = {
        ...memory,
        cleanupTasks: (_rule, limit) =>
          Effect.sync(() => {
            if (++batches > 5) return 0
            log.push("batch")
            return limit
          })
      }
      const backend = yield* ResultBackend.make(synchronous, { ...BackendOptions.defaults, cleanupBatchSize: 10 })
      // A writer that is ready to run whenever the sweep lets it.
      const writer = yield* Effect.fork(
        Effect.forever(Effect.zipRight(Effect.sync(() => log.push("writer")), Effect.yieldNow()))
      )
      yield* Effect.yieldNow()
      yield* backend.cleanup()
      yield* Fiber.interrupt(writer)
      const sweep = log.slice(log.indexOf("batch"), log.lastIndexOf("batch") + 1)
      // The writer ran during the sweep (before, the sweep held it out from the first batch to the last).
      expect(sweep.filter((entry) => entry === "writer").length).toBeGreaterThanOrEqual(2)
      expect(sweep.filter((entry) => entry === "batch")).toHaveLength(5)
    }))

  /**
   * A memory driver with a 1 ms cleanup slice over `rows` expired rows, each
   * batch taking `cost(rows in it)` of (test) clock time; the sizes asked and
   * the rows left are recorded.
   */
  const slicedSweep = (rows: number, cost: (n: number) => Duration.Duration) =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.makeDriver
      const sweep = { sizes: [] as Array<number>, left: rows }
      const timed: BackendDriver.BackendDriver = {
        ...memory,
        cleanupSlice: 1,
        cleanupTasks: (_rule, limit) =>
          Effect.gen(function*() {
            sweep.sizes.push(limit)
            const n = Math.min(limit, sweep.left)
            sweep.left -= n
            yield* TestClock.adjust(cost(n))
            return n
          })
      }
      const backend = yield* ResultBackend.make(timed, { ...BackendOptions.defaults, cleanupBatchSize: 1000 })
      const report = yield* backend.cleanup()
      return { ...sweep, report }
    })

  it.effect("sizes batches to the driver's cleanup slice, from each batch's time", () =>
    Effect.gen(function*() {
      // Each row takes 0.05 ms: a 1 ms slice is 20 rows.
      const { left, report, sizes } = yield* slicedSweep(100, (n) => Duration.micros(BigInt(n * 50)))
      expect(report.tasks).toBe(100)
      expect(left).toBe(0)
      // 16 rows took 0.8 ms, so 20 from then on; the sweep ends on the short batch (4 rows).
      expect(sizes).toEqual([16, 20, 20, 20, 20, 20])
    }))

  it.effect("a statement whose fixed cost alone is longer than the slice keeps 16-row batches, and the sweep ends", () =>
    Effect.gen(function*() {
      // 3 ms per statement whatever its size (a commit's flush), against a 1 ms slice.
      const { left, report, sizes } = yield* slicedSweep(200, () => Duration.millis(3))
      expect(report.tasks).toBe(200)
      expect(left).toBe(0)
      expect(sizes.every((size) => size === 16)).toBe(true)
      expect(sizes).toHaveLength(13)
    }))

  it.effect("without a cleanup slice, every batch is cleanupBatchSize", () =>
    Effect.gen(function*() {
      const memory = yield* MemoryBackend.makeDriver
      const sizes: Array<number> = []
      let left = 25
      const counting: BackendDriver.BackendDriver = {
        ...memory,
        cleanupTasks: (_rule, limit) =>
          Effect.sync(() => {
            sizes.push(limit)
            const n = Math.min(limit, left)
            left -= n
            return n
          })
      }
      const backend = yield* ResultBackend.make(counting, { ...BackendOptions.defaults, cleanupBatchSize: 10 })
      expect((yield* backend.cleanup()).tasks).toBe(25)
      expect(sizes).toEqual([10, 10, 10])
    }))

  it("paces the next batch from the last one's time, within double the last and cleanupBatchSize", () => {
    // 100 rows in 4 ms against a 1 ms slice: 25.
    expect(ResultBackend.nextBatchSize(100, 4, 1, 1000)).toBe(25)
    // Fast batches grow, but at most double at a time.
    expect(ResultBackend.nextBatchSize(100, 0.01, 1, 1000)).toBe(200)
    // A clock that did not move doubles too.
    expect(ResultBackend.nextBatchSize(100, 0, 1, 1000)).toBe(200)
    // Never above the configured batch size, never below the first batch's 16 rows (or the batch size, if smaller).
    expect(ResultBackend.nextBatchSize(800, 0.5, 1, 1000)).toBe(1000)
    expect(ResultBackend.nextBatchSize(16, 500, 1, 1000)).toBe(16)
    expect(ResultBackend.nextBatchSize(10, 500, 1, 10)).toBe(10)
    expect(ResultBackend.nextBatchSize(3, 500, 1, 5)).toBe(5)
  })

  it("rejects a bad cron expression with a typed error", () => {
    const result = Expiry.schedule({ cron: "99 99 * * *" })
    expect(Either.isLeft(result)).toBe(true)
  })

  it.effect("reads the schedule from configuration", () =>
    Effect.gen(function*() {
      const every = yield* Expiry.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["expirySchedule", "2 hours"]])))
      )
      expect(every).toEqual({ every: Duration.hours(2) })
      const cron = yield* Expiry.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["expirySchedule", "30 3 * * *"]])))
      )
      expect(cron).toEqual({ cron: "30 3 * * *" })
      const bad = yield* Effect.flip(Expiry.config.pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map([["expirySchedule", "whenever"]])))
      ))
      expect(bad._op).toBe("InvalidData")
    }))
})
