/**
 * What a result backend keeps for one task.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as TaskState from "./TaskState.js"
import * as Text from "./Text.js"
import * as UtcTime from "./UtcTime.js"

/**
 * The longest task or group id Celery's tables hold.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ID_LENGTH = 155

/**
 * The largest `retries` Celery's 32-bit INTEGER column holds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_RETRIES = 2_147_483_647

/**
 * What is wrong with a task or group id, if anything: it must be 1 to 155
 * characters of text a store keeps as given (`Text.textIssue`).
 *
 * @since 0.1.0
 * @category rules
 */
export const idIssue = (id: string): string | undefined =>
  Text.nonEmptyIssue(id, MAX_ID_LENGTH) ?? Text.textIssue(id)

/**
 * What is wrong with a short metadata field (name, worker, queue), if
 * anything: at most 155 characters of text a store keeps as given.
 *
 * @since 0.1.0
 * @category rules
 */
export const shortTextIssue = (value: string): string | undefined =>
  Text.lengthIssue(value, MAX_ID_LENGTH) ?? Text.textIssue(value)

/**
 * What is wrong with a retry count, if anything: a whole number from 0 to
 * `MAX_RETRIES`.
 *
 * @since 0.1.0
 * @category rules
 */
export const retriesIssue = (retries: number): string | undefined =>
  Number.isSafeInteger(retries) && retries >= 0 && retries <= MAX_RETRIES
    ? undefined
    : `must be a whole number from 0 to ${MAX_RETRIES}`

/**
 * A task id (`idIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskId = Schema.String.pipe(
  Schema.filter(idIssue, { jsonSchema: { minLength: 1, maxLength: MAX_ID_LENGTH } })
).annotations({ identifier: "TaskId" })

/**
 * A short metadata field: name, worker, queue (`shortTextIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const ShortText = Schema.String.pipe(
  Schema.filter(shortTextIssue, { jsonSchema: { maxLength: MAX_ID_LENGTH } })
)

/**
 * A retry count (`retriesIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Retries = Schema.Number.pipe(
  Schema.filter(retriesIssue, { jsonSchema: { type: "integer", minimum: 0, maximum: MAX_RETRIES } })
).annotations({ identifier: "Retries" })

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
  /**
   * Set only when the status is READY. To the microsecond where the source
   * has them (Celery's rows, taskmeta's own stamps): a `UtcTime.Instant`
   * then, read with `UtcTime.micros`; JSON lines print six fraction digits
   * for it (`UtcTime.formatIso`).
   */
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
  dateDone: Schema.NullOr(UtcTime.DateTimeUtcFromIso),
  name: Schema.NullOr(ShortText),
  args: Schema.NullOr(Schema.Array(Json.Json)),
  kwargs: Schema.NullOr(JsonObject),
  worker: Schema.NullOr(ShortText),
  retries: Schema.NullOr(Schema.Int),
  queue: Schema.NullOr(ShortText)
}).annotations({ identifier: "TaskRecord" })

/**
 * The JSON line shape the CLI prints and imports:
 * `{"kind":"task","task_id",...,"date_done":"…Z"|null,...}`. Printing writes
 * every key; reading needs only `kind`, `task_id` and `status`, and a key
 * left out is null.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskLine {
  readonly kind: "task"
  readonly task_id: string
  readonly status: string
  readonly result?: Json.Json
  readonly traceback?: string | null
  readonly date_done?: string | null
  readonly name?: string | null
  readonly args?: ReadonlyArray<Json.Json> | null
  readonly kwargs?: Json.JsonObject | null
  readonly worker?: string | null
  readonly retries?: number | null
  readonly queue?: string | null
}

/** An optional key of a line: null when left out (`exact`: a key present as undefined is not JSON). */
const orNull = <S extends Schema.Schema.Any>(schema: S) =>
  Schema.optionalWith(Schema.NullOr(schema), { default: () => null, exact: true })

