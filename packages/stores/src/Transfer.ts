/**
 * Moving records between stores: restore task records, groups and pipeline
 * runs exactly as they were (their dates included) through any
 * `ResultBackend` and `PipelineStore`, one at a time or as a bounded,
 * concurrent stream, and copy a whole store into another.
 *
 * Restoring goes through the backend's own `store` (with the record's
 * `dateDone`) / `saveGroup` (its clock pinned to the group's date) and the
 * pipeline store's `restore`, so every rule and encoding of the target
 * applies (a stored SUCCESS stays final, a stored run is never rewritten,
 * Celery-compatible encodings are honoured). Restoring the same records
 * twice leaves the store as once.
 *
 * `restore` takes a stream of entries (a record and its position: a line
 * number, a sequence number) and writes them in batches: a batch is what the
 * stream delivers at once (a chunk: a read of the input, a page of the
 * source), cut at `batchSize`, so no entry waits for others to arrive. Each
 * batch's tasks are classified with one `findMany` against the target (new,
 * changed, unchanged, kept) and the ones that change are written with one
 * `storeMany`, which a SQL backend turns into multi-row statements; several
 * batches are in flight at once, so memory stays bounded by
 * `batchSize × concurrency` records whatever the stream's length. Entries
 * for the same record are written in stream order (a later entry waits for
 * an earlier one still in flight), so the store ends as a sequential
 * restore would leave it.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import { causeMessage, type GetError, type GroupError, type InvalidInput, type StoreError } from "@taskmeta/core/BackendError"
import type { PipelineBuildError, PipelineReadError } from "@taskmeta/core/PipelineError"
import type * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as Pipeline from "@taskmeta/schema/Pipeline"
import type * as PipelineRun from "@taskmeta/schema/PipelineRun"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import { createHash } from "node:crypto"
import type * as Pipelines from "./Pipelines.js"

// ---------------------------------------------------------------------------
// one record
// ---------------------------------------------------------------------------

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
  const request = storeRequest(record)
  return backend.store(request.taskId, request.result, request.state, request.options)
}

/**
 * The store request that writes a record as it is (`restoreTask` of many,
 * through `storeMany`).
 *
 * @since 0.1.0
 * @category restore
 */
