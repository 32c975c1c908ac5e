/**
 * The dashboard's HTTP API, defined with `@effect/platform`'s `HttpApi`:
 * every request and response has a schema, and the server serves the
 * OpenAPI document made from them at `/api/openapi.json`.
 *
 * JSON values a store keeps (results, args, kwargs, pipeline objects and
 * messages) travel as JSON text (`JsonText`), so integers beyond 2^53 keep
 * every digit: a browser's `JSON.parse` would round them.
 *
 * Bad parameters answer 400 with a JSON body (`HttpApiDecodeError` for a
 * request that does not match its schema, `BadRequest` for a query the
 * store cannot answer), never a stack trace.
 *
 * @since 0.1.0
 */
import * as HttpApi from "@effect/platform/HttpApi"
import * as HttpApiEndpoint from "@effect/platform/HttpApiEndpoint"
import * as HttpApiGroup from "@effect/platform/HttpApiGroup"
import * as HttpApiSchema from "@effect/platform/HttpApiSchema"
import * as OpenApi from "@effect/platform/OpenApi"
import * as Schema from "effect/Schema"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A query the store cannot answer as asked (a cursor from elsewhere, an
 * empty window, an invalid id).
 *
 * @since 0.1.0
 * @category errors
 */
export class BadRequest extends Schema.TaggedError<BadRequest>("@taskmeta/http/BadRequest")(
  "BadRequest",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 400, description: "The query cannot be answered as asked" })
) {}

/**
 * @since 0.1.0
 * @category errors
 */
export class NotFound extends Schema.TaggedError<NotFound>("@taskmeta/http/NotFound")(
  "NotFound",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 404, description: "Nothing is stored under that id" })
) {}

/**
 * A write refused: the server is read-only (started without
 * `--allow-writes`), or the request came from another origin.
 *
 * @since 0.1.0
 * @category errors
 */
export class Forbidden extends Schema.TaggedError<Forbidden>("@taskmeta/http/Forbidden")(
  "Forbidden",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 403, description: "The server refuses the request" })
) {}

/**
 * The store failed or took longer than the server allows a query.
 *
 * @since 0.1.0
 * @category errors
 */
export class StoreUnavailable extends Schema.TaggedError<StoreUnavailable>("@taskmeta/http/StoreUnavailable")(
  "StoreUnavailable",
  { message: Schema.String },
  HttpApiSchema.annotations({ status: 503, description: "The store failed or did not answer in time" })
) {}

// ---------------------------------------------------------------------------
// shapes
// ---------------------------------------------------------------------------

