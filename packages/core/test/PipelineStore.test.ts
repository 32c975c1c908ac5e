import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import { DriverError } from "@taskmeta/core/BackendError"
import * as MemoryPipelineStore from "@taskmeta/core/MemoryPipelineStore"
import type { PipelineDriver } from "@taskmeta/core/PipelineDriver"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as RetryPolicy from "@taskmeta/core/RetryPolicy"

const fast: RetryPolicy.Settings = {
  alwaysRetry: true,
  maxRetries: 3,
  baseSleep: Duration.millis(1),
  maxSleep: Duration.millis(2)
}

const transient = new Error("connection reset")
const permanent = new Error("syntax error")

/**
 * A memory driver whose operations first fail `failures` times with `cause`
 * (transient when it is `transient`), counting attempts.
 */
const flaky = (failures: number, cause: Error) =>
  Effect.map(MemoryPipelineStore.makeDriver, (inner) => {
    const attempts = { insert: 0, atomically: 0, read: 0, cleanup: 0 }
    const gate = <A, E>(key: keyof typeof attempts, effect: Effect.Effect<A, E>): Effect.Effect<A, E | DriverError> =>
      Effect.suspend((): Effect.Effect<A, E | DriverError> =>
        ++attempts[key] <= failures
          ? Effect.fail(new DriverError({ operation: key, cause }))
          : effect
      )
    const driver: PipelineDriver = {
      ...inner,
      insert: (tree, children) => gate("insert", inner.insert(tree, children)),
      atomically: (f) => gate("atomically", inner.atomically(f)),
      getTaskResult: (id) => gate("read", inner.getTaskResult(id)),
      cleanup: (before, limit) => gate("cleanup", inner.cleanup(before, limit)),
      isTransient: (e) => e.cause === transient
    }
    return { driver, attempts }
  })

const input = (runId: string): PipelineStore.BuildInput => ({
  runId,
  pipelineId: "p",
  pipelineResults: [{ tasks: [{ taskName: "t", results: [{}, {}] }] }]
})

describe("PipelineStore.prepareTree", () => {
  it.effect("derives ids, positions and child counts in tree order", () =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const prepared = Either.getOrThrow(PipelineStore.prepareTree({
        runId: "r",
        pipelineId: "p",
        pipelineResults: [
          { object: 1, tasks: [{ taskName: "a", results: [{}, { id: "mine" }] }, { taskName: "b" }] },
          { id: "second", tasks: [{ taskName: "a", results: [{ object: [1] }] }] },
          {}
        ]
      }, now))
      const { tallies, tree } = prepared
      expect(tree.pipelineResults.map((r) => [r.id, r.index])).toEqual([["r:0", 0], ["second", 1], ["r:2", 2]])
      expect(tree.taskExecutions.map((r) => [r.id, r.pipelineResultId, r.index])).toEqual([
        ["r:0:t0", "r:0", 0],
        ["r:0:t1", "r:0", 1],
        ["second:t0", "second", 0]
      ])
      expect(tree.taskResults.map((r) => [r.id, r.taskExecutionId, r.index])).toEqual([
        ["r:0:t0:0", "r:0:t0", 0],
        ["mine", "r:0:t0", 1],
        ["second:t0:0", "second:t0", 0]
      ])
      const totals = (ts: ReadonlyArray<{ readonly total: number }>) => ts.map((t) => t.total)
      expect(tallies.execution).toEqual({ total: 3, final: 0, worst: null })
      expect(totals(tallies.pipelineResults)).toEqual([2, 1, 0])
      expect(totals(tallies.taskExecutions)).toEqual([2, 0, 1])
      expect([...tallies.pipelineResults, ...tallies.taskExecutions].every((t) => t.final === 0 && t.worst === null)).toBe(true)
      expect(tree.execution).toMatchObject({ status: "PENDING", created: now, inputData: null, message: null })
    }))

  it.effect("stamps a RUNNING or final execution", () =>
    Effect.gen(function*() {
      yield* TestClock.adjust(Duration.seconds(5))
      const now = yield* DateTime.now
      const running = Either.getOrThrow(PipelineStore.prepareTree({ runId: "r", pipelineId: "p", status: "RUNNING" }, now))
      expect(running.tree.execution).toMatchObject({ started: now, completed: null })
      const failed = Either.getOrThrow(
        PipelineStore.prepareTree({ runId: "r", pipelineId: "p", status: "CONFIG_ERROR", message: "no" }, now)
      )
      expect(failed.tree.execution).toMatchObject({ started: null, completed: now, message: "no" })
    }))

  it.effect("reports the offending field", () =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      const field = (i: PipelineStore.BuildInput) =>
        Either.match(PipelineStore.prepareTree(i, now), { onLeft: (e) => e.field, onRight: () => "ok" })
      expect(field({ runId: "r", pipelineId: "" })).toBe("pipelineId")
      expect(field({ runId: "r", pipelineId: "p", inputData: 1n })).toBe("ok")
      expect(field({ runId: "r", pipelineId: "p", inputData: [undefined] })).toBe("inputData")
      expect(field({ runId: "r", pipelineId: "p", pipelineResults: [{ tasks: [{ taskName: "x", config: Symbol() }] }] }))
        .toBe("config")
      expect(field({ runId: "r", pipelineId: "p", pipelineResults: [{ id: "x".repeat(256) }] })).toBe(
        "pipelineResults.id"
      )
      expect(field({ runId: "r", pipelineId: "p", pipelineResults: [{ tasks: [{ taskName: "x", results: [{ id: "a" }, { id: "a" }] }] }] }))
        .toBe("results.id")
    }))
})

