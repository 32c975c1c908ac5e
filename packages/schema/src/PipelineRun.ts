/**
 * A whole pipeline run — its execution and every record under it — as one
 * value, and its JSON line (`{"kind":"pipeline_run",…}` with the records
 * nested), the shape `taskmeta export` prints, `import` reads and
 * `pipelines show --json` prints.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as Pipeline from "./Pipeline.js"

/**
 * A run's records, each array in tree order (depth first: a pipeline
 * result's task executions come in task order, before the next pipeline
 * result's). A record's position in its array is its ordinal within the run.
 *
 * @since 0.1.0
 * @category models
 */
export interface PipelineRun {
  readonly execution: Pipeline.PipelineExecution
  readonly pipelineResults: ReadonlyArray<Pipeline.PipelineResult>
  readonly taskExecutions: ReadonlyArray<Pipeline.TaskExecution>
  readonly taskResults: ReadonlyArray<Pipeline.TaskResult>
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const PipelineRun = Schema.Struct({
  execution: Pipeline.PipelineExecution,
  pipelineResults: Schema.Array(Pipeline.PipelineResult),
  taskExecutions: Schema.Array(Pipeline.TaskExecution),
  taskResults: Schema.Array(Pipeline.TaskResult)
}).annotations({ identifier: "PipelineRun" })

/**
 * The tally of every parent in a run, from its children's statuses, aligned
 * with the run's arrays (what a store keeps beside each parent).
 *
 * @since 0.1.0
 * @category models
 */
export interface Tallies {
  readonly execution: Pipeline.Tally
  readonly pipelineResults: ReadonlyArray<Pipeline.Tally>
  readonly taskExecutions: ReadonlyArray<Pipeline.Tally>
}

const childStatuses = <A extends Pipeline.Stamped>(
  parents: ReadonlyArray<{ readonly id: string }>,
  children: ReadonlyArray<A>,
  parentOf: (child: A) => string
): Array<Pipeline.Tally> => {
  const statuses = new Map<string, Array<Pipeline.Status>>(parents.map((p) => [p.id, []]))
  for (const child of children) statuses.get(parentOf(child))?.push(child.status)
  return parents.map((p) => Pipeline.tallyOf(statuses.get(p.id)!))
}

/**
 * The tallies a run's records imply: each parent counts its children, the
 * final ones and the most severe failure among them.
 *
 * @since 0.1.0
 * @category models
 */
export const tallies = (run: PipelineRun): Tallies => ({
  execution: Pipeline.tallyOf(run.pipelineResults.map((r) => r.status)),
  pipelineResults: childStatuses(run.pipelineResults, run.taskExecutions, (te) => te.pipelineResultId),
  taskExecutions: childStatuses(run.taskExecutions, run.taskResults, (tr) => tr.taskExecutionId)
})

/**
 * What is wrong with a run's structure, if anything: every record names the
 * run, every child's parent is in the run and comes before it, ids are used
 * once per kind, each record's `index` is its position among its siblings,
 * and the arrays are in tree order.
 *
 * @since 0.1.0
 * @category validation
 */
export const structureIssue = (run: PipelineRun): string | undefined => {
  const runId = run.execution.runId
  const check = <A extends { readonly id: string; readonly runId: string; readonly index: number }>(
    kind: string,
    records: ReadonlyArray<A>,
    parentOf: (record: A) => string,
    parents: ReadonlyMap<string, number> | undefined
  ): string | Map<string, number> => {
    const seen = new Map<string, number>()
    const siblings = new Map<string, number>()
    let lastParent = -1
    for (let i = 0; i < records.length; i++) {
      const r = records[i]
      if (r.runId !== runId) return `${kind} ${r.id} belongs to run ${r.runId}, not ${runId}`
      if (seen.has(r.id)) return `${kind} id ${r.id} is used twice in the run`
      seen.set(r.id, i)
      const parent = parentOf(r)
      const at = parents === undefined ? 0 : parents.get(parent)
      if (at === undefined) return `${kind} ${r.id} names a parent that is not in the run (${parent})`
      if (at < lastParent) return `${kind} ${r.id} is out of tree order`
      lastParent = at
      const index = siblings.get(parent) ?? 0
      if (r.index !== index) return `${kind} ${r.id} has index ${r.index}, but is child ${index} of its parent`
      siblings.set(parent, index + 1)
    }
    return seen
  }
  const prs = check("pipeline result", run.pipelineResults, () => runId, undefined)
  if (typeof prs === "string") return prs
  const tes = check("task execution", run.taskExecutions, (te) => te.pipelineResultId, prs)
  if (typeof tes === "string") return tes
  const trs = check("task result", run.taskResults, (tr) => tr.taskExecutionId, tes)
  if (typeof trs === "string") return trs
  return undefined
}

// ---------------------------------------------------------------------------
// the JSON line
// ---------------------------------------------------------------------------

const orNull = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(Schema.NullOr(schema), { default: () => null, exact: true })
const json = Schema.optionalWith(Json.Json, { default: () => null, exact: true })
const position = Schema.optionalWith(Schema.Int.pipe(Schema.nonNegative()), { exact: true })
const id = Schema.optionalWith(Pipeline.Id, { exact: true })

const stamps = {
  status: Pipeline.Status,
  message: json,
  started: orNull(Schema.DateTimeUtc),
  completed: orNull(Schema.DateTimeUtc)
}

const TaskResultLine = Schema.Struct({ id, index: position, object: json, ...stamps })

const TaskExecutionLine = Schema.Struct({
  id,
  index: position,
  task_name: Pipeline.Name,
  config: json,
  ...stamps,
  task_results: Schema.optionalWith(Schema.Array(TaskResultLine), { default: () => [], exact: true })
})

const PipelineResultLine = Schema.Struct({
  id,
  index: position,
  object: json,
  ...stamps,
  task_executions: Schema.optionalWith(Schema.Array(TaskExecutionLine), { default: () => [], exact: true })
})

const RunLineFields = Schema.Struct({
  kind: Schema.Literal("pipeline_run"),
  run_id: Pipeline.Name,
  pipeline_id: Pipeline.Name,
  input_data: json,
  created: Schema.DateTimeUtc,
  ...stamps,
  // Required: a run's line from `pipelines list --json` has no tree, and must not import as a run without one.
  pipeline_results: Schema.Array(PipelineResultLine)
})

/**
 * The JSON line of a run (the encoded side of `RunLine`).
 *
 * @since 0.1.0
 * @category models
 */
export type RunLine = typeof RunLineFields.Encoded

/** The stamps of a record, line side → record side. */
const fromStamps = (line: {
  readonly status: Pipeline.Status
  readonly message: Json.Json
  readonly started: Pipeline.Stamped["started"]
  readonly completed: Pipeline.Stamped["completed"]
}): Pipeline.Stamped => ({ status: line.status, message: line.message, started: line.started, completed: line.completed })

/**
 * A run from its nested line. Ids a line leaves out are derived as
 * `PipelineStore.build` derives them (`Pipeline.pipelineResultId` …), an
 * `index` left out is the record's position; a given `index` must be it.
 */
const decodeRun = (line: typeof RunLineFields.Type): Either.Either<PipelineRun, string> => {
  const runId = line.run_id
  const pipelineResults: Array<Pipeline.PipelineResult> = []
  const taskExecutions: Array<Pipeline.TaskExecution> = []
  const taskResults: Array<Pipeline.TaskResult> = []
  const indexOf = (given: number | undefined, at: number, what: string) =>
    given === undefined || given === at ? undefined : `${what} has index ${given} at position ${at}`
  for (let p = 0; p < line.pipeline_results.length; p++) {
    const pr = line.pipeline_results[p]
    const prId = pr.id ?? Pipeline.pipelineResultId(runId, p)
    const badPr = indexOf(pr.index, p, `pipeline_results[${p}]`)
    if (badPr !== undefined) return Either.left(badPr)
    pipelineResults.push({ id: prId, runId, index: p, object: pr.object, ...fromStamps(pr) })
    for (let t = 0; t < pr.task_executions.length; t++) {
      const te = pr.task_executions[t]
      const teId = te.id ?? Pipeline.taskExecutionId(prId, t)
      const badTe = indexOf(te.index, t, `pipeline_results[${p}].task_executions[${t}]`)
      if (badTe !== undefined) return Either.left(badTe)
      taskExecutions.push({
        id: teId,
        runId,
        pipelineResultId: prId,
        index: t,
        taskName: te.task_name,
        config: te.config,
        ...fromStamps(te)
      })
      for (let r = 0; r < te.task_results.length; r++) {
        const tr = te.task_results[r]
        const badTr = indexOf(tr.index, r, `pipeline_results[${p}].task_executions[${t}].task_results[${r}]`)
        if (badTr !== undefined) return Either.left(badTr)
        taskResults.push({
          id: tr.id ?? Pipeline.taskResultId(teId, r),
          runId,
          taskExecutionId: teId,
          index: r,
          object: tr.object,
          ...fromStamps(tr)
        })
      }
    }
  }
  const run: PipelineRun = {
    execution: {
      runId,
      pipelineId: line.pipeline_id,
      inputData: line.input_data,
      created: line.created,
      ...fromStamps(line)
    },
    pipelineResults,
    taskExecutions,
    taskResults
  }
  const issue = structureIssue(run)
  return issue === undefined ? Either.right(run) : Either.left(issue)
}

const toStamps = (r: Pipeline.Stamped) => ({
  status: r.status,
  message: r.message,
  started: r.started,
  completed: r.completed
})

const groupBy = <A>(records: ReadonlyArray<A>, key: (a: A) => string): Map<string, Array<A>> => {
  const out = new Map<string, Array<A>>()
  for (const r of records) {
    const k = key(r)
    const list = out.get(k)
    if (list === undefined) out.set(k, [r])
    else list.push(r)
  }
  return out
}

const encodeRun = (run: PipelineRun): typeof RunLineFields.Type => {
  const tasksOf = groupBy(run.taskExecutions, (te) => te.pipelineResultId)
  const resultsOf = groupBy(run.taskResults, (tr) => tr.taskExecutionId)
  const e = run.execution
  return {
    kind: "pipeline_run",
    run_id: e.runId,
    pipeline_id: e.pipelineId,
    input_data: e.inputData,
    created: e.created,
    ...toStamps(e),
    pipeline_results: run.pipelineResults.map((pr) => ({
      id: pr.id,
      index: pr.index,
      object: pr.object,
      ...toStamps(pr),
      task_executions: (tasksOf.get(pr.id) ?? []).map((te) => ({
        id: te.id,
        index: te.index,
        task_name: te.taskName,
        config: te.config,
        ...toStamps(te),
        task_results: (resultsOf.get(te.id) ?? []).map((tr) => ({
          id: tr.id,
          index: tr.index,
          object: tr.object,
          ...toStamps(tr)
        }))
      }))
    }))
  }
}

/**
 * Schema from a run's JSON line to a `PipelineRun`:
 *
 * ```
 * {"kind":"pipeline_run","run_id","pipeline_id","input_data","created","status","message","started","completed",
 *  "pipeline_results":[{"id","index","object",<stamps>,"task_executions":[{"id","index","task_name","config",<stamps>,
 *    "task_results":[{"id","index","object",<stamps>}]}]}]}
 * ```
 *
 * Timestamps are ISO-8601 UTC. Encoding writes every key. Decoding
 * requires `kind`, `run_id`, `pipeline_id`, `created`, every record's
 * `status` (and a task execution's `task_name`) and `pipeline_results`;
 * values, messages and stamps left out are null, lists left out are empty,
 * ids and indexes left out are derived as a build derives them.
 *
 * @since 0.1.0
 * @category schemas
 */
export const RunLine: Schema.Schema<PipelineRun, RunLine> = Schema.transformOrFail(
  RunLineFields,
  Schema.typeSchema(PipelineRun),
  {
    strict: true,
    decode: (line, _, ast) => Either.mapLeft(decodeRun(line), (issue) => new ParseResult.Type(ast, line, issue)),
    encode: (run) => ParseResult.succeed(encodeRun(run))
  }
).annotations({ identifier: "RunLine" })
