/**
 * The errors a caller of `PipelineStore` can see (with `InvalidInput` from
 * `BackendError`, shared with `ResultBackend`). Storage errors never leak:
 * every implementation maps them to one of these, keeping the cause.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import { causeMessage } from "./BackendError.js"

/**
 * A status report named a record that is not stored.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineNotFound extends Schema.TaggedError<PipelineNotFound>("@taskmeta/core/PipelineNotFound")(
  "PipelineNotFound",
  {
    kind: Pipeline.Kind,
    id: Schema.String
  }
) {
  override get message(): string {
    return `no ${this.kind} ${JSON.stringify(this.id.slice(0, 160))} is stored`
  }
}

/**
 * Building a run's tree failed (after the retries the policy allows), e.g.
 * because a caller-given id is already used by another run. Nothing of the
 * run was written. For a batch (`PipelineStore.restoreMany`), `runId` is the
 * batch's first run and `runs` how many runs it held; nothing of the batch
 * was written.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineBuildError extends Schema.TaggedError<PipelineBuildError>("@taskmeta/core/PipelineBuildError")(
  "PipelineBuildError",
  {
    runId: Schema.String,
    runs: Schema.optional(Schema.Number),
    cause: Schema.Defect
  }
) {
  override get message(): string {
    return this.runs === undefined || this.runs === 1
      ? `could not build run ${this.runId}: ${causeMessage(this.cause)}`
      : `could not restore ${this.runs} runs (the first ${this.runId}): ${causeMessage(this.cause)}`
  }
}

/**
 * Reporting a status failed (after retries). Nothing of the report was
 * written: the record and its ancestors are as they were.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineReportError extends Schema.TaggedError<PipelineReportError>("@taskmeta/core/PipelineReportError")(
  "PipelineReportError",
  {
    kind: Pipeline.Kind,
    id: Schema.String,
    status: Pipeline.Status,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    return `could not report ${this.status} for ${this.kind} ${this.id}: ${causeMessage(this.cause)}`
  }
}

/**
 * A read (get, list, digest) failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineReadError extends Schema.TaggedError<PipelineReadError>("@taskmeta/core/PipelineReadError")(
  "PipelineReadError",
  {
    operation: Schema.String,
    id: Schema.String,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    return `${this.operation} ${this.id} failed: ${causeMessage(this.cause)}`
  }
}

/**
 * A cleanup failed. `removedRunIds` lists the runs earlier batches removed.
 *
 * @since 0.1.0
 * @category errors
 */
export class PipelineCleanupError extends Schema.TaggedError<PipelineCleanupError>(
  "@taskmeta/core/PipelineCleanupError"
)("PipelineCleanupError", {
  removedRunIds: Schema.Array(Schema.String),
  cause: Schema.Defect
}) {
  override get message(): string {
    return `pipeline cleanup failed after removing ${this.removedRunIds.length} runs: ${causeMessage(this.cause)}`
  }
}
