/**
 * The `PipelineStore` service: where pipeline runs keep their results
 * (SPEC §9). A run is a tree — one `PipelineExecution`, a `PipelineResult`
 * per object the pipeline iterates over, a `TaskExecution` per task per
 * pipeline result, a `TaskResult` per object a task iterates over.
 *
 * Status changes follow `Pipeline.canAdvance` and propagate upward:
 *
 * - a record whose child leaves PENDING becomes RUNNING (if it was PENDING);
 * - a record whose children are all final becomes DONE when every child is
 *   DONE, else the most severe failure among them (`Pipeline.FAILURES`);
 * - RUNNING stamps `started`, a final status stamps `completed`;
 * - a final record never changes again (a report or a propagation that
 *   would change it is ignored), and a report never changes children.
 *
 * Each report, with all the propagation it causes, is one atomic step of the
 * storage, so concurrent reports never lose a propagation.
 *
 * One tag, several layers (memory, SQL, ArangoDB); each is a
 * `PipelineDriver` turned into the service by `make`. A custom storage is any
 * layer that provides the tag and passes `PipelineConformance` from
 * `@taskmeta/testkit`.
 *
 * @example
 * ```ts
 * import { MemoryPipelineStore, PipelineStore } from "@taskmeta/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const store = yield* PipelineStore.PipelineStore
 *   // One run over one file, one task over one row; ids are derived from the run id.
 *   const { tree } = yield* store.build({
 *     runId: "run-1",
 *     pipelineId: "ingest_numbers",
 *     pipelineResults: [{ object: "a.csv", tasks: [{ taskName: "parse_rows", results: [{ object: 1 }] }] }]
 *   })
 *   const row = tree.taskResults[0]
 *   console.log(row.id) // "run-1:0:t0:0"
 *
 *   // A report propagates upward: the first RUNNING starts every parent, the last DONE finishes them.
 *   yield* store.report("TaskResult", row.id, "RUNNING")
 *   const done = yield* store.report("TaskResult", row.id, "DONE")
 *   console.log(done.changes.map((change) => `${change.kind}: ${change.from} -> ${change.to}`))
 *   // [ "TaskResult: RUNNING -> DONE", "TaskExecution: RUNNING -> DONE",
 *   //   "PipelineResult: RUNNING -> DONE", "PipelineExecution: RUNNING -> DONE" ]
 * })
 *
 * Effect.runPromise(program.pipe(Effect.provide(MemoryPipelineStore.layer())))
 * ```
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Json from "@taskmeta/schema/Json"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as PipelineRun from "@taskmeta/schema/PipelineRun"
import { type DriverError, InvalidInput } from "./BackendError.js"
import type { ListQuery, PipelineDriver, Tallies, Tree } from "./PipelineDriver.js"
import {
  PipelineBuildError,
  PipelineCleanupError,
  PipelineNotFound,
  PipelineReadError,
  PipelineReportError
} from "./PipelineError.js"
import * as RetryPolicy from "./RetryPolicy.js"

// ---------------------------------------------------------------------------
// inputs
// ---------------------------------------------------------------------------

/**
 * A whole run to build. Every id is optional: without one, the store derives
 * it from the run id and the positions (`Pipeline.pipelineResultId` …), so
 * building the same input twice addresses the same records.
 *
 * @since 0.1.0
 * @category inputs
 */
export interface BuildInput {
  readonly runId: string
  readonly pipelineId: string
  /** Any JSON value (default null). */
  readonly inputData?: unknown
  /**
   * The execution's initial status: PENDING (default), RUNNING, or — for a run
   * that failed before it had a tree, e.g. CONFIG_ERROR — a final status,
   * which requires no pipeline results.
   */
  readonly status?: Pipeline.Status | undefined
  /** The execution's initial status message (any JSON value, default null). */
  readonly message?: unknown
  readonly pipelineResults?: ReadonlyArray<PipelineResultInput> | undefined
}

/**
 * @since 0.1.0
 * @category inputs
 */
export interface PipelineResultInput {
  readonly id?: string | undefined
  /** The object the pipeline iterates over (any JSON value, default null). */
  readonly object?: unknown
  readonly tasks?: ReadonlyArray<TaskExecutionInput> | undefined
}

/**
 * @since 0.1.0
 * @category inputs
 */
export interface TaskExecutionInput {
  readonly id?: string | undefined
  readonly taskName: string
  /** The task's configuration (any JSON value, default null). */
  readonly config?: unknown
  readonly results?: ReadonlyArray<TaskResultInput> | undefined
}

