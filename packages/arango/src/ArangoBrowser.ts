/**
 * The `ResultBrowser` over an ArangoDB result collection (Celery's document
 * layout), as an adapter over `ArangoScan`, which runs the AQL.
 *
 * - `list` is newest first, where "newest" for documents (which have no
 *   creation sequence) means: records not finished first, then by
 *   `date_done` descending, ties by `_key` descending. `exportTasks` is the
 *   exact reverse, `exportGroups` is by `date_done` then `_key`.
 * - Lists and exports stream through an AQL cursor in batches; documents are
 *   decoded by the backend's own codec (`ArangoDocument`): both stored forms,
 *   big integers exact in the text form.
 * - `countExpired` uses cleanup's own filter and the `ResultBackend`'s
 *   options, so it counts what `cleanup` would delete.
 * - The scan opens its own connection to the server the backend uses
 *   (arangojs connections are HTTP; nothing is held open between requests).
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { DriverError } from "@taskmeta/core/BackendError"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as ChangeFeed from "@taskmeta/core/ChangeFeed"
import * as Json from "@taskmeta/schema/Json"
import * as TaskState from "@taskmeta/schema/TaskState"
import type * as ArangoConfig from "./ArangoConfig.js"
import * as ArangoScan from "./ArangoScan.js"

const browseError = (operation: string) => (e: DriverError) =>
  new ResultBrowser.BrowseError({ operation, cause: e.cause })

/** Whether a filter asks for what the AQL does not filter on (then it is applied here). */
const filtersHere = (filter: ResultBrowser.Filter): boolean =>
  filter.worker !== undefined || filter.queue !== undefined || (filter.text !== undefined && filter.text !== "")

/** `list`: the AQL filters what it can; worker, queue and text are applied to the stream. */
const listTasks = (scan: ArangoScan.ArangoScan, filter: ResultBrowser.Filter) => {
  if (!filtersHere(filter)) return Stream.mapError(scan.listTasks(filter), browseError("list tasks"))
  const { limit, queue: _queue, text: _text, worker: _worker, ...pushed } = filter
  const matched = Stream.filter(
    Stream.mapError(scan.listTasks(pushed), browseError("list tasks")),
    (record) => ResultBrowser.matches(filter, record)
  )
  return limit === undefined ? matched : Stream.take(matched, Math.max(0, Math.floor(limit)))
}

/** Reads a position cursor (ArangoDB keeps no creation sequence to page by). */
const position = (after: string | undefined) => {
  if (after === undefined) return Effect.succeed(0)
  const n = Number(after)
  return /^[0-9]{1,15}$/.test(after) && Number.isSafeInteger(n)
    ? Effect.succeed(n)
    : Effect.fail(new ResultBrowser.InvalidQuery({ field: "cursor", reason: "is not a cursor of this store" }))
}

/** Records at positions `[from, from + limit)` of a stream, and the cursor after them. */
const slice = <A>(stream: Stream.Stream<A, ResultBrowser.BrowseError>, from: number, limit: number) =>
  Effect.map(Stream.runCollect(Stream.take(Stream.drop(stream, from), Math.max(1, limit) + 1)), (chunk) => {
    const all = Chunk.toReadonlyArray(chunk)
    const records = all.slice(0, Math.max(1, limit))
    return { records, next: all.length > records.length ? String(from + records.length) : null }
  })

/** How far back a poll looks for documents made READY (writers' clocks may lag). */
const FEED_SLACK = Duration.seconds(2)