export const storeRequest = (record: TaskRecord.TaskRecord): ResultBackend.StoreRequest => {
  // What is left after the stored keys is the request: traceback and the extended fields; the date
  // goes with it (a READY record without one is stamped now).
  const { dateDone, result, status, taskId, ...request } = record
  return { taskId, result, state: status, options: dateDone === null ? request : { ...request, dateDone } }
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

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * One record to restore.
 *
 * @since 0.1.0
 * @category models
 */
export type Item = Data.TaggedEnum<{
  Task: { readonly record: TaskRecord.TaskRecord }
  Group: { readonly group: GroupRecord.GroupRecord }
  Run: { readonly run: PipelineRun.PipelineRun }
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const Item = Data.taggedEnum<Item>()

/**
 * A record and where it came from: a line number, a position in a copy.
 * Entries are restored in batches; `at` names an entry in errors and
 * reports.
 *
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly at: number
  readonly item: Item
}

/**
 * What restoring did to records of one kind (or, in a dry run, would do):
 * `new` (not in the target), `changed` (in the target, different, and
 * written), `unchanged` (in the target as it is: not written) and `kept`
 * (different, but the target keeps its own: a stored SUCCESS is final, a
 * stored pipeline run is never rewritten).
 *
 * @since 0.1.0
 * @category models
 */
export const Counts = Schema.Struct({
  new: Schema.Number,
  changed: Schema.Number,
  unchanged: Schema.Number,
  kept: Schema.Number
})

/**
 * @since 0.1.0
 * @category models
 */
export type Counts = typeof Counts.Type

/**
 * What a restore (an import, a copy) did. Every entry up to `through` was
 * handled; nothing after it was read, except, when a write failed, the
 * entries of batches already under way.
 *
 * @since 0.1.0
 * @category models
 */
export const Report = Schema.Struct({
  tasks: Counts,
  groups: Counts,
  runs: Counts,
  /** Entries the target refused as bad input and that were skipped (with `onInvalid`). */
  invalid: Schema.Number,
  /** The position of the last entry handled (0 before any). */
  through: Schema.Number,
  /** Whether `stop` ended the restore early. */
  stopped: Schema.Boolean,
  dryRun: Schema.Boolean
})

/**
 * @since 0.1.0
 * @category models
 */
export type Report = typeof Report.Type

/**
 * Records written (new + changed) in a report; in a dry run, what would be.
 *
 * @since 0.1.0
 * @category models
 */
export const written = (report: Report): number =>
  report.tasks.new + report.tasks.changed + report.groups.new + report.groups.changed + report.runs.new +
  report.runs.changed

/**
 * Entries handled in a report (every outcome, skipped ones included).
 *
 * @since 0.1.0
 * @category models
 */
export const handled = (report: Report): number => {
  const sum = (c: Counts) => c.new + c.changed + c.unchanged + c.kept
  return sum(report.tasks) + sum(report.groups) + sum(report.runs) + report.invalid
}

/**
 * A restore stopped at entry `at`: the target refused it, the target
 * failed, or the stream of entries failed. `report` says what was done
 * before the restore stopped; `cause` is the error.
 *
 * @since 0.1.0
 * @category errors
 */
export class TransferError extends Schema.TaggedError<TransferError>("@taskmeta/stores/TransferError")(
  "TransferError",
  {
    at: Schema.Number,
    report: Report,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    return causeMessage(this.cause)
  }
}

/**
 * Where records go: a backend, and a pipeline store for pipeline runs.
 *
 * @since 0.1.0
 * @category models
 */
export interface Target {
  readonly backend: ResultBackend.Service
  /** Needed only when the entries hold pipeline runs. */
  readonly pipelines?: PipelineStore.Service | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Classify only: read the target and count what would change, write nothing. */
  readonly dryRun?: boolean | undefined
  /**
   * The most entries per batch (default 500, a SQL backend's largest
   * statement). A batch is one chunk of the stream, cut at this size: a
   * stream of one-entry chunks makes batches of one.
   */
  readonly batchSize?: number | undefined
  /** Batches in flight at once (default 4). */
  readonly concurrency?: number | undefined
  /**
   * Writes under way at once per batch (default 64): a SQL backend
   * coalesces concurrent writes into multi-row statements.
   */
  readonly writers?: number | undefined
  /** Called after every batch with the report so far. */
  readonly onProgress?: ((report: Report) => Effect.Effect<void>) | undefined
  /**
   * When this effect completes, no further entry is read: the batches under
   * way finish and the restore returns its report with `stopped: true`.
   */
  readonly stop?: Effect.Effect<void> | undefined
  /**
   * Given, an entry the target refuses as bad input (`InvalidInput`) is
   * skipped, counted in `invalid` and handed here; not given, it stops the
   * restore with a `TransferError`.
   */
  readonly onInvalid?: ((at: number, error: InvalidInput) => Effect.Effect<void>) | undefined
}

// ---------------------------------------------------------------------------
// fingerprints
// ---------------------------------------------------------------------------

const millis = (d: DateTime.Utc | null) => (d === null ? null : DateTime.toEpochMillis(d))

/**
 * What a record holds in the target, as text: `full` is all of it, `body`
 * all but a task's date (a READY line without a date matches a record that
 * differs only in its date). A dry run keeps every state to its end, so
 * there both are digests.
 */
interface State {
  readonly full: string
  readonly body: string
  /** The target keeps this record whatever comes: a stored SUCCESS, a stored run. */
  readonly final: boolean
  /** `full` and `body` are digests (a dry run's). */
  readonly digested?: true
}

const digest = (text: string) => createHash("sha1").update(text).digest("base64")

const taskState = (r: TaskRecord.TaskRecord): State => {
  const body = Json.stringify([r.status, r.result, r.traceback, r.name, r.args, r.kwargs, r.worker, r.retries, r.queue])
  return { full: `${body}@${millis(r.dateDone) ?? ""}`, body, final: r.status === TaskState.SUCCESS }
}

const groupState = (g: GroupRecord.GroupRecord): State => {
  const full = Json.stringify([g.taskIds, millis(g.dateDone)])
  return { full, body: full, final: false }
}

const stamps = (r: Pipeline.Stamped) => [r.status, r.message, millis(r.started), millis(r.completed)]

const runState = (run: PipelineRun.PipelineRun): State => {
  const e = run.execution
  const full = Json.stringify([
    [e.pipelineId, e.inputData, millis(e.created), ...stamps(e)],
    run.pipelineResults.map((r) => [r.id, r.index, r.object, ...stamps(r)]),
    run.taskExecutions.map((r) => [r.id, r.pipelineResultId, r.index, r.taskName, r.config, ...stamps(r)]),
    run.taskResults.map((r) => [r.id, r.taskExecutionId, r.index, r.object, ...stamps(r)])
  ])
  return { full, body: full, final: true }
}

const stateOf = (item: Item): State => {
  switch (item._tag) {
    case "Task":
      return taskState(item.record)
    case "Group":
      return groupState(item.group)
    case "Run":
      return runState(item.run)
  }
}

const digested = (state: State): State =>
  state.digested ? state : { full: digest(state.full), body: digest(state.body), final: state.final, digested: true }

// ---------------------------------------------------------------------------
// restore
// ---------------------------------------------------------------------------

type Change = keyof Counts
type Kind = "tasks" | "groups" | "runs"

const keyOf = (item: Item): string => {
  switch (item._tag) {
    case "Task":
      return `t:${item.record.taskId}`
    case "Group":
      return `g:${item.group.groupId}`
    case "Run":
      return `r:${item.run.execution.runId}`
  }
}

const kindOf = (item: Item): Kind => (item._tag === "Task" ? "tasks" : item._tag === "Group" ? "groups" : "runs")

const zero = () => ({ new: 0, changed: 0, unchanged: 0, kept: 0 })

/** An entry to write, with what it changes and the target's record before it. */
interface Write {
  readonly entry: Entry
  readonly key: string
  readonly change: Change
  readonly before: Lazy | null
}

/** What a write did: `kept` when the target kept its own record; the state after it. */
interface Written {
  readonly kept: boolean
  readonly after: Current
}

type RestoreError = InvalidInput | StoreError | GroupError | GetError | PipelineBuildError | PipelineReadError

/**
 * A record in the target: `null` when none is stored, a state (computed
 * when first needed), or `undefined` when not known (a write that another
 * writer's SUCCESS overtook): then the target is read again.
 */
type Current = Lazy | null | undefined

interface Lazy {
  readonly get: () => State
}

const lazy = (f: () => State): Lazy => {
  let state: State | undefined
  return { get: () => (state ??= f()) }
}

const known = (state: State): Lazy => ({ get: () => state })

/**
 * Restores a stream of entries into a target (see the module docs), in
 * batches, concurrently, in bounded memory. Returns the report; fails with
 * a `TransferError` (carrying the report so far) when the target refuses or
 * fails an entry, or when the stream fails — after the batches under way
 * have finished, so everything the report counts is in the target.
 *
 * @since 0.1.0
 * @category restore
 */
export const restore = <E, R>(
  entries: Stream.Stream<Entry, E, R>,
  target: Target,
  options: Options = {}
): Effect.Effect<Report, TransferError, R> =>
  Effect.gen(function*() {
    const dryRun = options.dryRun === true
    const batchSize = Math.max(1, Math.floor(options.batchSize ?? 500))
    const concurrency = Math.max(1, Math.floor(options.concurrency ?? 4))
    const writers = Math.max(1, Math.floor(options.writers ?? 64))
    const counts = { tasks: zero(), groups: zero(), runs: zero() }
    let invalid = 0
    let through = 0
    let stopped = false
    let failure: { readonly at: number; readonly cause: unknown } | undefined
    const halt = yield* Deferred.make<void>()
    const report = (): Report => ({
      tasks: { ...counts.tasks },
      groups: { ...counts.groups },
      runs: { ...counts.runs },
      invalid,
      through: failure === undefined ? through : Math.min(through, failure.at),
      stopped,
      dryRun
    })
    const fail = (entryAt: number, cause: unknown) =>
      Effect.suspend(() => {
        if (failure === undefined || entryAt < failure.at) failure = { at: entryAt, cause }
        return Deferred.succeed(halt, undefined)
      })
    /** Whether a failure happened at an entry before `position` (any failure, for 0). */
    const failedBefore = (position: number) => failure !== undefined && (position === 0 || position > failure.at)
    const same = (state: State, incoming: State, withDate: boolean) =>
      state.digested
        ? (withDate ? state.full === digest(incoming.full) : state.body === digest(incoming.body))
        : (withDate ? state.full === incoming.full : state.body === incoming.body)

    // Which batch under way last took each record: a batch with an entry for a record that an
    // earlier batch under way holds waits for that batch first.
    const holder = new Map<string, Deferred.Deferred<void>>()
    // A dry run writes nothing: what each record would be after the entries so far (digests).
    const seen = new Map<string, State>()

    const classify = (item: Item, current: Lazy | null): Change => {
      if (current === null) return "new"
      const withDate = item._tag !== "Task" || item.record.dateDone !== null || !TaskState.isReady(item.record.status)
      const state = current.get()
      if (same(state, stateOf(item), withDate)) return "unchanged"
      return state.final ? "kept" : "changed"
    }

    /** The task entries' records in one `storeMany`; each outcome to `settle`. */
    const writeTasks = (
      tasks: ReadonlyArray<Write>,
      settle: (w: Write, outcome: Either.Either<Written, RestoreError>) => Effect.Effect<void>
    ): Effect.Effect<void> => {
      if (tasks.length === 0) return Effect.void
      const requests = tasks.map((w) => storeRequest((w.entry.item as Extract<Item, { _tag: "Task" }>).record))
      return Effect.matchEffect(target.backend.storeMany(requests), {
        onFailure: (error) => fail(tasks[0].entry.at, error),
        onSuccess: (outcomes) =>
          Effect.forEach(tasks, (w, i) => {
            const outcome = outcomes[i]
            return settle(
              w,
              Either.map(outcome, (stored): Written =>
                stored._tag === "Stored"
                  ? { kept: false, after: lazy(() => taskState(stored.record)) }
                  : { kept: true, after: undefined })
            )
          }, { discard: true })
      })
    }

    /**
     * Entries written with one batch call (`saveGroups`, `restoreMany`),
     * `written` telling each entry's outcome from the call's answer. When the
     * call fails (a bad record, a storage error), the entries are written one
     * by one, so each gets its own outcome (writing a group again is harmless;
     * a run already stored is kept).
     */
    const writeInOne = <A>(
      writes: ReadonlyArray<Write>,
      batch: Effect.Effect<ReadonlyArray<A>, RestoreError>,
      written: (answer: A, i: number) => Written,
      settle: (w: Write, outcome: Either.Either<Written, RestoreError>) => Effect.Effect<void>
    ): Effect.Effect<void> =>
      writes.length === 0 ? Effect.void : Effect.matchEffect(batch, {
        onFailure: () =>
          Effect.forEach(writes, (w) => Effect.flatMap(Effect.either(write(w.entry.item)), (o) => settle(w, o)), {
            concurrency: writers,
            discard: true
          }),
        onSuccess: (answers) => Effect.forEach(writes, (w, i) => settle(w, Either.right(written(answers[i], i))), { discard: true })
      })

    /** The group entries in one `saveGroups`, each group with its own date. */
    const writeGroups = (
      groups: ReadonlyArray<Write>,
      settle: (w: Write, outcome: Either.Either<Written, RestoreError>) => Effect.Effect<void>
    ): Effect.Effect<void> =>
      writeInOne(
        groups,
        Effect.suspend(() => target.backend.saveGroups(groups.map((w) => (w.entry.item as Extract<Item, { _tag: "Group" }>).group))),
        (saved) => ({ kept: false, after: lazy(() => groupState(saved)) }),
        settle
      )

    /** The run entries in one `restoreMany`. */
    const writeRuns = (
      runs: ReadonlyArray<Write>,
      settle: (w: Write, outcome: Either.Either<Written, RestoreError>) => Effect.Effect<void>
    ): Effect.Effect<void> => {
      const trees = runs.map((w) => (w.entry.item as Extract<Item, { _tag: "Run" }>).run)
      return writeInOne(
        runs,
        Effect.flatMap(pipelinesOf(target), (store) => store.restoreMany(trees)),
        (outcome, i) => outcome.created ? { kept: false, after: lazy(() => runState(trees[i])) } : { kept: true, after: undefined },
        settle
      )
    }

    /** Writes one entry's record: the state after it, `undefined` when another writer kept its own. */
    const write = (item: Item): Effect.Effect<Written, RestoreError> => {
      switch (item._tag) {
        case "Task":
          return Effect.map(restoreTask(target.backend, item.record), (outcome) =>
            outcome._tag === "Stored"
              ? { kept: false, after: lazy(() => taskState(outcome.record)) }
              : { kept: true, after: undefined })
        case "Group":
          return Effect.map(restoreGroup(target.backend, item.group), (group) => ({
            kept: false,
            after: lazy(() => groupState(group))
          }))
        case "Run":
          return Effect.flatMap(pipelinesOf(target), (store) =>
            Effect.map(store.restore(item.run), (outcome) =>
              outcome.created ? { kept: false, after: lazy(() => runState(item.run)) } : { kept: true, after: undefined }))
      }
    }

    /** The target's records for items: one `findMany` for the tasks, one `findGroups`, one `getRuns`. */
    const read = (items: ReadonlyArray<Item>): Effect.Effect<Map<string, Lazy | null>, RestoreError> =>
      Effect.gen(function*() {
        const found = new Map<string, Lazy | null>()
        const taskIds: Array<string> = []
        const others: Array<Item> = []
        for (const item of items) {
          if (item._tag === "Task") taskIds.push(item.record.taskId)
          else others.push(item)
        }
        if (taskIds.length > 0) {
          const records = yield* target.backend.findMany(taskIds)
          for (let i = 0; i < taskIds.length; i++) {
            const r = records[i]
            found.set(`t:${taskIds[i]}`, Option.isNone(r) ? null : lazy(() => taskState(r.value)))
          }
        }
        const groupIds: Array<string> = []
        const runs: Array<Item> = []
        for (const item of others) {
          if (item._tag === "Group") groupIds.push(item.group.groupId)
          else runs.push(item)
        }
        if (groupIds.length > 0) {
          const groups = yield* target.backend.findGroups(groupIds)
          for (let i = 0; i < groupIds.length; i++) {
            const g = groups[i]
            found.set(`g:${groupIds[i]}`, Option.isNone(g) ? null : known(groupState(g.value)))
          }
        }
        if (runs.length > 0) {
          const store = yield* pipelinesOf(target)
          const runIds = runs.map((item) => keyOf(item).slice(2))
          const stored = yield* store.getRuns(runIds)
          for (let i = 0; i < runIds.length; i++) {
            const run = stored[i]
            found.set(`r:${runIds[i]}`, Option.isNone(run) ? null : known(runState(run.value)))
          }
        }
        return found
      })

    /**
     * One batch. Its entries go in generations: the first entry of each
     * record, then the second of each record that has two, … — so that the
     * entries for one record run in stream order, and those of different
     * records run together.
     */
    const runBatch = (batch: Chunk.Chunk<Entry>): Effect.Effect<void> =>
      Effect.gen(function*() {
        // After a stop or a failure no batch starts (the stream may hold some already).
        if (stopped || failure !== undefined) return
        const list = Chunk.toReadonlyArray(batch)
        // Batches are cut in stream order and every batch started is finished: the last entry of the
        // latest batch is how far the restore got.
        through = Math.max(through, list[list.length - 1].at)
        const done = yield* Deferred.make<void>()
        const before = new Set<Deferred.Deferred<void>>()
        const generations: Array<Array<Entry>> = []
        const generation = new Map<string, number>()
        for (const entry of list) {
          const key = keyOf(entry.item)
          const earlier = holder.get(key)
          if (earlier !== undefined && earlier !== done) before.add(earlier)
          holder.set(key, done)
          const g = (generation.get(key) ?? -1) + 1
          generation.set(key, g)
          ;(generations[g] ??= []).push(entry)
        }
        for (const earlier of before) yield* Deferred.await(earlier)

        const after = new Map<string, Current>()
        for (let g = 0; g < generations.length && !failedBefore(0); g++) {
          const entries = generations[g]
          const unknown = entries.filter((e) => {
            const key = keyOf(e.item)
            return g === 0 ? !(dryRun && seen.has(key)) : after.get(key) === undefined
          })
          const current = yield* Effect.either(read(unknown.map((e) => e.item)))
          if (current._tag === "Left") {
            yield* fail(entries[0].at, current.left)
            break
          }
          const writes: Array<Write> = []
          for (const entry of entries) {
            // After a failure, entries behind the failed one are left alone.
            if (failedBefore(entry.at)) continue
            const key = keyOf(entry.item)
            const now: Lazy | null = g > 0 && after.get(key) !== undefined
              ? after.get(key)!
              : dryRun && seen.has(key)
              ? known(seen.get(key)!)
              : current.right.get(key) ?? null
            const change = classify(entry.item, now)
            if ((change === "new" || change === "changed") && !dryRun) {
              writes.push({ entry, key, change, before: now })
              continue
            }
            counts[kindOf(entry.item)][change]++
            after.set(key, change === "new" || change === "changed" ? lazy(() => stateOf(entry.item)) : now)
          }
          const settle = (
            { before, change, entry, key }: Write,
            outcome: Either.Either<Written, RestoreError>
          ): Effect.Effect<void> => {
            if (outcome._tag === "Right") {
              counts[kindOf(entry.item)][outcome.right.kept ? "kept" : change]++
              after.set(key, outcome.right.after)
              return Effect.void
            }
            const error = outcome.left
            if (error._tag === "InvalidInput" && options.onInvalid !== undefined) {
              invalid++
              after.set(key, before)
              return options.onInvalid(entry.at, error)
            }
            after.set(key, undefined)
            return fail(entry.at, error)
          }
          // Tasks in one `storeMany`, groups in one `saveGroups`, runs in one `restoreMany` (the keys
          // of a generation are distinct).
          const tasks: Array<Write> = []
          const groups: Array<Write> = []
          const runs: Array<Write> = []
          for (const w of writes) {
            ;(w.entry.item._tag === "Task" ? tasks : w.entry.item._tag === "Group" ? groups : runs).push(w)
          }
          yield* Effect.all([writeTasks(tasks, settle), writeGroups(groups, settle), writeRuns(runs, settle)], {
            concurrency: 3,
            discard: true
          })
        }
        for (const entry of list) {
          const key = keyOf(entry.item)
          if (dryRun) {
            const state = after.get(key)
            if (state !== undefined && state !== null) seen.set(key, digested(state.get()))
          }
          if (holder.get(key) === done) holder.delete(key)
        }
        yield* Deferred.succeed(done, undefined)
        if (options.onProgress !== undefined) yield* options.onProgress(report())
      })

    const stop = options.stop === undefined
      ? Deferred.await(halt)
      : Effect.raceFirst(Deferred.await(halt), Effect.tap(options.stop, () => Effect.sync(() => void (stopped = true))))

    let sourceFailure: { readonly cause: E } | undefined
    yield* entries.pipe(
      Stream.catchAll((cause) => {
        sourceFailure = { cause }
        return Stream.empty
      }),
      // A batch per chunk as it comes (cut at batchSize): cheaper than regrouping entry by entry
      // (`groupedWithin` cost ~4 µs per entry), and nothing waits for a batch to fill.
      Stream.chunks,
      Stream.mapConcat((chunk) => Chunk.chunksOf(chunk, batchSize)),
      // One batch per chunk: a stop then ends the batches not yet started.
      Stream.rechunk(1),
      // Stopping ends the batches: those under way finish, none is started after.
      Stream.interruptWhen(stop),
      Stream.mapEffect(runBatch, { concurrency, unordered: true }),
      Stream.runDrain
    )
    if (sourceFailure !== undefined) yield* fail(through + 1, sourceFailure.cause)
    if (failure !== undefined) {
      return yield* new TransferError({ at: failure.at, report: { ...report(), stopped: false }, cause: failure.cause })
    }
    return report()
  })

const pipelinesOf = (target: Target): Effect.Effect<PipelineStore.Service> =>
  target.pipelines === undefined
    ? Effect.dieMessage("Transfer.restore: a pipeline run needs a target with a pipeline store")
    : Effect.succeed(target.pipelines)

// ---------------------------------------------------------------------------
// reading a whole store
// ---------------------------------------------------------------------------

/**
 * What a copy reads: a browser over the source's tasks and groups, and
 * optionally its pipeline store and pipeline browser.
 *
 * @since 0.1.0
 * @category models
 */
export interface Source {
  readonly browser: ResultBrowser.Service
  readonly pipelines?: {
    readonly store: PipelineStore.Service
    readonly browser: Pipelines.PipelineBrowserService
  } | undefined
}

/** Runs `pipelineRuns` reads at once. */
const RUN_PAGE = 250

/**
 * Every pipeline run of a store, whole, pipeline by pipeline (oldest run
 * first), read 250 runs at a time (`getRuns`).
 *
 * @since 0.1.0
 * @category read
 */
export const pipelineRuns = (
  store: PipelineStore.Service,
  browser: Pipelines.PipelineBrowserService
): Stream.Stream<PipelineRun.PipelineRun, ResultBrowser.BrowseError | InvalidInput | PipelineReadError> =>
  Stream.fromIterableEffect(browser.pipelineIds).pipe(
    Stream.mapEffect((pipelineId) => store.listExecutions(pipelineId)),
    Stream.flattenIterables,
    // A page of runs in one `getRuns`, handed on as one chunk (a copy writes it as one batch).
    Stream.rechunk(RUN_PAGE),
    Stream.mapChunksEffect((executions) =>
      Effect.map(
        store.getRuns(Chunk.toReadonlyArray(Chunk.map(executions, (execution) => execution.runId))),
        (runs) => Chunk.unsafeFromArray(runs.flatMap((run) => Option.isSome(run) ? [run.value] : []))
      )
    )
  )

/**
 * Every record of a source as entries numbered from 1: tasks, then groups,
 * then pipeline runs; the next page is read while one is restored.
 *
 * @since 0.1.0
 * @category read
 */
export const entries = (
  source: Source
): Stream.Stream<Entry, ResultBrowser.BrowseError | InvalidInput | PipelineReadError> => {
  const items: Stream.Stream<Item, ResultBrowser.BrowseError | InvalidInput | PipelineReadError> = Stream.concat(
    Stream.concat(
      Stream.map(source.browser.exportTasks, (record) => Item.Task({ record })),
      Stream.map(source.browser.exportGroups, (group) => Item.Group({ group }))
    ),
    source.pipelines === undefined
      ? Stream.empty
      : Stream.map(pipelineRuns(source.pipelines.store, source.pipelines.browser), (run) => Item.Run({ run }))
  )
  return items.pipe(
    Stream.bufferChunks({ capacity: 4 }),
    Stream.zipWithIndex,
    Stream.map(([item, i]) => ({ at: i + 1, item }))
  )
}

/**
 * How many records a source holds: tasks, groups and pipeline runs (for
 * progress; the store may change while it is copied).
 *
 * @since 0.1.0
 * @category read
 */
export const count = (source: Source): Effect.Effect<number, ResultBrowser.BrowseError | InvalidInput | PipelineReadError> =>
  Effect.gen(function*() {
    const stats = yield* source.browser.stats
    if (source.pipelines === undefined) return stats.tasks + stats.groups
    const { browser, store } = source.pipelines
    const ids = yield* browser.pipelineIds
    const runs = yield* Effect.forEach(ids, (id) => Effect.map(store.digest(id), (d) => d.totalRuns), { concurrency: 4 })
    return stats.tasks + stats.groups + runs.reduce((a, b) => a + b, 0)
  })

/**
 * Copies every task, group and pipeline run of a source into a target
 * (`restore` over `entries(source)`).
 *
 * @since 0.1.0
 * @category copy
 */
export const copy = (source: Source, target: Target, options: Options = {}): Effect.Effect<Report, TransferError> =>
  restore(entries(source), target, options)
