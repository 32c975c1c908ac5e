/**
 * Reading a result store as a whole, for tools: list tasks by state, name
 * and time, count them, export everything, and tell how much a cleanup
 * would delete. `ResultBackend` answers questions about ids a caller knows;
 * this service answers questions about the store. It lives next to a
 * `ResultBackend` built over the same storage: `MemoryBrowser` here,
 * `SqlBrowser` in `@taskmeta/sql`, `ArangoBrowser` in `@taskmeta/arango`
 * (`Stores.layerFromUrl` in `@taskmeta/stores` picks one from a URL).
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { causeMessage } from "./BackendError.js"
import * as UtcTime from "@taskmeta/schema/UtcTime"

/**
 * Which tasks `list` returns. Every field narrows; none means all.
 *
 * @since 0.1.0
 * @category models
 */
export interface Filter {
  /** Only these states (any of them); empty means all. */
  readonly states?: ReadonlyArray<string> | undefined
  /** Only tasks with exactly this name. */
  readonly name?: string | undefined
  /** Only tasks done at or after this instant (unfinished tasks have no date and are left out). */
  readonly since?: DateTime.Utc | undefined
  /** Only tasks done before this instant. */
  readonly until?: DateTime.Utc | undefined
  /** Only tasks run by exactly this worker. */
  readonly worker?: string | undefined
  /** Only tasks sent to exactly this queue. */
  readonly queue?: string | undefined
  /**
   * Only tasks whose result or traceback contains this text, case-sensitive.
   * The result is searched as stored: JSON text, or the strings inside a
   * Celery pickle (see `matchesText`).
   */
  readonly text?: string | undefined
  /** At most this many. */
  readonly limit?: number | undefined
}

/**
 * Counts for one task name (`null`: tasks stored without a name).
 *
 * @since 0.1.0
 * @category models
 */
export interface NameStats {
  readonly name: string | null
  readonly total: number
  readonly byState: Readonly<Record<string, number>>
  /** FAILURE among the finished (SUCCESS + FAILURE); `null` when none finished. */
  readonly failureRate: number | null
}

/**
 * How many tasks have one (state, name) pair, as a `GROUP BY` gives them;
 * `name` is `null` for tasks stored without one.
 *
 * @since 0.1.0
 * @category models
 */