/**
 * @since 0.1.0
 * @category inputs
 */
export interface TaskResultInput {
  readonly id?: string | undefined
  /** The object the task iterates over (any JSON value, default null). */
  readonly object?: unknown
}

/**
 * @since 0.1.0
 * @category inputs
 */
export interface ReportOptions {
  /** A status message (any JSON value) stored with the new status. */
  readonly message?: unknown
}

/**
 * Restricts a list to some statuses.
 *
 * @since 0.1.0
 * @category inputs
 */
export interface Filter {
  readonly status?: Pipeline.Status | ReadonlyArray<Pipeline.Status> | undefined
}

/**
 * @since 0.1.0
 * @category inputs
 */
export type TaskExecutionsOf = { readonly runId: string } | { readonly pipelineResultId: string }

/**
 * @since 0.1.0
 * @category inputs
 */
export type TaskResultsOf = { readonly runId: string } | { readonly taskExecutionId: string }

// ---------------------------------------------------------------------------
// outputs
// ---------------------------------------------------------------------------

/**
 * `created` is false when a run with the id was already stored; then nothing
 * was written and `tree` is the tree the input describes.
 *
 * @since 0.1.0
 * @category models
 */
export interface BuildOutcome {
  readonly created: boolean
  readonly tree: Tree
}

/**
 * One record's status change.
 *
 * @since 0.1.0
 * @category models
 */
export interface Change {
  readonly kind: Pipeline.Kind
  readonly id: string
  readonly from: Pipeline.Status
  readonly to: Pipeline.Status
}

/**
 * The outcome of a report. `applied` is false when the advance rule refused
 * it (nothing changed); `status` is the record's status afterwards; `changes`
 * lists the record's change and every propagated one, bottom-up.
 *
 * @since 0.1.0
 * @category models
 */
export interface ReportOutcome {
  readonly applied: boolean
  readonly status: Pipeline.Status
  readonly at: DateTime.Utc
  readonly changes: ReadonlyArray<Change>
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly retry?: RetryPolicy.Settings | undefined
  /** Runs removed per cleanup batch (each batch is one atomic step). Default 100. */
  readonly cleanupBatchSize?: number | undefined
}

