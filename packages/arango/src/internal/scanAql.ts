/**
 * The AQL `ArangoScan` sends to read a result collection as a whole: list,
 * export, counts, the count of what a cleanup would remove, and the pipeline
 * ids. As in `aql.ts`, values and the collection are always bind variables
 * (`@@collection`); the only variation in the text is which fixed `FILTER`
 * lines a list includes, chosen by which filters are set.
 *
 * "Newest" for a document: there is no creation sequence in a collection
 * (`_key` is the task id), so records are ordered by `date_done` (READY
 * records only, compared as instants with `DATE_TIMESTAMP`, as cleanup does),
 * ties by `_key`. Records without such a date (not finished, or a date the
 * server cannot read) count as newer than every finished one.
 */
import { expiredGroups, expiredTasks, META } from "./aql.js"

/** The instant a task finished, or `null` (as `ArangoDocument.decodeTask` reports `dateDone`: READY only). */
const DONE = "LET done = meta.status IN @ready && IS_STRING(meta.date_done) ? DATE_TIMESTAMP(meta.date_done) : null"

/** Which filters a list query has; each adds one fixed `FILTER` line and its bind variable. */
export interface TaskFilters {
  readonly states: boolean
  readonly name: boolean
  readonly since: boolean
  readonly until: boolean
  readonly limit: boolean
}

/** No filter: the export. */
export const NO_FILTERS: TaskFilters = { states: false, name: false, since: false, until: false, limit: false }

/**
 * Task documents (`@prefix`: global prefix + `celery-task-meta-`) as
 * `[_key, task]` pairs. `newest`: unfinished first, then by `date_done`
 * descending, then `_key` descending (the list); `oldest`: the exact reverse
 * (the export). Filters: `@states` (any of), `@name` (exactly), `@since`
 * (done at or after, epoch millis), `@until` (done before), `@limit`. A time
 * filter leaves out records without a date.
 */
export const tasks = (order: "newest" | "oldest", filters: TaskFilters): string =>
  [
    "FOR doc IN @@collection",
    "  FILTER STARTS_WITH(doc._key, @prefix)",
    `  LET meta = ${META("doc")}`,
    `  ${DONE}`,
    ...(filters.states ? ["  FILTER meta.status IN @states"] : []),
    ...(filters.name ? ["  FILTER meta.name == @name"] : []),
    ...(filters.since ? ["  FILTER done != null && done >= @since"] : []),
    ...(filters.until ? ["  FILTER done != null && done < @until"] : []),
    order === "newest"
      ? "  SORT done == null DESC, done DESC, doc._key DESC"
      : "  SORT done == null, done, doc._key",
    ...(filters.limit ? ["  LIMIT @limit"] : []),
    "  RETURN [doc._key, doc.task]"
  ].join("\n")

/**
 * Group documents (`@prefix`: global prefix + `celery-taskset-meta-`) as
 * `[_key, task]` pairs, oldest first: by `date_done` (groups Celery saved have
 * none and come first, as they read as the epoch), then `_key`.
 */
export const groups = [
  "FOR doc IN @@collection",
  "  FILTER STARTS_WITH(doc._key, @prefix)",
  `  LET meta = ${META("doc")}`,
  "  LET done = IS_OBJECT(meta) && IS_STRING(meta.date_done) ? DATE_TIMESTAMP(meta.date_done) : null",
  "  SORT done, doc._key",
  "  RETURN [doc._key, doc.task]"
].join("\n")

/**
 * Counts in one query: tasks per (status, name) — documents whose `task` is
 * not an object with a status are not counted — and the number of groups.
 */
export const counts = [
  "LET tasks = (",
  "  FOR doc IN @@collection",
  "    FILTER STARTS_WITH(doc._key, @taskPrefix)",
  `    LET meta = ${META("doc")}`,
  "    FILTER IS_OBJECT(meta) && IS_STRING(meta.status) && meta.status != \"\"",
  "    COLLECT status = meta.status, name = (IS_STRING(meta.name) ? meta.name : null) WITH COUNT INTO n",
  "    RETURN { status: status, name: name, n: n }",
  ")",
  "LET groups = (",
  "  FOR doc IN @@collection",
  "    FILTER STARTS_WITH(doc._key, @groupPrefix)",
  "    COLLECT WITH COUNT INTO n",
  "    RETURN n",
  ")",
  "RETURN { tasks: tasks, groups: FIRST(groups) }"
].join("\n")

/** How many task documents one cleanup rule would remove: cleanup's own filter (`aql.expiredTasks`), counted. */
export const countExpiredTasks = [...expiredTasks, "  COLLECT WITH COUNT INTO n", "  RETURN n"].join("\n")

/** How many group documents cleanup would remove: cleanup's own filter (`aql.expiredGroups`), counted. */
export const countExpiredGroups = [...expiredGroups, "  COLLECT WITH COUNT INTO n", "  RETURN n"].join("\n")

/** The distinct `pipelineId`s of a pipeline executions collection (index `[pipelineId, created]`). */
export const pipelineIds = [
  "FOR d IN @@collection",
  "  FILTER IS_STRING(d.pipelineId)",
  "  COLLECT pipelineId = d.pipelineId",
  "  RETURN pipelineId"
].join("\n")
