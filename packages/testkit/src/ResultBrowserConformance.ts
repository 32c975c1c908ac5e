/**
 * The conformance suite every `ResultBrowser` implementation runs.
 *
 * Call `suite(name, make)` from a test file. `make` builds a layer with a
 * `ResultBackend` and a `ResultBrowser` over the same storage, for the given
 * backend options; every test builds its own and seeds it with the same
 * records (`tasks`, `groups`) through the backend, so storage that keeps what
 * an earlier test of the run wrote (a SQL table) is fine, but nothing else
 * may write to it. Time is driven with `TestClock`.
 *
 * What the suite pins down:
 *
 * - `list` is newest first; states, name, `since`/`until` (on `dateDone`,
 *   unfinished tasks left out) and `limit` narrow it;
 * - `stats` counts by state and by name, with the failure rate;
 * - exports are oldest first and give the records exactly as stored (big
 *   integers, dates, tracebacks);
 * - `countExpired` counts what `ResultBackend.cleanup` then deletes;
 * - `page` pages through `list` with a cursor, with the worker, queue and
 *   text filters too; `groups` pages groups; `window` counts finished tasks
 *   per bucket; `summary` counts by state and finds the oldest unfinished
 *   task; `storedForm` says how a result is stored;
 * - `changes` gives records written after it starts, and the next write of
 *   one it gave unfinished (run on the live clock).
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"

/**
 * @since 0.1.0
 * @category models
 */
export type MakeLayer<E = unknown> = (
  options: BackendOptions.Input
) => Layer.Layer<ResultBackend.ResultBackend | ResultBrowser.ResultBrowser, E>

/**
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** Per-test timeout (default 30 s). */
  readonly timeout?: number | undefined
  /**
   * Whether `since`/`until` compare to the microsecond (default true). A
   * store that filters on whole milliseconds (ArangoDB's `DATE_TIMESTAMP`)
   * still has to keep and order the microseconds.
   */
  readonly microsecondFilters?: boolean | undefined
}

/**
 * The options the suite's layers are built with (extended results, the
 * default expiry of one day).
 *
 * @since 0.1.0
 * @category constants
 */
export const options: BackendOptions.Input = { resultExtended: true }

const at = (iso: string) => DateTime.unsafeMake(iso)

const base = { traceback: null, kwargs: {}, worker: "w@h", retries: 0, queue: "celery" }

/**
 * The task records the suite stores, in the order it stores them (oldest
 * first): two SUCCESS (one with an integer beyond 2^53), a FAILURE with a
 * traceback, and a STARTED task, which has no `dateDone`.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const tasks: ReadonlyArray<TaskRecord.TaskRecord> = [
  { ...base, taskId: "s1", status: "SUCCESS", result: 256, dateDone: at("2026-01-01T00:00:00Z"), name: "multiply_two_numbers", args: [16, 16] },
  { ...base, taskId: "f1", status: "FAILURE", result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" }, traceback: "Traceback…", dateDone: at("2026-01-02T00:00:00Z"), name: "divide", args: [1, 0] },
  { ...base, taskId: "s2", status: "SUCCESS", result: 12345678901234567890n, dateDone: at("2026-01-03T00:00:00Z"), name: "multiply_two_numbers", args: [2, 3] },
  { ...base, taskId: "p1", status: "STARTED", result: { pid: 1 }, dateDone: null, name: "slow", args: [] }
]

/**
 * The group the suite saves (over `s1` and `f1`).
 *
 * @since 0.1.0
 * @category fixtures
 */
export const groups: ReadonlyArray<GroupRecord.GroupRecord> = [
  { groupId: "g1", taskIds: ["s1", "f1"], dateDone: at("2026-01-02T06:00:00Z") }
]

/**
 * Stores `tasks` and `groups` through the `ResultBackend` in context, each
 * at its `dateDone` (`TestClock` only moves forward while seeding).
 *
 * @since 0.1.0
 * @category fixtures
 */