/**
 * Schema from the JSON line shape to a `TaskRecord`. Only `kind`, `task_id`
 * and `status` are required when decoding; `result` and the other keys
 * default to null. Encoding writes every key.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskLine: Schema.Schema<TaskRecord, TaskLine> = Schema.transform(
  Schema.Struct({
    kind: Schema.Literal("task"),
    task_id: TaskId,
    status: TaskState.TaskState,
    result: Schema.optionalWith(Json.Json, { default: () => null, exact: true }),
    traceback: orNull(Schema.String),
    date_done: orNull(UtcTime.DateTimeUtcFromIso),
    name: orNull(ShortText),
    args: orNull(Schema.Array(Json.Json)),
    kwargs: orNull(JsonObject),
    worker: orNull(ShortText),
    retries: orNull(Schema.Int),
    queue: orNull(ShortText)
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

const LINE_KEYS: ReadonlySet<string> = new Set([
  "kind",
  "task_id",
  "status",
  "result",
  "traceback",
  "date_done",
  "name",
  "args",
  "kwargs",
  "worker",
  "retries",
  "queue"
])

/** A key of a line: `null` when left out, `undefined` when present but not allowed. */
const optionalKey = <A>(line: object, key: string, check: (value: unknown) => A | undefined): A | null | undefined => {
  if (!(key in line)) return null
  const value: unknown = (line as Record<string, unknown>)[key]
  return value === null ? null : check(value)
}

const shortText = (value: unknown): string | undefined =>
  typeof value === "string" && shortTextIssue(value) === undefined ? value : undefined

/**
 * The record of a well-formed task line (as `TaskLine` decodes it, excess
 * keys refused), checked with plain code: bulk imports read hundreds of
 * thousands of lines, and the schema's decode costs more than the rest of
 * an import's work per line. `undefined` when the line is not one this
 * accepts: decode it with `TaskLine` then, for the record or the error.
 * It accepts only what `TaskLine` accepts (tested side by side).
 *
 * @since 0.1.0
 * @category schemas
 */
export const fromLine = (u: unknown): TaskRecord | undefined => {
  if (typeof u !== "object" || u === null || Array.isArray(u)) return undefined
  for (const key in u) if (!LINE_KEYS.has(key)) return undefined
  const line = u as Record<string, unknown>
  if (line.kind !== "task") return undefined
  const taskId = line.task_id
  const status = line.status
  if (typeof taskId !== "string" || idIssue(taskId) !== undefined) return undefined
  if (typeof status !== "string" || TaskState.stateIssue(status) !== undefined) return undefined
  let result: Json.Json = null
  if ("result" in line) {
    const json = Json.normalize(line.result)
    if (json._tag === "Left") return undefined
    result = json.right
  }
  const traceback = optionalKey(line, "traceback", (v) => (typeof v === "string" ? v : undefined))
  const dateDone = optionalKey(line, "date_done", (v) =>
    typeof v === "string" ? Option.getOrUndefined(UtcTime.parseIso(v)) : undefined)
  const name = optionalKey(line, "name", shortText)
  const args = optionalKey(line, "args", (v) => {
    if (!Array.isArray(v)) return undefined
    const json = Json.normalize(v)
    return json._tag === "Right" ? (json.right as ReadonlyArray<Json.Json>) : undefined
  })
  const kwargs = optionalKey(line, "kwargs", (v) => {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined
    const json = Json.normalize(v)
    return json._tag === "Right" ? (json.right as Json.JsonObject) : undefined
  })
  const worker = optionalKey(line, "worker", shortText)
  const retries = optionalKey(line, "retries", (v) => (typeof v === "number" && Number.isSafeInteger(v) ? v : undefined))
  const queue = optionalKey(line, "queue", shortText)
  if (
    traceback === undefined || dateDone === undefined || name === undefined || args === undefined ||
    kwargs === undefined || worker === undefined || retries === undefined || queue === undefined
  ) return undefined
  return { taskId, status, result, traceback, dateDone, name, args, kwargs, worker, retries, queue }
}
