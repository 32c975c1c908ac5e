/**
 * The errors a caller of `ResultBackend` can see. Driver errors never leak:
 * every implementation maps them to one of these, keeping the cause.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * Bad input: an empty or over-long id, an over-long state, a value that
 * cannot be stored. Nothing was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidInput extends Schema.TaggedError<InvalidInput>("@taskmeta/core/InvalidInput")("InvalidInput", {
  field: Schema.String,
  reason: Schema.String,
  id: Schema.optional(Schema.String)
}) {
  override get message(): string {
    return `invalid ${this.field}${this.id === undefined ? "" : ` for ${JSON.stringify(this.id.slice(0, 160))}`}: ${this.reason}`
  }
}

/**
 * Storing a task's state failed (after the retries the policy allows).
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreError extends Schema.TaggedError<StoreError>("@taskmeta/core/StoreError")("StoreError", {
  taskId: Schema.String,
  status: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `could not store ${this.status} for task ${this.taskId}: ${causeMessage(this.cause)}`
  }
}

/**
 * Reading task records failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class GetError extends Schema.TaggedError<GetError>("@taskmeta/core/GetError")("GetError", {
  taskIds: Schema.Array(Schema.String),
  cause: Schema.Defect
}) {
  override get message(): string {
    const ids = this.taskIds.length === 1 ? `task ${this.taskIds[0]}` : `${this.taskIds.length} tasks`
    return `could not read ${ids}: ${causeMessage(this.cause)}`
  }
}

/**
 * Deleting a task record failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ForgetError extends Schema.TaggedError<ForgetError>("@taskmeta/core/ForgetError")("ForgetError", {
  taskId: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `could not forget task ${this.taskId}: ${causeMessage(this.cause)}`
  }
}

/**
 * Saving, restoring or deleting a group failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class GroupError extends Schema.TaggedError<GroupError>("@taskmeta/core/GroupError")("GroupError", {
  groupId: Schema.String,
  operation: Schema.Literal("save", "restore", "delete"),
  cause: Schema.Defect,
  /** A batch (`saveGroups`, `findGroups`): every id of the batch that failed; `groupId` is its first. */
  groupIds: Schema.optional(Schema.Array(Schema.String))
}) {
  override get message(): string {
    const what = this.groupIds !== undefined && this.groupIds.length > 1
      ? `${this.groupIds.length} groups (${this.groupId}, …)`
      : `group ${this.groupId}`
    return `could not ${this.operation} ${what}: ${causeMessage(this.cause)}`
  }
}

/**
 * A cleanup sweep failed. `deleted` counts what earlier batches removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class CleanupError extends Schema.TaggedError<CleanupError>("@taskmeta/core/CleanupError")("CleanupError", {
  deletedTasks: Schema.Number,
  deletedGroups: Schema.Number,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `cleanup failed after deleting ${this.deletedTasks} tasks and ${this.deletedGroups} groups: ${
      causeMessage(this.cause)
    }`
  }
}

/**
 * A wait for tasks to become READY ran out of time.
 *
 * @since 0.1.0
 * @category errors
 */
export class WaitTimeout extends Schema.TaggedError<WaitTimeout>("@taskmeta/core/WaitTimeout")("WaitTimeout", {
  taskIds: Schema.Array(Schema.String),
  timeoutMillis: Schema.Number
}) {
  override get message(): string {
    const ids = this.taskIds.length === 1 ? `task ${this.taskIds[0]}` : `${this.taskIds.length} tasks`
    return `timed out after ${this.timeoutMillis} ms waiting for ${ids} to be ready`
  }
}

/**
 * A stored result did not match the schema it was read with. `raw` keeps
 * the stored value.
 *
 * @since 0.1.0
 * @category errors
 */
export class ResultDecodeError extends Schema.TaggedError<ResultDecodeError>("@taskmeta/core/ResultDecodeError")(
  "ResultDecodeError",
  {
    taskId: Schema.String,
    status: Schema.String,
    raw: Schema.Unknown,
    issue: Schema.String
  }
) {
  override get message(): string {
    return `the result of task ${this.taskId} (${this.status}) does not match the expected schema: ${this.issue}`
  }
}

/**
 * A storage failure as a driver reports it to the core, before it is mapped
 * to one of the public errors above. Not part of any service type.
 *
 * @since 0.1.0
 * @category errors
 */
export class DriverError extends Schema.TaggedError<DriverError>("@taskmeta/core/DriverError")("DriverError", {
  operation: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `${this.operation}: ${causeMessage(this.cause)}`
  }
}

/** One error's own message, with its code when the message does not say it. */
const ownMessage = (cause: unknown): string => {
  if (cause instanceof Error) {
    const code = (cause as { readonly code?: unknown }).code
    return typeof code === "string" && !cause.message.includes(code) ? `${cause.message} (${code})` : cause.message
  }
  if (typeof cause === "object" && cause !== null && "message" in cause) return String(cause.message)
  return String(cause)
}

/**
 * A short description of a cause, for messages: the messages along its
 * cause chain (`error.cause.cause…`, at most 6 deep), each once, with their
 * codes: "Failed to execute statement: attempt to write a readonly database
 * (SQLITE_READONLY)". The driver's reason and code are what a reader needs;
 * the wrapper's "Failed to execute statement" alone says nothing.
 *
 * @since 0.1.0
 * @category utils
 */
export const causeMessage = (cause: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 6 && current !== undefined && current !== null; depth++) {
    const text = ownMessage(current)
    if (text !== "" && !parts.some((part) => part.includes(text))) parts.push(text)
    current = typeof current === "object" ? (current as { readonly cause?: unknown }).cause : undefined
  }
  return parts.join(": ")
}
