/**
 * Moving records between stores: restore a task or group record exactly as
 * it was (its `dateDone` included) through any `ResultBackend`, and copy a
 * whole store into another.
 *
 * Restoring goes through the backend's own `store` / `saveGroup`, so every
 * rule and encoding of the target applies (a stored SUCCESS stays final,
 * Celery-compatible encodings are honoured); only the clock those calls read
 * is pinned to the record's `dateDone`. Restoring the same record twice
 * leaves the store as once: importing is idempotent.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import type { GroupError, InvalidInput, StoreError } from "@taskmeta/core/BackendError"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"

const at = <A, E, R>(instant: DateTime.Utc | null, self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  instant === null ? self : UtcTime.withClockAt(self, instant)

/**
 * Stores a task record as it was: same state, result, traceback, extended
 * fields and `dateDone` (a READY record without one is stamped now).
 *
 * @since 0.1.0
 * @category restore
 */
export const restoreTask = (
  backend: ResultBackend.Service,
  record: TaskRecord.TaskRecord
): Effect.Effect<ResultBackend.StoreOutcome, InvalidInput | StoreError> => {
  // What is left after the stored keys is exactly the request: traceback and the extended fields.
  const { dateDone, result, status, taskId, ...request } = record
  return at(dateDone, backend.store(taskId, result, status, request))
}

/**
 * Saves a group as it was, `dateDone` included.
 *
 * @since 0.1.0
 * @category restore
 */
export const restoreGroup = (
  backend: ResultBackend.Service,
  group: GroupRecord.GroupRecord
): Effect.Effect<GroupRecord.GroupRecord, InvalidInput | GroupError> =>
  at(group.dateDone, backend.saveGroup(group.groupId, group.taskIds))

/**
 * What a copy or an import did.
 *
 * @since 0.1.0
 * @category models
 */
export interface Report {
  /** Task records written. */
  readonly stored: number
  /** Task records left alone because the target already holds a SUCCESS for the id. */
  readonly unchanged: number
  readonly groups: number
}

/**
 * Copies every task and group of a store into a backend. `onProgress` is
 * called after every 1,000 records.
 *
 * @since 0.1.0
 * @category copy
 */
export const copy = (
  from: ResultBrowser.Service,
  to: ResultBackend.Service,
  onProgress: (report: Report) => Effect.Effect<void> = () => Effect.void
): Effect.Effect<Report, ResultBrowser.BrowseError | InvalidInput | StoreError | GroupError> =>
  Effect.gen(function*() {
    let stored = 0
    let unchanged = 0
    let groups = 0
    const tick = () =>
      (stored + unchanged + groups) % 1000 === 0 ? onProgress({ stored, unchanged, groups }) : Effect.void
    yield* Stream.runForEach(from.exportTasks, (record) =>
      Effect.flatMap(restoreTask(to, record), (outcome) => {
        if (outcome._tag === "Stored") stored++
        else unchanged++
        return tick()
      }))
    yield* Stream.runForEach(from.exportGroups, (group) =>
      Effect.flatMap(restoreGroup(to, group), () => {
        groups++
        return tick()
      }))
    return { stored, unchanged, groups }
  })
