import { describe, expect, it } from "@effect/vitest"
import { Effect, TestClock, Duration, Fiber } from "effect"
import { MemoryBackend, ResultBackend } from "@taskmeta/core"

describe("memory smoke", () => {
  it.effect("store/get/wait", () =>
    Effect.gen(function*() {
      const b = yield* ResultBackend.ResultBackend
      yield* b.store("a", { x: 1n << 70n }, "SUCCESS")
      const r = yield* b.get("a")
      expect(r.status).toBe("SUCCESS")
      expect(r.result).toEqual({ x: 1n << 70n })
      const f = yield* Effect.fork(b.waitFor("b", { timeout: "1 second" }))
      yield* b.store("b", 1, "SUCCESS")
      const w = yield* Fiber.join(f)
      expect(w.result).toBe(1)
      const f2 = yield* Effect.fork(Effect.flip(b.waitFor("c", { timeout: "1 second" })))
      yield* TestClock.adjust(Duration.seconds(2))
      const e = yield* Fiber.join(f2)
      expect(e._tag).toBe("WaitTimeout")
    }).pipe(Effect.provide(MemoryBackend.layer())))
})
