/**
 * The machinery behind `ResultBrowser.changes`: records as they are
 * written, from pushed ids (where the store has notifications) and from a
 * store-specific poll, each record given once per version.
 *
 * A store supplies `poll`: from its state (a cursor such as the last row id
 * seen, and the time of the last poll) it reads the records that are new or
 * changed, and it is handed the ids the feed is watching — records it has
 * given unfinished, whose next write a poll of new and newly finished rows
 * would not see. The feed re-reads those itself (at most `maxWatched`).
 *
 * A failed poll or read is logged and tried again at the next interval: a
 * live view outlives a database restart. Only `start` can fail the stream.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import type { BrowseError } from "./ResultBrowser.js"
import { versionOf } from "./ResultBrowser.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Source<S> {
  /** The state before the first poll (e.g. the newest row id now). */
  readonly start: Effect.Effect<S, BrowseError>
  /** Records written since `state`, and the state for the next poll. */
  readonly poll: (state: S) => Effect.Effect<readonly [ReadonlyArray<TaskRecord.TaskRecord>, S], BrowseError>
  /** Records for ids (missing ones `undefined`), in one round trip. */
  readonly read: (ids: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<TaskRecord.TaskRecord | undefined>, BrowseError>
  /** Ids of tasks written from when it is taken, where the store pushes them. */
  readonly push?: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope> | undefined
  /** How often to poll. */
  readonly interval: Duration.DurationInput
  /** Unfinished records re-read at every poll, at most. Default 1000. */
  readonly maxWatched?: number | undefined
  /** Versions remembered, at most (the oldest are forgotten first). Default 10,000. */
  readonly maxRemembered?: number | undefined
}

/**
 * Whether a record is what an unknown id reads as (PENDING, everything
 * null): a record forgotten between a poll and its read. The feed skips
 * those.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isUnknown = (record: TaskRecord.TaskRecord): boolean =>
  record.status === TaskState.PENDING && record.result === null && record.dateDone === null &&
  record.traceback === null && record.name === null && record.worker === null && record.args === null

/**
 * The feed over a source.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = <S>(source: Source<S>): Stream.Stream<TaskRecord.TaskRecord, BrowseError> =>
  Stream.unwrapScoped(Effect.gen(function*() {
    const interval = Duration.decode(source.interval)
    const maxWatched = source.maxWatched ?? 1000
    const maxRemembered = source.maxRemembered ?? 10_000
    const out = yield* Effect.acquireRelease(Queue.unbounded<TaskRecord.TaskRecord>(), Queue.shutdown)
    // Subscribed before the first poll's state is taken: nothing written after `start` is missed.
    const pushed = source.push === undefined ? undefined : yield* source.push
    let state = yield* source.start
    const seen = new Map<string, string>()
    const watched = new Set<string>()

    /** Offers the records not given in this version yet. */
    const offer = (records: ReadonlyArray<TaskRecord.TaskRecord | undefined>) =>
      Effect.suspend(() => {
        const fresh: Array<TaskRecord.TaskRecord> = []
        for (const record of records) {
          if (record === undefined) continue
          if (isUnknown(record)) {
            watched.delete(record.taskId)
            continue
          }
          const version = versionOf(record)
          if (seen.get(record.taskId) === version) continue
          seen.delete(record.taskId)
          seen.set(record.taskId, version)
          if (seen.size > maxRemembered) seen.delete(seen.keys().next().value!)
          if (TaskState.isReady(record.status)) watched.delete(record.taskId)
          else if (watched.has(record.taskId) || watched.size < maxWatched) watched.add(record.taskId)
          fresh.push(record)
        }
        return fresh.length === 0 ? Effect.void : Queue.offerAll(out, fresh)
      })

    const logged = (what: string) => (e: BrowseError) =>
      Effect.logWarning(`change feed: ${what} failed; trying again`).pipe(Effect.annotateLogs({ error: e.message }))

    const pollOnce = Effect.gen(function*() {
      const [records, next] = yield* source.poll(state)
      state = next
      yield* offer(records)
      if (watched.size > 0) yield* offer(yield* source.read(Array.from(watched)))
    }).pipe(Effect.catchAll(logged("poll")))

    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(interval), pollOnce)))
    if (pushed !== undefined) {
      yield* Effect.forkScoped(Effect.forever(
        Effect.flatMap(Queue.takeBetween(pushed, 1, 500), (ids) =>
          Effect.flatMap(source.read(Array.from(new Set(ids))), offer).pipe(Effect.catchAll(logged("read"))))
      ))
    }
    return Stream.fromQueue(out)
  }))
