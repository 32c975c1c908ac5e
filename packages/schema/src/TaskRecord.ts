/**
 * What a result backend keeps for one task.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as TaskState from "./TaskState.js"

/**
 * The longest task or group id Celery's tables hold.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ID_LENGTH = 155

/**
 * A task id: 1 to 155 characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskId = Schema.String.pipe(
  Schema.minLength(1, { message: () => "a task id must not be empty" }),
  Schema.maxLength(MAX_ID_LENGTH, { message: () => `a task id is at most ${MAX_ID_LENGTH} characters` })
).annotations({ identifier: "TaskId" })

/**
 * A short metadata field (name, worker, queue): at most 155 characters.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ShortText = Schema.String.pipe(
  Schema.maxLength(MAX_ID_LENGTH, { message: () => `at most ${MAX_ID_LENGTH} characters` })
)

/**
 * The extended fields Celery stores with `result_extended`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Extended {
  readonly name: string | null
  readonly args: ReadonlyArray<Json.Json> | null
  readonly kwargs: Json.JsonObject | null
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}

/**
 * @since 0.1.0
 * @category models
 */
export interface TaskRecord extends Extended {
  readonly taskId: string
  readonly status: TaskState.TaskState
  /** The return value, progress meta, or for EXCEPTION states the error envelope. */
  readonly result: Json.Json
  readonly traceback: string | null
  /** Set only when the status is READY. */
  readonly dateDone: DateTime.Utc | null
}

/**
 * The extended fields all null.
 *
 * @since 0.1.0
 * @category constructors
 */
export const emptyExtended: Extended = {
  name: null,
  args: null,
  kwargs: null,
  worker: null,
  retries: null,
  queue: null
}

/**
 * What an unknown id reads as: PENDING with everything else null, as Celery does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const pending = (taskId: string): TaskRecord => ({
  taskId,
  status: TaskState.PENDING,
  result: null,
  traceback: null,
  dateDone: null,
  ...emptyExtended
})

/**
 * @since 0.1.0
 * @category predicates
 */
export const isReady = (record: TaskRecord): boolean => TaskState.isReady(record.status)

const JsonObject = Schema.Record({ key: Schema.String, value: Json.Json })

/**
 * The record with `dateDone` encoded as ISO-8601 text.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskRecord: Schema.Schema<TaskRecord, {
  readonly taskId: string
  readonly status: string
  readonly result: Json.Json
  readonly traceback: string | null
  readonly dateDone: string | null
  readonly name: string | null
  readonly args: ReadonlyArray<Json.Json> | null
  readonly kwargs: { readonly [x: string]: Json.Json } | null
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}> = Schema.Struct({
  taskId: TaskId,
  status: TaskState.TaskState,
  result: Json.Json,
  traceback: Schema.NullOr(Schema.String),
  dateDone: Schema.NullOr(Schema.DateTimeUtc),
  name: Schema.NullOr(ShortText),
  args: Schema.NullOr(Schema.Array(Json.Json)),
  kwargs: Schema.NullOr(JsonObject),
  worker: Schema.NullOr(ShortText),
  retries: Schema.NullOr(Schema.Int),
  queue: Schema.NullOr(ShortText)
}).annotations({ identifier: "TaskRecord" })

/**
 * The JSON line shape the CLI prints and imports:
 * `{"kind":"task","task_id",...,"date_done":"…Z"|null,...}`.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskLine {
  readonly kind: "task"
  readonly task_id: string
  readonly status: string
  readonly result: Json.Json
  readonly traceback: string | null
  readonly date_done: string | null
  readonly name: string | null
  readonly args: ReadonlyArray<Json.Json> | null
  readonly kwargs: Json.JsonObject | null
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}

/**
 * Schema from the JSON line shape to a `TaskRecord`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskLine: Schema.Schema<TaskRecord, TaskLine> = Schema.transform(
  Schema.Struct({
    kind: Schema.Literal("task"),
    task_id: TaskId,
    status: TaskState.TaskState,
    result: Json.Json,
    traceback: Schema.NullOr(Schema.String),
    date_done: Schema.NullOr(Schema.DateTimeUtc),
    name: Schema.NullOr(ShortText),
    args: Schema.NullOr(Schema.Array(Json.Json)),
    kwargs: Schema.NullOr(JsonObject),
    worker: Schema.NullOr(ShortText),
    retries: Schema.NullOr(Schema.Int),
    queue: Schema.NullOr(ShortText)
  }),
  Schema.typeSchema(TaskRecord),
  {
    strict: true,
    decode: (line) => ({
      taskId: line.task_id,
      status: line.status,
      result: line.result,
      traceback: line.traceback,
      dateDone: line.date_done,
      name: line.name,
      args: line.args,
      kwargs: line.kwargs,
      worker: line.worker,
      retries: line.retries,
      queue: line.queue
    }),
    encode: (record) => ({
      kind: "task" as const,
      task_id: record.taskId,
      status: record.status,
      result: record.result,
      traceback: record.traceback,
      date_done: record.dateDone,
      name: record.name,
      args: record.args,
      kwargs: record.kwargs,
      worker: record.worker,
      retries: record.retries,
      queue: record.queue
    })
  }
).annotations({ identifier: "TaskLine" })
