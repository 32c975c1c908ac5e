/**
 * The `ResultBackend` service: where task states, results, errors and
 * groups are kept. One tag, several layers (memory, SQL, ArangoDB); each is a
 * `BackendDriver` turned into the service by `make`, so validation, retries,
 * error mapping, waiting and cleanup behave the same everywhere.
 *
 * @example
 * ```ts
 * import { MemoryBackend, ResultBackend } from "@taskmeta/core"
 * import { Effect } from "effect"
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* ResultBackend.ResultBackend
 *   yield* backend.store("task-1", { sum: 32 }, "SUCCESS", { name: "sum_two_numbers", args: [16, 16] })
 *   // A stored SUCCESS is final: a late duplicate is ignored.
 *   const late = yield* backend.store("task-1", null, "STARTED")
 *   console.log(late._tag) // "Ignored"
 *
 *   const record = yield* backend.get("task-1")
 *   console.log(record.status, record.result, record.name) // "SUCCESS" { sum: 32 } "sum_two_numbers"
 *   // An unknown id reads as PENDING, as in Celery.
 *   const unknown = yield* backend.get("task-2")
 *   console.log(unknown.status) // "PENDING"
 * })
 *
 * // The layer picks the storage; the program stays the same.
 * Effect.runPromise(program.pipe(Effect.provide(MemoryBackend.layer({ resultExtended: true }))))
 * ```
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Data from "effect/Data"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as Text from "@taskmeta/schema/Text"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import type { BackendDriver, CleanupRule } from "./BackendDriver.js"
import {
  CleanupError,
  type DriverError,
  ForgetError,
  GetError,
  GroupError,
  InvalidInput,
  ResultDecodeError,
  StoreError,
  WaitTimeout
} from "./BackendError.js"
import * as BackendOptions from "./BackendOptions.js"
import * as RetryPolicy from "./RetryPolicy.js"
import * as Tracing from "./Tracing.js"

/**
 * What a task request adds to a stored result when `resultExtended` is on.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreOptions {
  readonly traceback?: string | null | undefined
  readonly name?: string | null | undefined
  readonly args?: ReadonlyArray<unknown> | null | undefined
  readonly kwargs?: Readonly<Record<string, unknown>> | null | undefined
  readonly worker?: string | null | undefined
  readonly retries?: number | null | undefined
  readonly queue?: string | null | undefined
  /**
   * For a READY state: the `dateDone` to store instead of now (restoring a
   * record as it was, e.g. an import or a copy). Ignored for other states,
   * which never carry one.
   */
  readonly dateDone?: DateTime.Utc | undefined
}

/**
 * One write of `storeMany`: the arguments of `store`, as a record.
 *
 * @since 0.1.0
 * @category models
 */
export interface StoreRequest {
  readonly taskId: string
  readonly result: unknown
  readonly state: string
  readonly options?: StoreOptions | undefined
}

/**
 * The outcome of a store: `Stored` with the record as written, or `Ignored`
 * because a SUCCESS was already stored for the id (`SuccessIsFinal`) or the
 * state is IGNORED, which is never stored (`IgnoredState`).
 *
 * @since 0.1.0
 * @category models
 */
