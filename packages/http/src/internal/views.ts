/**
 * Store records as the API's shapes (`DashboardApi`): JSON values as exact
 * JSON text, nothing else changed.
 */
import type * as DateTime from "effect/DateTime"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as Pipeline from "@taskmeta/schema/Pipeline"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import type * as DashboardApi from "../DashboardApi.js"

type Task = typeof DashboardApi.Task.Type

export const task = (record: TaskRecord.TaskRecord): Task => ({
  taskId: record.taskId,
  status: record.status,
  result: Json.stringify(record.result),
  traceback: record.traceback,
  dateDone: record.dateDone,
  name: record.name,
  args: record.args === null ? null : Json.stringify(record.args),
  kwargs: record.kwargs === null ? null : Json.stringify(record.kwargs),
  worker: record.worker,
  retries: record.retries,
  queue: record.queue
})

export const group = (record: GroupRecord.GroupRecord): typeof DashboardApi.Group.Type => ({
  groupId: record.groupId,
  dateDone: record.dateDone,
  taskIds: record.taskIds
})

const stamps = (r: Pipeline.Stamped) => ({
  status: r.status,
  message: Json.stringify(r.message),
  started: r.started,
  completed: r.completed
})

export const run = (e: Pipeline.PipelineExecution): typeof DashboardApi.Run.Type => ({
  runId: e.runId,
  pipelineId: e.pipelineId,
  inputData: Json.stringify(e.inputData),
  created: e.created,
  ...stamps(e)
})

export const runTree = (tree: {
  readonly execution: Pipeline.PipelineExecution
  readonly pipelineResults: ReadonlyArray<Pipeline.PipelineResult>
  readonly taskExecutions: ReadonlyArray<Pipeline.TaskExecution>
  readonly taskResults: ReadonlyArray<Pipeline.TaskResult>
}): typeof DashboardApi.RunTree.Type => ({
  run: run(tree.execution),
  pipelineResults: tree.pipelineResults.map((pr) => ({
    id: pr.id,
    index: pr.index,
    object: Json.stringify(pr.object),
    ...stamps(pr),
    tasks: tree.taskExecutions.filter((te) => te.pipelineResultId === pr.id).map((te) => ({
      id: te.id,
      index: te.index,
      taskName: te.taskName,
      config: Json.stringify(te.config),
      ...stamps(te),
      results: tree.taskResults.filter((tr) => tr.taskExecutionId === te.id).map((tr) => ({
        id: tr.id,
        index: tr.index,
        object: Json.stringify(tr.object),
        ...stamps(tr)
      }))
    }))
  }))
})

/** Newest first by creation, ties by run id. */
export const byCreatedDesc = (a: Pipeline.PipelineExecution, b: { readonly created: DateTime.Utc; readonly runId: string }) =>
  b.created.epochMillis - a.created.epochMillis || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0)
