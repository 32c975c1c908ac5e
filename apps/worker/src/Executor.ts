/**
 * Runs a task the way a Celery worker does and stores every step through
 * the `ResultBackend`: STARTED (`{pid, hostname}`), then SUCCESS with the
 * return value, FAILURE with the error envelope and a traceback, or RETRY
 * (same task id, `retries` counting up) followed by another attempt.
 * Extended fields (name, args, kwargs, worker, retries, queue) are stored
 * with every step.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import type * as Json from "@taskmeta/schema/Json"
import * as Os from "node:os"
import * as Tasks from "./Tasks.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Request {
  readonly args?: ReadonlyArray<Json.Json> | undefined
  readonly kwargs?: Json.JsonObject | undefined
  readonly queue?: string | undefined
  /** Default: a fresh UUID. */
  readonly taskId?: string | undefined
}

/**
 * The worker's name as Celery prints it: `taskmeta@<hostname>`.
 *
 * @since 0.1.0
 * @category constants
 */
export const workerName = `taskmeta@${Os.hostname()}`

/** A Python-looking traceback for an error the task body raised. */
const traceback = (task: Tasks.Task, error: Tasks.TaskFailed | Tasks.RetryLater, args: ReadonlyArray<Json.Json>) =>
  [
    "Traceback (most recent call last):",
    `  File "apps/worker/src/Tasks.ts", in ${task.name}`,
    `    ${task.name}(${args.map((a) => JSON.stringify(a)).join(", ")})`,
    `${error.excModule === "builtins" ? "" : `${error.excModule}.`}${error.excType}: ${error.reason}`,
    ""
  ].join("\n")

/**
 * Runs `task` and stores its states. Returns the final record.
 * Uninterruptible once started, so a shutdown never leaves a task STARTED:
 * the worker finishes what it began (Celery's warm shutdown).
 *
 * @since 0.1.0
 * @category execution
 */
export const execute = Effect.fn("Worker.execute")(function*(task: Tasks.Task, request: Request = {}) {
  const backend = yield* ResultBackend.ResultBackend
  const taskId = request.taskId ?? crypto.randomUUID()
  const args = request.args ?? []
  const kwargs = request.kwargs ?? {}
  yield* Effect.annotateCurrentSpan({ taskId, task: task.name })
  const extended = (retries: number) => ({
    name: task.name,
    args,
    kwargs,
    worker: workerName,
    retries,
    queue: request.queue ?? "celery"
  })
  let retries = 0
  for (;;) {
    yield* backend.store(taskId, { pid: process.pid, hostname: workerName }, "STARTED", extended(retries))
    const outcome = yield* Effect.either(task.run(args, kwargs, { retries }))
    if (outcome._tag === "Right") {
      yield* backend.store(taskId, outcome.right, "SUCCESS", extended(retries))
      yield* Effect.logInfo(`Task ${task.name}[${taskId}] succeeded: ${JSON.stringify(outcome.right)}`)
      break
    }
    const error = outcome.left
    const envelope = ExceptionInfo.make(error.excType, [error.reason], error.excModule)
    if (error._tag === "RetryLater" && retries < task.maxRetries) {
      yield* backend.store(taskId, envelope, "RETRY", { ...extended(retries), traceback: traceback(task, error, args) })
      yield* Effect.logInfo(`Task ${task.name}[${taskId}] retry in ${error.countdownMillis} ms: ${error.reason}`)
      yield* Effect.sleep(error.countdownMillis)
      retries++
      continue
    }
    yield* backend.store(taskId, envelope, "FAILURE", { ...extended(retries), traceback: traceback(task, error, args) })
    yield* Effect.logWarning(`Task ${task.name}[${taskId}] raised ${ExceptionInfo.format(envelope)}`)
    break
  }
  return yield* backend.get(taskId)
}, Effect.uninterruptible)

/**
 * Runs several tasks at once and saves them as a group (Celery's
 * `group(...)`), returning the group id.
 *
 * @since 0.1.0
 * @category execution
 */
export const group = Effect.fn("Worker.group")(function*(
  members: ReadonlyArray<readonly [Tasks.Task, Request]>
) {
  const backend = yield* ResultBackend.ResultBackend
  const groupId = crypto.randomUUID()
  const withIds = members.map(([task, request]) => [task, { ...request, taskId: crypto.randomUUID() }] as const)
  yield* backend.saveGroup(groupId, withIds.map(([, r]) => r.taskId))
  const records = yield* Effect.forEach(withIds, ([task, request]) => execute(task, request), { concurrency: "unbounded" })
  yield* Effect.logInfo(`Group ${groupId} done: ${records.map((r) => r.status).join(", ")}`)
  return groupId
})
