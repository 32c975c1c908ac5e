/**
 * The in-memory `ResultBackend`: production semantics (SUCCESS is final,
 * unknown ids read as PENDING, groups, expiry, push-based waiting), time from
 * `Clock`, so `TestClock` drives it. For tests and single-process programs.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import type { BackendDriver, CleanupRule } from "./BackendDriver.js"
import * as BackendOptions from "./BackendOptions.js"
import * as ResultBackend from "./ResultBackend.js"
import * as UtcTime from "@taskmeta/schema/UtcTime"

/**
 * Whether a cleanup rule deletes a record (what `cleanupTasks` tests).
 *
 * @since 0.1.0
 * @category cleanup
 */
export const matchesRule = (rule: CleanupRule, record: TaskRecord.TaskRecord): boolean => {
  if (record.dateDone === null || UtcTime.Order(record.dateDone, rule.before) >= 0) return false
  if (rule.only !== undefined && !rule.only.includes(record.status)) return false
  if (rule.except !== undefined && rule.except.includes(record.status)) return false
  return true
}

/**
 * A driver keeping records in maps owned by the returned driver.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver: Effect.Effect<BackendDriver> = Effect.gen(function*() {
  const tasks = new Map<string, TaskRecord.TaskRecord>()
  const groups = new Map<string, GroupRecord.GroupRecord>()
  const stored = yield* PubSub.unbounded<string>()
  return {
    kind: "memory",
    put: (record) =>
      Effect.suspend(() => {
        if (tasks.get(record.taskId)?.status === TaskState.SUCCESS) return Effect.succeed(false)
        tasks.set(record.taskId, record)
        return Effect.as(PubSub.publish(stored, record.taskId), true)
      }),
    getMany: (ids) => Effect.sync(() => ids.map((id) => tasks.get(id))),
    remove: (id) => Effect.sync(() => void tasks.delete(id)),
    putGroup: (group) => Effect.sync(() => void groups.set(group.groupId, group)),
    getGroup: (id) => Effect.sync(() => Option.fromNullable(groups.get(id))),
    removeGroup: (id) => Effect.sync(() => void groups.delete(id)),
    getGroups: (ids) => Effect.sync(() => ids.map((id) => groups.get(id))),
    putGroups: (batch) =>
      Effect.sync(() => {
        for (const group of batch) groups.set(group.groupId, group)
      }),
    cleanupTasks: (rule, limit) =>
      Effect.sync(() => {
        let n = 0
        for (const [id, record] of tasks) {
          if (n >= limit) break
          if (matchesRule(rule, record)) {
            tasks.delete(id)
            n++
          }
        }
        return n
      }),
    cleanupGroups: (before, limit) =>
      Effect.sync(() => {
        let n = 0
        for (const [id, group] of groups) {
          if (n >= limit) break
          if (UtcTime.Order(group.dateDone, before) < 0) {
            groups.delete(id)
            n++
          }
        }
        return n
      }),
    subscribe: PubSub.subscribe(stored),
    isTransient: () => false
  } satisfies BackendDriver
})

/**
 * Builds the service with fresh, empty storage.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: BackendOptions.Input = {}): Effect.Effect<ResultBackend.Service> =>
  Effect.flatMap(makeDriver, (driver) => ResultBackend.make(driver, BackendOptions.make(options)))

/**
 * A layer with fresh, empty storage. Time comes from `Clock`, so in tests
 * `TestClock` drives `dateDone` and expiry.
 *
 * @example
 * ```ts
 * import { MemoryBackend, ResultBackend } from "@taskmeta/core"
 * import { Effect, Schema, TestClock, TestContext } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   yield* ResultBackend.markAsDone("task-1", 256, { name: "multiply_two_numbers", args: [16, 16] })
 *   const product = yield* ResultBackend.getResult("task-1", Schema.Number) // typed read
 *   console.log(product) // 256
 *
 *   // Time comes from Clock: under TestClock, two days pass at once.
 *   yield* TestClock.adjust("2 days")
 *   const backend = yield* ResultBackend.ResultBackend
 *   console.log(yield* backend.cleanup()) // { tasks: 1, groups: 0 }
 * })
 *
 * program.pipe(
 *   Effect.provide(MemoryBackend.layer({ resultExtended: true, resultExpires: "1 day" })),
 *   Effect.provide(TestContext.TestContext),
 *   Effect.runPromise
 * )
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: BackendOptions.Input = {}): Layer.Layer<ResultBackend.ResultBackend> =>
  Layer.effect(ResultBackend.ResultBackend, make(options))
