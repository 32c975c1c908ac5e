/**
 * The exact `InvalidInput` a caller gets for each refused request: field,
 * reason and id. The rules live in `@taskmeta/schema`; these pin what the
 * services make of them.
 */
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { InvalidInput } from "@taskmeta/core/BackendError"
import * as MemoryBackend from "@taskmeta/core/MemoryBackend"
import * as MemoryPipelineStore from "@taskmeta/core/MemoryPipelineStore"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"

const NUL = "must not contain a NUL character"
const SURROGATE = "must be well-formed Unicode (it has an unpaired surrogate)"

const refusal = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.map(Effect.flip(effect), (error) => {
    const e = error as unknown as InvalidInput
    expect(e._tag).toBe("InvalidInput")
    return e.id === undefined ? { field: e.field, reason: e.reason } : { field: e.field, reason: e.reason, id: e.id }
  })

describe("ResultBackend validation", () => {
  const backend = MemoryBackend.make({ resultExtended: true })
  const store = (taskId: unknown, state: unknown, options?: Record<string, unknown>) =>
    Effect.flatMap(backend, (b) => refusal(b.store(taskId as string, 1, state as string, options as ResultBackend.StoreOptions)))

  it.effect("refuses ids with these reasons", () =>
    Effect.gen(function*() {
      expect(yield* store(7, "SUCCESS")).toEqual({ field: "taskId", reason: "must be a string" })
      expect(yield* store("", "SUCCESS")).toEqual({ field: "taskId", reason: "must not be empty", id: "" })
      const long = "x".repeat(156)
      expect(yield* store(long, "SUCCESS")).toEqual({ field: "taskId", reason: "is 156 characters, at most 155 fit", id: long })
      expect(yield* store("a\u0000b", "SUCCESS")).toEqual({ field: "taskId", reason: NUL, id: "a\u0000b" })
      expect(yield* store("a\uD800", "SUCCESS")).toEqual({ field: "taskId", reason: SURROGATE, id: "a\uD800" })
      expect(yield* store("\uDC00a", "SUCCESS")).toEqual({ field: "taskId", reason: SURROGATE, id: "\uDC00a" })
      // Too long is reported before bad text.
      const longNul = "\u0000".repeat(156)
      expect((yield* store(longNul, "SUCCESS")).reason).toBe("is 156 characters, at most 155 fit")
      const b = yield* backend
      expect(yield* refusal(b.get("\uDBFF"))).toEqual({ field: "taskId", reason: SURROGATE, id: "\uDBFF" })
      expect(yield* refusal(b.exists(""))).toEqual({ field: "taskId", reason: "must not be empty", id: "" })
      expect(yield* refusal(b.forget("x\u0000"))).toEqual({ field: "taskId", reason: NUL, id: "x\u0000" })
      expect(yield* refusal(b.getMany("ab" as unknown as Array<string>))).toEqual({
        field: "taskIds",
        reason: "must be an array of ids"
      })
      expect(yield* refusal(b.getMany(["ok", "a\uD800"]))).toEqual({ field: "taskIds", reason: SURROGATE, id: "a\uD800" })
      expect(yield* refusal(b.saveGroup("g\u0000", ["a"]))).toEqual({ field: "groupId", reason: NUL, id: "g\u0000" })
      expect(yield* refusal(b.saveGroup("g", ["a", ""]))).toEqual({ field: "taskIds", reason: "must not be empty", id: "" })
      expect(yield* refusal(b.restoreGroup("g".repeat(200)))).toEqual({
        field: "groupId",
        reason: "is 200 characters, at most 155 fit",
        id: "g".repeat(200)
      })
      expect(yield* refusal(b.waitFor(""))).toEqual({ field: "taskId", reason: "must not be empty", id: "" })
    }))

  it.effect("refuses states with these reasons", () =>
    Effect.gen(function*() {
      expect(yield* store("t", "")).toEqual({ field: "state", reason: "must be a non-empty string", id: "t" })
      expect(yield* store("t", 3)).toEqual({ field: "state", reason: "must be a non-empty string", id: "t" })
      expect(yield* store("t", "S".repeat(51))).toEqual({ field: "state", reason: "is 51 characters, at most 50 fit", id: "t" })
      // NUL and unpaired surrogates are refused in a state too (issue 14, finding 9: SQLite stored it,
      // PostgreSQL failed with an untyped message echoing the byte).
      expect(yield* store("t", "ODD\u0000")).toEqual({ field: "state", reason: NUL, id: "t" })
      expect(yield* store("t", "ODD\uD800")).toEqual({ field: "state", reason: SURROGATE, id: "t" })
    }))

  it.effect("a value that throws while being read is InvalidInput, not a defect (issue 14, finding 10)", () =>
    Effect.gen(function*() {
      const b = yield* backend
      const getter = { get boom() { throw new Error("getter says no") } }
      const proxy = new Proxy({}, { ownKeys: () => { throw new Error("trap says no") } })
      const throwingError = new Error("x")
      Object.defineProperty(throwingError, "message", { get: () => { throw new Error("message says no") } })
      for (const [value, state, reason] of [
        [getter, "SUCCESS", "cannot be read: getter says no"],
        [proxy, "SUCCESS", "cannot be read: trap says no"],
        [throwingError, "FAILURE", "cannot be read: message says no"]
      ] as const) {
        const exit = yield* Effect.exit(b.store("t-throw", value, state))
        expect(exit._tag).toBe("Failure")
        expect(yield* refusal(b.store("t-throw", value, state))).toEqual({ field: "result", reason, id: "t-throw" })
      }
      const args = [{ get boom() { throw new Error("args say no") } }]
      expect(yield* refusal(b.store("t-throw", 1, "SUCCESS", { args }))).toEqual({
        field: "args",
        reason: "cannot be read: args say no",
        id: "t-throw"
      })
      const options = new Proxy({}, { get: () => { throw new Error("options say no") } })
      expect(yield* refusal(b.store("t-throw", 1, "SUCCESS", options as ResultBackend.StoreOptions))).toEqual({
        field: "options",
        reason: "cannot be read: options say no",
        id: "t-throw"
      })
      expect(yield* b.exists("t-throw")).toBe(false)
    }))

  it.effect("refuses extended fields with these reasons", () =>
    Effect.gen(function*() {
      expect(yield* store("t", "FAILURE", { traceback: 42 })).toEqual({
        field: "traceback",
        reason: "must be a string or null",
        id: "t"
      })
      expect(yield* store("t", "FAILURE", { traceback: "boom\u0000" })).toEqual({ field: "traceback", reason: NUL, id: "t" })
      expect(yield* store("t", "FAILURE", { traceback: "\uDFFF" })).toEqual({ field: "traceback", reason: SURROGATE, id: "t" })
      expect(yield* store("t", "SUCCESS", { name: 5 })).toEqual({ field: "name", reason: "must be a string", id: "t" })
      expect(yield* store("t", "SUCCESS", { name: "n".repeat(156) })).toEqual({
        field: "name",
        reason: "is 156 characters, at most 155 fit",
        id: "t"
      })
      expect(yield* store("t", "SUCCESS", { worker: "w\uDBFF" })).toEqual({ field: "worker", reason: SURROGATE, id: "t" })
      expect(yield* store("t", "SUCCESS", { queue: "q\u0000" })).toEqual({ field: "queue", reason: NUL, id: "t" })
      expect(yield* store("t", "SUCCESS", { args: "nope" })).toEqual({ field: "args", reason: "must be an array", id: "t" })
      expect(yield* store("t", "SUCCESS", { kwargs: [1] })).toEqual({ field: "kwargs", reason: "must be an object", id: "t" })
      const retries = { field: "retries", reason: "must be a whole number from 0 to 2147483647", id: "t" }
      for (const bad of [-1, 1.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY, "3"]) {
        expect(yield* store("t", "SUCCESS", { retries: bad })).toEqual(retries)
      }
      const b = yield* backend
      const stored = yield* b.store("t", 1, "SUCCESS", { name: "", worker: "𝄞", retries: 2 ** 31 - 1, traceback: "" })
      expect(stored._tag).toBe("Stored")
    }))

  it.effect("ignores extended fields when resultExtended is off", () =>
    Effect.gen(function*() {
      const b = yield* MemoryBackend.make()
      expect((yield* b.store("t", 1, "SUCCESS", { name: "n\u0000", retries: -1 }))._tag).toBe("Stored")
      expect(yield* refusal(b.store("t", 1, "FAILURE", { traceback: "\u0000" }))).toEqual({
        field: "traceback",
        reason: NUL,
        id: "t"
      })
    }))
})

