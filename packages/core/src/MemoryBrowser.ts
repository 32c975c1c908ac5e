/**
 * The in-memory `ResultBackend` with a `ResultBrowser` over the same
 * storage. The memory driver keeps its maps to itself, so the browser wraps
 * the driver and remembers the ids written through it, in creation order;
 * reads go through the driver and ids it no longer holds (forgotten,
 * expired) are dropped on the way.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import type { BackendDriver } from "./BackendDriver.js"
import type { DriverError } from "./BackendError.js"
import * as BackendOptions from "./BackendOptions.js"
import * as ChangeFeed from "./ChangeFeed.js"
import * as MemoryBackend from "./MemoryBackend.js"
import * as ResultBackend from "./ResultBackend.js"
import * as ResultBrowser from "./ResultBrowser.js"
import * as UtcTime from "@taskmeta/schema/UtcTime"

/**
 * Whether a record passes a filter (limit aside); see `ResultBrowser.matches`.
 *
 * @since 0.1.0
 * @category filtering
 */
export const matches: (filter: ResultBrowser.Filter, record: TaskRecord.TaskRecord) => boolean = ResultBrowser.matches

/**
 * Wraps a driver so that the ids written through it can be enumerated, and
 * builds the browser over it.
 *
 * @since 0.1.0
 * @category constructors
 */
