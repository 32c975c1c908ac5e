/**
 * Reading an ArangoDB result collection as a whole, for tools: tasks by
 * state, name and time, counts by state and name, every task and group, what
 * a cleanup would remove, and the pipeline ids of a pipeline store. Plain
 * data with core's `DriverError`, no service tag: `ArangoBrowser` turns it
 * into core's `ResultBrowser`, and `@taskmeta/stores`' `Pipelines` reads
 * the pipeline ids.
 *
 * - Every statement is in `internal/scanAql.ts`; values and the collection
 *   are bind variables (`@@collection`).
 * - Lists and exports are read through an AQL cursor, `batchSize` documents
 *   per round trip, as a `Stream`: nothing holds the whole collection on
 *   this side. The cursor is a streaming one (`stream: true`), and it is
 *   deleted on the server when the stream stops early (a `limit` reached by
 *   the consumer, a failure, an interruption).
 * - Documents are decoded with `ArangoDocument`, the backend's own codec, so
 *   both stored forms (JSON text since Celery 5.3.4, an object before) read
 *   the same, and integers beyond 2^53 in the text form keep every digit.
 * - "Newest first" for documents, which have no creation sequence: records
 *   not finished (no READY `date_done`) first, then by `date_done` descending
 *   (compared as instants, as cleanup compares), ties by `_key` descending.
 *   Exports are the exact reverse.
 * - `countExpired` counts with cleanup's own filter (`aql.expiredTasks`,
 *   `aql.expiredGroups`), rule by rule as cleanup runs them.
 * - Nothing here is retried: a tool reruns a failed read. Failures are core's
 *   `DriverError` with an `ArangoFailure` as the cause, as in the backend.
 * - No index can help any of these except `pipelineIds`: the fields live
 *   inside the `task` JSON text, so each query reads and parses every result
 *   document on the server (as Celery's and taskmeta's cleanup do); lists and
 *   exports also sort there.
 *
 * @since 0.1.0
 */
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { DriverError } from "@taskmeta/core/BackendError"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import type { Database } from "arangojs"
import type { Cursor } from "arangojs/cursors"
import * as ArangoBackend from "./ArangoBackend.js"
import * as ArangoConfig from "./ArangoConfig.js"
import * as ArangoDocument from "./ArangoDocument.js"
import { ArangoFailure, toDriverError } from "./internal/classify.js"
import * as Aql from "./internal/scanAql.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Counts {
  /** Documents whose `task` is not an object with a status are not counted. */
  readonly tasks: ReadonlyArray<ResultBrowser.StateNameCount>
  readonly groups: number
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Documents per cursor batch (one HTTP round trip each). Default `DEFAULT_BATCH_SIZE`. */
  readonly batchSize?: number | undefined
  /**
   * How long the server keeps a cursor between two batches (ArangoDB's
   * `ttl`, whole seconds). A consumer slower than this loses the cursor
   * (errorNum 1600). Default `DEFAULT_CURSOR_TTL`.
   */
  readonly cursorTtl?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_BATCH_SIZE = 500

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_CURSOR_TTL: Duration.Duration = Duration.minutes(2)

/**
 * @since 0.1.0
 * @category models
 */
export interface ArangoScan {
  /** Tasks matching the filter, newest first (see the module notes). */
  readonly listTasks: (filter?: ResultBrowser.Filter) => Stream.Stream<TaskRecord.TaskRecord, DriverError>
  /** Every task, oldest first (the reverse of `listTasks`). */
  readonly exportTasks: Stream.Stream<TaskRecord.TaskRecord, DriverError>
  /** Every group, oldest first (groups Celery saved have no date and come first). */
  readonly exportGroups: Stream.Stream<GroupRecord.GroupRecord, DriverError>
  /** Tasks per (status, name), and the number of groups, in one query. */
  readonly counts: Effect.Effect<Counts, DriverError>
  /** What `ResultBackend.cleanup` with these options would remove if it ran now (`Clock`'s now). */
  readonly countExpired: (
    options: BackendOptions.BackendOptions
  ) => Effect.Effect<ResultBrowser.ExpiredCount, DriverError>
  /** The distinct pipeline ids in a pipeline executions collection, sorted. */
  readonly pipelineIds: (collection: string) => Effect.Effect<ReadonlyArray<string>, DriverError>
}

