/**
 * The conformance suite every `ResultBackend` implementation runs.
 *
 * Call `suite(name, make)` from a test file. `make` builds a layer for the
 * given options; the suite builds a few (extended results on and off,
 * per-state retention, no expiry) and expects each to work over storage that
 * this suite run alone writes to (for SQL: its own tables), though records
 * left by earlier layers of the same run are fine. Time is driven with
 * `TestClock` (shared by the tests of one layer, so it only moves forward);
 * tests that wait for real notifications or polls run on the live clock.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as DateTime from "effect/DateTime"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"

/**
 * @since 0.1.0
 * @category models
 */
export type MakeLayer<E = unknown> = (options: BackendOptions.Input) => Layer.Layer<ResultBackend.ResultBackend, E>

/**
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** Per-test timeout for the slower tests (default 30 s). */
  readonly timeout?: number | undefined
}

const Backend = ResultBackend.ResultBackend

/**
 * The options the main layer of the suite is built with.
 *
 * @since 0.1.0
 * @category constants
 */
export const mainOptions: BackendOptions.Input = {
  resultExtended: true,
  resultExpires: "1 day",
  expiresByState: { FAILURE: "7 days" },
  cleanupBatchSize: 100,
  pollInterval: "50 millis"
}

const stored = (outcome: ResultBackend.StoreOutcome): boolean => outcome._tag === "Stored"

const expectInvalid = <A, E extends { readonly _tag: string }>(
  effect: Effect.Effect<A, E>,
  field?: string
) =>
  Effect.gen(function*() {
    const exit = yield* Effect.exit(effect)
    expect(Exit.isFailure(exit)).toBe(true)
    const error = yield* Effect.flip(effect)
    expect(error._tag).toBe("InvalidInput")
    if (field !== undefined) expect((error as unknown as { field: string }).field).toBe(field)
    return error
  })

