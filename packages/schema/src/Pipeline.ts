/**
 * The four records of a pipeline run (the seeds' pipelines results design):
 *
 * PipelineExecution (one per run) → PipelineResult (one per object the
 * pipeline iterates over) → TaskExecution (one per task per pipeline result)
 * → TaskResult (one per object the task iterates over).
 *
 * Also the rules every store applies: how a status may advance (`canAdvance`)
 * and how a child's change moves its parent (`propagate`). They are pure
 * functions so that every storage (memory, SQL, a document store) applies
 * exactly the same rules inside its own atomic step.
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"
import * as Text from "./Text.js"

// ---------------------------------------------------------------------------
// statuses
// ---------------------------------------------------------------------------

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
 * Every status, in declaration order.
 *
 * @since 0.1.0
 * @category sets
 */
export const STATUSES: ReadonlyArray<Status> = Status.literals

/**
 * The failures, from the most to the least severe. When the children of a
 * record finish with different failures, the parent takes the most severe
 * one: a configuration error explains everything below it, a validation
 * error explains a runtime error, and any error is more informative than a
 * cancellation.
 *
 * @since 0.1.0
 * @category sets
 */
export const FAILURES: ReadonlyArray<Status> = [CONFIG_ERROR, VALIDATION_ERROR, RUNTIME_ERROR, CANCELLED]

/**
 * DONE and the four failures.
 *
 * @since 0.1.0
 * @category sets
 */
export const FINAL_STATUSES: ReadonlySet<Status> = new Set<Status>([DONE, ...FAILURES])

/**
 * @since 0.1.0
 * @category sets
 */
export const FAILED_STATUSES: ReadonlySet<Status> = new Set<Status>(FAILURES)

/** @since 0.1.0 @category predicates */
export const isStatus = Schema.is(Status)

/** @since 0.1.0 @category predicates */
export const isFinal = (status: Status): boolean => FINAL_STATUSES.has(status)

/** @since 0.1.0 @category predicates */
export const isFailed = (status: Status): boolean => FAILED_STATUSES.has(status)

/**
 * The advance rule: a final status never changes; any final status may
 * follow a non-final one; otherwise only PENDING → RUNNING. Reporting the
 * current status again is not an advance.
 *
 * @since 0.1.0
 * @category predicates
 */
export const canAdvance = (from: Status, to: Status): boolean => {
  if (isFinal(from)) return false
  if (isFinal(to)) return true
  return from === PENDING && to === RUNNING
}

/**
 * The statuses `to` may follow (`canAdvance(from, to)` exactly when `from` is
 * in the list): PENDING and RUNNING for a final status, PENDING for RUNNING,
 * none for PENDING. Stores use it for a conditional update
 * (`… WHERE status IN (…)`).
 *
 * @since 0.1.0
 * @category predicates
 */
export const advanceableFrom = (to: Status): ReadonlyArray<Status> =>
  isFinal(to) ? [PENDING, RUNNING] : to === RUNNING ? [PENDING] : []

/**
 * The more severe of two failures (`FAILURES` order). `null` stands for
 * "no failure yet".
 *
 * @since 0.1.0
 * @category propagation
 */
export const worse = (a: Status | null, b: Status | null): Status | null => {
  if (a === null) return b
  if (b === null) return a
  return FAILURES.indexOf(a) <= FAILURES.indexOf(b) ? a : b
}

// ---------------------------------------------------------------------------
// propagation
// ---------------------------------------------------------------------------

/**
 * What a parent knows about its children: how many it has, how many are
 * final, and the most severe failure among the final ones. Stores keep it
 * next to the parent's status and update it in the same atomic step, so a
 * report never has to read the siblings.
 *
 * @since 0.1.0
 * @category propagation
 */
export interface Tally {
  readonly total: number
  readonly final: number
  readonly worst: Status | null
}

/**
 * The tally of a parent whose children are all still PENDING.
 *
 * @since 0.1.0
 * @category propagation
 */
export const emptyTally = (total: number): Tally => ({ total, final: 0, worst: null })