describe("PipelineStore over a failing driver", () => {
  it.effect("retries transient failures of a report, then succeeds with one propagation", () =>
    TestServices.provideLive(Effect.gen(function*() {
      const { attempts, driver } = yield* flaky(2, transient)
      const store = yield* PipelineStore.make(driver, { retry: fast })
      yield* store.build(input("r"))
      const outcome = yield* store.report("TaskResult", "r:0:t0:0", "DONE")
      expect(outcome.applied).toBe(true)
      expect(attempts.atomically).toBe(3)
      expect(attempts.insert).toBe(3)
      const second = yield* store.report("TaskResult", "r:0:t0:1", "DONE")
      expect(second.changes.map((c) => c.kind)).toEqual([
        "TaskResult",
        "TaskExecution",
        "PipelineResult",
        "PipelineExecution"
      ])
    })))

  it.effect("gives up after maxRetries with a typed error that keeps the cause", () =>
    TestServices.provideLive(Effect.gen(function*() {
      const { attempts, driver } = yield* flaky(100, transient)
      const store = yield* PipelineStore.make(driver, { retry: fast })
      const error = yield* Effect.flip(store.build(input("r")))
      expect(error._tag).toBe("PipelineBuildError")
      expect(error.cause).toBe(transient)
      expect(attempts.insert).toBe(4)
      const read = yield* Effect.flip(store.getTaskResult("x"))
      expect(read).toMatchObject({ _tag: "PipelineReadError", operation: "getTaskResult", id: "x" })
      const report = yield* Effect.flip(store.report("TaskResult", "x", "DONE"))
      expect(report).toMatchObject({ _tag: "PipelineReportError", kind: "TaskResult", id: "x", status: "DONE" })
      expect(attempts.atomically).toBe(4)
    })))

  it.effect("does not retry a permanent failure", () =>
    Effect.gen(function*() {
      const { attempts, driver } = yield* flaky(1, permanent)
      const store = yield* PipelineStore.make(driver, { retry: fast })
      const error = yield* Effect.flip(store.report("TaskResult", "x", "DONE"))
      expect(error._tag).toBe("PipelineReportError")
      expect(attempts.atomically).toBe(1)
      // Not found is the caller's error, not retried and not a storage failure.
      const missing = yield* Effect.flip(store.report("TaskResult", "x", "DONE"))
      expect(missing).toMatchObject({ _tag: "PipelineNotFound", kind: "TaskResult", id: "x" })
      expect(attempts.atomically).toBe(2)
    }))

  it.effect("a failed cleanup says which runs earlier batches removed", () =>
    Effect.gen(function*() {
      const inner = yield* MemoryPipelineStore.makeDriver
      let calls = 0
      const driver: PipelineDriver = {
        ...inner,
        cleanup: (before, limit) =>
          ++calls === 1 ? inner.cleanup(before, limit) : Effect.fail(new DriverError({ operation: "cleanup", cause: permanent }))
      }
      const store = yield* PipelineStore.make(driver, { retry: fast, cleanupBatchSize: 2 })
      for (const runId of ["a", "b", "c"]) yield* store.build({ runId, pipelineId: "p", status: "CANCELLED" })
      yield* TestClock.adjust(Duration.seconds(1))
      const error = yield* Effect.flip(store.cleanup(yield* DateTime.now))
      expect(error._tag).toBe("PipelineCleanupError")
      expect(error.removedRunIds).toEqual(["a", "b"])
      expect(Option.isSome(yield* store.getExecution("c"))).toBe(true)
    }))
})

describe("MemoryPipelineStore", () => {
  it.effect("takes time from the clock and keeps records detached from the caller's input", () =>
    Effect.gen(function*() {
      const store = yield* PipelineStore.PipelineStore
      const object = { mutable: [1] }
      yield* store.build({ runId: "r", pipelineId: "p", pipelineResults: [{ object }] })
      object.mutable.push(2)
      yield* TestClock.adjust(Duration.hours(2))
      yield* store.report("PipelineResult", "r:0", "RUNNING")
      const pr = Option.getOrThrow(yield* store.getPipelineResult("r:0"))
      expect(pr.object).toEqual({ mutable: [1] })
      expect(DateTime.toEpochMillis(pr.started!)).toBe(2 * 60 * 60 * 1000)
    }).pipe(Effect.provide(MemoryPipelineStore.layer())))
})