/**
 * Registers the suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <E>(name: string, make: MakeLayer<E>, suiteOptions: SuiteOptions = {}): void => {
  const timeout = suiteOptions.timeout ?? 30_000
  const run = Math.random().toString(36).slice(2, 8)
  let counter = 0
  const uid = (label: string) => `${run}-${label}-${++counter}`

  describe(`${name}: ResultBackend conformance`, () => {
    it.layer(make(mainOptions), { timeout })("states and records", (it) => {
      it.effect("stores and reads back every built-in state but IGNORED", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          for (const state of [...TaskState.BUILT_IN].filter((s) => s !== TaskState.IGNORED)) {
            const id = uid(state)
            const result = TaskState.isException(state)
              ? ExceptionInfo.make("ValueError", [`${state} happened`])
              : { state }
            const outcome = yield* backend.store(id, result, state)
            expect(stored(outcome)).toBe(true)
            const record = yield* backend.get(id)
            expect(record.taskId).toBe(id)
            expect(record.status).toBe(state)
            expect(record.result).toEqual(result)
          }
        }))

      it.effect("stamps dateDone from the clock for READY states only", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          yield* TestClock.adjust(Duration.hours(1))
          const now = yield* DateTime.now
          for (const state of ["SUCCESS", "FAILURE", "REVOKED"]) {
            const id = uid("ready")
            yield* backend.store(id, null, state)
            const record = yield* backend.get(id)
            expect(record.dateDone).not.toBeNull()
            expect(DateTime.toEpochMillis(record.dateDone!)).toBe(DateTime.toEpochMillis(now))
          }
          for (const state of ["PENDING", "RECEIVED", "STARTED", "RETRY", "REJECTED", "PROGRESS"]) {
            const id = uid("unready")
            yield* backend.store(id, null, state)
            expect((yield* backend.get(id)).dateDone).toBeNull()
          }
        }))

      it.effect("reads an unknown id as PENDING with everything else null", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("unknown")
          const record = yield* backend.get(id)
          expect(record).toEqual({
            taskId: id,
            status: "PENDING",
            result: null,
            traceback: null,
            dateDone: null,
            name: null,
            args: null,
            kwargs: null,
            worker: null,
            retries: null,
            queue: null
          })
        }))

      it.effect("exists tells a stored record from an unknown id", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("exists")
          expect(yield* backend.exists(id)).toBe(false)
          yield* backend.store(id, null, "PENDING")
          expect(yield* backend.exists(id)).toBe(true)
          expect((yield* backend.get(id)).status).toBe("PENDING")
        }))

      it.effect("keeps a stored SUCCESS: a later FAILURE is ignored and the caller is told", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("sticky")
          expect(stored(yield* backend.store(id, 42, "SUCCESS"))).toBe(true)
          const outcome = yield* backend.store(id, ExceptionInfo.make("KeyError", ["late"]), "FAILURE", {
            traceback: "late traceback"
          })
          expect(outcome).toMatchObject({ _tag: "Ignored", reason: "SuccessIsFinal" })
          const record = yield* backend.get(id)
          expect(record.status).toBe("SUCCESS")
          expect(record.result).toBe(42)
          expect(record.traceback).toBeNull()
        }))

      it.effect("keeps the first SUCCESS when a late duplicate SUCCESS arrives", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("dup")
          yield* backend.store(id, "first", "SUCCESS")
          yield* TestClock.adjust(Duration.minutes(5))
          const outcome = yield* backend.store(id, "second", "SUCCESS")
          expect(outcome._tag).toBe("Ignored")
          const record = yield* backend.get(id)
          expect(record.result).toBe("first")
        }))

      it.effect("lets SUCCESS replace FAILURE, RETRY and REVOKED", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          for (const state of ["FAILURE", "RETRY", "REVOKED", "STARTED", "PROGRESS"]) {
            const id = uid("overwrite")
            yield* backend.store(id, ExceptionInfo.make("E", []), state, { traceback: "tb" })
            expect(stored(yield* backend.store(id, "ok", "SUCCESS"))).toBe(true)
            const record = yield* backend.get(id)
            expect(record.status).toBe("SUCCESS")
            expect(record.result).toBe("ok")
            expect(record.traceback).toBeNull()
          }
        }))

      it.effect("rewrites the whole record on each write; a non-READY write clears dateDone", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("rewrite")
          yield* backend.store(id, ExceptionInfo.make("IOError", ["disk"]), "FAILURE", {
            traceback: "Traceback (most recent call last): ...",
            name: "tasks.copy",
            args: [1]
          })
          expect((yield* backend.get(id)).dateDone).not.toBeNull()
          yield* backend.store(id, { pid: 7, hostname: "w1" }, "STARTED")
          const record = yield* backend.get(id)
          expect(record.status).toBe("STARTED")
          expect(record.result).toEqual({ pid: 7, hostname: "w1" })
          expect(record.traceback).toBeNull()
          expect(record.dateDone).toBeNull()
          expect(record.name).toBeNull()
          expect(record.args).toBeNull()
        }))

      it.effect("never stores IGNORED", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("ignored")
          const outcome = yield* backend.store(id, "x", "IGNORED")
          expect(outcome).toMatchObject({ _tag: "Ignored", reason: "IgnoredState" })
          expect(yield* backend.exists(id)).toBe(false)
          yield* backend.store(id, "y", "STARTED")
          yield* backend.store(id, "x", "IGNORED")
          expect((yield* backend.get(id)).status).toBe("STARTED")
        }))

      it.effect("stores a custom state with progress meta", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("progress")
          yield* backend.store(id, { current: 3, total: 10 }, "PROGRESS")
          const record = yield* backend.get(id)
          expect(record.status).toBe("PROGRESS")
          expect(record.result).toEqual({ current: 3, total: 10 })
          expect(TaskState.isCustom(record.status)).toBe(true)
        }))

      it.effect("ranks states by Celery's precedence", () =>
        Effect.sync(() => {
          const order = ["SUCCESS", "FAILURE", "PROGRESS", "REVOKED", "STARTED", "RECEIVED", "REJECTED", "RETRY", "PENDING"]
          const shuffled = [...order].reverse()
          expect(shuffled.sort(TaskState.order)).toEqual(order)
          expect(TaskState.highest("PENDING", "STARTED")).toBe("STARTED")
          expect(TaskState.highest("PROGRESS", "REVOKED")).toBe("PROGRESS")
          expect(TaskState.isHigher("FAILURE", "PROGRESS")).toBe(true)
        }))

      it.effect("round-trips tracebacks and non-ASCII text", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("text")
          const traceback = "Traceback (most recent call last):\n  File \"é.py\", line 1\nZeroDivisionError: ☃ 𝄞"
          yield* backend.store(id, ExceptionInfo.make("ZeroDivisionError", ["división ☃ 𝄞 日本"]), "FAILURE", {
            traceback
          })
          const record = yield* backend.get(id)
          expect(record.traceback).toBe(traceback)
          expect(record.result).toEqual(ExceptionInfo.make("ZeroDivisionError", ["división ☃ 𝄞 日本"]))
        }))

      it.effect("round-trips JSON values, keeping integers beyond 2^53 exact", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const values: ReadonlyArray<unknown> = [
            null,
            true,
            false,
            0,
            -1.5,
            1e300,
            "",
            "plain",
            [],
            {},
            [1, "two", [3, { four: 4 }]],
            { nested: { deeper: { list: [null, false, 2.25] } }, "key with spaces": "v" },
            2n ** 53n + 1n,
            -(2n ** 70n),
            { big: 10n ** 30n, small: 7, list: [9007199254740993n, -9007199254740993n] },
            Number.MAX_SAFE_INTEGER,
            Number.MIN_SAFE_INTEGER
          ]
          for (const value of values) {
            const id = uid("json")
            yield* backend.store(id, value, "SUCCESS")
            expect((yield* backend.get(id)).result).toEqual(value)
          }
        }))

      it.effect("turns an Error stored in an EXCEPTION state into the error envelope", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("error")
          class RateLimited extends Error {
            override name = "RateLimited"
          }
          yield* ResultBackend.markAsFailure(id, new RateLimited("slow down"), { traceback: "at x" })
          const record = yield* backend.get(id)
          expect(record.status).toBe("FAILURE")
          expect(record.result).toEqual({ exc_type: "RateLimited", exc_message: ["slow down"], exc_module: "builtins" })
          expect(record.traceback).toBe("at x")
        }))

      it.effect("markAsStarted, markAsRetry, markAsRevoked and markAsDone store Celery's shapes", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("helpers")
          yield* ResultBackend.markAsStarted(id, { pid: 1234, hostname: "celery@host" })
          expect((yield* backend.get(id)).result).toEqual({ pid: 1234, hostname: "celery@host" })
          yield* ResultBackend.markAsRetry(id, new Error("again"))
          const retry = yield* backend.get(id)
          expect(retry.status).toBe("RETRY")
          expect(retry.result).toEqual({ exc_type: "Error", exc_message: ["again"], exc_module: "builtins" })
          yield* ResultBackend.markAsRevoked(id, "terminated")
          const revoked = yield* backend.get(id)
          expect(revoked.status).toBe("REVOKED")
          expect(revoked.result).toEqual({
            exc_type: "TaskRevokedError",
            exc_message: ["terminated"],
            exc_module: "celery.exceptions"
          })
          yield* ResultBackend.markAsDone(id, [1, 2])
          expect((yield* backend.get(id)).status).toBe("SUCCESS")
        }))

      it.effect("stores extended fields when resultExtended is on", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("extended")
          yield* backend.store(id, 256, "SUCCESS", {
            name: "multiply_two_numbers",
            args: [16, 16, 2n ** 64n],
            kwargs: { scale: 1, label: "ünï" },
            worker: "celery@worker-1",
            retries: 2,
            queue: "celery"
          })
          const record = yield* backend.get(id)
          expect(record.name).toBe("multiply_two_numbers")
          expect(record.args).toEqual([16, 16, 2n ** 64n])
          expect(record.kwargs).toEqual({ scale: 1, label: "ünï" })
          expect(record.worker).toBe("celery@worker-1")
          expect(record.retries).toBe(2)
          expect(record.queue).toBe("celery")
        }))

      it.effect("reads absent extended fields as null", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("extended-partial")
          yield* backend.store(id, 1, "SUCCESS", { name: "only_name" })
          const record = yield* backend.get(id)
          expect(record.name).toBe("only_name")
          expect([record.args, record.kwargs, record.worker, record.retries, record.queue]).toEqual([
            null,
            null,
            null,
            null,
            null
          ])
        }))
    })

    it.layer(make(mainOptions), { timeout })("getMany, forget and groups", (it) => {
      it.effect("getMany returns records in the order asked, unknown ids as PENDING", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const [a, b, c] = [uid("a"), uid("b"), uid("c")]
          yield* backend.store(a, "A", "SUCCESS")
          yield* backend.store(c, "C", "STARTED")
          const records = yield* backend.getMany([c, b, a])
          expect(records.map((r) => [r.taskId, r.status, r.result])).toEqual([
            [c, "STARTED", "C"],
            [b, "PENDING", null],
            [a, "SUCCESS", "A"]
          ])
        }))

      it.effect("getMany fills every position when an id is asked twice", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const a = uid("twice")
          yield* backend.store(a, 1, "SUCCESS")
          const records = yield* backend.getMany([a, uid("miss"), a])
          expect(records.map((r) => r.status)).toEqual(["SUCCESS", "PENDING", "SUCCESS"])
          expect(records[2].taskId).toBe(a)
        }))

      it.effect("findMany tells a stored PENDING from an unknown id, in the order asked", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const [stored, unknown, done] = [uid("fp"), uid("fmiss"), uid("fdone")]
          yield* backend.store(stored, null, "PENDING")
          yield* backend.store(done, 7, "SUCCESS")
          const found = yield* backend.findMany([done, unknown, stored, done])
          expect(found.map((r) => Option.map(r, (x) => [x.taskId, x.status]))).toEqual([
            Option.some([done, "SUCCESS"]),
            Option.none(),
            Option.some([stored, "PENDING"]),
            Option.some([done, "SUCCESS"])
          ])
          expect(yield* backend.findMany([])).toEqual([])
          const bad = yield* Effect.flip(backend.findMany([""]))
          expect(bad._tag).toBe("InvalidInput")
        }))

      it.effect("store with a dateDone keeps it for a READY state, and ignores it otherwise", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const [done, started, odd] = [uid("dd"), uid("ds"), uid("dx")]
          const when = DateTime.unsafeMake("2001-02-03T04:05:06.789Z")
          const stored = yield* backend.store(done, 1, "FAILURE", { dateDone: when })
          expect(stored._tag).toBe("Stored")
          expect((yield* backend.get(done)).dateDone).toEqual(when)
          yield* backend.store(started, null, "STARTED", { dateDone: when })
          expect((yield* backend.get(started)).dateDone).toBeNull()
          const bad = yield* Effect.flip(backend.store(odd, 1, "SUCCESS", { dateDone: "2001-01-01" as unknown as DateTime.Utc }))
          expect(bad._tag).toBe("InvalidInput")
          expect(yield* backend.exists(odd)).toBe(false)
        }))

      it.effect("storeMany stores each request as store would, each with its own outcome in order", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          yield* TestClock.adjust(Duration.hours(2))
          const now = yield* DateTime.now
          const [a, b, c, d, e, f] = [uid("sm"), uid("sm"), uid("sm"), uid("sm"), uid("sm"), uid("sm")]
          yield* backend.store(d, { first: true }, "SUCCESS")
          const when = UtcTime.make(Date.UTC(2001, 1, 3, 4, 5, 6, 789), 123)
          const outcomes = yield* backend.storeMany([
            { taskId: a, result: { n: 1 }, state: "SUCCESS", options: { name: "tasks.add", args: [1], worker: "w1" } },
            { taskId: b, result: null, state: "STARTED" },
            { taskId: "", result: 1, state: "SUCCESS" },
            { taskId: c, result: 2, state: "FAILURE", options: { dateDone: when, traceback: "Traceback" } },
            { taskId: d, result: { late: true }, state: "FAILURE" },
            { taskId: e, result: 3, state: "IGNORED" },
            { taskId: f, result: 1n << 70n, state: "SUCCESS" }
          ])
          expect(outcomes).toHaveLength(7)
          const tags = outcomes.map((o) => (o._tag === "Right" ? o.right._tag : o.left._tag))
          expect(tags).toEqual(["Stored", "Stored", "InvalidInput", "Stored", "Ignored", "Ignored", "Stored"])
          const [ra, rb, rc, rd, re, rf] = yield* backend.getMany([a, b, c, d, e, f])
          expect(ra.status).toBe("SUCCESS")
          expect(ra.result).toEqual({ n: 1 })
          expect(ra.name).toBe("tasks.add")
          expect(ra.args).toEqual([1])
          expect(ra.worker).toBe("w1")
          expect(DateTime.toEpochMillis(ra.dateDone!)).toBe(DateTime.toEpochMillis(now))
          expect(rb.status).toBe("STARTED")
          expect(rb.dateDone).toBeNull()
          expect(rc.status).toBe("FAILURE")
          expect(rc.traceback).toBe("Traceback")
          expect(UtcTime.epochMicros(rc.dateDone!)).toBe(UtcTime.epochMicros(when))
          expect(rd.result).toEqual({ first: true })
          expect(re.status).toBe("PENDING")
          expect(rf.result).toBe(1n << 70n)
          const ignored = outcomes[4]
          expect(ignored._tag === "Right" && ignored.right._tag === "Ignored" ? ignored.right.reason : undefined)
            .toBe("SuccessIsFinal")
          const bad = outcomes[2]
          expect(bad._tag === "Left" ? (bad.left as unknown as { field: string }).field : undefined).toBe("taskId")
        }))

      it.effect("storeMany applies the requests for one id in order", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const [a, b] = [uid("order"), uid("order")]
          const outcomes = yield* backend.storeMany([
            { taskId: a, result: null, state: "STARTED" },
            { taskId: b, result: { try: 1 }, state: "RETRY" },
            { taskId: a, result: 1, state: "SUCCESS" },
            { taskId: b, result: null, state: "STARTED" },
            { taskId: a, result: 2, state: "FAILURE" }
          ])
          const tags = outcomes.map((o) => (o._tag === "Right" ? o.right._tag : o.left._tag))
          expect(tags).toEqual(["Stored", "Stored", "Stored", "Stored", "Ignored"])
          const [ra, rb] = yield* backend.getMany([a, b])
          expect(ra.status).toBe("SUCCESS")
          expect(ra.result).toBe(1)
          expect(rb.status).toBe("STARTED")
          expect(rb.result).toBeNull()
        }))

      it.effect("storeMany writes 1,200 records, more than one statement holds", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const ids = Array.from({ length: 1200 }, () => uid("bulk"))
          const outcomes = yield* backend.storeMany(
            ids.map((taskId, i) => ({ taskId, result: { i }, state: i % 3 === 0 ? "FAILURE" : "SUCCESS" }))
          )
          expect(outcomes.filter((o) => o._tag === "Right" && o.right._tag === "Stored")).toHaveLength(1200)
          const records = yield* backend.getMany(ids)
          records.forEach((record, i) => {
            expect(record.result).toEqual({ i })
            expect(record.status).toBe(i % 3 === 0 ? "FAILURE" : "SUCCESS")
          })
        }))

      it.effect("storeMany of nothing is nothing; a request that throws is its own InvalidInput", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          expect(yield* backend.storeMany([])).toEqual([])
          const notArray = yield* Effect.flip(backend.storeMany("x" as unknown as []))
          expect(notArray._tag).toBe("InvalidInput")
          const ok = uid("throws")
          const hostile = {
            taskId: uid("throws"),
            state: "SUCCESS",
            get result(): unknown {
              throw new Error("boom")
            }
          }
          const outcomes = yield* backend.storeMany([hostile, { taskId: ok, result: 1, state: "SUCCESS" }])
          expect(outcomes[0]._tag).toBe("Left")
          expect(outcomes[0]._tag === "Left" ? outcomes[0].left._tag : undefined).toBe("InvalidInput")
          expect(outcomes[0]._tag === "Left" ? outcomes[0].left.message : "").toMatch(/boom/)
          expect(outcomes[1]._tag).toBe("Right")
          expect(yield* backend.exists(hostile.taskId)).toBe(false)
          expect(yield* backend.exists(ok)).toBe(true)
        }))

      it.effect("getMany of nothing is nothing", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          expect(yield* backend.getMany([])).toEqual([])
        }))

      it.effect("getMany reads 1,000 ids, half of them stored", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const ids = Array.from({ length: 1000 }, (_, i) => uid(`many${i}`))
          yield* Effect.forEach(
            ids.filter((_, i) => i % 2 === 0),
            (id) => backend.store(id, id.length, "SUCCESS"),
            { concurrency: 16, discard: true }
          )
          const records = yield* backend.getMany(ids)
          expect(records).toHaveLength(1000)
          records.forEach((r, i) => {
            expect(r.taskId).toBe(ids[i])
            expect(r.status).toBe(i % 2 === 0 ? "SUCCESS" : "PENDING")
          })
        }))

      it.effect("forget removes a record; the id reads as PENDING again", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("forget")
          yield* backend.store(id, "x", "SUCCESS")
          yield* backend.forget(id)
          expect(yield* backend.exists(id)).toBe(false)
          expect((yield* backend.get(id)).status).toBe("PENDING")
        }))

      it.effect("forgetting an unknown id is not an error", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          yield* backend.forget(uid("never"))
        }))

      it.effect("after forget, a new SUCCESS can be stored for the id", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("forget-again")
          yield* backend.store(id, 1, "SUCCESS")
          yield* backend.forget(id)
          expect(stored(yield* backend.store(id, 2, "SUCCESS"))).toBe(true)
          expect((yield* backend.get(id)).result).toBe(2)
        }))

      it.effect("saves and restores a group with its members in order", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("group")
          const members = [uid("m3"), uid("m1"), uid("m2")]
          yield* TestClock.adjust(Duration.minutes(1))
          const now = yield* DateTime.now
          const saved = yield* backend.saveGroup(group, members)
          expect(saved.taskIds).toEqual(members)
          const restored = yield* backend.restoreGroup(group)
          expect(Option.isSome(restored)).toBe(true)
          const value = Option.getOrThrow(restored)
          expect(value.groupId).toBe(group)
          expect(value.taskIds).toEqual(members)
          expect(DateTime.toEpochMillis(value.dateDone)).toBe(DateTime.toEpochMillis(now))
        }))

      it.effect("saving a group again replaces it", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("group-again")
          yield* backend.saveGroup(group, [uid("x"), uid("y")])
          const second = [uid("z")]
          yield* backend.saveGroup(group, second)
          const restored = Option.getOrThrow(yield* backend.restoreGroup(group))
          expect(restored.taskIds).toEqual(second)
        }))

      it.effect("restoring an unknown group gives nothing", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          expect(Option.isNone(yield* backend.restoreGroup(uid("no-group")))).toBe(true)
        }))

      it.effect("deleteGroup removes a group, and deleting an unknown group is fine", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("group-del")
          yield* backend.saveGroup(group, [uid("d")])
          yield* backend.deleteGroup(group)
          expect(Option.isNone(yield* backend.restoreGroup(group))).toBe(true)
          yield* backend.deleteGroup(group)
        }))

      it.effect("a group of no members round-trips", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("group-empty")
          yield* backend.saveGroup(group, [])
          expect(Option.getOrThrow(yield* backend.restoreGroup(group)).taskIds).toEqual([])
        }))

      it.effect("group results are the members read with getMany", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("group-results")
          const members = [uid("g1"), uid("g2"), uid("g3")]
          yield* backend.store(members[0], 1, "SUCCESS")
          yield* backend.store(members[2], ExceptionInfo.make("E", []), "FAILURE")
          yield* backend.saveGroup(group, members)
          const restored = Option.getOrThrow(yield* backend.restoreGroup(group))
          const records = yield* backend.getMany(restored.taskIds)
          expect(records.map((r) => r.status)).toEqual(["SUCCESS", "PENDING", "FAILURE"])
        }))

      it.effect("findGroups answers in the order asked: None for unknown ids, duplicates repeated", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const a = uid("fg-a")
          const b = uid("fg-b")
          const unknown = uid("fg-unknown")
          yield* backend.saveGroup(a, [uid("a1"), uid("a2")])
          yield* backend.saveGroup(b, [])
          const found = yield* backend.findGroups([b, unknown, a, b, a])
          expect(found.map((g) => Option.map(g, (group) => group.groupId))).toEqual([
            Option.some(b),
            Option.none(),
            Option.some(a),
            Option.some(b),
            Option.some(a)
          ])
          expect(Option.getOrThrow(found[2]).taskIds).toEqual(Option.getOrThrow(yield* backend.restoreGroup(a)).taskIds)
          expect(Option.getOrThrow(found[0]).taskIds).toEqual([])
          expect(yield* backend.findGroups([])).toEqual([])
          yield* expectInvalid(backend.findGroups([a, ""]), "groupIds")
        }))

      it.effect("saveGroups saves whole groups, each with its own dateDone to the microsecond", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const dates = [
            UtcTime.make(Date.UTC(2001, 1, 3, 4, 5, 6, 789), 123),
            UtcTime.make(Date.UTC(2024, 11, 31, 23, 59, 59, 999), 999),
            UtcTime.make(Date.UTC(1999, 0, 1), 1),
            DateTime.unsafeMake(Date.UTC(2030, 5, 6, 7, 8, 9, 10)),
            UtcTime.make(Date.UTC(9999, 11, 31, 23, 59, 59, 999), 999)
          ]
          const groups: Array<GroupRecord.GroupRecord> = dates.map((dateDone, i) => ({
            groupId: uid(`sgs-${i}`),
            taskIds: Array.from({ length: i }, (_, k) => uid(`sgs-${i}-m${k}`)),
            dateDone
          }))
          const saved = yield* backend.saveGroups(groups)
          expect(saved.map((g) => g.groupId)).toEqual(groups.map((g) => g.groupId))
          const found = yield* backend.findGroups(groups.map((g) => g.groupId))
          found.forEach((option, i) => {
            const group = Option.getOrThrow(option)
            expect(group.groupId).toBe(groups[i].groupId)
            expect(group.taskIds).toEqual(groups[i].taskIds)
            expect(UtcTime.epochMicros(group.dateDone)).toBe(UtcTime.epochMicros(dates[i]))
          })
          const one = Option.getOrThrow(yield* backend.restoreGroup(groups[0].groupId))
          expect(UtcTime.epochMicros(one.dateDone)).toBe(UtcTime.epochMicros(dates[0]))
          expect(yield* backend.saveGroups([])).toEqual([])
        }))

      it.effect("saveGroups replaces stored groups, and the last of a repeated id wins", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const stored = uid("sgr-stored")
          const repeated = uid("sgr-repeated")
          yield* backend.saveGroup(stored, [uid("old-1"), uid("old-2")])
          const first = UtcTime.make(Date.UTC(2020, 0, 1), 5)
          const second = UtcTime.make(Date.UTC(2021, 0, 1), 7)
          const members = [uid("new-1")]
          const last = [uid("last-1"), uid("last-2")]
          yield* backend.saveGroups([
            { groupId: repeated, taskIds: [uid("first")], dateDone: first },
            { groupId: stored, taskIds: members, dateDone: first },
            { groupId: repeated, taskIds: last, dateDone: second }
          ])
          const [s, r] = yield* backend.findGroups([stored, repeated])
          expect(Option.getOrThrow(s).taskIds).toEqual(members)
          expect(UtcTime.epochMicros(Option.getOrThrow(s).dateDone)).toBe(UtcTime.epochMicros(first))
          expect(Option.getOrThrow(r).taskIds).toEqual(last)
          expect(UtcTime.epochMicros(Option.getOrThrow(r).dateDone)).toBe(UtcTime.epochMicros(second))
        }))

      it.effect("saveGroups of more groups than one batch holds saves them all", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const count = ResultBackend.GROUP_BATCH_SIZE * 2 + 37
          const base = Date.UTC(2022, 2, 3)
          const groups: Array<GroupRecord.GroupRecord> = Array.from({ length: count }, (_, i) => ({
            groupId: uid("sgb"),
            taskIds: [uid("sgb-m"), uid("sgb-m")],
            dateDone: UtcTime.make(base + i * 1000, i % 1000)
          }))
          yield* backend.saveGroups(groups)
          const found = yield* backend.findGroups(groups.map((g) => g.groupId))
          expect(found.length).toBe(count)
          found.forEach((option, i) => {
            const group = Option.getOrThrow(option)
            expect(group.taskIds).toEqual(groups[i].taskIds)
            expect(UtcTime.epochMicros(group.dateDone)).toBe(UtcTime.epochMicros(groups[i].dateDone))
          })
        }), timeout)

      it.effect("concurrent stores of many ids all land", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const ids = Array.from({ length: 200 }, (_, i) => uid(`conc${i}`))
          yield* Effect.forEach(ids, (id, i) => backend.store(id, i, "SUCCESS"), {
            concurrency: "unbounded",
            discard: true
          })
          const records = yield* backend.getMany(ids)
          records.forEach((r, i) => expect([r.status, r.result]).toEqual(["SUCCESS", i]))
        }))

      it.effect("a SUCCESS racing with STARTED writes for one id always ends as SUCCESS", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          for (let round = 0; round < 5; round++) {
            const id = uid("race")
            const writes = Array.from({ length: 20 }, (_, i) =>
              i === 10 ? backend.store(id, "done", "SUCCESS") : backend.store(id, { i }, "STARTED"))
            yield* Effect.all(writes, { concurrency: "unbounded", discard: true })
            const record = yield* backend.get(id)
            expect(record.status).toBe("SUCCESS")
            expect(record.result).toBe("done")
          }
        }))
    })

    it.layer(make(mainOptions), { timeout })("expiry", (it) => {
      it.effect("cleanup deletes READY records older than resultExpires and reports how many", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          // Clear whatever earlier layers of this run left behind.
          yield* TestClock.adjust(Duration.days(3650))
          yield* backend.cleanup()
          const old = [uid("old1"), uid("old2"), uid("old3")]
          for (const id of old) yield* backend.store(id, 1, "SUCCESS")
          const unfinished = uid("unfinished")
          yield* backend.store(unfinished, null, "STARTED")
          yield* TestClock.adjust(Duration.hours(25))
          const fresh = uid("fresh")
          yield* backend.store(fresh, 1, "SUCCESS")
          const report = yield* backend.cleanup()
          expect(report.tasks).toBe(3)
          for (const id of old) expect(yield* backend.exists(id)).toBe(false)
          expect(yield* backend.exists(fresh)).toBe(true)
          expect(yield* backend.exists(unfinished)).toBe(true)
        }))

      it.effect("cleanup keeps records younger than resultExpires", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("young")
          yield* backend.store(id, 1, "SUCCESS")
          yield* TestClock.adjust(Duration.hours(23))
          yield* backend.cleanup()
          expect(yield* backend.exists(id)).toBe(true)
        }))

      it.effect("per-state retention keeps FAILURE for 7 days while SUCCESS expires after 1", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const ok = uid("ret-ok")
          const failed = uid("ret-failed")
          const revoked = uid("ret-revoked")
          yield* backend.store(ok, 1, "SUCCESS")
          yield* backend.store(failed, ExceptionInfo.make("E", []), "FAILURE")
          yield* backend.store(revoked, ExceptionInfo.make("TaskRevokedError", []), "REVOKED")
          yield* TestClock.adjust(Duration.days(2))
          yield* backend.cleanup()
          expect(yield* backend.exists(ok)).toBe(false)
          expect(yield* backend.exists(revoked)).toBe(false)
          expect(yield* backend.exists(failed)).toBe(true)
          yield* TestClock.adjust(Duration.days(6))
          yield* backend.cleanup()
          expect(yield* backend.exists(failed)).toBe(false)
        }))

      it.effect("cleanup removes expired groups and keeps fresh ones", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const old = uid("group-old")
          yield* backend.saveGroup(old, [uid("x")])
          yield* TestClock.adjust(Duration.days(2))
          const fresh = uid("group-fresh")
          yield* backend.saveGroup(fresh, [uid("y")])
          const report = yield* backend.cleanup()
          expect(report.groups).toBeGreaterThanOrEqual(1)
          expect(Option.isNone(yield* backend.restoreGroup(old))).toBe(true)
          expect(Option.isSome(yield* backend.restoreGroup(fresh))).toBe(true)
        }))

      it.effect("cleanup works through more records than one batch holds", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          yield* TestClock.adjust(Duration.days(30))
          yield* backend.cleanup()
          const ids = Array.from({ length: 250 }, (_, i) => uid(`batch${i}`))
          yield* Effect.forEach(ids, (id) => backend.store(id, null, "SUCCESS"), { concurrency: 16, discard: true })
          yield* TestClock.adjust(Duration.days(2))
          const report = yield* backend.cleanup()
          expect(report.tasks).toBe(250)
          const records = yield* backend.getMany(ids)
          expect(records.every((r) => r.status === "PENDING")).toBe(true)
        }))
    })

    it.layer(make({ ...mainOptions, resultExpires: null, expiresByState: {} }), { timeout })(
      "no expiry",
      (it) => {
        it.effect("with resultExpires null nothing is deleted", () =>
          Effect.gen(function*() {
            const backend = yield* Backend
            const id = uid("forever")
            yield* backend.store(id, 1, "SUCCESS")
            yield* TestClock.adjust(Duration.days(36500))
            const report = yield* backend.cleanup()
            expect(report).toEqual({ tasks: 0, groups: 0 })
            expect(yield* backend.exists(id)).toBe(true)
          }))
      }
    )

    it.layer(make({ ...mainOptions, resultExtended: false }), { timeout })("extended off", (it) => {
      it.effect("does not store extended fields when resultExtended is off", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("plain")
          yield* backend.store(id, 1, "SUCCESS", {
            name: "n",
            args: [1],
            kwargs: { a: 1 },
            worker: "w",
            retries: 1,
            queue: "q"
          })
          const record = yield* backend.get(id)
          expect(record.result).toBe(1)
          expect([record.name, record.args, record.kwargs, record.worker, record.retries, record.queue]).toEqual([
            null,
            null,
            null,
            null,
            null,
            null
          ])
        }))
    })

    it.layer(make(mainOptions), { timeout })("waiting", (it) => {
      it.effect("waitFor returns at once when the task is already READY", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("ready-now")
          yield* backend.store(id, "r", "SUCCESS")
          const record = yield* backend.waitFor(id, { timeout: "1 second" })
          expect(record.result).toBe("r")
        }).pipe(TestServices.provideLive))

      it.effect("waitFor wakes when the task is stored later, not on a non-READY state", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("later")
          const waiter = yield* Effect.fork(backend.waitFor(id, { timeout: "10 seconds" }))
          yield* Effect.sleep("30 millis")
          yield* backend.store(id, null, "STARTED")
          yield* Effect.sleep("120 millis")
          expect(Option.isNone(yield* Fiber.poll(waiter))).toBe(true)
          yield* backend.store(id, "done", "SUCCESS")
          const record = yield* Fiber.join(waiter)
          expect(record.status).toBe("SUCCESS")
          expect(record.result).toBe("done")
        }).pipe(TestServices.provideLive))

      it.effect("waitFor fails with WaitTimeout when the task stays unready", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("timeout")
          yield* backend.store(id, null, "STARTED")
          const error = yield* Effect.flip(backend.waitFor(id, { timeout: "150 millis" }))
          expect(error._tag).toBe("WaitTimeout")
          if (error._tag === "WaitTimeout") {
            expect(error.taskIds).toEqual([id])
            expect(error.timeoutMillis).toBe(150)
          }
        }).pipe(TestServices.provideLive))

      it.effect("waitForMany returns every record in order once all are READY", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const ids = [uid("w1"), uid("w2"), uid("w3")]
          yield* backend.store(ids[1], "two", "SUCCESS")
          const waiter = yield* Effect.fork(backend.waitForMany(ids, { timeout: "10 seconds" }))
          yield* Effect.sleep("20 millis")
          yield* backend.store(ids[2], ExceptionInfo.make("E", ["x"]), "FAILURE")
          yield* Effect.sleep("20 millis")
          yield* backend.store(ids[0], "one", "SUCCESS")
          const records = yield* Fiber.join(waiter)
          expect(records.map((r) => [r.taskId, r.status])).toEqual([
            [ids[0], "SUCCESS"],
            [ids[1], "SUCCESS"],
            [ids[2], "FAILURE"]
          ])
        }).pipe(TestServices.provideLive))

      it.effect("many waiters on one task all wake", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("fanout")
          const waiters = yield* Effect.forEach(
            Array.from({ length: 10 }),
            () => Effect.fork(backend.waitFor(id, { timeout: "10 seconds" }))
          )
          yield* Effect.sleep("20 millis")
          yield* backend.store(id, 1, "REVOKED")
          const records = yield* Fiber.joinAll(waiters)
          expect(records.every((r) => r.status === "REVOKED")).toBe(true)
        }).pipe(TestServices.provideLive))
    })

    it.layer(make(mainOptions), { timeout })("typed reads", (it) => {
      const Product = Schema.Struct({ product: Schema.Number, factors: Schema.Array(Schema.Number) })

      it.effect("reads a result through a Schema", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("typed")
          yield* backend.store(id, { product: 256, factors: [16, 16] }, "SUCCESS")
          const value = yield* ResultBackend.getResult(id, Product)
          expect(value).toEqual({ product: 256, factors: [16, 16] })
        }))

      it.effect("fails with ResultDecodeError that keeps the raw stored value", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("typed-bad")
          yield* backend.store(id, { product: "lots" }, "SUCCESS")
          const error = yield* Effect.flip(ResultBackend.getResult(id, Product))
          expect(error._tag).toBe("ResultDecodeError")
          if (error._tag === "ResultDecodeError") {
            expect(error.raw).toEqual({ product: "lots" })
            expect(error.taskId).toBe(id)
            expect(error.issue).toContain("product")
          }
        }))

      it.effect("decodes a stored error envelope with the ExceptionInfo schema", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("typed-exc")
          yield* ResultBackend.markAsFailure(id, ExceptionInfo.make("ValueError", ["bad", 3]))
          expect((yield* backend.get(id)).status).toBe("FAILURE")
          const info = yield* ResultBackend.getResult(id, ExceptionInfo.ExceptionInfo)
          expect(info.exc_type).toBe("ValueError")
          expect(info.exc_message).toEqual(["bad", 3])
          expect(ExceptionInfo.format(info)).toBe("ValueError: bad, 3")
        }))

      it.effect("decodes big integers with a bigint schema", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("typed-big")
          yield* backend.store(id, { total: 2n ** 80n }, "SUCCESS")
          const value = yield* ResultBackend.getResult(id, Schema.Struct({ total: Schema.BigIntFromSelf }))
          expect(value.total).toBe(2n ** 80n)
        }))
    })

    it.layer(make(mainOptions), { timeout })("bad input", (it) => {
      it.effect("rejects an empty task id everywhere with InvalidInput", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          yield* expectInvalid(backend.store("", 1, "SUCCESS"), "taskId")
          yield* expectInvalid(backend.get(""), "taskId")
          yield* expectInvalid(backend.exists(""), "taskId")
          yield* expectInvalid(backend.forget(""), "taskId")
          yield* expectInvalid(backend.getMany(["ok", ""]), "taskIds")
          yield* expectInvalid(backend.waitFor("", { timeout: "1 second" }), "taskId")
        }))

      it.effect("accepts a 155-character id and rejects 156", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const longest = (run + "-" + "x".repeat(155)).slice(0, 155)
          yield* backend.store(longest, 1, "SUCCESS")
          expect((yield* backend.get(longest)).status).toBe("SUCCESS")
          const tooLong = longest + "y"
          const error = yield* expectInvalid(backend.store(tooLong, 1, "SUCCESS"), "taskId")
          expect(error.message).toContain("155")
          expect(yield* backend.exists(longest)).toBe(true)
        }))

      it.effect("accepts a 50-character state and rejects 51 or an empty one", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("state-len")
          yield* backend.store(id, 1, "S".repeat(50))
          expect((yield* backend.get(id)).status).toBe("S".repeat(50))
          yield* expectInvalid(backend.store(id, 2, "S".repeat(51)), "state")
          yield* expectInvalid(backend.store(id, 2, ""), "state")
          const record = yield* backend.get(id)
          expect(record.status).toBe("S".repeat(50))
          expect(record.result).toBe(1)
        }))

      it.effect("rejects values JSON cannot carry and leaves the stored record as it was", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("unencodable")
          yield* backend.store(id, { kept: true }, "STARTED")
          const circular: Record<string, unknown> = {}
          circular.self = circular
          const bad: ReadonlyArray<unknown> = [
            () => 1,
            Symbol("s"),
            undefined,
            Number.NaN,
            Number.POSITIVE_INFINITY,
            new Date(0),
            new Map([["a", 1]]),
            circular,
            { nested: [1, Number.NEGATIVE_INFINITY] },
            [undefined]
          ]
          for (const value of bad) {
            yield* expectInvalid(backend.store(id, value, "SUCCESS"), "result")
          }
          const record = yield* backend.get(id)
          expect(record.status).toBe("STARTED")
          expect(record.result).toEqual({ kept: true })
        }))

      it.effect("rejects bad extended fields without storing anything", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("bad-extended")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { args: "nope" as unknown as Array<unknown> }), "args")
          yield* expectInvalid(
            backend.store(id, 1, "SUCCESS", { kwargs: [1] as unknown as Record<string, unknown> }),
            "kwargs"
          )
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { name: "n".repeat(156) }), "name")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { retries: -1 }), "retries")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { kwargs: { f: () => 1 } }), "kwargs")
          expect(yield* backend.exists(id)).toBe(false)
        }))

      it.effect("rejects bad group ids and member ids, keeping the stored group", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const group = uid("bad-group")
          const members = [uid("gm")]
          yield* backend.saveGroup(group, members)
          yield* expectInvalid(backend.saveGroup("", members), "groupId")
          yield* expectInvalid(backend.saveGroup("g".repeat(156), members), "groupId")
          yield* expectInvalid(backend.saveGroup(group, [uid("ok"), ""]), "taskIds")
          yield* expectInvalid(backend.restoreGroup(""), "groupId")
          yield* expectInvalid(backend.deleteGroup(""), "groupId")
          expect(Option.getOrThrow(yield* backend.restoreGroup(group)).taskIds).toEqual(members)
        }))

      it.effect("saveGroups checks every group first: one bad id, member or dateDone names its group and writes nothing", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const kept = uid("sgi-kept")
          const members = [uid("sgi-m")]
          yield* backend.saveGroup(kept, members)
          const good = uid("sgi-good")
          const named = uid("sgi-named")
          const at = DateTime.unsafeMake(Date.UTC(2020, 0, 1))
          const batch = (bad: GroupRecord.GroupRecord): ReadonlyArray<GroupRecord.GroupRecord> => [
            { groupId: good, taskIds: [uid("g")], dateDone: at },
            { groupId: kept, taskIds: [uid("replaced")], dateDone: at },
            bad
          ]
          yield* expectInvalid(backend.saveGroups(batch({ groupId: "", taskIds: [], dateDone: at })), "groupId")
          yield* expectInvalid(
            backend.saveGroups(batch({ groupId: "g".repeat(156), taskIds: [], dateDone: at })),
            "groupId"
          )
          const badMember = yield* expectInvalid(
            backend.saveGroups(batch({ groupId: named, taskIds: [uid("ok"), ""], dateDone: at })),
            "taskIds"
          )
          expect((badMember as unknown as { id: string }).id).toBe(named)
          const badDate = yield* expectInvalid(
            backend.saveGroups(batch({ groupId: named, taskIds: [], dateDone: DateTime.unsafeMake(Date.UTC(10000, 0, 1)) })),
            "dateDone"
          )
          expect((badDate as unknown as { id: string }).id).toBe(named)
          yield* expectInvalid(
            backend.saveGroups(batch({ groupId: named, taskIds: [], dateDone: "2020-01-01" as unknown as DateTime.Utc })),
            "dateDone"
          )
          const [g, k, n] = yield* backend.findGroups([good, kept, named])
          expect(Option.isNone(g)).toBe(true)
          expect(Option.isNone(n)).toBe(true)
          expect(Option.getOrThrow(k).taskIds).toEqual(members)
        }))

      it.effect("rejects text a database cannot keep as given: NUL characters and unpaired surrogates", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("text-kept")
          yield* backend.store(id, "first", "STARTED")
          yield* expectInvalid(backend.store(`${id}\u0000x`, 1, "SUCCESS"), "taskId")
          yield* expectInvalid(backend.store(`${id}-\uD800`, 1, "SUCCESS"), "taskId")
          yield* expectInvalid(backend.get(`${id}-\uDC00`), "taskId")
          yield* expectInvalid(backend.store(id, 1, "FAILURE", { traceback: "boom\u0000" }), "traceback")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { name: "n\u0000" }), "name")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { worker: "w\uDBFF" }), "worker")
          const record = yield* backend.get(id)
          expect([record.status, record.result]).toEqual(["STARTED", "first"])
          // A well-formed astral character is fine.
          const astral = uid("astral-𝄞")
          yield* backend.store(astral, "ok", "SUCCESS", { traceback: "𝄞" })
          expect((yield* backend.get(astral)).traceback).toBe("𝄞")
        }))

      it.effect("rejects retries beyond a 32-bit integer", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("retries-int32")
          yield* expectInvalid(backend.store(id, 1, "SUCCESS", { retries: 2 ** 31 }), "retries")
          yield* backend.store(id, 1, "SUCCESS", { retries: 2 ** 31 - 1 })
          expect((yield* backend.get(id)).retries).toBe(2 ** 31 - 1)
        }))

      it.effect("rejects a traceback that is not text", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const id = uid("bad-traceback")
          yield* expectInvalid(
            backend.store(id, null, "FAILURE", { traceback: 42 as unknown as string }),
            "traceback"
          )
          expect(yield* backend.exists(id)).toBe(false)
        }))

      it.effect("errors carry a readable message", () =>
        Effect.gen(function*() {
          const backend = yield* Backend
          const error = yield* Effect.flip(backend.store("t", Number.NaN, "SUCCESS"))
          expect(error.message).toMatch(/NaN|JSON/)
          expect(error.message).toContain("result")
        }))
    })
  })
}