/**
 * The tally of a parent whose children are in `statuses`: how many there
 * are, how many are final, the most severe failure among them (what the
 * reports that brought them there left in the parent).
 *
 * @since 0.1.0
 * @category propagation
 */
export const tallyOf = (statuses: Iterable<Status>): Tally => {
  let total = 0
  let final = 0
  let worst: Status | null = null
  for (const status of statuses) {
    total++
    if (isFinal(status)) {
      final++
      if (isFailed(status)) worst = worse(worst, status)
    }
  }
  return { total, final, worst }
}

/**
 * The tally after one child moved from `from` to `to`. Only the move from a
 * non-final to a final status counts (a status becomes final once).
 *
 * @since 0.1.0
 * @category propagation
 */
export const tallyChild = (tally: Tally, from: Status, to: Status): Tally =>
  !isFinal(from) && isFinal(to)
    ? { total: tally.total, final: tally.final + 1, worst: isFailed(to) ? worse(tally.worst, to) : tally.worst }
    : tally

/**
 * The status a parent should move to, given its tally (already counting the
 * child's change) and the child's new status:
 *
 * - every child final → DONE if none failed, else the most severe failure;
 * - otherwise, a child that left PENDING → RUNNING;
 * - otherwise PENDING (no change).
 *
 * @since 0.1.0
 * @category propagation
 */
export const aggregate = (tally: Tally, child: Status): Status => {
  if (tally.total > 0 && tally.final >= tally.total) return tally.worst ?? DONE
  return child === PENDING ? PENDING : RUNNING
}

/**
 * One propagation step: a child of a parent in `parent` with `tally` moved
 * from `from` to `to`. Returns the parent's new tally and status; the status
 * only changes when `canAdvance` allows it (a final parent keeps its status,
 * and its tally still counts the child).
 *
 * @since 0.1.0
 * @category propagation
 */
export const propagate = (
  parent: Status,
  tally: Tally,
  from: Status,
  to: Status
): { readonly status: Status; readonly tally: Tally } => {
  const next = tallyChild(tally, from, to)
  const target = aggregate(next, to)
  return { status: canAdvance(parent, target) ? target : parent, tally: next }
}

// ---------------------------------------------------------------------------
// records
// ---------------------------------------------------------------------------

/**
 * The longest run, pipeline or task name the stores hold.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_NAME_LENGTH = 155

/**
 * The longest record id the stores hold (derived ids are the run id plus a
 * short suffix, so they always fit).
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_ID_LENGTH = 255

/**
 * What is wrong with a run id, pipeline id or task name, if anything: it
 * must be 1 to 155 characters.
 *
 * @since 0.1.0
 * @category rules
 */
export const nameIssue = (name: string): string | undefined => Text.nonEmptyIssue(name, MAX_NAME_LENGTH)

/**
 * What is wrong with a record id, if anything: it must be 1 to 255
 * characters.
 *
 * @since 0.1.0
 * @category rules
 */
export const idIssue = (id: string): string | undefined => Text.nonEmptyIssue(id, MAX_ID_LENGTH)

/**
 * A run id, pipeline id or task name (`nameIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Name = Schema.String.pipe(
  Schema.filter(nameIssue, { jsonSchema: { minLength: 1, maxLength: MAX_NAME_LENGTH } })
).annotations({ identifier: "PipelineName" })

/**
 * A record id (`idIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Id = Schema.String.pipe(
  Schema.filter(idIssue, { jsonSchema: { minLength: 1, maxLength: MAX_ID_LENGTH } })
).annotations({ identifier: "PipelineRecordId" })

const Timestamp = Schema.NullOr(Schema.DateTimeUtc)
const Position = Schema.Int.pipe(Schema.nonNegative())

const stamps = {
  status: Status,
  /** A status message (any JSON value), set by the last report that carried one. */
  message: Json.Json,
  started: Timestamp,
  completed: Timestamp
}