describe("PipelineStore validation", () => {
  const reason = (input: PipelineStore.BuildInput) =>
    Effect.map(DateTime.now, (now) =>
      Either.match(PipelineStore.prepareTree(input, now), {
        onLeft: (e) => (e.id === undefined ? { field: e.field, reason: e.reason } : { field: e.field, reason: e.reason, id: e.id }),
        onRight: () => "ok" as const
      }))

  it.effect("refuses names and ids with these reasons", () =>
    Effect.gen(function*() {
      expect(yield* reason({ runId: 1 as unknown as string, pipelineId: "p" })).toEqual({ field: "runId", reason: "must be a string" })
      expect(yield* reason({ runId: "", pipelineId: "p" })).toEqual({ field: "runId", reason: "must not be empty" })
      expect(yield* reason({ runId: "r".repeat(156), pipelineId: "p" })).toEqual({
        field: "runId",
        reason: "is 156 characters, at most 155 fit"
      })
      expect(yield* reason({ runId: "r", pipelineId: "" })).toEqual({ field: "pipelineId", reason: "must not be empty", id: "r" })
      expect(yield* reason({ runId: "r", pipelineId: "p", pipelineResults: [{ id: "x".repeat(256) }] })).toEqual({
        field: "pipelineResults.id",
        reason: "is 256 characters, at most 255 fit"
      })
      expect(yield* reason({ runId: "r", pipelineId: "p", pipelineResults: [{ id: "x".repeat(255) }] })).toBe("ok")
      expect(yield* reason({ runId: "r", pipelineId: "p", pipelineResults: [{ tasks: [{ taskName: "t".repeat(156) }] }] }))
        .toEqual({ field: "taskName", reason: "is 156 characters, at most 155 fit", id: "r:0:t0" })
      expect(yield* reason({ runId: "r", pipelineId: "p", pipelineResults: [{ tasks: [{ taskName: "x", id: "" }] }] }))
        .toEqual({ field: "tasks.id", reason: "must not be empty" })
      // Pipeline names and ids are not checked for NUL or surrogates (they never were).
      expect(yield* reason({ runId: "r\u0000", pipelineId: "p\uD800" })).toBe("ok")
    }))

  it.effect("refuses ids on reads and reports with these reasons", () =>
    Effect.gen(function*() {
      const store = yield* MemoryPipelineStore.make()
      expect(yield* refusal(store.getExecution(""))).toEqual({ field: "runId", reason: "must not be empty" })
      expect(yield* refusal(store.getTaskResult("x".repeat(256)))).toEqual({
        field: "id",
        reason: "is 256 characters, at most 255 fit"
      })
      expect(yield* refusal(store.listExecutions("p".repeat(156)))).toEqual({
        field: "pipelineId",
        reason: "is 156 characters, at most 155 fit"
      })
      expect(yield* refusal(store.listTaskResults({ taskExecutionId: 3 as unknown as string }))).toEqual({
        field: "taskExecutionId",
        reason: "must be a string"
      })
      expect(yield* refusal(store.report("PipelineExecution", "", "DONE"))).toEqual({ field: "runId", reason: "must not be empty" })
      expect(yield* refusal(store.digest(""))).toEqual({ field: "pipelineId", reason: "must not be empty" })
    }))
})
