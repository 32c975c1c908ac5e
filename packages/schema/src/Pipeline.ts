/**
 * The four records of a pipeline run (the seeds' pipelines results design):
 *
 * PipelineExecution (one per run) → PipelineResult (one per object the
 * pipeline iterates over) → TaskExecution (one per task per pipeline result)
 * → TaskResult (one per object the task iterates over).
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"

/** @since 0.1.0 @category statuses */
export const PENDING = "PENDING"
/** @since 0.1.0 @category statuses */
export const RUNNING = "RUNNING"
/** @since 0.1.0 @category statuses */
export const DONE = "DONE"
/** @since 0.1.0 @category statuses */
export const CONFIG_ERROR = "CONFIG_ERROR"
/** @since 0.1.0 @category statuses */
export const VALIDATION_ERROR = "VALIDATION_ERROR"
/** @since 0.1.0 @category statuses */
export const RUNTIME_ERROR = "RUNTIME_ERROR"
/** @since 0.1.0 @category statuses */
export const CANCELLED = "CANCELLED"

/**
 * @since 0.1.0
 * @category schemas
 */
export const Status = Schema.Literal(
  PENDING,
  RUNNING,
  DONE,
  CONFIG_ERROR,
  VALIDATION_ERROR,
  RUNTIME_ERROR,
  CANCELLED
).annotations({ identifier: "PipelineStatus" })

/**
 * @since 0.1.0
 * @category models
 */
export type Status = typeof Status.Type

/**
 * DONE and the four failures.
 *
 * @since 0.1.0
 * @category sets
 */
export const FINAL_STATUSES: ReadonlySet<Status> = new Set<Status>([
  DONE,
  CONFIG_ERROR,
  VALIDATION_ERROR,
  RUNTIME_ERROR,
  CANCELLED
])

/**
 * @since 0.1.0
 * @category sets
 */
export const FAILED_STATUSES: ReadonlySet<Status> = new Set<Status>([
  CONFIG_ERROR,
  VALIDATION_ERROR,
  RUNTIME_ERROR,
  CANCELLED
])

/** @since 0.1.0 @category predicates */
export const isFinal = (status: Status): boolean => FINAL_STATUSES.has(status)

/** @since 0.1.0 @category predicates */
export const isFailed = (status: Status): boolean => FAILED_STATUSES.has(status)

/**
 * The advance rule: a final status never changes; any final status may
 * follow a non-final one; otherwise only PENDING → RUNNING.
 *
 * @since 0.1.0
 * @category predicates
 */
export const canAdvance = (from: Status, to: Status): boolean => {
  if (isFinal(from)) return false
  if (isFinal(to)) return true
  return from === PENDING && to === RUNNING
}

const Timestamp = Schema.NullOr(Schema.DateTimeUtc)
const Id = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(155))

const stamps = {
  status: Status,
  started: Timestamp,
  completed: Timestamp
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Stamped {
  readonly status: Status
  readonly started: DateTime.Utc | null
  readonly completed: DateTime.Utc | null
}

/**
 * One run of a pipeline.
 *
 * @since 0.1.0
 * @category models
 */
export interface PipelineExecution extends Stamped {
  readonly runId: string
  readonly pipelineId: string
  readonly inputData: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const PipelineExecution = Schema.Struct({
  runId: Id,
  pipelineId: Id,
  inputData: Json.Json,
  ...stamps
}).annotations({ identifier: "PipelineExecution" })

/**
 * One object the pipeline iterates over, within a run.
 *
 * @since 0.1.0
 * @category models
 */
export interface PipelineResult extends Stamped {
  readonly id: string
  readonly runId: string
  readonly index: number
  readonly object: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const PipelineResult = Schema.Struct({
  id: Id,
  runId: Id,
  index: Schema.Int,
  object: Json.Json,
  ...stamps
}).annotations({ identifier: "PipelineResult" })

/**
 * One task of the pipeline, for one pipeline result.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskExecution extends Stamped {
  readonly id: string
  readonly runId: string
  readonly pipelineResultId: string
  readonly taskName: string
  readonly config: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskExecution = Schema.Struct({
  id: Id,
  runId: Id,
  pipelineResultId: Id,
  taskName: Id,
  config: Json.Json,
  ...stamps
}).annotations({ identifier: "TaskExecution" })

/**
 * One object a task iterates over, within a task execution.
 *
 * @since 0.1.0
 * @category models
 */
export interface TaskResult extends Stamped {
  readonly id: string
  readonly runId: string
  readonly taskExecutionId: string
  readonly index: number
  readonly object: Json.Json
  readonly error: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskResult = Schema.Struct({
  id: Id,
  runId: Id,
  taskExecutionId: Id,
  index: Schema.Int,
  object: Json.Json,
  error: Json.Json,
  ...stamps
}).annotations({ identifier: "TaskResult" })

/**
 * Per-pipeline summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Digest {
  readonly pipelineId: string
  readonly totalRuns: number
  readonly successes: number
  readonly failures: number
  readonly lastRan: DateTime.Utc | null
  /** Mean of completed − started over runs that have both, in milliseconds. */
  readonly averageRuntimeMs: number | null
}
