import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as TestClock from "effect/TestClock"
import { RetryPolicy } from "@taskmeta/core"

class Flaky {
  readonly _tag = "Flaky"
  constructor(readonly transient: boolean) {}
}

describe("RetryPolicy", () => {
  it("caps the delay ceiling at maxSleep", () => {
    const s = RetryPolicy.defaults
    expect(Duration.toMillis(RetryPolicy.ceiling(s, 1))).toBe(20)
    expect(Duration.toMillis(RetryPolicy.ceiling(s, 3))).toBe(80)
    expect(Duration.toMillis(RetryPolicy.ceiling(s, 20))).toBe(10_000)
  })

  it.effect("retries transient errors up to maxRetries, then fails", () =>
    Effect.gen(function*() {
      let attempts = 0
      let reconnects = 0
      const op = Effect.suspend(() => {
        attempts++
        return Effect.fail(new Flaky(true))
      })
      const fiber = yield* Effect.fork(
        op.pipe(RetryPolicy.retryTransient(RetryPolicy.defaults, (e) => e.transient, () =>
          Effect.sync(() => {
            reconnects++
          })))
      )
      yield* TestClock.adjust(Duration.seconds(60))
      const exit = yield* Fiber.await(fiber)
      expect(exit._tag).toBe("Failure")
      expect(attempts).toBe(4)
      expect(reconnects).toBe(4)
    }))

  it.effect("does not retry errors that are not transient", () =>
    Effect.gen(function*() {
      let attempts = 0
      const op = Effect.suspend(() => {
        attempts++
        return Effect.fail(new Flaky(false))
      })
      yield* Effect.flip(op.pipe(RetryPolicy.retryTransient(RetryPolicy.defaults, (e) => e.transient)))
      expect(attempts).toBe(1)
    }))

  it.effect("succeeds once a transient error clears", () =>
    Effect.gen(function*() {
      let attempts = 0
      const op = Effect.suspend(() => (++attempts < 3 ? Effect.fail(new Flaky(true)) : Effect.succeed("ok")))
      const fiber = yield* Effect.fork(op.pipe(RetryPolicy.retryTransient(RetryPolicy.defaults, (e) => e.transient)))
      yield* TestClock.adjust(Duration.seconds(1))
      expect(yield* Fiber.join(fiber)).toBe("ok")
      expect(attempts).toBe(3)
    }))

  it.effect("with alwaysRetry off, fails at once", () =>
    Effect.gen(function*() {
      let attempts = 0
      const op = Effect.suspend(() => {
        attempts++
        return Effect.fail(new Flaky(true))
      })
      yield* Effect.flip(
        op.pipe(RetryPolicy.retryTransient({ ...RetryPolicy.defaults, alwaysRetry: false }, (e) => e.transient))
      )
      expect(attempts).toBe(1)
    }))

  it.effect("waits a random delay within [0, min(maxSleep, baseSleep·2ⁿ)] before retry n", () =>
    Effect.gen(function*() {
      const settings = { ...RetryPolicy.defaults, maxRetries: 6, baseSleep: Duration.millis(100), maxSleep: Duration.millis(1000) }
      const times: Array<number> = []
      const op = Effect.gen(function*() {
        times.push(yield* TestClock.currentTimeMillis)
        return yield* Effect.fail(new Flaky(true))
      })
      const fiber = yield* Effect.fork(op.pipe(RetryPolicy.retryTransient(settings, (e) => e.transient)))
      for (let i = 0; i < 200; i++) yield* TestClock.adjust(Duration.millis(25))
      yield* Fiber.await(fiber)
      expect(times).toHaveLength(7)
      for (let n = 1; n < times.length; n++) {
        const gap = times[n] - times[n - 1]
        expect(gap).toBeGreaterThanOrEqual(0)
        // TestClock advances in 25 ms steps, so a gap may round up by one step.
        expect(gap).toBeLessThanOrEqual(Math.min(1000, 100 * 2 ** n) + 25)
      }
    }))
})