export interface StateNameCount {
  readonly status: string
  readonly name: string | null
  readonly count: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stats {
  readonly tasks: number
  readonly groups: number
  readonly byState: Readonly<Record<string, number>>
  /** Most tasks first. */
  readonly byName: ReadonlyArray<NameStats>
  /** FAILURE among the finished (SUCCESS + FAILURE); `null` when none finished. */
  readonly failureRate: number | null
}

/**
 * What a cleanup run now would delete.
 *
 * @since 0.1.0
 * @category models
 */
export interface ExpiredCount {
  readonly tasks: number
  readonly groups: number
}

/**
 * One page of tasks, in `list` order, and where the next one starts.
 *
 * @since 0.1.0
 * @category models
 */
export interface PageQuery extends Filter {
  /** A previous page's `next`: the page starts after the record it points at. */
  readonly after?: string | undefined
  /** Records on the page (at least 1). */
  readonly limit: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Page<A> {
  readonly records: ReadonlyArray<A>
  /** Pass as `after` for the next page; `null` when this page is the last. */
  readonly next: string | null
}

/**
 * A page of groups, the most recently saved first.
 *
 * @since 0.1.0
 * @category models
 */
export interface GroupQuery {
  readonly after?: string | undefined
  readonly limit: number
}

/**
 * What a stats window asks for: the tasks finished in `[since, until)`
 * (by `dateDone`, so READY states only), counted per `bucketSeconds`.
 *
 * @since 0.1.0
 * @category models
 */
export interface WindowQuery {
  readonly since: DateTime.Utc
  readonly until: DateTime.Utc
  /** Bucket width in whole seconds (≥ 1). */
  readonly bucketSeconds: number
  /** How many of the most failing task names to give. Default 10. */
  readonly top?: number | undefined
}

/**
 * Counts of one bucket: the tasks finished in `[start, start + bucketSeconds)`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Bucket {
  readonly start: DateTime.Utc
  readonly byState: Readonly<Record<string, number>>
}

/**
 * A task name's failures in a window.
 *
 * @since 0.1.0
 * @category models
 */
export interface FailingName {
  readonly name: string | null
  readonly failures: number
  /** Tasks of the name finished in the window. */
  readonly total: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WindowStats {
  readonly since: DateTime.Utc
  readonly until: DateTime.Utc
  readonly bucketSeconds: number
  /** Finished in the window, by state. */
  readonly byState: Readonly<Record<string, number>>
  /** FAILURE among SUCCESS + FAILURE in the window; `null` when neither. */
  readonly failureRate: number | null
  /** Every bucket of the window, oldest first, empty ones included. */
  readonly buckets: ReadonlyArray<Bucket>
  /** Names with at least one FAILURE in the window, most failures first. */
  readonly topFailing: ReadonlyArray<FailingName>
}

/**
 * The whole store at a glance (what a metrics endpoint reports).
 *
 * @since 0.1.0
 * @category models
 */
export interface Summary {
  /** Every task, by state. */
  readonly byState: Readonly<Record<string, number>>
  /**
   * The unfinished task created first (UNREADY states; on stores with no
   * creation order, the one with the oldest stamp), with the time its row
   * carries if any (Celery stamps every write; taskmeta only READY ones).
   */
  readonly oldestUnfinished: {
    readonly taskId: string
    readonly status: string
    readonly stamped: DateTime.Utc | null
  } | null
}

/**
 * How a task's result is stored: `json` or Celery's `pickle` (decoded by the
 * safe decoder), its size in bytes; `null` fields when nothing is stored.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoredForm {
  readonly encoding: "json" | "pickle" | null
  readonly bytes: number | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface ChangesOptions {
  /** How often a store without push notifications is polled. Default 1 s. */
  readonly pollInterval?: Duration.DurationInput | undefined
}

/**
 * A query the store cannot answer as asked: a cursor from elsewhere, a
 * window that is empty or has too many buckets.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidQuery extends Schema.TaggedError<InvalidQuery>("@taskmeta/core/InvalidQuery")("InvalidQuery", {
  field: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.field} ${this.reason}`
  }
}

/**
 * Reading the store failed. `operation` names what was being done.
 *
 * @since 0.1.0
 * @category errors
 */
export class BrowseError extends Schema.TaggedError<BrowseError>("@taskmeta/core/BrowseError")("BrowseError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `could not ${this.operation}: ${causeMessage(this.cause)}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `memory`, `sqlite`, `postgres`, … */
  readonly kind: string
  /**
   * Tasks matching the filter, the most recently created first. A store that
   * keeps no creation order defines its own "newest" (ArangoDB: unfinished
   * first, then by `date_done`; see `ArangoBrowser`).
   */
  readonly list: (filter?: Filter) => Stream.Stream<TaskRecord.TaskRecord, BrowseError>
  /** Counts by state and by name. */
  readonly stats: Effect.Effect<Stats, BrowseError>
  /** Every task, oldest first, in pages. */
  readonly exportTasks: Stream.Stream<TaskRecord.TaskRecord, BrowseError>
  /** Every group, oldest first. */
  readonly exportGroups: Stream.Stream<GroupRecord.GroupRecord, BrowseError>
  /** What `ResultBackend.cleanup` would delete if it ran now (same rules). */
  readonly countExpired: Effect.Effect<ExpiredCount, BrowseError>
  /**
   * One page of `list`: the same order and filters, starting after
   * `query.after`. A page holds at most `limit` records and `next` is `null`
   * only when nothing follows. SQL pages by the table's `id` (keyset), so a
   * page costs the same however deep it is; memory by creation order;
   * ArangoDB by position.
   */
  readonly page: (query: PageQuery) => Effect.Effect<Page<TaskRecord.TaskRecord>, BrowseError | InvalidQuery>
  /** Groups, the most recently saved first, a page at a time. */
  readonly groups: (query: GroupQuery) => Effect.Effect<Page<GroupRecord.GroupRecord>, BrowseError | InvalidQuery>
  /** Counts over a window of time (see `WindowQuery`). */
  readonly window: (query: WindowQuery) => Effect.Effect<WindowStats, BrowseError | InvalidQuery>
  /** Counts by state over the whole store and its oldest unfinished task. */
  readonly summary: Effect.Effect<Summary, BrowseError>
  /** How a task's result is stored; `undefined` when no record is. */
  readonly storedForm: (taskId: string) => Effect.Effect<StoredForm | undefined, BrowseError>
  /**
   * Records as they are written from the moment the stream starts: each new
   * record, and each stored record whose state changes. Pushed where the
   * store can (memory: every write; PostgreSQL: READY writes through
   * LISTEN/NOTIFY), polled otherwise, so a change may come up to one poll
   * interval late. A record may come more than once; none written after
   * the start is missed, but a non-READY rewrite of a record the stream has
   * not seen unfinished may be (SQL and ArangoDB see new rows, rows that
   * became READY, and rows they saw unfinished).
   */
  readonly changes: (options?: ChangesOptions) => Stream.Stream<TaskRecord.TaskRecord, BrowseError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class ResultBrowser extends Context.Tag("@taskmeta/core/ResultBrowser")<ResultBrowser, Service>() {}

/**
 * The failure rate: FAILURE among the finished tasks (SUCCESS + FAILURE +
 * REVOKED: a revoked task finished without succeeding), `null` when none.
 *
 * @since 0.1.0
 * @category stats
 */
export const failureRate = (byState: Readonly<Record<string, number>>): number | null => {
  const failures = byState[TaskState.FAILURE] ?? 0
  const finished = failures + (byState[TaskState.SUCCESS] ?? 0) + (byState[TaskState.REVOKED] ?? 0)
  return finished === 0 ? null : failures / finished
}

/**
 * Builds `Stats` from counts per (state, name) pair.
 *
 * @since 0.1.0
 * @category stats
 */
export const statsFromCounts = (counts: Iterable<StateNameCount>, groups: number): Stats => {
  const byState: Record<string, number> = {}
  const names = new Map<string | null, { total: number; byState: Record<string, number> }>()
  let tasks = 0
  for (const { count, name, status } of counts) {
    tasks += count
    byState[status] = (byState[status] ?? 0) + count
    let entry = names.get(name)
    if (entry === undefined) {
      entry = { total: 0, byState: {} }
      names.set(name, entry)
    }
    entry.total += count
    entry.byState[status] = (entry.byState[status] ?? 0) + count
  }
  const byName = Array.from(names, ([name, entry]) => ({
    name,
    total: entry.total,
    byState: sortStates(entry.byState),
    failureRate: failureRate(entry.byState)
  })).sort((a, b) => b.total - a.total || String(a.name ?? "").localeCompare(String(b.name ?? "")))
  return { tasks, groups, byState: sortStates(byState), byName, failureRate: failureRate(byState) }
}

/** States in precedence order (SUCCESS first), custom ones by name. */
const sortStates = (counts: Record<string, number>): Record<string, number> => {
  const out: Record<string, number> = {}
  for (const state of Object.keys(counts).sort((a, b) => TaskState.precedence(a) - TaskState.precedence(b) || a.localeCompare(b))) {
    out[state] = counts[state]
  }
  return out
}

/**
 * The most buckets a window may have.
 *
 * @since 0.1.0
 * @category stats
 */
export const MAX_BUCKETS = 1440

/**
 * What is wrong with a window, if anything: `since` before `until`, a whole
 * number of seconds per bucket, at most `MAX_BUCKETS` buckets.
 *
 * @since 0.1.0
 * @category stats
 */
export const windowIssue = (query: WindowQuery): InvalidQuery | undefined => {
  if (!Number.isSafeInteger(query.bucketSeconds) || query.bucketSeconds < 1) {
    return new InvalidQuery({ field: "bucket", reason: "must be a whole number of seconds, at least 1" })
  }
  const span = DateTime.toEpochMillis(query.until) - DateTime.toEpochMillis(query.since)
  if (span <= 0) return new InvalidQuery({ field: "since", reason: "must be before until" })
  if (Math.ceil(span / (query.bucketSeconds * 1000)) > MAX_BUCKETS) {
    return new InvalidQuery({ field: "bucket", reason: `gives more than ${MAX_BUCKETS} buckets over the window` })
  }
  return undefined
}

/**
 * The bucket a finished task falls in: whole buckets since the epoch.
 *
 * @since 0.1.0
 * @category stats
 */
export const bucketOf = (instant: DateTime.Utc, bucketSeconds: number): number =>
  Math.floor(DateTime.toEpochMillis(instant) / 1000 / bucketSeconds)

/**
 * Finished tasks counted per (bucket, state), where `bucket` is
 * `bucketOf(dateDone)`.
 *
 * @since 0.1.0
 * @category stats
 */
export interface BucketCount {
  readonly bucket: number
  readonly status: string
  readonly count: number
}

/**
 * Builds `WindowStats` from the window's counts per (bucket, state) and per
 * (state, name): every bucket of the window (empty ones too), the counts by
 * state, the failure rate and the `top` most failing names.
 *
 * @since 0.1.0
 * @category stats
 */
export const windowFromCounts = (
  query: WindowQuery,
  buckets: Iterable<BucketCount>,
  names: Iterable<StateNameCount>
): WindowStats => {
  const width = query.bucketSeconds
  const first = Math.floor(DateTime.toEpochMillis(query.since) / 1000 / width)
  const last = Math.ceil(DateTime.toEpochMillis(query.until) / 1000 / width) - 1
  const perBucket = new Map<number, Record<string, number>>()
  const byState: Record<string, number> = {}
  for (const { bucket, count, status } of buckets) {
    if (count <= 0) continue
    byState[status] = (byState[status] ?? 0) + count
    let states = perBucket.get(bucket)
    if (states === undefined) perBucket.set(bucket, states = {})
    states[status] = (states[status] ?? 0) + count
  }
  const perName = new Map<string | null, { failures: number; total: number }>()
  for (const { count, name, status } of names) {
    let entry = perName.get(name)
    if (entry === undefined) perName.set(name, entry = { failures: 0, total: 0 })
    entry.total += count
    if (status === TaskState.FAILURE) entry.failures += count
  }
  const out: Array<Bucket> = []
  for (let b = first; b <= last; b++) {
    out.push({ start: DateTime.unsafeMake(b * width * 1000), byState: sortStates(perBucket.get(b) ?? {}) })
  }
  const topFailing = Array.from(perName, ([name, e]) => ({ name, failures: e.failures, total: e.total }))
    .filter((e) => e.failures > 0)
    .sort((a, b) => b.failures - a.failures || String(a.name ?? "").localeCompare(String(b.name ?? "")))
    .slice(0, Math.max(0, query.top ?? 10))
  return {
    since: query.since,
    until: query.until,
    bucketSeconds: width,
    byState: sortStates(byState),
    failureRate: failureRate(byState),
    buckets: out,
    topFailing
  }
}

/**
 * Whether a record's result (as JSON text) or traceback contains `text`:
 * what the memory browser searches. SQL stores search the stored bytes,
 * which for JSON results is the same text.
 *
 * @since 0.1.0
 * @category filtering
 */
export const matchesText = (record: TaskRecord.TaskRecord, text: string): boolean =>
  (record.traceback !== null && record.traceback.includes(text)) ||
  (record.result !== null && Json.stringify(record.result).includes(text))

/**
 * Whether a record passes a filter (limit aside): what the memory browser
 * applies, and what other stores apply to the fields they cannot query.
 *
 * @since 0.1.0
 * @category filtering
 */
export const matches = (filter: Filter, record: TaskRecord.TaskRecord): boolean => {
  if (filter.states !== undefined && filter.states.length > 0 && !filter.states.includes(record.status)) return false
  if (filter.name !== undefined && record.name !== filter.name) return false
  if (filter.worker !== undefined && record.worker !== filter.worker) return false
  if (filter.queue !== undefined && record.queue !== filter.queue) return false
  if (filter.since !== undefined || filter.until !== undefined) {
    if (record.dateDone === null) return false
    if (filter.since !== undefined && UtcTime.Order(record.dateDone, filter.since) < 0) return false
    if (filter.until !== undefined && UtcTime.Order(record.dateDone, filter.until) >= 0) return false
  }
  if (filter.text !== undefined && filter.text !== "" && !matchesText(record, filter.text)) return false
  return true
}

/**
 * Counts by state in precedence order (SUCCESS first), custom states by name.
 *
 * @since 0.1.0
 * @category stats
 */
export const orderStates = (counts: Readonly<Record<string, number>>): Record<string, number> => sortStates(counts)

/**
 * The fields of a record that a change of it changes: what `changes`
 * compares to tell a new version from one it has already given.
 *
 * @since 0.1.0
 * @category changes
 */
export const versionOf = (record: TaskRecord.TaskRecord): string =>
  `${record.status}\u0000${record.dateDone === null ? "" : DateTime.toEpochMillis(record.dateDone)}\u0000${record.retries ?? ""}`
