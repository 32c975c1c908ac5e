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
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Stream from "effect/Stream"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { causeMessage } from "./BackendError.js"

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