// ---------------------------------------------------------------------------
// service
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `memory`, `sqlite`, `postgres`, `arango`, … */
  readonly kind: string
  /** Builds a run's whole tree (or only its execution) in one atomic step. */
  readonly build: (input: BuildInput) => Effect.Effect<BuildOutcome, InvalidInput | PipelineBuildError>
  /**
   * Stores a whole run exactly as it was read from another store — every
   * record's status, message and stamps, `created` included — in one atomic
   * step, with each parent's tally as its children imply. A run already
   * stored is left as it is (`created: false`, nothing written): a run's
   * records only advance, so a copy never rewrites one.
   */
  readonly restore: (run: Tree) => Effect.Effect<BuildOutcome, InvalidInput | PipelineBuildError>
  /**
   * `restore` for many runs: the outcomes, aligned with `runs`, are those of
   * restoring each in order — a run already stored, or one whose id came
   * earlier in `runs`, is left as it is (`created: false`). Every run is
   * validated before anything is written; an `InvalidInput` names the run
   * (its position in `field`, e.g. `runs[3].execution.status`, its id in
   * `id`). Where the storage batches (memory, SQL), the whole call is one
   * atomic step with one multi-row insert per record kind (chunked), and a
   * failure leaves nothing of it written; elsewhere the runs are restored one
   * by one, each atomically, and a failure keeps the runs before it.
   */
  readonly restoreMany: (
    runs: ReadonlyArray<Tree>
  ) => Effect.Effect<ReadonlyArray<BuildOutcome>, InvalidInput | PipelineBuildError>
  /** A run's whole tree (its execution and every record under it), or nothing. */
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<Tree>, InvalidInput | PipelineReadError>
  /**
   * `getRun` for many run ids, aligned with `runIds` (a repeated id is read
   * once and answered at each of its positions). Where the storage batches
   * (memory, SQL), one query per record kind for the whole list.
   */
  readonly getRuns: (
    runIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<Tree>>, InvalidInput | PipelineReadError>
  readonly getExecution: (
    runId: string
  ) => Effect.Effect<Option.Option<Pipeline.PipelineExecution>, InvalidInput | PipelineReadError>
  readonly getPipelineResult: (
    id: string
  ) => Effect.Effect<Option.Option<Pipeline.PipelineResult>, InvalidInput | PipelineReadError>
  readonly getTaskExecution: (
    id: string
  ) => Effect.Effect<Option.Option<Pipeline.TaskExecution>, InvalidInput | PipelineReadError>
  readonly getTaskResult: (
    id: string
  ) => Effect.Effect<Option.Option<Pipeline.TaskResult>, InvalidInput | PipelineReadError>
  /** A pipeline's runs, oldest first. */
  readonly listExecutions: (
    pipelineId: string
  ) => Effect.Effect<ReadonlyArray<Pipeline.PipelineExecution>, InvalidInput | PipelineReadError>
  /** A run's pipeline results, in order. */
  readonly listPipelineResults: (
    runId: string,
    filter?: Filter
  ) => Effect.Effect<ReadonlyArray<Pipeline.PipelineResult>, InvalidInput | PipelineReadError>
  /** The task executions of a run or of one pipeline result, in tree order. */
  readonly listTaskExecutions: (
    of: TaskExecutionsOf,
    filter?: Filter
  ) => Effect.Effect<ReadonlyArray<Pipeline.TaskExecution>, InvalidInput | PipelineReadError>
  /** The task results of a run or of one task execution, in tree order. */
  readonly listTaskResults: (
    of: TaskResultsOf,
    filter?: Filter
  ) => Effect.Effect<ReadonlyArray<Pipeline.TaskResult>, InvalidInput | PipelineReadError>
  /**
   * Reports a record's new status (for an execution, `id` is the run id) and
   * propagates it upward, atomically.
   */
  readonly report: (
    kind: Pipeline.Kind,
    id: string,
    status: Pipeline.Status,
    options?: ReportOptions
  ) => Effect.Effect<ReportOutcome, InvalidInput | PipelineNotFound | PipelineReportError>
  readonly digest: (pipelineId: string) => Effect.Effect<Pipeline.Digest, InvalidInput | PipelineReadError>
  /**
   * Removes every run whose execution is final and completed before `before`,
   * with its whole tree, in bounded batches; returns the removed run ids.
   * Unfinished runs are kept.
   */
  readonly cleanup: (before: DateTime.Utc) => Effect.Effect<ReadonlyArray<string>, PipelineCleanupError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class PipelineStore extends Context.Tag("@taskmeta/core/PipelineStore")<PipelineStore, Service>() {}

// ---------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------

// The rules and their messages are the schema's (`Pipeline.nameIssue`, `Pipeline.idIssue`).
const checkText = (
  field: string,
  value: unknown,
  issue: (value: string) => string | undefined,
  id?: string
): Either.Either<string, InvalidInput> => {
  const context = id === undefined ? {} : { id }
  if (typeof value !== "string") return Either.left(new InvalidInput({ field, reason: "must be a string", ...context }))
  const problem = issue(value)
  return problem === undefined ? Either.right(value) : Either.left(new InvalidInput({ field, reason: problem, ...context }))
}

const checkName = (field: string, value: unknown, id?: string) => checkText(field, value, Pipeline.nameIssue, id)
const checkId = (field: string, value: unknown) => checkText(field, value, Pipeline.idIssue)

const checkJson = (field: string, value: unknown, id: string): Either.Either<Json.Json, InvalidInput> =>
  value === undefined
    ? Either.right(null)
    : Either.mapLeft(Json.normalize(value), (e) => new InvalidInput({ field, reason: e.message, id }))

const checkStatus = (field: string, value: unknown, id: string): Either.Either<Pipeline.Status, InvalidInput> =>
  typeof value === "string" && Pipeline.isStatus(value)
    ? Either.right(value)
    : Either.left(
      new InvalidInput({ field, reason: `must be one of ${Pipeline.STATUSES.join(", ")}`, id })
    )

const checkKind = (value: unknown): Either.Either<Pipeline.Kind, InvalidInput> =>
  value === "PipelineExecution" || value === "PipelineResult" || value === "TaskExecution" || value === "TaskResult"
    ? Either.right(value)
    : Either.left(new InvalidInput({ field: "kind", reason: "must be a record kind" }))

const checkArray = <A>(field: string, value: ReadonlyArray<A> | undefined, id: string) =>
  value === undefined
    ? Either.right<ReadonlyArray<A>>([])
    : Array.isArray(value)
    ? Either.right<ReadonlyArray<A>>(value)
    : Either.left(new InvalidInput({ field, reason: "must be an array", id }))

const checkFilter = (filter: Filter | undefined): Either.Either<ReadonlyArray<Pipeline.Status> | undefined, InvalidInput> => {
  const status = filter?.status
  if (status === undefined) return Either.right(undefined)
  const list: ReadonlyArray<unknown> = Array.isArray(status) ? status : [status]
  if (list.length === 0) return Either.left(new InvalidInput({ field: "status", reason: "must not be an empty list" }))
  for (const s of list) {
    if (typeof s !== "string" || !Pipeline.isStatus(s)) {
      return Either.left(new InvalidInput({ field: "status", reason: `must be one of ${Pipeline.STATUSES.join(", ")}` }))
    }
  }
  return Either.right(Array.from(new Set(list as ReadonlyArray<Pipeline.Status>)))
}

const stamped = (status: Pipeline.Status, message: Json.Json, now: DateTime.Utc) => ({
  status,
  message,
  started: status === Pipeline.RUNNING ? now : null,
  completed: Pipeline.isFinal(status) ? now : null
})

const pending = { status: Pipeline.PENDING, message: null, started: null, completed: null } as const

/**
 * Validates a build request and materialises its tree: ids derived where
 * none is given, JSON values normalised, everything PENDING but the
 * execution's requested status, stamped with `now`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const prepareTree = (
  input: BuildInput,
  now: DateTime.Utc
): Either.Either<{ readonly tree: Tree; readonly tallies: Tallies }, InvalidInput> =>
  Either.gen(function*() {
    if (typeof input !== "object" || input === null) {
      return yield* Either.left(new InvalidInput({ field: "input", reason: "must be an object" }))
    }
    const runId = yield* checkName("runId", input.runId)
    const pipelineId = yield* checkName("pipelineId", input.pipelineId, runId)
    const inputData = yield* checkJson("inputData", input.inputData, runId)
    const status = input.status === undefined ? Pipeline.PENDING : yield* checkStatus("status", input.status, runId)
    const message = yield* checkJson("message", input.message, runId)
    const prInputs = yield* checkArray("pipelineResults", input.pipelineResults, runId)
    if (Pipeline.isFinal(status) && prInputs.length > 0) {
      return yield* Either.left(
        new InvalidInput({ field: "status", reason: "a run built final cannot have pipeline results", id: runId })
      )
    }
    const pipelineResults: Array<Pipeline.PipelineResult> = []
    const taskExecutions: Array<Pipeline.TaskExecution> = []
    const taskResults: Array<Pipeline.TaskResult> = []
    const prChildren: Array<number> = []
    const teChildren: Array<number> = []
    const seen = { pr: new Set<string>(), te: new Set<string>(), tr: new Set<string>() }
    const unique = (set: Set<string>, field: string, id: string) => {
      if (set.has(id)) return Either.left(new InvalidInput({ field, reason: "is used twice in the run", id }))
      set.add(id)
      return Either.right(id)
    }
    for (let p = 0; p < prInputs.length; p++) {
      const pr = prInputs[p]
      if (typeof pr !== "object" || pr === null) {
        return yield* Either.left(new InvalidInput({ field: `pipelineResults[${p}]`, reason: "must be an object", id: runId }))
      }
      const prId = yield* unique(
        seen.pr,
        "pipelineResults.id",
        pr.id === undefined ? Pipeline.pipelineResultId(runId, p) : yield* checkId("pipelineResults.id", pr.id)
      )
      const object = yield* checkJson("pipelineResults.object", pr.object, prId)
      const tasks = yield* checkArray("tasks", pr.tasks, prId)
      pipelineResults.push({ id: prId, runId, index: p, object, ...pending })
      prChildren.push(tasks.length)
      for (let t = 0; t < tasks.length; t++) {
        const te = tasks[t]
        if (typeof te !== "object" || te === null) {
          return yield* Either.left(new InvalidInput({ field: `tasks[${t}]`, reason: "must be an object", id: prId }))
        }
        const teId = yield* unique(
          seen.te,
          "tasks.id",
          te.id === undefined ? Pipeline.taskExecutionId(prId, t) : yield* checkId("tasks.id", te.id)
        )
        const taskName = yield* checkName("taskName", te.taskName, teId)
        const config = yield* checkJson("config", te.config, teId)
        const results = yield* checkArray("results", te.results, teId)
        taskExecutions.push({ id: teId, runId, pipelineResultId: prId, index: t, taskName, config, ...pending })
        teChildren.push(results.length)
        for (let r = 0; r < results.length; r++) {
          const tr = results[r]
          if (typeof tr !== "object" || tr === null) {
            return yield* Either.left(new InvalidInput({ field: `results[${r}]`, reason: "must be an object", id: teId }))
          }
          const trId = yield* unique(
            seen.tr,
            "results.id",
            tr.id === undefined ? Pipeline.taskResultId(teId, r) : yield* checkId("results.id", tr.id)
          )
          const trObject = yield* checkJson("results.object", tr.object, trId)
          taskResults.push({ id: trId, runId, taskExecutionId: teId, index: r, object: trObject, ...pending })
        }
      }
    }
    const execution: Pipeline.PipelineExecution = {
      runId,
      pipelineId,
      inputData,
      created: now,
      ...stamped(status, message, now)
    }
    return {
      tree: { execution, pipelineResults, taskExecutions, taskResults },
      tallies: {
        execution: Pipeline.emptyTally(pipelineResults.length),
        pipelineResults: prChildren.map((n) => Pipeline.emptyTally(n)),
        taskExecutions: teChildren.map((n) => Pipeline.emptyTally(n))
      }
    }
  })

// ---------------------------------------------------------------------------
// make
// ---------------------------------------------------------------------------

const isDriverError = (e: unknown): e is DriverError =>
  typeof e === "object" && e !== null && (e as { readonly _tag?: unknown })._tag === "DriverError"

/**
 * Builds the service over a driver.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (driver: PipelineDriver, options: Options = {}): Effect.Effect<Service> =>
  Effect.sync(() => {
    const settings = options.retry ?? RetryPolicy.defaults
    const batch = Math.max(1, Math.floor(options.cleanupBatchSize ?? 100))
    const onRetry = (error: DriverError) =>
      Effect.logDebug("retrying after a transient storage error").pipe(
        Effect.annotateLogs({ store: driver.kind, operation: error.operation, error: error.message }),
        Effect.zipRight(driver.onRetryableError ? driver.onRetryableError(error) : Effect.void)
      )
    const retry = RetryPolicy.retryTransient<DriverError>(settings, driver.isTransient, onRetry)
    // `atomically` may fail with the step's own errors too; only driver errors are retried.
    const retryStep = <A, E>(self: Effect.Effect<A, E | DriverError>) =>
      RetryPolicy.retryTransient<E | DriverError>(
        settings,
        (e) => isDriverError(e) && driver.isTransient(e),
        (e) => isDriverError(e) ? onRetry(e) : Effect.void
      )(self)

    const read = <A>(operation: string, id: string, effect: Effect.Effect<A, DriverError>) =>
      retry(effect).pipe(Effect.mapError((e) => new PipelineReadError({ operation, id, cause: e.cause })))

    const build = Effect.fn("PipelineStore.build")(function*(input: BuildInput) {
      const now = yield* DateTime.now
      const prepared = prepareTree(input, now)
      if (Either.isLeft(prepared)) return yield* prepared.left
      const { tallies, tree } = prepared.right
      yield* Effect.annotateCurrentSpan({
        runId: tree.execution.runId,
        pipelineResults: tree.pipelineResults.length,
        taskExecutions: tree.taskExecutions.length,
        taskResults: tree.taskResults.length
      })
      const created = yield* retry(driver.insert(tree, tallies)).pipe(
        Effect.mapError((e) => new PipelineBuildError({ runId: tree.execution.runId, cause: e.cause }))
      )
      return { created, tree } satisfies BuildOutcome
    })

    const decodeRun = Schema.validateEither(PipelineRun.PipelineRun)

    // `restore`'s checks; `at` prefixes the field with the run's position (restoreMany).
    const checkRun = (run: Tree, at = ""): Either.Either<Tree, InvalidInput> => {
      const decoded = decodeRun(run)
      if (Either.isLeft(decoded)) {
        const [issue] = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
        const runId = typeof run === "object" && run !== null && typeof run.execution?.runId === "string"
          ? { id: run.execution.runId }
          : {}
        return Either.left(
          new InvalidInput({
            field: at + (issue === undefined || issue.path.length === 0 ? "run" : issue.path.join(".")),
            reason: issue?.message ?? "must be a pipeline run",
            ...runId
          })
        )
      }
      const tree = decoded.right
      const issue = PipelineRun.structureIssue(tree)
      return issue === undefined
        ? Either.right(tree)
        : Either.left(new InvalidInput({ field: `${at}run`, reason: issue, id: tree.execution.runId }))
    }

    const restore = Effect.fn("PipelineStore.restore")(function*(run: Tree) {
      const checked = checkRun(run)
      if (Either.isLeft(checked)) return yield* checked.left
      const tree = checked.right
      yield* Effect.annotateCurrentSpan({
        runId: tree.execution.runId,
        pipelineResults: tree.pipelineResults.length,
        taskExecutions: tree.taskExecutions.length,
        taskResults: tree.taskResults.length
      })
      const created = yield* retry(driver.insert(tree, PipelineRun.tallies(tree))).pipe(
        Effect.mapError((e) => new PipelineBuildError({ runId: tree.execution.runId, cause: e.cause }))
      )
      return { created, tree } satisfies BuildOutcome
    })

    const restoreMany = Effect.fn("PipelineStore.restoreMany")(function*(runs: ReadonlyArray<Tree>) {
      if (!Array.isArray(runs)) return yield* new InvalidInput({ field: "runs", reason: "must be an array" })
      const trees: Array<Tree> = []
      for (let i = 0; i < runs.length; i++) {
        const checked = checkRun(runs[i], `runs[${i}].`)
        if (Either.isLeft(checked)) return yield* checked.left
        trees.push(checked.right)
      }
      yield* Effect.annotateCurrentSpan({ runs: trees.length })
      if (trees.length === 0) return []
      // The first of a run id is the one restored; later ones are left alone, as sequential restores would.
      const firsts = new Map<string, number>()
      trees.forEach((tree, i) => {
        if (!firsts.has(tree.execution.runId)) firsts.set(tree.execution.runId, i)
      })
      const unique = Array.from(firsts.values(), (i) => ({ tree: trees[i], tallies: PipelineRun.tallies(trees[i]) }))
      const inserted = driver.insertMany === undefined
        ? yield* Effect.forEach(unique, ({ tallies, tree }) =>
          retry(driver.insert(tree, tallies)).pipe(
            Effect.mapError((e) => new PipelineBuildError({ runId: tree.execution.runId, cause: e.cause }))
          ))
        : yield* retry(driver.insertMany(unique)).pipe(
          Effect.mapError((e) =>
            new PipelineBuildError({ runId: unique[0].tree.execution.runId, runs: unique.length, cause: e.cause })
          )
        )
      const created = new Set(unique.filter((_, n) => inserted[n]).map((u) => u.tree.execution.runId))
      yield* Effect.annotateCurrentSpan({ created: created.size })
      return trees.map((tree, i): BuildOutcome => ({
        created: created.has(tree.execution.runId) && firsts.get(tree.execution.runId) === i,
        tree
      }))
    })

    const readRun = (runId: string): Effect.Effect<Tree | undefined, DriverError> =>
      Effect.flatMap(driver.getExecution(runId), (execution) => {
        if (execution === undefined) return Effect.succeed(undefined)
        const query: ListQuery = { by: "run", id: runId }
        return Effect.map(
          Effect.all([driver.listPipelineResults(query), driver.listTaskExecutions(query), driver.listTaskResults(query)]),
          ([pipelineResults, taskExecutions, taskResults]): Tree => ({
            execution,
            pipelineResults,
            taskExecutions,
            taskResults
          })
        )
      })

    const getRun = Effect.fn("PipelineStore.getRun")(function*(runId: string) {
      const checked = checkName("runId", runId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ runId })
      return Option.fromNullable(yield* read("getRun", runId, readRun(runId)))
    })

    const getRuns = Effect.fn("PipelineStore.getRuns")(function*(runIds: ReadonlyArray<string>) {
      if (!Array.isArray(runIds)) return yield* new InvalidInput({ field: "runIds", reason: "must be an array" })
      for (let i = 0; i < runIds.length; i++) {
        const checked = checkName(`runIds[${i}]`, runIds[i])
        if (Either.isLeft(checked)) return yield* checked.left
      }
      yield* Effect.annotateCurrentSpan({ runs: runIds.length })
      if (runIds.length === 0) return []
      const unique = Array.from(new Set(runIds))
      const label = unique.length === 1 ? unique[0] : `${unique[0]} and ${unique.length - 1} more`
      const found = yield* read(
        "getRuns",
        label,
        driver.getRuns === undefined
          ? Effect.forEach(unique, readRun, { concurrency: 4 })
          : driver.getRuns(unique)
      )
      const byId = new Map(unique.map((id, n) => [id, found[n]] as const))
      yield* Effect.annotateCurrentSpan({ found: found.filter((t) => t !== undefined).length })
      return runIds.map((id) => Option.fromNullable(byId.get(id)))
    })

    const getter = <A>(
      name: string,
      field: string,
      check: (field: string, value: unknown) => Either.Either<string, InvalidInput>,
      get: (id: string) => Effect.Effect<A | undefined, DriverError>
    ) =>
      Effect.fn(`PipelineStore.${name}`)(function*(id: string) {
        const checked = check(field, id)
        if (Either.isLeft(checked)) return yield* checked.left
        yield* Effect.annotateCurrentSpan({ id })
        return Option.fromNullable(yield* read(name, id, get(id)))
      })

    const list = <A>(
      name: string,
      field: string,
      check: (field: string, value: unknown) => Either.Either<string, InvalidInput>,
      by: ListQuery["by"],
      id: unknown,
      filter: Filter | undefined,
      run: (query: ListQuery) => Effect.Effect<ReadonlyArray<A>, DriverError>
    ) =>
      Effect.gen(function*() {
        const checked = check(field, id)
        if (Either.isLeft(checked)) return yield* checked.left
        const statuses = checkFilter(filter)
        if (Either.isLeft(statuses)) return yield* statuses.left
        yield* Effect.annotateCurrentSpan({ by, id: checked.right })
        const query: ListQuery = statuses.right === undefined
          ? { by, id: checked.right }
          : { by, id: checked.right, statuses: statuses.right }
        const rows = yield* read(name, checked.right, run(query))
        yield* Effect.annotateCurrentSpan({ count: rows.length })
        return rows
      })

    const listExecutions = Effect.fn("PipelineStore.listExecutions")(function*(pipelineId: string) {
      const checked = checkName("pipelineId", pipelineId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ pipelineId })
      return yield* read("listExecutions", pipelineId, driver.listExecutions(pipelineId))
    })

    const listPipelineResults = Effect.fn("PipelineStore.listPipelineResults")(
      (runId: string, filter?: Filter) =>
        list("listPipelineResults", "runId", checkName, "run", runId, filter, driver.listPipelineResults)
    )

    const listTaskExecutions = Effect.fn("PipelineStore.listTaskExecutions")(
      (of: TaskExecutionsOf, filter?: Filter) =>
        typeof of === "object" && of !== null && "pipelineResultId" in of
          ? list("listTaskExecutions", "pipelineResultId", checkId, "parent", of.pipelineResultId, filter, driver.listTaskExecutions)
          : list("listTaskExecutions", "runId", checkName, "run", (of as { runId?: unknown } | null)?.runId, filter, driver.listTaskExecutions)
    )

    const listTaskResults = Effect.fn("PipelineStore.listTaskResults")(
      (of: TaskResultsOf, filter?: Filter) =>
        typeof of === "object" && of !== null && "taskExecutionId" in of
          ? list("listTaskResults", "taskExecutionId", checkId, "parent", of.taskExecutionId, filter, driver.listTaskResults)
          : list("listTaskResults", "runId", checkName, "run", (of as { runId?: unknown } | null)?.runId, filter, driver.listTaskResults)
    )

    const report = Effect.fn("PipelineStore.report")(function*(
      kind: Pipeline.Kind,
      id: string,
      status: Pipeline.Status,
      reportOptions?: ReportOptions
    ) {
      const request = Either.gen(function*() {
        const k = yield* checkKind(kind)
        const i = k === "PipelineExecution" ? yield* checkName("runId", id) : yield* checkId("id", id)
        const s = yield* checkStatus("status", status, i)
        const m = reportOptions?.message === undefined ? undefined : yield* checkJson("message", reportOptions.message, i)
        return { kind: k, id: i, status: s, message: m }
      })
      if (Either.isLeft(request)) return yield* request.left
      yield* Effect.annotateCurrentSpan({ kind, id, status })
      const at = yield* DateTime.now
      const { message } = request.right
      const step = driver.atomically((access) =>
        Effect.gen(function*() {
          const changed = yield* access.advance(kind, id, {
            status,
            at,
            from: Pipeline.advanceableFrom(status),
            ...(message === undefined ? {} : { message })
          })
          if (changed === undefined) {
            const node = yield* access.lock(kind, id)
            if (node === undefined) return yield* new PipelineNotFound({ kind, id })
            return { applied: false, status: node.status, at, changes: [] } satisfies ReportOutcome
          }
          const changes: Array<Change> = [{ kind, id, from: changed.previous, to: status }]
          let child = { kind, from: changed.previous, to: status, parentId: changed.parentId }
          while (child.parentId !== null) {
            const upKind = Pipeline.parentKind(child.kind)
            if (upKind === undefined) break
            const upId = child.parentId
            if (!Pipeline.isFinal(child.to)) {
              // A child going RUNNING leaves the tally alone and can only move a PENDING parent to RUNNING:
              // a conditional update, which locks the parent only when it changes it.
              const started = yield* access.advance(upKind, upId, { status: Pipeline.RUNNING, at, from: [Pipeline.PENDING] })
              if (started === undefined) break
              changes.push({ kind: upKind, id: upId, from: Pipeline.PENDING, to: Pipeline.RUNNING })
              child = { kind: upKind, from: Pipeline.PENDING, to: Pipeline.RUNNING, parentId: started.parentId }
              continue
            }
            const parent = yield* access.lock(upKind, upId)
            if (parent === undefined) break
            const tally = parent.tally ?? Pipeline.emptyTally(0)
            const next = Pipeline.propagate(parent.status, tally, child.from, child.to)
            const moved = next.status !== parent.status
            if (!moved && next.tally === tally) break
            yield* access.update(upKind, upId, {
              at,
              ...(moved ? { status: next.status } : {}),
              ...(next.tally === tally ? {} : { tally: next.tally })
            })
            if (!moved) break
            changes.push({ kind: upKind, id: upId, from: parent.status, to: next.status })
            child = { kind: upKind, from: parent.status, to: next.status, parentId: parent.parentId }
          }
          return { applied: true, status, at, changes } satisfies ReportOutcome
        })
      )
      const outcome = yield* retryStep(step).pipe(
        Effect.catchIf(isDriverError, (e) => Effect.fail(new PipelineReportError({ kind, id, status, cause: e.cause })))
      )
      yield* Effect.annotateCurrentSpan({ applied: outcome.applied, changes: outcome.changes.length })
      return outcome
    })

    const digest = Effect.fn("PipelineStore.digest")(function*(pipelineId: string) {
      const checked = checkName("pipelineId", pipelineId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ pipelineId })
      return yield* read("digest", pipelineId, driver.digest(pipelineId))
    })

    const cleanup = Effect.fn("PipelineStore.cleanup")(function*(before: DateTime.Utc) {
      const removed: Array<string> = []
      for (;;) {
        const ids = yield* retry(driver.cleanup(before, batch)).pipe(
          Effect.mapError((e) => new PipelineCleanupError({ removedRunIds: [...removed], cause: e.cause }))
        )
        removed.push(...ids)
        if (ids.length < batch) break
      }
      yield* Effect.annotateCurrentSpan({ removed: removed.length })
      return removed
    })

    return {
      kind: driver.kind,
      build,
      restore,
      restoreMany,
      getRun,
      getRuns,
      getExecution: getter("getExecution", "runId", checkName, driver.getExecution),
      getPipelineResult: getter("getPipelineResult", "id", checkId, driver.getPipelineResult),
      getTaskExecution: getter("getTaskExecution", "id", checkId, driver.getTaskExecution),
      getTaskResult: getter("getTaskResult", "id", checkId, driver.getTaskResult),
      listExecutions,
      listPipelineResults,
      listTaskExecutions,
      listTaskResults,
      report,
      digest,
      cleanup
    } satisfies Service
  })

// ---------------------------------------------------------------------------
// helpers over the tag
// ---------------------------------------------------------------------------

/**
 * Reports a task result's status (the usual entry point of a worker).
 *
 * @since 0.1.0
 * @category helpers
 */
export const reportTaskResult = (id: string, status: Pipeline.Status, options?: ReportOptions) =>
  Effect.flatMap(PipelineStore, (store) => store.report("TaskResult", id, status, options))

/**
 * Records a run that failed before it had a tree: its execution alone, built
 * final with CONFIG_ERROR and the message.
 *
 * @since 0.1.0
 * @category helpers
 */
export const recordConfigError = (input: {
  readonly runId: string
  readonly pipelineId: string
  readonly inputData?: unknown
  readonly message?: unknown
}) =>
  Effect.flatMap(PipelineStore, (store) =>
    store.build({
      runId: input.runId,
      pipelineId: input.pipelineId,
      inputData: input.inputData,
      message: input.message,
      status: Pipeline.CONFIG_ERROR
    }))