export type StoreOutcome = Data.TaggedEnum<{
  Stored: { readonly record: TaskRecord.TaskRecord }
  Ignored: { readonly reason: "SuccessIsFinal" | "IgnoredState"; readonly taskId: string }
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const StoreOutcome = Data.taggedEnum<StoreOutcome>()

/**
 * What one cleanup sweep deleted.
 *
 * @since 0.1.0
 * @category models
 */
export interface CleanupReport {
  readonly tasks: number
  readonly groups: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface WaitOptions {
  /** Give up after this long with `WaitTimeout`. Default: wait as long as it takes. */
  readonly timeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Service {
  /** `memory`, `sqlite`, `postgres`, `arango`, … */
  readonly kind: string
  readonly options: BackendOptions.BackendOptions
  /** Stores the whole record for a task in a state. A stored SUCCESS is final. */
  readonly store: (
    taskId: string,
    result: unknown,
    state: string,
    options?: StoreOptions
  ) => Effect.Effect<StoreOutcome, InvalidInput | StoreError>
  /**
   * Stores many records, each as `store` would, with its own outcome in the
   * order given (a bad request is its own `InvalidInput`; the others are
   * written). Requests for one id apply one after the other, in order. READY
   * records without a `dateDone` share one reading of the clock. Where the
   * storage batches writes (SQL), the whole list goes into multi-row
   * statements without a fiber per record: what bulk imports and copies use.
   * Fails only when `requests` is not an array.
   */
  readonly storeMany: (
    requests: ReadonlyArray<StoreRequest>
  ) => Effect.Effect<ReadonlyArray<Either.Either<StoreOutcome, InvalidInput | StoreError>>, InvalidInput>
  /** One record; an unknown id reads as PENDING with everything else null. */
  readonly get: (taskId: string) => Effect.Effect<TaskRecord.TaskRecord, InvalidInput | GetError>
  /** Records for many ids in one round trip, in the order asked, unknown ids as PENDING. */
  readonly getMany: (
    taskIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<TaskRecord.TaskRecord>, InvalidInput | GetError>
  /**
   * The stored records for many ids in one round trip, in the order asked:
   * `None` where nothing is stored (where `getMany` answers a synthetic
   * PENDING). What a bulk restore compares against.
   */
  readonly findMany: (
    taskIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<TaskRecord.TaskRecord>>, InvalidInput | GetError>
  /** Whether a record is stored for the id (an unknown id reads as PENDING but does not exist). */
  readonly exists: (taskId: string) => Effect.Effect<boolean, InvalidInput | GetError>
  /** Deletes a task's record; forgetting an unknown id is not an error. */
  readonly forget: (taskId: string) => Effect.Effect<void, InvalidInput | ForgetError>
  /** Saves (or replaces) a group and its ordered member ids. */
  readonly saveGroup: (
    groupId: string,
    taskIds: ReadonlyArray<string>
  ) => Effect.Effect<GroupRecord.GroupRecord, InvalidInput | GroupError>
  readonly restoreGroup: (
    groupId: string
  ) => Effect.Effect<Option.Option<GroupRecord.GroupRecord>, InvalidInput | GroupError>
  readonly deleteGroup: (groupId: string) => Effect.Effect<void, InvalidInput | GroupError>
  /**
   * The stored groups for many ids, in the order asked (duplicates
   * included): `None` where no group is stored. One read per
   * `GROUP_BATCH_SIZE` distinct ids where the store batches (SQL, memory,
   * ArangoDB); one per id otherwise.
   */
  readonly findGroups: (
    groupIds: ReadonlyArray<string>
  ) => Effect.Effect<ReadonlyArray<Option.Option<GroupRecord.GroupRecord>>, InvalidInput | GroupError>
  /**
   * Saves (or replaces) whole groups, each with the `dateDone` it carries
   * (restoring groups as they were: an import, a copy); answers them in the
   * order given. Every group is checked before anything is written: one bad
   * id, member id or `dateDone` (outside years 1–9999) fails the call with an
   * `InvalidInput` naming the group, and nothing is written. A group id given
   * more than once is saved once, as its last occurrence (as saving them in
   * order would leave it). Writes go in batches of `GROUP_BATCH_SIZE` (one
   * statement each where the store batches), in order; a storage failure
   * leaves the batches before it written.
   */
  readonly saveGroups: (
    groups: ReadonlyArray<GroupRecord.GroupRecord>
  ) => Effect.Effect<ReadonlyArray<GroupRecord.GroupRecord>, InvalidInput | GroupError>
  /** Deletes expired records in bounded batches and reports how many. */
  readonly cleanup: () => Effect.Effect<CleanupReport, CleanupError>
  /** Waits until the task is READY. */
  readonly waitFor: (
    taskId: string,
    options?: WaitOptions
  ) => Effect.Effect<TaskRecord.TaskRecord, InvalidInput | GetError | WaitTimeout>
  /** Waits until every task is READY; the records come back in the order asked. */
  readonly waitForMany: (
    taskIds: ReadonlyArray<string>,
    options?: WaitOptions
  ) => Effect.Effect<ReadonlyArray<TaskRecord.TaskRecord>, InvalidInput | GetError | WaitTimeout>
  /**
   * Push notifications, where the store has them (the driver's
   * `subscribe`): a scoped subscription yielding the ids of tasks stored
   * from then on (memory: every write; PostgreSQL: READY writes, through
   * LISTEN/NOTIFY). What waiting uses; a browser's `changes` uses it too.
   */
  readonly notifications?: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope> | undefined
}

/**
 * The tag of the service. Its implementation is the layer a program
 * provides: `MemoryBackend.layer` here, `SqliteBackend.layer` /
 * `PgBackend.layer` / `SqlBackend.layer` from `@taskmeta/sql`,
 * `ArangoBackend.layer` from `@taskmeta/arango` (the module documentation
 * has an example).
 *
 * @since 0.1.0
 * @category tags
 */
export class ResultBackend extends Context.Tag("@taskmeta/core/ResultBackend")<ResultBackend, Service>() {}

// ---------------------------------------------------------------------------
// validation
// ---------------------------------------------------------------------------

// The rules (and their messages) are the schema package's: `TaskRecord.idIssue`,
// `TaskRecord.shortTextIssue`, `TaskState.stateIssue`, `TaskRecord.retriesIssue`,
// `Text.textIssue`. Here they only become `InvalidInput`s. Each check is a plain
// function returning the problem or `undefined`: no decode, and nothing is
// allocated when the input is fine (they run on every store and read).

/** What is wrong with an id, if anything. */
const idProblem = (field: string, id: unknown): InvalidInput | undefined => {
  if (typeof id !== "string") return new InvalidInput({ field, reason: "must be a string" })
  const issue = TaskRecord.idIssue(id)
  return issue === undefined ? undefined : new InvalidInput({ field, reason: issue, id })
}

const checkId = (field: string, id: unknown): Either.Either<string, InvalidInput> => {
  const problem = idProblem(field, id)
  return problem === undefined ? Either.right(id as string) : Either.left(problem)
}

const checkIds = (field: string, ids: ReadonlyArray<string>): Either.Either<ReadonlyArray<string>, InvalidInput> => {
  if (!Array.isArray(ids)) return Either.left(new InvalidInput({ field, reason: "must be an array of ids" }))
  for (const id of ids) {
    const checked = checkId(field, id)
    if (Either.isLeft(checked)) return Either.left(checked.left)
  }
  return Either.right(ids)
}

/** What is wrong with an optional short text field (name, worker, queue), if anything. */
const shortTextProblem = (field: string, id: string, value: unknown): InvalidInput | undefined => {
  if (value === undefined || value === null) return undefined
  if (typeof value !== "string") return new InvalidInput({ field, reason: "must be a string", id })
  const issue = TaskRecord.shortTextIssue(value)
  return issue === undefined ? undefined : new InvalidInput({ field, reason: issue, id })
}

// The instants a SQL timestamp can hold: years 1 to 9999.
// (Date.UTC reads years 0–99 as 1900–1999, hence setUTCFullYear.)
const FIRST_SQL_MILLIS = new Date(0).setUTCFullYear(1, 0, 1)
const LAST_SQL_MILLIS = Date.UTC(9999, 11, 31, 23, 59, 59, 999)
const FIRST_SQL_NANOS = BigInt(FIRST_SQL_MILLIS) * 1_000_000n
const LAST_SQL_NANOS = BigInt(LAST_SQL_MILLIS) * 1_000_000n + 999_999n

/**
 * A value whose reading throws (a getter, a Proxy trap) is bad input like
 * any other: what it threw becomes the reason.
 */
const unreadable = (field: string, id: string | undefined, error: unknown) =>
  new InvalidInput({
    field,
    reason: `cannot be read: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300),
    ...(id === undefined ? {} : { id })
  })

/** The JSON of a value, or why not (a value that throws while being read included). */
const normalizeField = (field: string, id: string, value: unknown): Either.Either<Json.Json, InvalidInput> => {
  try {
    return Either.mapLeft(Json.normalize(value), (e) => new InvalidInput({ field, reason: e.message, id }))
  } catch (error) {
    return Either.left(unreadable(field, id, error))
  }
}



/**
 * Validates whole groups for `saveGroups`, as `saveGroup` checks its id and
 * members and `store` a given `dateDone`; a problem names the group. The
 * answer is the groups as new records (members copied), in the order given.
 */
const checkGroups = (
  groups: ReadonlyArray<GroupRecord.GroupRecord>
): Either.Either<ReadonlyArray<GroupRecord.GroupRecord>, InvalidInput> => {
  if (!Array.isArray(groups)) return Either.left(new InvalidInput({ field: "groups", reason: "must be an array of groups" }))
  const out: Array<GroupRecord.GroupRecord> = []
  for (let i = 0; i < groups.length; i++) {
    let group: GroupRecord.GroupRecord
    let groupId: unknown
    let taskIds: unknown
    let dateDone: unknown
    try {
      group = groups[i]
      if (typeof group !== "object" || group === null) {
        return Either.left(new InvalidInput({ field: "groups", reason: `item ${i} must be a group` }))
      }
      groupId = group.groupId
      taskIds = group.taskIds
      dateDone = group.dateDone
    } catch (error) {
      return Either.left(unreadable("groups", undefined, error))
    }
    const badId = idProblem("groupId", groupId)
    if (badId !== undefined) return Either.left(badId)
    const id = groupId as string
    if (!Array.isArray(taskIds)) {
      return Either.left(new InvalidInput({ field: "taskIds", reason: "must be an array of ids", id }))
    }
    const members: Array<string> = []
    for (let k = 0; k < taskIds.length; k++) {
      const member: unknown = taskIds[k]
      const badMember = idProblem("taskIds", member)
      if (badMember !== undefined) {
        return Either.left(new InvalidInput({ field: "taskIds", reason: `member ${k}: ${badMember.reason}`, id }))
      }
      members.push(member as string)
    }
    if (!DateTime.isDateTime(dateDone) || !DateTime.isUtc(dateDone)) {
      return Either.left(new InvalidInput({ field: "dateDone", reason: "must be a DateTime.Utc", id }))
    }
    const millis = DateTime.toEpochMillis(dateDone)
    if (!(millis >= FIRST_SQL_MILLIS && millis <= LAST_SQL_MILLIS)) {
      return Either.left(
        new InvalidInput({
          field: "dateDone",
          reason: Number.isFinite(millis)
            ? `year ${DateTime.getPartUtc(dateDone, "year")} is outside 1–9999`
            : "is not a valid instant",
          id
        })
      )
    }
    out.push({ groupId: id, taskIds: members, dateDone })
  }
  return Either.right(out)
}

/** A validated store request: the record to write, `dateDone` not yet stamped (null). */
type Prepared = TaskRecord.TaskRecord

/**
 * The record with its `dateDone`. Records are built as literals with every
 * field in one order (no spreads): they then share one shape, which keeps
 * the code reading them fast.
 */
const withDateDone = (r: Prepared, dateDone: DateTime.Utc | null): TaskRecord.TaskRecord => ({
  taskId: r.taskId,
  status: r.status,
  result: r.result,
  traceback: r.traceback,
  dateDone,
  name: r.name,
  args: r.args,
  kwargs: r.kwargs,
  worker: r.worker,
  retries: r.retries,
  queue: r.queue
})

/**
 * Validates and normalises a store request into the record to write
 * (without `dateDone`, which the caller stamps). Written without generators:
 * it runs on every store.
 */
const prepare = (
  options: BackendOptions.BackendOptions,
  taskId: unknown,
  result: unknown,
  state: unknown,
  request: StoreOptions | undefined
): Either.Either<Prepared, InvalidInput> => {
  const badId = idProblem("taskId", taskId)
  if (badId !== undefined) return Either.left(badId)
  const id = taskId as string
  if (typeof state !== "string") {
    return Either.left(new InvalidInput({ field: "state", reason: "must be a non-empty string", id }))
  }
  const badState = TaskState.stateIssue(state)
  if (badState !== undefined) return Either.left(new InvalidInput({ field: "state", reason: badState, id }))
  let value: unknown
  try {
    value = TaskState.isException(state) && result instanceof Error ? ExceptionInfo.fromError(result) : result
  } catch (error) {
    return Either.left(unreadable("result", id, error))
  }
  const json = normalizeField("result", id, value)
  if (Either.isLeft(json)) return Either.left(json.left)
  const traceback = request?.traceback ?? null
  if (traceback !== null && typeof traceback !== "string") {
    return Either.left(new InvalidInput({ field: "traceback", reason: "must be a string or null", id }))
  }
  const badTraceback = traceback === null ? undefined : Text.textIssue(traceback)
  if (badTraceback !== undefined) return Either.left(new InvalidInput({ field: "traceback", reason: badTraceback, id }))
  let name: string | null = null
  let worker: string | null = null
  let queue: string | null = null
  let args: ReadonlyArray<Json.Json> | null = null
  let kwargs: Json.JsonObject | null = null
  let retries: number | null = null
  if (options.resultExtended) {
    const badText = shortTextProblem("name", id, request?.name) ??
      shortTextProblem("worker", id, request?.worker) ??
      shortTextProblem("queue", id, request?.queue)
    if (badText !== undefined) return Either.left(badText)
    name = request?.name ?? null
    worker = request?.worker ?? null
    queue = request?.queue ?? null
    if (request?.args !== undefined && request.args !== null) {
      if (!Array.isArray(request.args)) {
        return Either.left(new InvalidInput({ field: "args", reason: "must be an array", id }))
      }
      const a = normalizeField("args", id, request.args)
      if (Either.isLeft(a)) return Either.left(a.left)
      args = a.right as ReadonlyArray<Json.Json>
    }
    if (request?.kwargs !== undefined && request.kwargs !== null) {
      const k = normalizeField("kwargs", id, request.kwargs)
      if (Either.isLeft(k)) return Either.left(k.left)
      if (typeof k.right !== "object" || k.right === null || Array.isArray(k.right)) {
        return Either.left(new InvalidInput({ field: "kwargs", reason: "must be an object", id }))
      }
      kwargs = k.right as Json.JsonObject
    }
    retries = request?.retries ?? null
    const badRetries = retries === null ? undefined : TaskRecord.retriesIssue(retries)
    if (badRetries !== undefined) return Either.left(new InvalidInput({ field: "retries", reason: badRetries, id }))
  }
  return Either.right({
    taskId: id,
    status: state,
    result: json.right,
    traceback,
    dateDone: null,
    name,
    args,
    kwargs,
    worker,
    retries,
    queue
  })
}

// ---------------------------------------------------------------------------
// make
// ---------------------------------------------------------------------------

/**
 * Builds the service over a driver.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  driver: BackendDriver,
  options: BackendOptions.BackendOptions = BackendOptions.defaults
): Effect.Effect<Service> =>
  Effect.sync(() => {
    const retry = RetryPolicy.retryTransient<DriverError>(options.retry, driver.isTransient, (error) =>
      Effect.logDebug("retrying after a transient storage error").pipe(
        Effect.annotateLogs({ backend: driver.kind, operation: error.operation, error: error.message }),
        Effect.zipRight(driver.onRetryableError ? driver.onRetryableError(error) : Effect.void)
      ))

    const readMany = (ids: ReadonlyArray<string>) =>
      retry(driver.getMany(ids)).pipe(Effect.mapError((e) => new GetError({ taskIds: ids, cause: e.cause })))

    const writeRecord = (record: TaskRecord.TaskRecord) =>
      retry(driver.put(record)).pipe(
        Effect.mapBoth({
          onFailure: (e) => new StoreError({ taskId: record.taskId, status: record.status, cause: e.cause }),
          onSuccess: (written) =>
            written
              ? StoreOutcome.Stored({ record })
              : StoreOutcome.Ignored({ reason: "SuccessIsFinal", taskId: record.taskId })
        })
      )
    // A clock pinned outside years 1–9999 (an import of odd data) has no SQL timestamp.
    const outOfRange = (prepared: Prepared, now: number) =>
      new InvalidInput({
        field: "dateDone",
        reason: `year ${DateTime.getPartUtc(DateTime.unsafeMake(now), "year")} is outside 1–9999`,
        id: prepared.taskId
      })
    // Stores in one microsecond share its (immutable) DateTime. The clock is
    // read in nanoseconds: `dateDone` keeps the microseconds, as Celery's
    // `datetime.utcnow()` does (a `TestClock` has none).
    let lastMicros = -1n
    let lastDateTime = DateTime.unsafeMake(0)
    const dateTimeAt = (nanos: bigint): DateTime.Utc => {
      const micros = nanos / 1000n
      if (micros !== lastMicros) {
        lastDateTime = UtcTime.fromNanos(nanos)
        lastMicros = micros
      }
      return lastDateTime
    }
    const withGivenDate = (prepared: Prepared, given: unknown): Either.Either<TaskRecord.TaskRecord, InvalidInput> => {
      if (!DateTime.isDateTime(given) || !DateTime.isUtc(given)) {
        return Either.left(new InvalidInput({ field: "dateDone", reason: "must be a DateTime.Utc", id: prepared.taskId }))
      }
      const millis = DateTime.toEpochMillis(given)
      if (millis < FIRST_SQL_MILLIS || millis > LAST_SQL_MILLIS) return Either.left(outOfRange(prepared, millis))
      return Either.right(withDateDone(prepared, given))
    }
    const nanosInRange = (nanos: bigint) => nanos >= FIRST_SQL_NANOS && nanos <= LAST_SQL_NANOS
    const stampAndWrite = (prepared: Prepared) =>
      Effect.flatMap(Clock.currentTimeNanos, (now): Effect.Effect<StoreOutcome, InvalidInput | StoreError> =>
        nanosInRange(now)
          ? writeRecord(withDateDone(prepared, dateTimeAt(now)))
          : Effect.fail(outOfRange(prepared, Number(now / 1_000_000n))))
    const storeSpanned = (prepared: Prepared, ready: boolean) =>
      Tracing.withSpan(
        ready ? stampAndWrite(prepared) : writeRecord(prepared),
        "ResultBackend.store",
        () => ({ taskId: prepared.taskId, state: prepared.status })
      )

    // Without a tracer, a store is one Effect operation up to the driver's
    // write: the clock is read from the fiber, no span is opened.
    const storeDirect = (prepared: Prepared, ready: boolean) =>
      Effect.withFiberRuntime<StoreOutcome, InvalidInput | StoreError>((fiber) => {
        if (Tracing.isObserved(fiber.currentTracer)) return storeSpanned(prepared, ready)
        if (!ready) return writeRecord(prepared)
        const now = Context.get(fiber.currentDefaultServices, Clock.Clock).unsafeCurrentTimeNanos()
        if (!nanosInRange(now)) return Effect.fail(outOfRange(prepared, Number(now / 1_000_000n)))
        return writeRecord(withDateDone(prepared, dateTimeAt(now)))
      })

    // The hot paths (store, get, getMany, exists) are plain functions rather
    // than `Effect.fn`, which costs a stack capture per call, and open their
    // span only when a tracer is installed (see `Tracing`).
    const store = (
      taskId: string,
      result: unknown,
      state: string,
      request?: StoreOptions
    ): Effect.Effect<StoreOutcome, InvalidInput | StoreError> => {
      let prepared: Either.Either<Prepared, InvalidInput>
      try {
        prepared = prepare(options, taskId, result, state, request)
      } catch (error) {
        // What is left to throw: the request's own fields (a getter or a Proxy).
        return Effect.fail(unreadable("options", typeof taskId === "string" ? taskId : undefined, error))
      }
      if (Either.isLeft(prepared)) return Effect.fail(prepared.left)
      if (state === TaskState.IGNORED) return Effect.succeed(StoreOutcome.Ignored({ reason: "IgnoredState", taskId }))
      const ready = TaskState.isReady(state)
      const given = request?.dateDone
      if (ready && given !== undefined) {
        // A given date: no clock to read.
        const dated = withGivenDate(prepared.right, given)
        if (Either.isLeft(dated)) return Effect.fail(dated.left)
        const record = dated.right
        return Effect.withFiberRuntime<StoreOutcome, InvalidInput | StoreError>((fiber) =>
          Tracing.isObserved(fiber.currentTracer)
            ? Tracing.withSpan(writeRecord(record), "ResultBackend.store", () => ({ taskId, state }))
            : writeRecord(record)
        )
      }
      return storeDirect(prepared.right, ready)
    }

    type Outcome = Either.Either<StoreOutcome, InvalidInput | StoreError>

    const outcomeOf = (record: TaskRecord.TaskRecord, written: boolean): Outcome =>
      Either.right(
        written
          ? StoreOutcome.Stored({ record })
          : StoreOutcome.Ignored({ reason: "SuccessIsFinal", taskId: record.taskId })
      )
    const storeFailure = (record: TaskRecord.TaskRecord, e: DriverError): Outcome =>
      Either.left(new StoreError({ taskId: record.taskId, status: record.status, cause: e.cause }))

    /**
     * Writes one record with `put`, retried by the policy. `first` is an
     * error its first attempt (in a `putMany`) already met: it is replayed,
     * so that the policy counts it and runs its pause and `onRetryableError`.
     */
    const putOne = (record: TaskRecord.TaskRecord, first?: DriverError): Effect.Effect<Outcome> => {
      let replay = first
      const attempt = Effect.suspend(() => {
        if (replay === undefined) return driver.put(record)
        const error = replay
        replay = undefined
        return Effect.fail(error)
      })
      return Effect.map(
        Effect.either(retry(attempt)),
        (written) => Either.isRight(written) ? outcomeOf(record, written.right) : storeFailure(record, written.left)
      )
    }

    /**
     * Writes records of distinct ids: in one `putMany` where the driver has
     * it (a transient failure is then retried record by record), else with
     * `put` side by side.
     */
    const putRound = (records: ReadonlyArray<TaskRecord.TaskRecord>): Effect.Effect<ReadonlyArray<Outcome>> => {
      if (driver.putMany === undefined) return Effect.forEach(records, (record) => putOne(record), { concurrency: 64 })
      return Effect.flatMap(driver.putMany(records), (written) => {
        const out: Array<Outcome> = new Array(records.length)
        const again: Array<number> = []
        for (let j = 0; j < records.length; j++) {
          const w = written[j]
          if (Either.isRight(w)) out[j] = outcomeOf(records[j], w.right)
          else if (driver.isTransient(w.left)) again.push(j)
          else out[j] = storeFailure(records[j], w.left)
        }
        if (again.length === 0) return Effect.succeed(out)
        return Effect.as(
          Effect.forEach(again, (j) => Effect.map(putOne(records[j], (written[j] as Either.Left<DriverError, boolean>).left), (o) => {
            out[j] = o
          }), { concurrency: 64, discard: true }),
          out
        )
      })
    }

    const storeMany = (
      requests: ReadonlyArray<StoreRequest>
    ): Effect.Effect<ReadonlyArray<Outcome>, InvalidInput> => {
      if (!Array.isArray(requests)) {
        return Effect.fail(new InvalidInput({ field: "requests", reason: "must be an array of store requests" }))
      }
      return Effect.flatMap(Clock.currentTimeNanos, (now) => {
        const out: Array<Outcome> = new Array(requests.length)
        // The records to write in rounds: the first request of each id, then the second of the ids
        // that have two, … (each round after the one before, so the writes of one id keep their
        // order, retries included); with each record, where its outcome goes.
        const rounds: Array<{ records: Array<TaskRecord.TaskRecord>; slots: Array<number> }> = []
        const seen = new Map<string, number>()
        for (let i = 0; i < requests.length; i++) {
          let checked: Either.Either<TaskRecord.TaskRecord | StoreOutcome, InvalidInput>
          try {
            checked = requestRecord(requests[i], now)
          } catch (error) {
            checked = Either.left(unreadable("requests", undefined, error))
          }
          if (Either.isLeft(checked)) out[i] = Either.left(checked.left)
          else if ("_tag" in checked.right) out[i] = Either.right(checked.right)
          else {
            const id = checked.right.taskId
            const r = seen.get(id) ?? 0
            seen.set(id, r + 1)
            const round = rounds[r] ??= { records: [], slots: [] }
            round.records.push(checked.right)
            round.slots.push(i)
          }
        }
        return Effect.as(
          Effect.forEach(rounds, (round) =>
            Effect.map(putRound(round.records), (outcomes) => {
              outcomes.forEach((o, j) => (out[round.slots[j]] = o))
            }), { discard: true }),
          out
        )
      }).pipe((effect) => Tracing.withSpan(effect, "ResultBackend.storeMany", () => ({ count: requests.length })))
    }

    /** A request of `storeMany` as the record to write, or its outcome when nothing is written. */
    const requestRecord = (
      request: StoreRequest,
      now: bigint
    ): Either.Either<TaskRecord.TaskRecord | StoreOutcome, InvalidInput> => {
      if (typeof request !== "object" || request === null) {
        return Either.left(new InvalidInput({ field: "requests", reason: "each request must be an object" }))
      }
      const { options: given, result, state, taskId } = request
      const prepared = prepare(options, taskId, result, state, given)
      if (Either.isLeft(prepared)) return prepared
      if (state === TaskState.IGNORED) return Either.right(StoreOutcome.Ignored({ reason: "IgnoredState", taskId }))
      if (!TaskState.isReady(state)) return prepared
      if (given?.dateDone !== undefined) return withGivenDate(prepared.right, given.dateDone)
      return nanosInRange(now)
        ? Either.right(withDateDone(prepared.right, dateTimeAt(now)))
        : Either.left(outOfRange(prepared.right, Number(now / 1_000_000n)))
    }

    const getMany = (
      taskIds: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<TaskRecord.TaskRecord>, InvalidInput | GetError> => {
      const checked = checkIds("taskIds", taskIds)
      if (Either.isLeft(checked)) return Effect.fail(checked.left)
      if (taskIds.length === 0) return Effect.succeed([])
      const unique = taskIds.length === 1 ? taskIds : Array.from(new Set(taskIds))
      return Effect.map(readMany(unique), (found) => {
        if (unique === taskIds || unique.length === taskIds.length) {
          return found.map((r, i) => r ?? TaskRecord.pending(taskIds[i]))
        }
        const byId = new Map<string, TaskRecord.TaskRecord>()
        unique.forEach((id, i) => {
          const r = found[i]
          if (r !== undefined) byId.set(id, r)
        })
        return taskIds.map((id) => byId.get(id) ?? TaskRecord.pending(id))
      }).pipe(
        (effect) => Tracing.withSpan(effect, "ResultBackend.getMany", () => ({ count: taskIds.length }))
      )
    }

    const findMany = (
      taskIds: ReadonlyArray<string>
    ): Effect.Effect<ReadonlyArray<Option.Option<TaskRecord.TaskRecord>>, InvalidInput | GetError> => {
      const checked = checkIds("taskIds", taskIds)
      if (Either.isLeft(checked)) return Effect.fail(checked.left)
      if (taskIds.length === 0) return Effect.succeed([])
      const unique = Array.from(new Set(taskIds))
      return Effect.map(readMany(unique), (found) => {
        const byId = new Map<string, TaskRecord.TaskRecord>()
        unique.forEach((id, i) => {
          const r = found[i]
          if (r !== undefined) byId.set(id, r)
        })
        return taskIds.map((id) => Option.fromNullable(byId.get(id)))
      }).pipe(
        (effect) => Tracing.withSpan(effect, "ResultBackend.findMany", () => ({ count: taskIds.length }))
      )
    }

    const readOne = <A>(
      taskId: string,
      span: string,
      f: (found: TaskRecord.TaskRecord | undefined) => A
    ): Effect.Effect<A, InvalidInput | GetError> => {
      const badId = idProblem("taskId", taskId)
      if (badId !== undefined) return Effect.fail(badId)
      return Tracing.withSpan(Effect.map(readMany([taskId]), ([found]) => f(found)), span, () => ({ taskId }))
    }

    const get = (taskId: string): Effect.Effect<TaskRecord.TaskRecord, InvalidInput | GetError> =>
      readOne(taskId, "ResultBackend.get", (found) => found ?? TaskRecord.pending(taskId))

    const exists = (taskId: string): Effect.Effect<boolean, InvalidInput | GetError> =>
      readOne(taskId, "ResultBackend.exists", (found) => found !== undefined)

    const forget = Effect.fn("ResultBackend.forget", { captureStackTrace: false })(function*(taskId: string) {
      const checked = checkId("taskId", taskId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ taskId })
      yield* retry(driver.remove(taskId)).pipe(Effect.mapError((e) => new ForgetError({ taskId, cause: e.cause })))
    })

    const saveGroup = Effect.fn("ResultBackend.saveGroup", { captureStackTrace: false })(function*(groupId: string, taskIds: ReadonlyArray<string>) {
      const checked = Either.flatMap(checkId("groupId", groupId), () => checkIds("taskIds", taskIds))
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ groupId, count: taskIds.length })
      const group: GroupRecord.GroupRecord = {
        groupId,
        taskIds: [...taskIds],
        dateDone: UtcTime.fromNanos(yield* Clock.currentTimeNanos)
      }
      yield* retry(driver.putGroup(group)).pipe(
        Effect.mapError((e) => new GroupError({ groupId, operation: "save", cause: e.cause }))
      )
      return group
    })

    const restoreGroup = Effect.fn("ResultBackend.restoreGroup", { captureStackTrace: false })(function*(groupId: string) {
      const checked = checkId("groupId", groupId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ groupId })
      return yield* retry(driver.getGroup(groupId)).pipe(
        Effect.mapError((e) => new GroupError({ groupId, operation: "restore", cause: e.cause }))
      )
    })

    const groupBatchError = (operation: "save" | "restore", ids: ReadonlyArray<string>) => (e: DriverError) =>
      new GroupError({
        groupId: ids[0],
        operation,
        cause: e.cause,
        ...(ids.length > 1 ? { groupIds: ids } : {})
      })

    // One batch: the driver's batch read where it has one, else a read per id.
    const readGroups = (ids: ReadonlyArray<string>) => {
      const getGroups = driver.getGroups
      const read: Effect.Effect<ReadonlyArray<GroupRecord.GroupRecord | undefined>, DriverError> = getGroups !== undefined
        ? retry(getGroups(ids))
        : Effect.forEach(
          ids,
          (id) => Effect.map(retry(driver.getGroup(id)), Option.getOrUndefined),
          { concurrency: GROUP_FALLBACK_CONCURRENCY }
        )
      return Effect.mapError(read, groupBatchError("restore", ids))
    }

    const findGroups = Effect.fn("ResultBackend.findGroups", { captureStackTrace: false })(function*(
      groupIds: ReadonlyArray<string>
    ) {
      const checked = checkIds("groupIds", groupIds)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ count: groupIds.length })
      if (groupIds.length === 0) return []
      const unique = Array.from(new Set(groupIds))
      const byId = new Map<string, GroupRecord.GroupRecord>()
      for (let i = 0; i < unique.length; i += GROUP_BATCH_SIZE) {
        const ids = unique.slice(i, i + GROUP_BATCH_SIZE)
        const found = yield* readGroups(ids)
        ids.forEach((id, k) => {
          const group = found[k]
          if (group !== undefined) byId.set(id, group)
        })
      }
      return groupIds.map((id) => Option.fromNullable(byId.get(id)))
    })

    // One batch: the driver's batch write where it has one, else a write per group.
    const writeGroups = (groups: ReadonlyArray<GroupRecord.GroupRecord>) => {
      const putGroups = driver.putGroups
      const write: Effect.Effect<void, DriverError> = putGroups !== undefined
        ? retry(putGroups(groups))
        : Effect.forEach(groups, (group) => retry(driver.putGroup(group)), {
          concurrency: GROUP_FALLBACK_CONCURRENCY,
          discard: true
        })
      return Effect.mapError(write, groupBatchError("save", groups.map((g) => g.groupId)))
    }

    const saveGroups = Effect.fn("ResultBackend.saveGroups", { captureStackTrace: false })(function*(
      groups: ReadonlyArray<GroupRecord.GroupRecord>
    ) {
      const checked = checkGroups(groups)
      if (Either.isLeft(checked)) return yield* checked.left
      const records = checked.right
      yield* Effect.annotateCurrentSpan({ count: records.length })
      if (records.length === 0) return records
      // The last occurrence of an id wins: keep it, at its own place in the order.
      const last = new Map<string, number>()
      records.forEach((group, i) => last.set(group.groupId, i))
      const distinct = last.size === records.length ? records : records.filter((group, i) => last.get(group.groupId) === i)
      for (let i = 0; i < distinct.length; i += GROUP_BATCH_SIZE) {
        yield* writeGroups(distinct.slice(i, i + GROUP_BATCH_SIZE))
      }
      return records
    })

    const deleteGroup = Effect.fn("ResultBackend.deleteGroup", { captureStackTrace: false })(function*(groupId: string) {
      const checked = checkId("groupId", groupId)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ groupId })
      yield* retry(driver.removeGroup(groupId)).pipe(
        Effect.mapError((e) => new GroupError({ groupId, operation: "delete", cause: e.cause }))
      )
    })

    const cleanup = Effect.fn("ResultBackend.cleanup", { captureStackTrace: false })(function*() {
      const now = yield* DateTime.now
      const rules = cleanupRules(options, now)
      let tasks = 0
      let groups = 0
      const limit = options.cleanupBatchSize
      const slice = driver.cleanupSlice !== undefined && driver.cleanupSlice > 0 ? driver.cleanupSlice : undefined
      const fail = (e: DriverError) => new CleanupError({ deletedTasks: tasks, deletedGroups: groups, cause: e.cause })
      // Deletes in batches until one comes back short; returns the total.
      const sweep = (batch: (size: number) => Effect.Effect<number, DriverError>, counted: (n: number) => void) =>
        Effect.gen(function*() {
          let size = slice === undefined ? limit : Math.min(limit, FIRST_SLICED_BATCH)
          for (;;) {
            const t0 = yield* Clock.currentTimeNanos
            const n = yield* retry(batch(size)).pipe(Effect.mapError(fail))
            counted(n)
            if (n < size) return
            if (slice !== undefined) size = nextBatchSize(size, Number((yield* Clock.currentTimeNanos) - t0) / 1e6, slice, limit)
            // Between batches, writers waiting for the connection go first: a
            // synchronous driver (SQLite) would otherwise take it back at once
            // and hold every writer for the whole sweep.
            yield* Effect.yieldNow()
          }
        })
      for (const rule of rules) {
        yield* sweep((size) => driver.cleanupTasks(rule, size), (n) => tasks += n)
      }
      if (options.resultExpires !== null) {
        const before = DateTime.subtractDuration(now, options.resultExpires)
        yield* sweep((size) => driver.cleanupGroups(before, size), (n) => groups += n)
      }
      yield* Effect.annotateCurrentSpan({ tasks, groups })
      return { tasks, groups } satisfies CleanupReport
    })

    const minPoll = Math.max(1, driver.minPollInterval ?? 5)
    const maxPoll = Math.max(minPoll, Duration.toMillis(options.pollInterval))

    const awaitReady = (taskIds: ReadonlyArray<string>) =>
      Effect.scoped(Effect.gen(function*() {
        const changes = driver.subscribe ? yield* driver.subscribe : undefined
        const ready = new Map<string, TaskRecord.TaskRecord>()
        let pending = Array.from(new Set(taskIds))
        let pause = minPoll
        for (;;) {
          const found = yield* readMany(pending)
          const still: Array<string> = []
          found.forEach((r, i) => {
            if (r !== undefined && TaskState.isReady(r.status)) ready.set(r.taskId, r)
            else still.push(pending[i])
          })
          pending = still
          if (pending.length === 0) return taskIds.map((id) => ready.get(id)!)
          if (changes !== undefined) {
            // Push: wake on a store of any awaited id; poll as a safety net.
            const awaited = new Set(pending)
            const wake = Queue.takeAll(changes).pipe(
              Effect.flatMap((ids) =>
                Array.from(ids).some((id) => awaited.has(id)) ? Effect.void : Queue.take(changes).pipe(
                  Effect.repeat({ until: (id) => awaited.has(id) })
                )
              )
            )
            yield* Effect.raceFirst(Effect.asVoid(wake), Effect.sleep(maxPoll))
          } else {
            yield* Effect.sleep(pause)
            pause = Math.min(maxPoll, pause * 2)
          }
        }
      }))

    const waitForMany = Effect.fn("ResultBackend.waitForMany", { captureStackTrace: false })(function*(
      taskIds: ReadonlyArray<string>,
      waitOptions?: WaitOptions
    ) {
      const checked = checkIds("taskIds", taskIds)
      if (Either.isLeft(checked)) return yield* checked.left
      yield* Effect.annotateCurrentSpan({ count: taskIds.length })
      if (taskIds.length === 0) return []
      if (waitOptions?.timeout === undefined) return yield* awaitReady(taskIds)
      const timeout = Duration.decode(waitOptions.timeout)
      return yield* awaitReady(taskIds).pipe(
        Effect.timeoutFail({
          duration: timeout,
          onTimeout: () => new WaitTimeout({ taskIds: [...taskIds], timeoutMillis: Duration.toMillis(timeout) })
        })
      )
    })

    const waitFor = Effect.fn("ResultBackend.waitFor", { captureStackTrace: false })(function*(taskId: string, waitOptions?: WaitOptions) {
      const checked = checkId("taskId", taskId)
      if (Either.isLeft(checked)) return yield* checked.left
      const [record] = yield* waitForMany([taskId], waitOptions)
      return record
    })

    return {
      kind: driver.kind,
      options,
      store,
      storeMany,
      get,
      getMany,
      findMany,
      exists,
      forget,
      saveGroup,
      restoreGroup,
      deleteGroup,
      findGroups,
      saveGroups,
      cleanup,
      waitFor,
      waitForMany,
      notifications: driver.subscribe
    } satisfies Service
  })

/**
 * How many groups `findGroups` reads and `saveGroups` writes per driver
 * call (one statement each on SQL).
 *
 * @since 0.1.0
 * @category constants
 */
export const GROUP_BATCH_SIZE = 500

/** Reads or writes at once per batch for a driver without `getGroups` / `putGroups`. */
const GROUP_FALLBACK_CONCURRENCY = 16

/** A time-sliced sweep's first batch, before it has a time to size from. */
const FIRST_SLICED_BATCH = 16

/**
 * The next batch of a time-sliced sweep: the size that would have taken
 * `slice` ms at the last batch's pace, at most double the last (one slow
 * statement, or a clock that did not move, does not swing it far), at
 * least the first batch's 16 rows and at most `limit`. The floor keeps a
 * sweep going where a statement's fixed cost alone (a round trip, a commit's
 * flush) is longer than the slice: sized by time only, its batches would
 * shrink to one row each.
 *
 * @internal
 */
export const nextBatchSize = (size: number, tookMs: number, slice: number, limit: number): number => {
  const paced = tookMs > 0 ? Math.floor(size * slice / tookMs) : size * 2
  return Math.max(Math.min(limit, FIRST_SLICED_BATCH), Math.min(limit, size * 2, paced))
}

/**
 * The cleanup rules for `now`: one per state with its own retention, then
 * the default rule for every other state.
 *
 * @since 0.1.0
 * @category cleanup
 */
export const cleanupRules = (options: BackendOptions.BackendOptions, now: DateTime.Utc): ReadonlyArray<CleanupRule> => {
  const rules: Array<CleanupRule> = []
  const overridden = Object.keys(options.expiresByState)
  for (const state of overridden) {
    const keep = options.expiresByState[state]
    if (keep !== null) rules.push({ before: DateTime.subtractDuration(now, keep), only: [state] })
  }
  if (options.resultExpires !== null) {
    rules.push({
      before: DateTime.subtractDuration(now, options.resultExpires),
      except: overridden.length > 0 ? overridden : undefined
    })
  }
  return rules
}

// ---------------------------------------------------------------------------
// helpers over the tag
// ---------------------------------------------------------------------------

/**
 * Stores STARTED with optional meta (Celery stores `{pid, hostname}`).
 *
 * @since 0.1.0
 * @category helpers
 */
export const markAsStarted = (taskId: string, meta: unknown = null, options?: StoreOptions) =>
  Effect.flatMap(ResultBackend, (backend) => backend.store(taskId, meta, TaskState.STARTED, options))

/**
 * Stores SUCCESS with the return value.
 *
 * @since 0.1.0
 * @category helpers
 */
export const markAsDone = (taskId: string, result: unknown, options?: StoreOptions) =>
  Effect.flatMap(ResultBackend, (backend) => backend.store(taskId, result, TaskState.SUCCESS, options))

const envelope = (error: unknown): unknown =>
  error instanceof Error ? ExceptionInfo.fromError(error) : ExceptionInfo.isEncoded(error) ? error : ExceptionInfo.fromError(error)

/**
 * Stores FAILURE with the error envelope of `error` and its traceback.
 *
 * @since 0.1.0
 * @category helpers
 */
export const markAsFailure = (taskId: string, error: unknown, options?: StoreOptions) =>
  Effect.flatMap(ResultBackend, (backend) => backend.store(taskId, envelope(error), TaskState.FAILURE, options))

/**
 * Stores RETRY with the error that caused the retry.
 *
 * @since 0.1.0
 * @category helpers
 */
export const markAsRetry = (taskId: string, error: unknown, options?: StoreOptions) =>
  Effect.flatMap(ResultBackend, (backend) => backend.store(taskId, envelope(error), TaskState.RETRY, options))

/**
 * Stores REVOKED with Celery's `TaskRevokedError` envelope.
 *
 * @since 0.1.0
 * @category helpers
 */
export const markAsRevoked = (taskId: string, reason = "revoked", options?: StoreOptions) =>
  Effect.flatMap(ResultBackend, (backend) =>
    backend.store(
      taskId,
      ExceptionInfo.make("TaskRevokedError", [reason], "celery.exceptions"),
      TaskState.REVOKED,
      options
    ))

// ---------------------------------------------------------------------------
// typed reads
// ---------------------------------------------------------------------------

/**
 * Decodes a record's result with a schema. A mismatch fails with
 * `ResultDecodeError`, which keeps the stored value in `raw`.
 *
 * @since 0.1.0
 * @category typed reads
 */
export const decodeResult = <A, I, R>(schema: Schema.Schema<A, I, R>) => {
  const decode = Schema.decodeUnknown(schema)
  return (record: TaskRecord.TaskRecord): Effect.Effect<A, ResultDecodeError, R> =>
    decode(record.result).pipe(
      Effect.mapError((error) =>
        new ResultDecodeError({
          taskId: record.taskId,
          status: record.status,
          raw: record.result,
          issue: ParseResult.TreeFormatter.formatErrorSync(error)
        })
      )
    )
}

/**
 * Reads a task's result through a schema.
 *
 * @since 0.1.0
 * @category typed reads
 */
export const getResult = <A, I, R>(taskId: string, schema: Schema.Schema<A, I, R>) => {
  const decode = decodeResult(schema)
  return Effect.flatMap(ResultBackend, (backend) => Effect.flatMap(backend.get(taskId), decode))
}
