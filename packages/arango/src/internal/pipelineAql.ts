/**
 * Every AQL statement the ArangoDB `PipelineStore` sends. Values, attribute
 * names and collections are always bind variables (`@@collection`,
 * `d.@field`); nothing a caller supplies is ever spliced into query text.
 *
 * Single-collection statements take the collection as `@@collection`, so one
 * text serves every record kind; the cleanup, which touches all four, names
 * them `@@executions`, `@@pipelineResults`, `@@taskExecutions`,
 * `@@taskResults`.
 */

/**
 * Inserts a run's execution document unless one with the key is stored.
 * Returns `[true]` when it inserted, `[]` when the run exists. The read comes
 * before the write (AQL forbids the other order), and two builds racing on
 * one key collide on the key itself (1200/1210), which the store retries.
 */
export const insertExecution = [
  "LET found = (FOR d IN @@collection FILTER d._key == @key LIMIT 1 RETURN true)",
  "FILTER LENGTH(found) == 0",
  "INSERT @doc INTO @@collection",
  "RETURN true"
].join("\n")

/** Inserts a chunk of documents of one kind; a key already used fails the statement (1210). */
export const insertMany = [
  "FOR doc IN @docs",
  "INSERT doc INTO @@collection"
].join("\n")

/** Reads one document by key (any kind). */
export const getOne = [
  "FOR d IN @@collection",
  "FILTER d._key == @key",
  "LIMIT 1",
  "RETURN d"
].join("\n")

/** A pipeline's runs, oldest first (index `[pipelineId, created]`). */
export const listExecutions = [
  "FOR d IN @@collection",
  "FILTER d.pipelineId == @pipelineId",
  "SORT d.created, d.runId",
  "RETURN d"
].join("\n")

/**
 * The records of a run or of one parent: `@field` is `runId`,
 * `pipelineResultId` or `taskExecutionId`, `@order` is `ordinal` (tree order
 * within the run) or `index` (position within the parent). With `statuses`,
 * only those statuses (`@statuses`).
 */
export const list = (statuses: boolean): string =>
  [
    "FOR d IN @@collection",
    "FILTER d.@field == @id",
    ...(statuses ? ["FILTER d.status IN @statuses"] : []),
    "SORT d.@order",
    "RETURN d"
  ].join("\n")

/**
 * Reads what a propagation needs of a record, and its revision (so the
 * update that follows is conditional on it). Inside a stream transaction.
 */
export const lock = [
  "FOR d IN @@collection",
  "FILTER d._key == @key",
  "LIMIT 1",
  "RETURN { status: d.status, tally: d.tally, rev: d._rev, runId: d.runId, " +
  "pipelineResultId: d.pipelineResultId, taskExecutionId: d.taskExecutionId }"
].join("\n")

/**
 * Patches a record read by `lock`, only if it still has the revision `lock`
 * read (`ignoreRevs: false`): a concurrent change fails the statement with
 * a write-write conflict (1200), which retries the whole report.
 */
export const updateAt = [
  "UPDATE { _key: @key, _rev: @rev } WITH @patch IN @@collection",
  "OPTIONS { ignoreRevs: false, mergeObjects: false }"
].join("\n")

/** Patches a record by key (an `update` without a `lock` before it). */
export const update = [
  "UPDATE { _key: @key } WITH @patch IN @@collection",
  "OPTIONS { mergeObjects: false }"
].join("\n")

/**
 * The advance rule in one statement: patches the record only when its
 * status is one of `@from`, and returns its status before and its parent
 * ids. `[]` when the record is missing or not in `@from`. The update is
 * conditional on the revision the filter read (`UPDATE d` carries `d._rev`,
 * `ignoreRevs: false`), so a status decided on a stale read fails with a
 * write-write conflict (1200) instead of being applied twice.
 */
export const advance = [
  "FOR d IN @@collection",
  "FILTER d._key == @key && d.status IN @from",
  "UPDATE d WITH @patch IN @@collection",
  "OPTIONS { ignoreRevs: false, mergeObjects: false }",
  "RETURN { previous: OLD.status, rev: NEW._rev, runId: OLD.runId, " +
  "pipelineResultId: OLD.pipelineResultId, taskExecutionId: OLD.taskExecutionId }"
].join("\n")

/**
 * A pipeline's digest in one query over its executions (index
 * `[pipelineId, created]`). Times are epoch milliseconds.
 */
export const digest = [
  "LET runs = (",
  "  FOR d IN @@collection",
  "    FILTER d.pipelineId == @pipelineId",
  "    RETURN {",
  "      status: d.status,",
  "      ran: d.started != null ? d.started : d.created,",
  "      runtime: d.started != null && d.completed != null ? d.completed - d.started : null",
  "    }",
  ")",
  "LET timed = runs[* FILTER CURRENT.runtime != null].runtime",
  "RETURN {",
  "  total: LENGTH(runs),",
  "  successes: LENGTH(runs[* FILTER CURRENT.status == @done]),",
  "  failures: LENGTH(runs[* FILTER CURRENT.status IN @failures]),",
  "  lastRan: LENGTH(runs) == 0 ? null : MAX(runs[*].ran),",
  "  averageMs: LENGTH(timed) == 0 ? null : AVERAGE(timed)",
  "}"
].join("\n")

/**
 * One cleanup batch, in one query (so one transaction): picks at most
 * `@limit` runs whose execution is final and completed before `@before`
 * (index `[completed]`), removes their records bottom-up — task results,
 * task executions, pipeline results (indexes `[runId, …]`) — then the
 * executions, and returns the removed run ids.
 */
export const cleanup = [
  "LET runs = (",
  "  FOR e IN @@executions",
  "    FILTER e.completed != null && e.completed < @before && e.status IN @finals",
  "    SORT e.completed",
  "    LIMIT @limit",
  "    RETURN { key: e._key, runId: e.runId }",
  ")",
  "LET ids = runs[*].runId",
  "LET tr = (FOR d IN @@taskResults FILTER d.runId IN ids REMOVE d IN @@taskResults)",
  "LET te = (FOR d IN @@taskExecutions FILTER d.runId IN ids REMOVE d IN @@taskExecutions)",
  "LET pr = (FOR d IN @@pipelineResults FILTER d.runId IN ids REMOVE d IN @@pipelineResults)",
  "FOR run IN runs",
  "  REMOVE { _key: run.key } IN @@executions",
  "  RETURN OLD.runId"
].join("\n")
