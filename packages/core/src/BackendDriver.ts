/**
 * The storage primitives an implementation provides. `ResultBackend.make`
 * turns a driver into the full service: input validation, encoding checks,
 * timestamps from `Clock`, the retry policy, error mapping, waiting, cleanup
 * loops and spans are done once, there, for every implementation.
 *
 * A driver works on validated, normalised records and reports failures as
 * `DriverError`; it says which of its failures are transient.
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import type { DriverError } from "./BackendError.js"

/**
 * Which READY-aged task records one cleanup batch may delete: those with a
 * `dateDone` before `before`, restricted to the states in `only` or outside
 * the states in `except`.
 *
 * @since 0.1.0
 * @category models
 */
export interface CleanupRule {
  readonly before: DateTime.Utc
  readonly only?: ReadonlyArray<string> | undefined
  readonly except?: ReadonlyArray<string> | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface BackendDriver {
  /** `memory`, `sqlite`, `postgres`, `arango`, … (for spans and logs). */
  readonly kind: string
  /**
   * Upserts the whole record in one atomic step, unless the stored record is
   * SUCCESS (then nothing changes). `true` when written, `false` when ignored.
   */
  readonly put: (record: TaskRecord.TaskRecord) => Effect.Effect<boolean, DriverError>
  /**
   * `put` for many records at once, in order (two records of one id are
   * written one after the other), each with its own outcome: whether it was
   * written, or why not. Optional: without it, `storeMany` calls `put` for
   * each record. Drivers that batch writes anyway (SQL) take the whole list
   * in one call, without a fiber per record.
   */
  readonly putMany?:
    | ((
      records: ReadonlyArray<TaskRecord.TaskRecord>
    ) => Effect.Effect<ReadonlyArray<Either.Either<boolean, DriverError>>>)
    | undefined
  /** Reads records for the ids in one round trip, aligned with the input; missing ids are `undefined`. */
  readonly getMany: (
    taskIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<TaskRecord.TaskRecord | undefined>, DriverError>
  /** Deletes a task record; deleting a missing one is not an error. */
  readonly remove: (taskId: string) => Effect.Effect<void, DriverError>
  /** Upserts a group. */
  readonly putGroup: (group: GroupRecord.GroupRecord) => Effect.Effect<void, DriverError>
  readonly getGroup: (groupId: string) => Effect.Effect<Option.Option<GroupRecord.GroupRecord>, DriverError>
  readonly removeGroup: (groupId: string) => Effect.Effect<void, DriverError>
  /**
   * Reads many groups in one round trip, aligned with the input; missing ids
   * are `undefined`. Optional: without it, `findGroups` reads with
   * `getGroup`, one id at a time.
   */
  readonly getGroups?:
    | ((groupIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<GroupRecord.GroupRecord | undefined>, DriverError>)
    | undefined
  /**
   * Upserts many groups, each whole with its own `dateDone`, in one statement
   * (or one transaction, where the store's limits split it). The ids are
   * distinct (`saveGroups` dedupes them first). Optional: without it,
   * `saveGroups` writes with `putGroup`, one group at a time.
   */
  readonly putGroups?:
    | ((groups: ReadonlyArray<GroupRecord.GroupRecord>) => Effect.Effect<void, DriverError>)
    | undefined
  /** Deletes at most `limit` task records matching the rule, in one transaction; returns how many. */
  readonly cleanupTasks: (rule: CleanupRule, limit: number) => Effect.Effect<number, DriverError>
  /** Deletes at most `limit` groups saved before `before`, in one transaction; returns how many. */
  readonly cleanupGroups: (before: DateTime.Utc, limit: number) => Effect.Effect<number, DriverError>
  /**
   * Push notifications, where the store has them: a scoped subscription
   * yielding the ids of tasks stored after it was taken. Without it, waiting
   * polls.
   */
  readonly subscribe?: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope> | undefined
  /** The shortest pause between polls while waiting (the interval grows up to `pollInterval`). */
  readonly minPollInterval?: number | undefined
  /**
   * How long, in milliseconds, one cleanup statement should hold the store,
   * for drivers whose statements keep every writer waiting while they run
   * (SQLite's one connection, which also blocks the event loop). Cleanup
   * then sizes each batch from the last one's time, never above
   * `cleanupBatchSize`. Without it every batch is `cleanupBatchSize`.
   */
  readonly cleanupSlice?: number | undefined
  /** Whether a failure is worth retrying (a lost connection, a lock, a serialization failure). */
  readonly isTransient: (error: DriverError) => boolean
  /** Runs before a retry, to drop a broken connection. */
  readonly onRetryableError?: ((error: DriverError) => Effect.Effect<void>) | undefined
}