/**
 * The most records a page may hold.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PAGE = 200

/**
 * The records a page holds unless asked.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PAGE = 50

/**
 * A JSON value as JSON text; integers beyond 2^53 keep every digit.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonText = Schema.String.annotations({
  identifier: "JsonText",
  description: "A JSON value, as JSON text (integers beyond 2^53 keep every digit)"
})

// ISO-8601 in UTC, to the microsecond: six fraction digits when the instant has microseconds
// (Celery's date_done has them), three otherwise.
const Instant = UtcTime.DateTimeUtcFromIso.annotations({ description: "ISO-8601, UTC (six fraction digits when there are microseconds)" })

/**
 * A task record.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Task = Schema.Struct({
  taskId: Schema.String,
  status: Schema.String,
  /** The result, progress meta, or (EXCEPTION states) Celery's error envelope. */
  result: JsonText,
  traceback: Schema.NullOr(Schema.String),
  dateDone: Schema.NullOr(Instant),
  name: Schema.NullOr(Schema.String),
  args: Schema.NullOr(JsonText),
  kwargs: Schema.NullOr(JsonText),
  worker: Schema.NullOr(Schema.String),
  retries: Schema.NullOr(Schema.Number),
  queue: Schema.NullOr(Schema.String)
}).annotations({ identifier: "Task" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskPage = Schema.Struct({
  tasks: Schema.Array(Task),
  /** Pass as `after` for the next page; null on the last. */
  next: Schema.NullOr(Schema.String)
}).annotations({ identifier: "TaskPage" })

/**
 * How a result is stored: JSON, or a Celery pickle read by taskmeta's safe
 * decoder (which never imports or calls anything).
 *
 * @since 0.1.0
 * @category schemas
 */
export const StoredForm = Schema.Struct({
  encoding: Schema.NullOr(Schema.Literal("json", "pickle")),
  bytes: Schema.NullOr(Schema.Number)
}).annotations({ identifier: "StoredForm" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const TaskDetail = Schema.Struct({
  task: Task,
  stored: StoredForm
}).annotations({ identifier: "TaskDetail" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const Group = Schema.Struct({
  groupId: Schema.String,
  dateDone: Instant,
  taskIds: Schema.Array(Schema.String)
}).annotations({ identifier: "Group" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const GroupPage = Schema.Struct({
  groups: Schema.Array(Group),
  next: Schema.NullOr(Schema.String)
}).annotations({ identifier: "GroupPage" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const GroupDetail = Schema.Struct({
  group: Group,
  members: Schema.Array(Task)
}).annotations({ identifier: "GroupDetail" })

const stamps = {
  status: Pipeline.Status,
  message: JsonText,
  started: Schema.NullOr(Instant),
  completed: Schema.NullOr(Instant)
}

/**
 * A pipeline run (its `PipelineExecution`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Run = Schema.Struct({
  runId: Schema.String,
  pipelineId: Schema.String,
  inputData: JsonText,
  created: Instant,
  ...stamps
}).annotations({ identifier: "PipelineRun" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunList = Schema.Struct({
  runs: Schema.Array(Run),
  /** Runs left out by the limit. */
  truncated: Schema.Boolean
}).annotations({ identifier: "PipelineRunList" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunTaskResult = Schema.Struct({
  id: Schema.String,
  index: Schema.Number,
  object: JsonText,
  ...stamps
}).annotations({ identifier: "PipelineTaskResult" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunTaskExecution = Schema.Struct({
  id: Schema.String,
  index: Schema.Number,
  taskName: Schema.String,
  config: JsonText,
  ...stamps,
  results: Schema.Array(RunTaskResult)
}).annotations({ identifier: "PipelineTaskExecution" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunPipelineResult = Schema.Struct({
  id: Schema.String,
  index: Schema.Number,
  object: JsonText,
  ...stamps,
  tasks: Schema.Array(RunTaskExecution)
}).annotations({ identifier: "PipelineResult" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const RunTree = Schema.Struct({
  run: Run,
  pipelineResults: Schema.Array(RunPipelineResult)
}).annotations({ identifier: "PipelineRunTree" })

const Counts = Schema.Record({ key: Schema.String, value: Schema.Number })

/**
 * Tasks finished in a window of time.
 *
 * @since 0.1.0
 * @category schemas
 */
export const WindowStats = Schema.Struct({
  since: Instant,
  until: Instant,
  bucketSeconds: Schema.Number,
  byState: Counts,
  /** FAILURE / (SUCCESS + FAILURE); null when neither. */
  failureRate: Schema.NullOr(Schema.Number),
  buckets: Schema.Array(Schema.Struct({ start: Instant, byState: Counts })),
  topFailing: Schema.Array(Schema.Struct({
    name: Schema.NullOr(Schema.String),
    failures: Schema.Number,
    total: Schema.Number
  }))
}).annotations({ identifier: "WindowStats" })

/**
 * The whole store at a glance.
 *
 * @since 0.1.0
 * @category schemas
 */
export const Summary = Schema.Struct({
  /** `memory`, `sqlite`, `postgres` or `arango` (never the URL). */
  kind: Schema.String,
  tasks: Schema.Number,
  byState: Counts,
  oldestUnfinished: Schema.NullOr(Schema.Struct({ taskId: Schema.String, status: Schema.String })),
  /** What a cleanup now would delete. */
  cleanupDue: Schema.Struct({ tasks: Schema.Number, groups: Schema.Number }),
  /** Whether forget and cleanup are allowed (`--allow-writes`). */
  writable: Schema.Boolean
}).annotations({ identifier: "Summary" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const CleanupRequest = Schema.Struct({
  /** Only count (the default): a cleanup deletes only when this is `false`. */
  dryRun: Schema.optionalWith(Schema.Boolean, { default: () => true })
}).annotations({ identifier: "CleanupRequest" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const CleanupReport = Schema.Struct({
  dryRun: Schema.Boolean,
  tasks: Schema.Number,
  groups: Schema.Number
}).annotations({ identifier: "CleanupReport" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const Forgotten = Schema.Struct({
  taskId: Schema.String,
  /** Whether a record was stored (forgetting an unknown id is not an error). */
  existed: Schema.Boolean
}).annotations({ identifier: "Forgotten" })

// ---------------------------------------------------------------------------
// parameters
// ---------------------------------------------------------------------------

const Limit = Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, MAX_PAGE)).annotations({
  description: `Records per page, 1 to ${MAX_PAGE} (default ${DEFAULT_PAGE})`
})

const ShortText = TaskRecord.ShortText

/**
 * The task filters, shared by the task list and the event stream.
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskFilter = {
  /** Only these states (repeat the parameter for several). */
  state: Schema.optional(Schema.Array(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(50)))),
  name: Schema.optional(ShortText),
  worker: Schema.optional(ShortText),
  queue: Schema.optional(ShortText),
  /** Finished at or after (ISO-8601). */
  since: Schema.optional(Schema.DateTimeUtc),
  /** Finished before (ISO-8601). */
  until: Schema.optional(Schema.DateTimeUtc),
  /** Text in the result or the traceback (case-sensitive). */
  text: Schema.optional(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(200)))
}

const taskIdParam = HttpApiSchema.param("taskId", TaskRecord.TaskId)
const groupIdParam = HttpApiSchema.param("groupId", TaskRecord.TaskId)
const runIdParam = HttpApiSchema.param("runId", Pipeline.Name)

// ---------------------------------------------------------------------------
// groups of endpoints
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category api
 */
export class TasksApi extends HttpApiGroup.make("tasks")
  .add(
    HttpApiEndpoint.get("list", "/tasks")
      .setUrlParams(Schema.Struct({
        ...TaskFilter,
        after: Schema.optional(Schema.String.pipe(Schema.maxLength(40))),
        limit: Schema.optional(Limit)
      }))
      .addSuccess(TaskPage)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Tasks, newest first, filtered, a page at a time (keyset cursor)")
  )
  .add(
    HttpApiEndpoint.get("get")`/tasks/${taskIdParam}`
      .addSuccess(TaskDetail)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One task, with how its result is stored")
  )
  .add(
    HttpApiEndpoint.del("forget")`/tasks/${taskIdParam}`
      .addSuccess(Forgotten)
      .addError(Forbidden)
      .annotate(OpenApi.Summary, "Deletes one task's record (needs --allow-writes)")
  )
  .addError(StoreUnavailable)
{}

/**
 * @since 0.1.0
 * @category api
 */
export class GroupsApi extends HttpApiGroup.make("groups")
  .add(
    HttpApiEndpoint.get("list", "/groups")
      .setUrlParams(Schema.Struct({
        after: Schema.optional(Schema.String.pipe(Schema.maxLength(40))),
        limit: Schema.optional(Limit)
      }))
      .addSuccess(GroupPage)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Groups, the most recently saved first")
  )
  .add(
    HttpApiEndpoint.get("get")`/groups/${groupIdParam}`
      .addSuccess(GroupDetail)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "A group and its member tasks, in order")
  )
  .addError(StoreUnavailable)
{}

/**
 * @since 0.1.0
 * @category api
 */
export class PipelinesApi extends HttpApiGroup.make("pipelines")
  .add(
    HttpApiEndpoint.get("list", "/pipelines/runs")
      .setUrlParams(Schema.Struct({
        /** Only runs of these pipelines (repeatable). */
        pipeline: Schema.optional(Schema.Array(Pipeline.Name)),
        limit: Schema.optional(Limit)
      }))
      .addSuccess(RunList)
      .annotate(OpenApi.Summary, "Pipeline runs, the most recently created first")
  )
  .add(
    HttpApiEndpoint.get("get")`/pipelines/runs/${runIdParam}`
      .addSuccess(RunTree)
      .addError(NotFound)
      .annotate(OpenApi.Summary, "One run as a tree: pipeline results, their task executions, their task results")
  )
  .addError(StoreUnavailable)
{}

/**
 * @since 0.1.0
 * @category api
 */
export class StatsApi extends HttpApiGroup.make("stats")
  .add(
    HttpApiEndpoint.get("window", "/stats")
      .setUrlParams(Schema.Struct({
        /** Start of the window (default: 1 hour before `until`). */
        since: Schema.optional(Schema.DateTimeUtc),
        /** End of the window (default: now). */
        until: Schema.optional(Schema.DateTimeUtc),
        /** Bucket width in seconds (default 60; at most 1440 buckets). */
        bucket: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(1, 86_400))),
        /** How many failing task names (default 10). */
        top: Schema.optional(Schema.NumberFromString.pipe(Schema.int(), Schema.between(0, 100)))
      }))
      .addSuccess(WindowStats)
      .addError(BadRequest)
      .annotate(OpenApi.Summary, "Finished tasks over a window: per bucket by state, failure rate, most failing names")
  )
  .add(
    HttpApiEndpoint.get("summary", "/summary")
      .addSuccess(Summary)
      .annotate(OpenApi.Summary, "Counts by state, the oldest unfinished task, what a cleanup would delete")
  )
  .addError(StoreUnavailable)
{}

/**
 * @since 0.1.0
 * @category api
 */
export class MaintenanceApi extends HttpApiGroup.make("maintenance")
  .add(
    HttpApiEndpoint.post("cleanup", "/cleanup")
      .setPayload(CleanupRequest)
      .addSuccess(CleanupReport)
      .addError(Forbidden)
      .annotate(
        OpenApi.Summary,
        "Counts (dryRun, the default) or deletes expired records; deleting needs --allow-writes"
      )
  )
  .addError(StoreUnavailable)
{}

/**
 * The server-sent events stream: an `event: task` with a `Task` as its data
 * for every record written (new, or changed state) from the moment the
 * client connects, filtered like the task list.
 *
 * @since 0.1.0
 * @category api
 */
export class EventsApi extends HttpApiGroup.make("events")
  .add(
    HttpApiEndpoint.get("stream", "/events")
      .setUrlParams(Schema.Struct({
        state: TaskFilter.state,
        name: TaskFilter.name,
        worker: TaskFilter.worker,
        queue: TaskFilter.queue
      }))
      .addSuccess(Schema.String.pipe(HttpApiSchema.withEncoding({ kind: "Text", contentType: "text/event-stream" })))
      .addError(StoreUnavailable)
      .annotate(
        OpenApi.Description,
        "Server-sent events: `event: task` whose data is a Task (JSON), for each record written after the " +
          "client connects (pushed by LISTEN/NOTIFY on PostgreSQL, polled elsewhere); comments keep the " +
          "connection alive."
      )
  )
{}

/**
 * The whole API, under `/api`.
 *
 * @since 0.1.0
 * @category api
 */
export class DashboardApi extends HttpApi.make("taskmeta")
  .add(TasksApi)
  .add(GroupsApi)
  .add(PipelinesApi)
  .add(StatsApi)
  .add(MaintenanceApi)
  .add(EventsApi)
  .prefix("/api")
  .annotate(OpenApi.Title, "taskmeta")
  .annotate(
    OpenApi.Description,
    "Task results stored by taskmeta or Python Celery: tasks, groups, pipeline runs, stats, live changes."
  )
{}