export const seed: Effect.Effect<void, unknown, ResultBackend.ResultBackend> = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const setTime = (instant: DateTime.Utc | null) =>
    instant === null ? Effect.void : TestClock.setTime(DateTime.toEpochMillis(instant))
  const [group] = groups
  for (const record of tasks) {
    // The group, dated between f1 and s2, in its place in time.
    if (record.taskId === "s2") {
      yield* setTime(group.dateDone)
      yield* backend.saveGroup(group.groupId, group.taskIds)
    }
    const { dateDone, result, status, taskId, ...request } = record
    yield* setTime(dateDone)
    yield* backend.store(taskId, result, status, request)
  }
})

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/**
 * Registers the suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <E>(name: string, make: MakeLayer<E>, suiteOptions: SuiteOptions = {}): void => {
  const timeout = suiteOptions.timeout ?? 30_000
  const provide = <A, E2>(self: Effect.Effect<A, E2, ResultBackend.ResultBackend | ResultBrowser.ResultBrowser>) =>
    Effect.provide(Effect.zipRight(seed, self), make(options))

  describe(`${name}: ResultBrowser conformance`, () => {
    it.effect("lists newest first, filters by state, name, time and limit", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        expect(browser.kind).toBe((yield* ResultBackend.ResultBackend).kind)
        const ids = (filter: ResultBrowser.Filter) =>
          Effect.map(collect(browser.list(filter)), (records) => records.map((r) => r.taskId))
        expect(yield* ids({})).toEqual(["p1", "s2", "f1", "s1"])
        expect(yield* ids({ states: [] })).toEqual(["p1", "s2", "f1", "s1"])
        expect(yield* ids({ states: ["SUCCESS"] })).toEqual(["s2", "s1"])
        expect(yield* ids({ states: ["FAILURE", "STARTED"] })).toEqual(["p1", "f1"])
        expect(yield* ids({ name: "multiply_two_numbers", limit: 1 })).toEqual(["s2"])
        expect(yield* ids({ since: at("2026-01-02T00:00:00Z") })).toEqual(["s2", "f1"])
        expect(yield* ids({ since: at("2026-01-01T00:00:00Z"), until: at("2026-01-02T00:00:00Z") })).toEqual(["s1"])
        expect(yield* ids({ limit: 0 })).toEqual([])
      })), timeout)

    it.effect("counts by state and name, with the failure rate", () =>
      provide(Effect.gen(function*() {
        const stats = yield* (yield* ResultBrowser.ResultBrowser).stats
        expect(stats.tasks).toBe(4)
        expect(stats.groups).toBe(1)
        expect(stats.byState).toEqual({ SUCCESS: 2, FAILURE: 1, STARTED: 1 })
        expect(stats.failureRate).toBeCloseTo(1 / 3)
        expect(stats.byName[0]).toEqual({ name: "multiply_two_numbers", total: 2, byState: { SUCCESS: 2 }, failureRate: 0 })
      })), timeout)

    it.effect("exports everything, oldest first, exactly as stored", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const exported = yield* collect(browser.exportTasks)
        expect(exported.map((r) => r.taskId)).toEqual(["s1", "f1", "s2", "p1"])
        expect(exported[2].result).toBe(12345678901234567890n)
        expect(DateTime.formatIso(exported[1].dateDone!)).toBe("2026-01-02T00:00:00.000Z")
        expect(exported[1].traceback).toBe("Traceback…")
        const exportedGroups = yield* collect(browser.exportGroups)
        expect(exportedGroups.map((g) => [g.groupId, g.taskIds, DateTime.formatIso(g.dateDone)])).toEqual([
          ["g1", ["s1", "f1"], "2026-01-02T06:00:00.000Z"]
        ])
      })), timeout)

    it.effect("pages through list with a cursor, with every filter", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const pages = (query: Omit<ResultBrowser.PageQuery, "after">) =>
          Effect.gen(function*() {
            const out: Array<ReadonlyArray<string>> = []
            let after: string | undefined
            for (let n = 0; n < 10; n++) {
              const page = yield* browser.page({ ...query, after })
              out.push(page.records.map((r) => r.taskId))
              if (page.next === null) return out
              after = page.next
            }
            return out
          })
        expect(yield* pages({ limit: 1 })).toEqual([["p1"], ["s2"], ["f1"], ["s1"]])
        expect(yield* pages({ limit: 3 })).toEqual([["p1", "s2", "f1"], ["s1"]])
        expect(yield* pages({ limit: 4 })).toEqual([["p1", "s2", "f1", "s1"]])
        expect(yield* pages({ limit: 1, states: ["SUCCESS"] })).toEqual([["s2"], ["s1"]])
        expect(yield* pages({ limit: 10, name: "divide" })).toEqual([["f1"]])
        expect(yield* pages({ limit: 10, worker: "w@h" })).toEqual([["p1", "s2", "f1", "s1"]])
        expect(yield* pages({ limit: 10, worker: "elsewhere" })).toEqual([[]])
        expect(yield* pages({ limit: 10, queue: "celery", states: ["FAILURE"] })).toEqual([["f1"]])
        expect(yield* pages({ limit: 10, queue: "other" })).toEqual([[]])
        // Text in the result (the error envelope), in the traceback, in neither (a name is not searched).
        expect(yield* pages({ limit: 10, text: "division by zero" })).toEqual([["f1"]])
        expect(yield* pages({ limit: 10, text: "Traceback" })).toEqual([["f1"]])
        expect(yield* pages({ limit: 10, text: "pid" })).toEqual([["p1"]])
        expect(yield* pages({ limit: 10, text: "multiply_two_numbers" })).toEqual([[]])
        expect(yield* pages({ limit: 1, since: at("2026-01-02T00:00:00Z") })).toEqual([["s2"], ["f1"]])
        const list = yield* collect(browser.list({ worker: "w@h", text: "division" }))
        expect(list.map((r) => r.taskId)).toEqual(["f1"])
        const page = yield* browser.page({ limit: 2 })
        expect(page.records[1]).toEqual(tasks[2])
        const bad = yield* Effect.either(browser.page({ limit: 1, after: "not a cursor" }))
        expect(Either.isLeft(bad) && bad.left._tag).toBe("InvalidQuery")
      })), timeout)

    it.effect("pages groups, the most recently saved first", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const page = yield* browser.groups({ limit: 10 })
        expect(page.records.map((g) => [g.groupId, g.taskIds])).toEqual([["g1", ["s1", "f1"]]])
        expect(page.next).toBeNull()
      })), timeout)

    it.effect("counts finished tasks over a window, per bucket, with the most failing names", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const day = 86_400
        const stats = yield* browser.window({
          since: at("2026-01-01T00:00:00Z"),
          until: at("2026-01-04T00:00:00Z"),
          bucketSeconds: day
        })
        expect(stats.byState).toEqual({ SUCCESS: 2, FAILURE: 1 })
        expect(stats.failureRate).toBeCloseTo(1 / 3)
        expect(stats.buckets.map((b) => [DateTime.formatIso(b.start), b.byState])).toEqual([
          ["2026-01-01T00:00:00.000Z", { SUCCESS: 1 }],
          ["2026-01-02T00:00:00.000Z", { FAILURE: 1 }],
          ["2026-01-03T00:00:00.000Z", { SUCCESS: 1 }]
        ])
        expect(stats.topFailing).toEqual([{ name: "divide", failures: 1, total: 1 }])
        const hourly = yield* browser.window({
          since: at("2026-01-02T00:00:00Z"),
          until: at("2026-01-02T03:00:00Z"),
          bucketSeconds: 3600
        })
        expect(hourly.buckets.map((b) => b.byState)).toEqual([{ FAILURE: 1 }, {}, {}])
        const backwards = yield* Effect.either(browser.window({
          since: at("2026-01-04T00:00:00Z"),
          until: at("2026-01-01T00:00:00Z"),
          bucketSeconds: 60
        }))
        expect(Either.isLeft(backwards) && backwards.left._tag).toBe("InvalidQuery")
        const tooMany = yield* Effect.either(browser.window({
          since: at("2026-01-01T00:00:00Z"),
          until: at("2026-01-04T00:00:00Z"),
          bucketSeconds: 1
        }))
        expect(Either.isLeft(tooMany) && tooMany.left._tag).toBe("InvalidQuery")
      })), timeout)

    it.effect("summarises the store: counts by state, the oldest unfinished task", () =>
      provide(Effect.gen(function*() {
        const summary = yield* (yield* ResultBrowser.ResultBrowser).summary
        expect(summary.byState).toEqual({ SUCCESS: 2, FAILURE: 1, STARTED: 1 })
        expect(summary.oldestUnfinished?.taskId).toBe("p1")
        expect(summary.oldestUnfinished?.status).toBe("STARTED")
      })), timeout)

    it.effect("tells how a result is stored", () =>
      provide(Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const form = yield* browser.storedForm("f1")
        expect(form?.encoding).toBe("json")
        expect(form?.bytes).toBeGreaterThan(10)
        expect(yield* browser.storedForm("never-stored")).toBeUndefined()
      })), timeout)

    it.live("changes: records written after the start, and the next write of one given unfinished", () =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const browser = yield* ResultBrowser.ResultBrowser
        const run = Math.random().toString(36).slice(2, 10)
        const seen = yield* Queue.unbounded<TaskRecord.TaskRecord>()
        const feed = yield* Effect.fork(
          Stream.runForEach(browser.changes({ pollInterval: Duration.millis(100) }), (r) => Queue.offer(seen, r))
        )
        // Waits (at most 20 s) until the feed gives a record for `id` in `status`.
        const next = (id: string, status: string) =>
          Queue.take(seen).pipe(
            Effect.repeat({ until: (r) => r.taskId === id && r.status === status }),
            Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => `no ${status} for ${id} from the feed` })
          )
        for (let i = 0; i < 5; i++) yield* Effect.yieldNow()
        yield* backend.store(`a-${run}`, 1, "SUCCESS", { name: "feed" })
        const a = yield* next(`a-${run}`, "SUCCESS")
        expect(a.result).toBe(1)
        expect(a.name).toBe("feed")
        // The feed runs: a new unfinished record, then its next (unfinished) write, then READY.
        yield* backend.store(`b-${run}`, { pid: 2 }, "STARTED")
        expect((yield* next(`b-${run}`, "STARTED")).result).toEqual({ pid: 2 })
        yield* backend.store(`b-${run}`, { exc_type: "E", exc_message: [], exc_module: "m" }, "RETRY")
        expect((yield* next(`b-${run}`, "RETRY")).status).toBe("RETRY")
        yield* backend.store(`b-${run}`, 3, "SUCCESS")
        expect((yield* next(`b-${run}`, "SUCCESS")).result).toBe(3)
        yield* Fiber.interrupt(feed)
      }).pipe(Effect.provide(Layer.fresh(make(options)))), timeout)

    // Before the last: it adds records the others do not expect.
    it.effect("keeps instants to the microsecond; order and time filters respect them", () =>
      provide(Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const browser = yield* ResultBrowser.ResultBrowser
        // Three READY records one microsecond apart in one millisecond, stored in reverse order.
        const ms = DateTime.toEpochMillis(at("2026-01-04T00:00:00.123Z"))
        const instants = [UtcTime.make(ms, 455), UtcTime.make(ms, 456), UtcTime.make(ms, 457)]
        for (const i of [2, 1, 0]) yield* UtcTime.withClockAt(backend.store(`us${i}`, i, "SUCCESS"), instants[i])
        const read = yield* backend.getMany(["us0", "us1", "us2"])
        expect(read.map((r) => UtcTime.formatIso(r.dateDone!))).toEqual([
          "2026-01-04T00:00:00.123455Z",
          "2026-01-04T00:00:00.123456Z",
          "2026-01-04T00:00:00.123457Z"
        ])
        const exported = (yield* collect(browser.exportTasks)).filter((r) => r.taskId.startsWith("us"))
        const exportedMicros = exported.map((r) => [r.taskId, UtcTime.micros(r.dateDone!)] as const)
        expect([...exportedMicros].sort((a, b) => a[0].localeCompare(b[0]))).toEqual([["us0", 455], ["us1", 456], ["us2", 457]])
        if (suiteOptions.microsecondFilters === false) return
        // (other cases store records of their own: only this case's are compared)
        const ids = (filter: ResultBrowser.Filter) =>
          Effect.map(collect(browser.list(filter)), (records) => records.map((r) => r.taskId).filter((id) => id.startsWith("us")))
        // newest first: us0 was stored last
        expect(yield* ids({ since: instants[1] })).toEqual(["us1", "us2"])
        expect(yield* ids({ since: instants[0], until: instants[1] })).toEqual(["us0"])
      })), timeout)

    // Last: it deletes what the others read.
    it.effect("counts what cleanup would delete, then cleanup deletes exactly that", () =>
      provide(Effect.gen(function*() {
        yield* TestClock.setTime(DateTime.toEpochMillis(at("2026-01-03T12:00:00Z")))
        const browser = yield* ResultBrowser.ResultBrowser
        const due = yield* browser.countExpired
        expect(due).toEqual({ tasks: 2, groups: 1 }) // s1, f1 and g1 are older than a day; p1 has no date
        const report = yield* (yield* ResultBackend.ResultBackend).cleanup()
        expect(report).toEqual(due)
        expect(yield* browser.countExpired).toEqual({ tasks: 0, groups: 0 })
      })), timeout)
  })
}