export const track = (
  inner: BackendDriver,
  options: BackendOptions.BackendOptions
): { readonly driver: BackendDriver; readonly browser: ResultBrowser.Service } => {
  // Ids in creation order, each with its sequence number (the page cursor).
  const taskIds = new Map<string, number>()
  const groupIds = new Map<string, number>()
  let sequence = 0

  const innerPutGroups = inner.putGroups
  // The fields are listed, not spread: anything else the inner driver has
  // (a shortcut around `put`) would write without being tracked.
  const driver: BackendDriver = {
    kind: inner.kind,
    put: (record) =>
      Effect.tap(inner.put(record), (written) => {
        if (written && !taskIds.has(record.taskId)) taskIds.set(record.taskId, ++sequence)
      }),
    getMany: inner.getMany,
    remove: (id) => Effect.tap(inner.remove(id), () => void taskIds.delete(id)),
    putGroup: (group) =>
      Effect.tap(inner.putGroup(group), () => {
        // Saving a group again replaces it: it moves to the end, as a new row would.
        groupIds.delete(group.groupId)
        groupIds.set(group.groupId, ++sequence)
      }),
    getGroup: inner.getGroup,
    getGroups: inner.getGroups,
    putGroups: innerPutGroups === undefined ? undefined : (groups) =>
      Effect.tap(innerPutGroups(groups), () => {
        for (const group of groups) {
          groupIds.delete(group.groupId)
          groupIds.set(group.groupId, ++sequence)
        }
      }),
    removeGroup: (id) => Effect.tap(inner.removeGroup(id), () => void groupIds.delete(id)),
    cleanupTasks: inner.cleanupTasks,
    cleanupGroups: inner.cleanupGroups,
    subscribe: inner.subscribe,
    minPollInterval: inner.minPollInterval,
    cleanupSlice: inner.cleanupSlice,
    isTransient: inner.isTransient,
    onRetryableError: inner.onRetryableError
  }

  const browseError = (operation: string) => (e: DriverError) =>
    new ResultBrowser.BrowseError({ operation, cause: e.cause })

  const cursor = (text: string) => {
    const n = Number(text)
    return /^[0-9]{1,15}$/.test(text) && Number.isSafeInteger(n)
      ? Effect.succeed(n)
      : Effect.fail(new ResultBrowser.InvalidQuery({ field: "cursor", reason: "is not a cursor of this store" }))
  }

  /** The stored records for the tracked ids, oldest first; prunes ids no longer stored. */
  const allTasks = (operation: string) =>
    Effect.map(
      Effect.mapError(Effect.suspend(() => inner.getMany(Array.from(taskIds.keys()))), browseError(operation)),
      (found) => {
        const out: Array<TaskRecord.TaskRecord> = []
        for (const record of found) if (record !== undefined) out.push(record)
        if (out.length !== taskIds.size) {
          const kept = new Set(out.map((r) => r.taskId))
          for (const id of Array.from(taskIds.keys())) if (!kept.has(id)) taskIds.delete(id)
        }
        return out
      }
    )

  const allGroups = (operation: string) =>
    Effect.gen(function*() {
      const out: Array<GroupRecord.GroupRecord> = []
      for (const id of Array.from(groupIds.keys())) {
        const group = yield* Effect.mapError(inner.getGroup(id), browseError(operation))
        if (Option.isSome(group)) out.push(group.value)
        else groupIds.delete(id)
      }
      return out
    })

  const browser: ResultBrowser.Service = {
    kind: inner.kind,
    list: (filter = {}) =>
      Stream.unwrap(Effect.map(allTasks("list tasks"), (records) => {
        const picked: Array<TaskRecord.TaskRecord> = []
        for (let i = records.length - 1; i >= 0; i--) {
          if (filter.limit !== undefined && picked.length >= filter.limit) break
          if (matches(filter, records[i])) picked.push(records[i])
        }
        return Stream.fromChunk(Chunk.unsafeFromArray(picked))
      })),
    stats: Effect.gen(function*() {
      const records = yield* allTasks("count tasks")
      const groups = yield* allGroups("count groups")
      return ResultBrowser.statsFromCounts(
        records.map((r) => ({ status: r.status, name: r.name, count: 1 })),
        groups.length
      )
    }),
    exportTasks: Stream.unwrap(
      Effect.map(allTasks("export tasks"), (records) => Stream.fromChunk(Chunk.unsafeFromArray(records)))
    ),
    exportGroups: Stream.unwrap(
      Effect.map(allGroups("export groups"), (groups) => Stream.fromChunk(Chunk.unsafeFromArray(groups)))
    ),
    countExpired: Effect.gen(function*() {
      const now = yield* DateTime.now
      const rules = ResultBackend.cleanupRules(options, now)
      const records = yield* allTasks("count expired tasks")
      const tasks = records.filter((r) => rules.some((rule) => MemoryBackend.matchesRule(rule, r))).length
      let groups = 0
      if (options.resultExpires !== null) {
        const before = DateTime.subtractDuration(now, options.resultExpires)
        groups = (yield* allGroups("count expired groups")).filter((g) => UtcTime.Order(g.dateDone, before) < 0).length
      }
      return { tasks, groups }
    }),
    page: (query) =>
      Effect.gen(function*() {
        const after = query.after === undefined ? undefined : yield* cursor(query.after)
        const records = yield* allTasks("list tasks")
        const picked: Array<TaskRecord.TaskRecord> = []
        let next: string | null = null
        for (let i = records.length - 1; i >= 0; i--) {
          const seq = taskIds.get(records[i].taskId) ?? 0
          if (after !== undefined && seq >= after) continue
          if (!matches(query, records[i])) continue
          if (picked.length === Math.max(1, query.limit)) {
            next = String(taskIds.get(picked[picked.length - 1].taskId))
            break
          }
          picked.push(records[i])
        }
        return { records: picked, next }
      }),
    groups: (query) =>
      Effect.gen(function*() {
        const after = query.after === undefined ? undefined : yield* cursor(query.after)
        const all = (yield* allGroups("list groups")).reverse()
        const from = after === undefined ? all : all.filter((g) => (groupIds.get(g.groupId) ?? 0) < after)
        const records = from.slice(0, Math.max(1, query.limit))
        const next = from.length > records.length ? String(groupIds.get(records[records.length - 1].groupId)) : null
        return { records, next }
      }),
    window: (query) =>
      Effect.gen(function*() {
        const issue = ResultBrowser.windowIssue(query)
        if (issue !== undefined) return yield* issue
        const records = (yield* allTasks("count tasks")).filter((r) =>
          matches({ since: query.since, until: query.until }, r)
        )
        return ResultBrowser.windowFromCounts(
          query,
          records.map((r) => ({ bucket: ResultBrowser.bucketOf(r.dateDone!, query.bucketSeconds), status: r.status, count: 1 })),
          records.map((r) => ({ status: r.status, name: r.name, count: 1 }))
        )
      }),
    summary: Effect.map(allTasks("count tasks"), (records) => {
      const byState: Record<string, number> = {}
      for (const r of records) byState[r.status] = (byState[r.status] ?? 0) + 1
      const oldest = records.find((r) => TaskState.isUnready(r.status))
      return {
        byState: ResultBrowser.orderStates(byState),
        oldestUnfinished: oldest === undefined ? null : { taskId: oldest.taskId, status: oldest.status, stamped: null }
      }
    }),
    storedForm: (taskId) =>
      Effect.map(
        Effect.mapError(inner.getMany([taskId]), browseError("read a task")),
        ([record]): ResultBrowser.StoredForm | undefined =>
          record === undefined
            ? undefined
            : record.result === null
            ? { encoding: null, bytes: null }
            : { encoding: "json", bytes: new TextEncoder().encode(Json.stringify(record.result)).length }
      ),
    // Every write is pushed (the memory driver publishes each); nothing to poll.
    changes: (changesOptions) =>
      ChangeFeed.make({
        start: Effect.void,
        poll: () => Effect.succeed([[], undefined] as const),
        read: (ids) => Effect.mapError(inner.getMany(ids), browseError("read changed tasks")),
        push: inner.subscribe,
        interval: changesOptions?.pollInterval ?? "1 second"
      })
  }
  return { driver, browser }
}

/**
 * Builds both services over fresh, empty memory.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: BackendOptions.Input = {}) =>
  Effect.gen(function*() {
    const options = BackendOptions.make(input)
    const { browser, driver } = track(yield* MemoryBackend.makeDriver, options)
    const backend = yield* ResultBackend.make(driver, options)
    return { backend, browser }
  })

/**
 * A `ResultBackend` and a `ResultBrowser` over one fresh memory store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: BackendOptions.Input = {}
): Layer.Layer<ResultBackend.ResultBackend | ResultBrowser.ResultBrowser> =>
  Layer.effectContext(
    Effect.map(make(input), ({ backend, browser }) =>
      Context.make(ResultBackend.ResultBackend, backend).pipe(
        Context.add(ResultBrowser.ResultBrowser, browser)
      ))
  )