const Rows = Schema.Array(Schema.Tuple(Schema.String, Schema.Unknown))
const Count = Schema.NonNegativeInt
const CountRows = Schema.Array(Count)
const CountsRows = Schema.Array(Schema.Struct({
  tasks: Schema.Array(Schema.Struct({ status: Schema.String, name: Schema.NullOr(Schema.String), n: Count })),
  groups: Schema.NullOr(Count)
}))
const Ids = Schema.Array(Schema.String)

const READY = Array.from(TaskState.READY_STATES)

const unexpected = (operation: string, message: string): DriverError =>
  toDriverError(operation)(new ArangoFailure({ kind: "unexpected", message, transient: false }))

const decode = <A, I>(schema: Schema.Schema<A, I>, operation: string) => {
  const run = Schema.decodeUnknownEither(schema)
  return (rows: unknown): Either.Either<A, DriverError> =>
    Either.mapLeft(run(rows), (e) => unexpected(operation, `unexpected answer: ${e.message}`))
}

/**
 * The scan over an open `Database` and the collection `config` names
 * (`config.keyPrefix` is Celery's global key prefix, as in the backend).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromDatabase = (db: Database, config: ArangoConfig.ArangoConfig, options: Options = {}): ArangoScan => {
  const batchSize = Math.max(1, Math.floor(options.batchSize ?? DEFAULT_BATCH_SIZE))
  const ttl = Math.max(1, Math.ceil(Duration.toSeconds(Duration.decode(options.cursorTtl ?? DEFAULT_CURSOR_TTL))))
  const taskPrefix = config.keyPrefix + ArangoDocument.TASK_PREFIX
  const groupPrefix = config.keyPrefix + ArangoDocument.GROUP_PREFIX
  const collection = config.collection

  /** A query answered in one batch (counts, ids). */
  const query = <A, I>(operation: string, text: string, bindVars: Record<string, unknown>, schema: Schema.Schema<A, I>) =>
    Effect.tryPromise({
      try: async () => {
        const cursor = await db.query(text, { "@collection": collection, ...bindVars })
        return cursor.all()
      },
      catch: toDriverError(`browse.${operation}`)
    }).pipe(
      Effect.flatMap(decode(schema, `browse.${operation}`)),
      Effect.withSpan(`ArangoScan.${operation}`, { attributes: { "db.collection": bindVars["@collection"] ?? collection } })
    )

  const kill = (operation: string, cursor: Cursor<unknown>) =>
    Effect.tryPromise({ try: () => cursor.kill(), catch: toDriverError(`browse.${operation}.kill`) }).pipe(
      Effect.catchAll((e) =>
        Effect.logWarning("could not delete an ArangoDB cursor; the server drops it after its ttl").pipe(
          Effect.annotateLogs({ operation, cause: e.message })
        )
      )
    )

  /**
   * A streaming cursor over `[_key, task]` rows, decoded batch by batch; the
   * cursor is deleted on the server if the stream ends before it is drained.
   */
  const scan = <A>(
    operation: string,
    text: string,
    bindVars: Record<string, unknown>,
    decodeRow: (key: string, raw: unknown) => Either.Either<A, ArangoDocument.ArangoDocumentError>
  ): Stream.Stream<A, DriverError> => {
    const failure = toDriverError(`browse.${operation}`)
    const rows = decode(Rows, `browse.${operation}`)
    const decodeBatch = (batch: ReadonlyArray<unknown>): Either.Either<Chunk.Chunk<A>, DriverError> =>
      Either.flatMap(rows(batch), (pairs) => {
        const out: Array<A> = []
        for (const [key, raw] of pairs) {
          const decoded = decodeRow(key, raw)
          if (Either.isLeft(decoded)) return Either.left(unexpected(`browse.${operation}`, decoded.left.message))
          out.push(decoded.right)
        }
        return Either.right(Chunk.unsafeFromArray(out))
      })
    return Stream.unwrapScoped(
      Effect.map(
        Effect.acquireRelease(
          Effect.tryPromise({
            try: () => db.query(text, { "@collection": collection, ...bindVars }, { batchSize, ttl, stream: true }),
            catch: failure
          }),
          (cursor) => (cursor.hasNext ? kill(operation, cursor) : Effect.void)
        ),
        (cursor) =>
          Stream.repeatEffectChunkOption(
            Effect.tryPromise({ try: () => cursor.batches.next(), catch: failure }).pipe(
              Effect.mapError(Option.some),
              Effect.flatMap((batch) =>
                batch === undefined ? Effect.fail(Option.none()) : Effect.mapError(decodeBatch(batch), Option.some)
              )
            )
          )
      )
    ).pipe(Stream.withSpan(`ArangoScan.${operation}`))
  }

  const readTask = (key: string, raw: unknown) => ArangoDocument.decodeTaskDocument(key, raw, taskPrefix)
  const readGroup = (key: string, raw: unknown) => ArangoDocument.decodeGroupDocument(key, raw, groupPrefix)

  const listTasks = (filter: ResultBrowser.Filter = {}) => {
    const states = filter.states !== undefined && filter.states.length > 0 ? filter.states : undefined
    const limit = filter.limit !== undefined && Number.isFinite(filter.limit) ? Math.max(0, Math.floor(filter.limit)) : undefined
    const text = Aql.tasks("newest", {
      states: states !== undefined,
      name: filter.name !== undefined,
      since: filter.since !== undefined,
      until: filter.until !== undefined,
      limit: limit !== undefined
    })
    return scan("listTasks", text, {
      prefix: taskPrefix,
      ready: READY,
      ...(states === undefined ? {} : { states: [...states] }),
      ...(filter.name === undefined ? {} : { name: filter.name }),
      ...(filter.since === undefined ? {} : { since: DateTime.toEpochMillis(filter.since) }),
      ...(filter.until === undefined ? {} : { until: DateTime.toEpochMillis(filter.until) }),
      ...(limit === undefined ? {} : { limit })
    }, readTask)
  }

  const exportTasks = scan(
    "exportTasks",
    Aql.tasks("oldest", Aql.NO_FILTERS),
    { prefix: taskPrefix, ready: READY },
    readTask
  )

  const exportGroups = scan("exportGroups", Aql.groups, { prefix: groupPrefix }, readGroup)

  const counts = query("counts", Aql.counts, { taskPrefix, groupPrefix }, CountsRows).pipe(
    Effect.map((rows): Counts => {
      const row = rows[0]
      return {
        tasks: (row?.tasks ?? []).map((r) => ({ status: r.status, name: r.name, count: r.n })),
        groups: row?.groups ?? 0
      }
    })
  )

  const countOne = (operation: string, text: string, bindVars: Record<string, unknown>) =>
    Effect.map(query(operation, text, bindVars, CountRows), (rows) => rows[0] ?? 0)

  const countExpired = (backendOptions: BackendOptions.BackendOptions) =>
    Effect.gen(function*() {
      const now = yield* DateTime.now
      let tasks = 0
      for (const rule of ResultBackend.cleanupRules(backendOptions, now)) {
        const states = ArangoBackend.cleanupStates(rule)
        if (states.length === 0) continue
        tasks += yield* countOne("countExpiredTasks", Aql.countExpiredTasks, {
          prefix: taskPrefix,
          states,
          before: DateTime.toEpochMillis(rule.before)
        })
      }
      let groups = 0
      if (backendOptions.resultExpires !== null) {
        groups = yield* countOne("countExpiredGroups", Aql.countExpiredGroups, {
          prefix: groupPrefix,
          before: DateTime.toEpochMillis(DateTime.subtractDuration(now, backendOptions.resultExpires))
        })
      }
      return { tasks, groups } satisfies ResultBrowser.ExpiredCount
    }).pipe(Effect.withSpan("ArangoScan.countExpired"))

  const pipelineIds = (executions: string) =>
    Effect.map(
      query("pipelineIds", Aql.pipelineIds, { "@collection": executions }, Ids),
      (ids) => [...ids].sort()
    )

  return { listTasks, exportTasks, exportGroups, counts, countExpired, pipelineIds }
}

/**
 * `make` for settings already resolved: opens its own connection for the
 * scope (closed on release). Nothing is created: a missing database or
 * collection fails each read (errorNum 1228 / 1203).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromConfig = (
  config: ArangoConfig.ArangoConfig,
  options: Options = {}
): Effect.Effect<ArangoScan, never, Scope.Scope> =>
  Effect.map(ArangoBackend.acquireDatabase(config), (db) => fromDatabase(db, config, options))

/**
 * Resolves the settings (`ArangoConfig`, URL or fields) and opens the scan.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: ArangoConfig.Input,
  options: Options = {}
): Effect.Effect<ArangoScan, ArangoConfig.ArangoConfigError, Scope.Scope> =>
  Effect.flatMap(ArangoConfig.make(input), (config) => makeFromConfig(config, options))
