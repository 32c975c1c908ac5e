/**
 * The demo's tasks, Celery-style: a name, a body over `(args, kwargs)`, and
 * how it fails. A body fails with `TaskFailed` (stored as FAILURE, with the
 * error envelope and a traceback) or asks for another attempt with
 * `RetryLater` (stored as RETRY; the executor runs it again).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type * as Json from "@taskmeta/schema/Json"

/**
 * The task raised: `excType` / `excModule` as Python would name it.
 *
 * @since 0.1.0
 * @category errors
 */
export class TaskFailed extends Schema.TaggedError<TaskFailed>("@taskmeta/worker/TaskFailed")("TaskFailed", {
  excType: Schema.String,
  excModule: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * The task asks to run again after `countdown` (Celery's `self.retry`).
 *
 * @since 0.1.0
 * @category errors
 */
export class RetryLater extends Schema.TaggedError<RetryLater>("@taskmeta/worker/RetryLater")("RetryLater", {
  excType: Schema.String,
  excModule: Schema.String,
  reason: Schema.String,
  countdownMillis: Schema.Number
}) {
  override get message(): string {
    return this.reason
  }
}

/**
 * What a task body sees besides its arguments.
 *
 * @since 0.1.0
 * @category models
 */
export interface Context {
  /** How many times the task was retried before this attempt (Celery's `request.retries`). */
  readonly retries: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Task {
  readonly name: string
  readonly maxRetries: number
  readonly run: (
    args: ReadonlyArray<Json.Json>,
    kwargs: Json.JsonObject,
    context: Context
  ) => Effect.Effect<Json.Json, TaskFailed | RetryLater>
}

const numbers = (name: string, args: ReadonlyArray<Json.Json>) =>
  args.length === 2 && typeof args[0] === "number" && typeof args[1] === "number"
    ? Effect.succeed([args[0], args[1]] as const)
    : Effect.fail(
      new TaskFailed({
        excType: "TypeError",
        excModule: "builtins",
        reason: `${name}() takes 2 numbers (${args.length} given)`
      })
    )

/**
 * `multiply_two_numbers(16, 16)` → 256, as in the seed's beat example.
 *
 * @since 0.1.0
 * @category tasks
 */
export const multiplyTwoNumbers: Task = {
  name: "multiply_two_numbers",
  maxRetries: 0,
  run: (args) => Effect.map(numbers("multiply_two_numbers", args), ([a, b]) => a * b)
}

/**
 * `sum_two_numbers(16, 16)` → 32.
 *
 * @since 0.1.0
 * @category tasks
 */
export const sumTwoNumbers: Task = {
  name: "sum_two_numbers",
  maxRetries: 0,
  run: (args) => Effect.map(numbers("sum_two_numbers", args), ([a, b]) => a + b)
}

/**
 * `divide_two_numbers(16, 0)` fails with Python's `ZeroDivisionError`.
 *
 * @since 0.1.0
 * @category tasks
 */
export const divideTwoNumbers: Task = {
  name: "divide_two_numbers",
  maxRetries: 0,
  run: (args) =>
    Effect.flatMap(numbers("divide_two_numbers", args), ([a, b]) =>
      b === 0
        ? Effect.fail(new TaskFailed({ excType: "ZeroDivisionError", excModule: "builtins", reason: "division by zero" }))
        : Effect.succeed(a / b))
}

/**
 * `fetch_and_sum(16, 16)`: its "remote service" refuses the first two
 * attempts (`ConnectionError`, retried after a short countdown), then it
 * returns the sum with `retries` = 2.
 *
 * @since 0.1.0
 * @category tasks
 */
export const fetchAndSum: Task = {
  name: "fetch_and_sum",
  maxRetries: 3,
  run: (args, _kwargs, { retries }) =>
    Effect.flatMap(numbers("fetch_and_sum", args), ([a, b]) =>
      retries < 2
        ? Effect.fail(
          new RetryLater({
            excType: "ConnectionError",
            excModule: "requests.exceptions",
            reason: `remote service unavailable (attempt ${retries + 1})`,
            countdownMillis: 500
          })
        )
        : Effect.succeed(a + b))
}

/**
 * Every task the worker registers, by name.
 *
 * @since 0.1.0
 * @category registry
 */
export const registry: ReadonlyMap<string, Task> = new Map(
  [multiplyTwoNumbers, sumTwoNumbers, divideTwoNumbers, fetchAndSum].map((t) => [t.name, t])
)
