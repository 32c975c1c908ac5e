/**
 * A small pipeline run through the `PipelineStore`: three input files
 * (the pipeline results) × two tasks, `parse_rows` and `sum_rows` (the task
 * executions), each over two rows (the task results). The last file has a
 * bad row, so its `sum_rows` ends RUNTIME_ERROR and the failure propagates
 * up to the run; everything else ends DONE.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as Pipeline from "@taskmeta/schema/Pipeline"

/**
 * @since 0.1.0
 * @category constants
 */
export const PIPELINE_ID = "ingest_numbers"

const FILES = [
  { file: "batch-1.csv", rows: [[16, 16], [2, 3]] },
  { file: "batch-2.csv", rows: [[4, 4], [5, 6]] },
  { file: "batch-3.csv", rows: [[7, 8], ["x", 1]] }
] as const

const TASKS = [
  { taskName: "parse_rows", config: { delimiter: "," } },
  { taskName: "sum_rows", config: { column: "total" } }
] as const

/**
 * Builds one run's tree, then reports each task result RUNNING and then
 * DONE or RUNTIME_ERROR. Returns the run id.
 *
 * @since 0.1.0
 * @category run
 */
export const run = Effect.fn("Worker.pipeline")(function*() {
  const store = yield* PipelineStore.PipelineStore
  const runId = crypto.randomUUID()
  const { tree } = yield* store.build({
    runId,
    pipelineId: PIPELINE_ID,
    inputData: { files: FILES.map((f) => f.file) },
    pipelineResults: FILES.map((f) => ({
      object: { file: f.file },
      tasks: TASKS.map((t) => ({ ...t, results: f.rows.map((row) => ({ object: row })) }))
    }))
  })
  yield* store.report("PipelineExecution", runId, Pipeline.RUNNING)
  for (const result of tree.taskResults) {
    yield* store.report("TaskResult", result.id, Pipeline.RUNNING)
    const row = result.object as ReadonlyArray<unknown>
    const task = tree.taskExecutions.find((te) => te.id === result.taskExecutionId)
    const summing = task?.taskName === "sum_rows"
    const bad = summing && row.some((v) => typeof v !== "number")
    const message = bad
      ? { error: "ValueError", detail: `not a number in ${JSON.stringify(row)}` }
      : summing
      ? { total: (row as ReadonlyArray<number>).reduce((a, b) => a + b, 0) }
      : { fields: row.length }
    yield* store.report("TaskResult", result.id, bad ? Pipeline.RUNTIME_ERROR : Pipeline.DONE, { message })
  }
  const execution = yield* store.getExecution(runId)
  yield* Effect.logInfo(
    `Pipeline ${PIPELINE_ID} run ${runId}: ${execution._tag === "Some" ? execution.value.status : "missing"}`
  )
  return runId
})
