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
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import type { BackendDriver } from "./BackendDriver.js"
import type { DriverError } from "./BackendError.js"
import * as BackendOptions from "./BackendOptions.js"
import * as MemoryBackend from "./MemoryBackend.js"
import * as ResultBackend from "./ResultBackend.js"
import * as ResultBrowser from "./ResultBrowser.js"
import * as UtcTime from "@taskmeta/schema/UtcTime"

/**
 * Whether a record passes a filter (limit aside).
 *
 * @since 0.1.0
 * @category filtering
 */
export const matches = (filter: ResultBrowser.Filter, record: TaskRecord.TaskRecord): boolean => {
  if (filter.states !== undefined && filter.states.length > 0 && !filter.states.includes(record.status)) return false
  if (filter.name !== undefined && record.name !== filter.name) return false
  if (filter.since !== undefined || filter.until !== undefined) {
    if (record.dateDone === null) return false
    if (filter.since !== undefined && UtcTime.Order(record.dateDone, filter.since) < 0) return false
    if (filter.until !== undefined && UtcTime.Order(record.dateDone, filter.until) >= 0) return false
  }
  return true
}

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
  const taskIds = new Set<string>()
  const groupIds = new Set<string>()

  // The fields are listed, not spread: anything else the inner driver has
  // (a shortcut around `put`) would write without being tracked.
  const driver: BackendDriver = {
    kind: inner.kind,
    put: (record) =>
      Effect.tap(inner.put(record), (written) => {
        if (written) taskIds.add(record.taskId)
      }),
    getMany: inner.getMany,
    remove: (id) => Effect.tap(inner.remove(id), () => void taskIds.delete(id)),
    putGroup: (group) => Effect.tap(inner.putGroup(group), () => void groupIds.add(group.groupId)),
    getGroup: inner.getGroup,
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

  /** The stored records for the tracked ids, oldest first; prunes ids no longer stored. */
  const allTasks = (operation: string) =>
    Effect.map(
      Effect.mapError(Effect.suspend(() => inner.getMany(Array.from(taskIds))), browseError(operation)),
      (found) => {
        const out: Array<TaskRecord.TaskRecord> = []
        for (const record of found) if (record !== undefined) out.push(record)
        if (out.length !== taskIds.size) {
          taskIds.clear()
          for (const record of out) taskIds.add(record.taskId)
        }
        return out
      }
    )

  const allGroups = (operation: string) =>
    Effect.gen(function*() {
      const out: Array<GroupRecord.GroupRecord> = []
      for (const id of Array.from(groupIds)) {
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