/**
 * The browser over a scan, next to `backend` (over the same collection):
 * its options say what `countExpired` counts, and it reads records by id.
 *
 * Pages are by position in `list` order (documents have no creation
 * sequence), so a page deep in a large collection costs the scan up to it;
 * windows, summaries and the change feed (polled: new unfinished documents
 * and documents made READY since the last poll) also read the documents
 * through the scan. Worker, queue and text filters are applied to the
 * scanned stream.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromScan = (
  scan: ArangoScan.ArangoScan,
  backend: Pick<ResultBackend.Service, "options" | "getMany">
): ResultBrowser.Service => {
  const readMany = (ids: ReadonlyArray<string>) =>
    Effect.map(
      Effect.mapError(backend.getMany(ids), (cause) => new ResultBrowser.BrowseError({ operation: "read tasks", cause })),
      (records) => records.map((r) => ChangeFeed.isUnknown(r) ? undefined : r)
    )
  const all = <A>(stream: Stream.Stream<A, ResultBrowser.BrowseError>) =>
    Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)
  return {
    kind: "arango",
    list: (filter = {}) => listTasks(scan, filter),
    stats: Effect.map(
      Effect.mapError(scan.counts, browseError("count tasks")),
      (counts) => ResultBrowser.statsFromCounts(counts.tasks, counts.groups)
    ).pipe(Effect.withSpan("ResultBrowser.stats")),
    exportTasks: Stream.mapError(scan.exportTasks, browseError("export tasks")),
    exportGroups: Stream.mapError(scan.exportGroups, browseError("export groups")),
    countExpired: Effect.mapError(scan.countExpired(backend.options), browseError("count expired records")).pipe(
      Effect.withSpan("ResultBrowser.countExpired")
    ),
    page: (query) =>
      Effect.flatMap(position(query.after), (from) => {
        const { after: _after, limit, ...filter } = query
        return slice(listTasks(scan, filter), from, limit)
      }).pipe(Effect.withSpan("ResultBrowser.page")),
    groups: (query) =>
      Effect.flatMap(position(query.after), (from) =>
        Effect.flatMap(all(Stream.mapError(scan.exportGroups, browseError("list groups"))), (groups) =>
          slice(Stream.fromIterable([...groups].reverse()), from, query.limit))).pipe(
          Effect.withSpan("ResultBrowser.groups")
        ),
    window: (query) =>
      Effect.gen(function*() {
        const issue = ResultBrowser.windowIssue(query)
        if (issue !== undefined) return yield* issue
        const records = yield* all(listTasks(scan, { since: query.since, until: query.until }))
        return ResultBrowser.windowFromCounts(
          query,
          records.map((r) => ({ bucket: ResultBrowser.bucketOf(r.dateDone!, query.bucketSeconds), status: r.status, count: 1 })),
          records.map((r) => ({ status: r.status, name: r.name, count: 1 }))
        )
      }).pipe(Effect.withSpan("ResultBrowser.window")),
    summary: Effect.gen(function*() {
      const counts = yield* Effect.mapError(scan.counts, browseError("count tasks"))
      const byState: Record<string, number> = {}
      for (const c of counts.tasks) byState[c.status] = (byState[c.status] ?? 0) + c.count
      // Unfinished documents come first, newest first: the last of them is the oldest.
      const unfinished = yield* all(listTasks(scan, { states: Array.from(TaskState.UNREADY_STATES) }))
      const oldest = unfinished[unfinished.length - 1]
      return {
        byState: ResultBrowser.orderStates(byState),
        oldestUnfinished: oldest === undefined ? null : { taskId: oldest.taskId, status: oldest.status, stamped: null }
      }
    }).pipe(Effect.withSpan("ResultBrowser.summary")),
    storedForm: (taskId) =>
      Effect.map(readMany([taskId]), ([record]): ResultBrowser.StoredForm | undefined =>
        record === undefined
          ? undefined
          : record.result === null
          ? { encoding: null, bytes: null }
          : { encoding: "json", bytes: new TextEncoder().encode(Json.stringify(record.result)).length }),
    changes: (options) =>
      ChangeFeed.make<DateTime.Utc>({
        start: DateTime.now,
        poll: (lastPoll) =>
          Effect.gen(function*() {
            const now = yield* DateTime.now
            const done = yield* all(listTasks(scan, { since: DateTime.subtractDuration(lastPoll, FEED_SLACK), limit: 1000 }))
            const unfinished = yield* all(listTasks(scan, { states: Array.from(TaskState.UNREADY_STATES), limit: 1000 }))
            return [[...unfinished, ...done], now] as const
          }),
        read: readMany,
        interval: options?.pollInterval ?? "1 second"
      })
  }
}

/**
 * Opens the scan for the settings and builds the browser with the options of
 * the `ResultBackend` in context (which should be over the same collection).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: ArangoConfig.Input,
  options: ArangoScan.Options = {}
): Effect.Effect<
  ResultBrowser.Service,
  ArangoConfig.ArangoConfigError,
  ResultBackend.ResultBackend | Scope.Scope
> =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const scan = yield* ArangoScan.make(input, options)
    return fromScan(scan, backend)
  })

/**
 * The browser for the settings, next to the `ResultBackend` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: ArangoConfig.Input,
  options: ArangoScan.Options = {}
): Layer.Layer<ResultBrowser.ResultBrowser, ArangoConfig.ArangoConfigError, ResultBackend.ResultBackend> =>
  Layer.scoped(ResultBrowser.ResultBrowser, make(input, options))