/**
 * What every record carries: its status, the last status message, when it
 * went RUNNING and when it became final.
 *
 * @since 0.1.0
 * @category models
 */
export interface Stamped {
  readonly status: Status
  readonly message: Json.Json
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
  /** When the run was built. */
  readonly created: DateTime.Utc
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const PipelineExecution = Schema.Struct({
  runId: Name,
  pipelineId: Name,
  inputData: Json.Json,
  created: Schema.DateTimeUtc,
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
  /** Position among the run's pipeline results, from 0. */
  readonly index: number
  readonly object: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const PipelineResult = Schema.Struct({
  id: Id,
  runId: Name,
  index: Position,
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
  /** Position among the pipeline result's tasks, from 0. */
  readonly index: number
  readonly taskName: string
  readonly config: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskExecution = Schema.Struct({
  id: Id,
  runId: Name,
  pipelineResultId: Id,
  index: Position,
  taskName: Name,
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
  /** Position among the task execution's results, from 0. */
  readonly index: number
  readonly object: Json.Json
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskResult = Schema.Struct({
  id: Id,
  runId: Name,
  taskExecutionId: Id,
  index: Position,
  object: Json.Json,
  ...stamps
}).annotations({ identifier: "TaskResult" })

/**
 * The four kinds of record, from the top of a run's tree to the bottom.
 *
 * @since 0.1.0
 * @category kinds
 */
export const Kind = Schema.Literal("PipelineExecution", "PipelineResult", "TaskExecution", "TaskResult")

/**
 * @since 0.1.0
 * @category kinds
 */
export type Kind = typeof Kind.Type

/**
 * The kind of a record's parent (none for the execution).
 *
 * @since 0.1.0
 * @category kinds
 */
export const parentKind = (kind: Kind): Kind | undefined => {
  switch (kind) {
    case "PipelineExecution":
      return undefined
    case "PipelineResult":
      return "PipelineExecution"
    case "TaskExecution":
      return "PipelineResult"
    case "TaskResult":
      return "TaskExecution"
  }
}

// ---------------------------------------------------------------------------
// derived ids
// ---------------------------------------------------------------------------

/**
 * The id a store gives the `index`-th pipeline result of a run when the
 * caller gives none: `<runId>:<index>`. Derived ids make a build
 * deterministic, so a retried build cannot create a second tree. The
 * separator is one a document store accepts in a key (ArangoDB refuses `/`).
 *
 * @since 0.1.0
 * @category ids
 */
export const pipelineResultId = (runId: string, index: number): string => `${runId}:${index}`

/**
 * `<pipelineResultId>:t<index>`.
 *
 * @since 0.1.0
 * @category ids
 */
export const taskExecutionId = (pipelineResultId: string, index: number): string => `${pipelineResultId}:t${index}`

/**
 * `<taskExecutionId>:<index>`.
 *
 * @since 0.1.0
 * @category ids
 */
export const taskResultId = (taskExecutionId: string, index: number): string => `${taskExecutionId}:${index}`

// ---------------------------------------------------------------------------
// digest
// ---------------------------------------------------------------------------

/**
 * Per-pipeline summary.
 *
 * @since 0.1.0
 * @category models
 */
export interface Digest {
  readonly pipelineId: string
  /** Runs stored for the pipeline, finished or not. */
  readonly totalRuns: number
  /** Runs that finished DONE. */
  readonly successes: number
  /** Runs that finished with one of the four failures. */
  readonly failures: number
  /** The latest start of a run (`started`, or `created` for a run that never went RUNNING). */
  readonly lastRan: DateTime.Utc | null
  /** Mean of completed − started over runs that have both, in milliseconds. */
  readonly averageRuntimeMs: number | null
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const Digest = Schema.Struct({
  pipelineId: Name,
  totalRuns: Schema.NonNegativeInt,
  successes: Schema.NonNegativeInt,
  failures: Schema.NonNegativeInt,
  lastRan: Timestamp,
  averageRuntimeMs: Schema.NullOr(Schema.NonNegative)
}).annotations({ identifier: "PipelineDigest" })
