/**
 * The ArangoDB `PipelineStore` (SPEC §9), over arangojs 10.
 *
 * - Four document collections, one per record kind (names from a prefix,
 *   default `taskmeta_pipeline_executions`, `taskmeta_pipeline_results`,
 *   `taskmeta_task_executions`, `taskmeta_task_results`), with persistent
 *   indexes for the list queries. Collections and indexes are created only
 *   with `create: true`.
 * - A build is one stream transaction over the four collections: the
 *   execution document (inserted only if its key is free, so a second build
 *   of the run writes nothing), then one `FOR … INSERT` per kind, chunked.
 * - A report is one stream transaction (`beginTransaction` + `step` +
 *   `commit`, `abort` on any failure). The reported record is changed by a
 *   conditional `UPDATE` (the advance rule inside the statement); a parent
 *   is read with its `_rev` and patched only at that revision. A concurrent
 *   report that changed the parent in between makes the statement fail with
 *   a write-write conflict (errorNum 1200), and the shared retry policy runs
 *   the whole transaction again, so no propagation is lost.
 * - Digest and cleanup are single AQL queries; a cleanup batch removes whole
 *   trees bottom-up in one query.
 * - JSON values are stored as JSON text (`Json.stringify`, so integers
 *   beyond 2^53 keep every digit), times as epoch milliseconds.
 *
 * @since 0.1.0
 */
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { DriverError } from "@taskmeta/core/BackendError"
import type { Access, ListQuery, PipelineDriver, Tallies, Tree } from "@taskmeta/core/PipelineDriver"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import * as Json from "@taskmeta/schema/Json"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import type { Database } from "arangojs"
import type { Transaction } from "arangojs/transactions"
import * as ArangoBackend from "./ArangoBackend.js"
import * as ArangoConfig from "./ArangoConfig.js"
import * as ArangoDocument from "./ArangoDocument.js"
import { ArangoFailure, classify, ERROR_TRANSACTION_NOT_FOUND, isTransient, toDriverError } from "./internal/classify.js"
import * as Aql from "./internal/pipelineAql.js"

// ---------------------------------------------------------------------------
// names and options
// ---------------------------------------------------------------------------

/**
 * The four collections.
 *
 * @since 0.1.0
 * @category models
 */
export interface CollectionNames {
  readonly executions: string
  readonly pipelineResults: string
  readonly taskExecutions: string
  readonly taskResults: string
}

/**
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PREFIX = "taskmeta_"

/**
 * Documents inserted per `INSERT` statement when a tree is built.
 *
 * @since 0.1.0
 * @category constants
 */
export const INSERT_CHUNK_SIZE = 500

/**
 * The retry policy this store uses when `options.retry` is not given. In
 * ArangoDB, two reports that change one parent at the same time do not wait
 * for each other as they do on a PostgreSQL row lock: the later one fails
 * with a write-write conflict (1200) and is run again. A burst of reports on
 * the children of one record therefore needs more retries than Celery's
 * default 3; this allows 20, with full jitter from 5 ms, capped at 1 s.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaultRetry: RetryPolicy.Settings = {
  alwaysRetry: true,
  maxRetries: 20,
  baseSleep: Duration.millis(5),
  maxSleep: Duration.seconds(1)
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends PipelineStore.Options {
  /**
   * Collection name prefix (default `taskmeta_`): `<prefix>pipeline_executions`,
   * `<prefix>pipeline_results`, `<prefix>task_executions`, `<prefix>task_results`.
   */
  readonly prefix?: string | undefined
  /** Names for single collections, overriding the prefix. */
  readonly collections?: Partial<CollectionNames> | undefined
}

// ArangoDB's traditional collection names (the ones every server accepts), as `ArangoConfig` checks them.
const COLLECTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,255}$/

/**
 * The collection names for the options, validated.
 *
 * @since 0.1.0
 * @category constructors
 */
export const collectionNames = (
  options: Pick<Options, "prefix" | "collections"> = {}
): Either.Either<CollectionNames, ArangoConfig.ArangoConfigError> => {
  const prefix = options.prefix ?? DEFAULT_PREFIX
  const names: CollectionNames = {
    executions: options.collections?.executions ?? `${prefix}pipeline_executions`,
    pipelineResults: options.collections?.pipelineResults ?? `${prefix}pipeline_results`,
    taskExecutions: options.collections?.taskExecutions ?? `${prefix}task_executions`,
    taskResults: options.collections?.taskResults ?? `${prefix}task_results`
  }
  for (const [field, name] of Object.entries(names)) {
    if (typeof name !== "string" || !COLLECTION_NAME.test(name)) {
      return Either.left(
        new ArangoConfig.ArangoConfigError({
          field: `collections.${field}`,
          reason: "must start with a letter and hold at most 256 letters, digits, _ or -"
        })
      )
    }
  }
  if (new Set(Object.values(names)).size !== 4) {
    return Either.left(
      new ArangoConfig.ArangoConfigError({ field: "collections", reason: "must be four different collections" })
    )
  }
  return Either.right(names)
}

/**
 * A persistent index the store relies on.
 *
 * @since 0.1.0
 * @category models
 */
export interface IndexSpec {
  readonly collection: keyof CollectionNames
  readonly name: string
  readonly fields: ReadonlyArray<string>
}

/**
 * The persistent indexes `create: true` ensures, one per query shape:
 * runs of a pipeline (list, digest), cleanup candidates, records of a run in
 * tree order (lists, cleanup), records of a parent in order, and the task
 * results of a run by status ("the failed task results of a run").
 *
 * @since 0.1.0
 * @category constants
 */
export const INDEXES: ReadonlyArray<IndexSpec> = [
  { collection: "executions", name: "taskmeta_pipeline_created", fields: ["pipelineId", "created"] },
  { collection: "executions", name: "taskmeta_completed", fields: ["completed"] },
  { collection: "pipelineResults", name: "taskmeta_run_index", fields: ["runId", "index"] },
  { collection: "taskExecutions", name: "taskmeta_run_ordinal", fields: ["runId", "ordinal"] },
  { collection: "taskExecutions", name: "taskmeta_parent_index", fields: ["pipelineResultId", "index"] },
  { collection: "taskResults", name: "taskmeta_run_ordinal", fields: ["runId", "ordinal"] },
  { collection: "taskResults", name: "taskmeta_parent_index", fields: ["taskExecutionId", "index"] },
  { collection: "taskResults", name: "taskmeta_run_status", fields: ["runId", "status"] }
]

/**
 * A record's `_key`: its id (the run id for an execution), percent-encoded
 * where ArangoDB does not allow a character, hashed when too long (see
 * `ArangoDocument.keyPart`). Documents keep the id itself in an attribute.
 *
 * @since 0.1.0
 * @category keys
 */
export const recordKey = (id: string): string => ArangoDocument.keyPart(id)

// ---------------------------------------------------------------------------
// setup
// ---------------------------------------------------------------------------

const ERROR_ARANGO_DUPLICATE_NAME = 1207

const setupStep = <A>(step: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new ArangoBackend.ArangoSetupError({ step, cause: classify(error, "setup") })
  })

const duplicate = (error: ArangoBackend.ArangoSetupError) =>
  error.cause instanceof ArangoFailure && error.cause.errorNum === ERROR_ARANGO_DUPLICATE_NAME

/**
 * With `create: true`, creates what is missing — the database, the four
 * collections, the indexes (`INDEXES`) — idempotently, so several processes
 * may start at once. Without it, does nothing: a missing collection then
 * fails each operation (errorNum 1203).
 *
 * @since 0.1.0
 * @category setup
 */
export const prepareCollections = (
  db: Database,
  config: ArangoConfig.ArangoConfig,
  names: CollectionNames,
  retry: RetryPolicy.Settings = RetryPolicy.defaults
): Effect.Effect<void, ArangoBackend.ArangoSetupError> =>
  Effect.gen(function*() {
    if (!config.create) return
    const again = RetryPolicy.retryTransient<ArangoBackend.ArangoSetupError>(
      retry,
      (e) => e.cause instanceof ArangoFailure && e.cause.transient
    )
    const exists = yield* again(setupStep("checking the database", () => db.exists()))
    if (!exists) {
      yield* Effect.logInfo("creating the ArangoDB database").pipe(Effect.annotateLogs({ database: config.database }))
      yield* again(setupStep("creating the database", () => db.database("_system").createDatabase(config.database)))
        .pipe(Effect.catchIf(duplicate, () => Effect.void))
    }
    for (const name of Object.values(names)) {
      const collection = db.collection(name)
      const has = yield* again(setupStep(`checking the collection ${name}`, () => collection.exists()))
      if (!has) {
        yield* Effect.logInfo("creating an ArangoDB collection").pipe(
          Effect.annotateLogs({ database: config.database, collection: name })
        )
        yield* again(setupStep(`creating the collection ${name}`, () => db.createCollection(name)))
          .pipe(Effect.catchIf(duplicate, () => Effect.void))
      }
    }
    for (const index of INDEXES) {
      const collection = db.collection(names[index.collection])
      yield* again(setupStep(`ensuring the index ${index.name} on ${names[index.collection]}`, () =>
        collection.ensureIndex({ type: "persistent", name: index.name, fields: [...index.fields] })))
    }
  })

// ---------------------------------------------------------------------------
// documents
// ---------------------------------------------------------------------------

const Millis = Schema.DateTimeUtcFromNumber
const OptionalMillis = Schema.NullOr(Millis)
/** `null` is the JSON null; anything else is JSON text. */
const Message = Schema.NullOr(Json.JsonFromString)
const Position = Schema.Int.pipe(Schema.nonNegative())

const stampFields = {
  status: Pipeline.Status,
  message: Message,
  started: OptionalMillis,
  completed: OptionalMillis
}

const ExecutionDocs = Schema.Array(Schema.Struct({
  runId: Schema.String,
  pipelineId: Schema.String,
  inputData: Json.JsonFromString,
  created: Millis,
  ...stampFields
}))

const PipelineResultDocs = Schema.Array(Schema.Struct({
  id: Schema.String,
  runId: Schema.String,
  index: Position,
  object: Json.JsonFromString,
  ...stampFields
}))

const TaskExecutionDocs = Schema.Array(Schema.Struct({
  id: Schema.String,
  runId: Schema.String,
  pipelineResultId: Schema.String,
  index: Position,
  taskName: Schema.String,
  config: Json.JsonFromString,
  ...stampFields
}))

const TaskResultDocs = Schema.Array(Schema.Struct({
  id: Schema.String,
  runId: Schema.String,
  taskExecutionId: Schema.String,
  index: Position,
  object: Json.JsonFromString,
  ...stampFields
}))

const Tally = Schema.Struct({
  total: Schema.NonNegativeInt,
  final: Schema.NonNegativeInt,
  worst: Schema.NullOr(Pipeline.Status)
})

const parentIds = {
  runId: Schema.NullOr(Schema.String),
  pipelineResultId: Schema.NullOr(Schema.String),
  taskExecutionId: Schema.NullOr(Schema.String)
}

const LockRows = Schema.Array(Schema.Struct({
  status: Pipeline.Status,
  tally: Schema.NullOr(Tally),
  rev: Schema.String,
  ...parentIds
}))

const AdvanceRows = Schema.Array(Schema.Struct({
  previous: Pipeline.Status,
  rev: Schema.String,
  ...parentIds
}))

const DigestRows = Schema.Array(Schema.Struct({
  total: Schema.NonNegativeInt,
  successes: Schema.NonNegativeInt,
  failures: Schema.NonNegativeInt,
  lastRan: OptionalMillis,
  averageMs: Schema.NullOr(Schema.Number)
}))

const RunIds = Schema.Array(Schema.String)
const Flags = Schema.Array(Schema.Boolean)

const millis = (time: DateTime.Utc | null): number | null => (time === null ? null : DateTime.toEpochMillis(time))
const text = (value: Json.Json): string | null => (value === null ? null : Json.stringify(value))

const stampDoc = (record: Pipeline.Stamped) => ({
  status: record.status,
  message: text(record.message),
  started: millis(record.started),
  completed: millis(record.completed)
})

const tallyDoc = (tally: Pipeline.Tally) => ({ total: tally.total, final: tally.final, worst: tally.worst })

/**
 * The documents of a tree, as `insert` writes them.
 *
 * @since 0.1.0
 * @category documents
 */
export const treeDocuments = (tree: Tree, tallies: Tallies) => {
  const e = tree.execution
  return {
    execution: {
      _key: recordKey(e.runId),
      runId: e.runId,
      pipelineId: e.pipelineId,
      inputData: Json.stringify(e.inputData),
      created: DateTime.toEpochMillis(e.created),
      ...stampDoc(e),
      tally: tallyDoc(tallies.execution)
    },
    pipelineResults: tree.pipelineResults.map((r, i) => ({
      _key: recordKey(r.id),
      id: r.id,
      runId: r.runId,
      index: r.index,
      object: Json.stringify(r.object),
      ...stampDoc(r),
      tally: tallyDoc(tallies.pipelineResults[i])
    })),
    taskExecutions: tree.taskExecutions.map((r, i) => ({
      _key: recordKey(r.id),
      id: r.id,
      runId: r.runId,
      pipelineResultId: r.pipelineResultId,
      index: r.index,
      ordinal: i,
      taskName: r.taskName,
      config: Json.stringify(r.config),
      ...stampDoc(r),
      tally: tallyDoc(tallies.taskExecutions[i])
    })),
    taskResults: tree.taskResults.map((r, i) => ({
      _key: recordKey(r.id),
      id: r.id,
      runId: r.runId,
      taskExecutionId: r.taskExecutionId,
      index: r.index,
      ordinal: i,
      object: Json.stringify(r.object),
      ...stampDoc(r)
    }))
  }
}

/** A status change with its stamps, a message and a tally, as an UPDATE patch. */
const patchOf = (
  status: Pipeline.Status | undefined,
  at: DateTime.Utc,
  message: Json.Json | undefined,
  tally: Pipeline.Tally | undefined
): Record<string, unknown> => {
  const patch: Record<string, unknown> = {}
  if (status !== undefined) {
    patch.status = status
    if (status === Pipeline.RUNNING) patch.started = DateTime.toEpochMillis(at)
    if (Pipeline.isFinal(status)) patch.completed = DateTime.toEpochMillis(at)
  }
  if (message !== undefined) patch.message = text(message)
  if (tally !== undefined) patch.tally = tallyDoc(tally)
  return patch
}

const parentOf = (
  kind: Pipeline.Kind,
  row: { readonly runId: string | null; readonly pipelineResultId: string | null; readonly taskExecutionId: string | null }
): string | null => {
  switch (kind) {
    case "PipelineExecution":
      return null
    case "PipelineResult":
      return row.runId
    case "TaskExecution":
      return row.pipelineResultId
    case "TaskResult":
      return row.taskExecutionId
  }
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

type Run = (
  operation: string,
  query: string,
  bindVars: Record<string, unknown>
) => Effect.Effect<ReadonlyArray<unknown>, DriverError>

/**
 * The storage primitives over an open `Database`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver = (db: Database, names: CollectionNames): PipelineDriver => {
  const collectionOf = (kind: Pipeline.Kind): string => {
    switch (kind) {
      case "PipelineExecution":
        return names.executions
      case "PipelineResult":
        return names.pipelineResults
      case "TaskExecution":
        return names.taskExecutions
      case "TaskResult":
        return names.taskResults
    }
  }
  const all = [names.executions, names.pipelineResults, names.taskExecutions, names.taskResults]

  const run: Run = (operation, query, bindVars) =>
    Effect.tryPromise({
      try: async () => (await db.query(query, bindVars)).all(),
      catch: toDriverError(`pipeline.${operation}`)
    })

  const decode = <A, I>(schema: Schema.Schema<A, I>, operation: string) => (rows: unknown) =>
    Schema.decodeUnknown(schema)(rows).pipe(
      Effect.mapError((error) =>
        new DriverError({
          operation: `arango.pipeline.${operation}`,
          cause: new ArangoFailure({
            kind: "unexpected",
            message: `a stored document is not a pipeline record: ${error.message}`,
            transient: false
          })
        })
      )
    )

  // -- stream transactions ------------------------------------------------

  const abort = (trx: Transaction, operation: string) =>
    Effect.tryPromise({ try: () => trx.abort(), catch: (e) => classify(e, `pipeline.${operation}.abort`) }).pipe(
      Effect.asVoid,
      Effect.catchAll((failure) =>
        // The server drops an idle stream transaction by itself; the step's own outcome is what counts.
        (failure.errorNum === ERROR_TRANSACTION_NOT_FOUND ? Effect.logDebug : Effect.logWarning)(
          "could not abort an ArangoDB stream transaction"
        ).pipe(Effect.annotateLogs({ store: "arango", operation, error: failure.message }))
      )
    )

  /**
   * Runs `body` in a stream transaction writing all four collections:
   * commits on success, aborts on any failure or interruption. Begin, commit
   * and abort are uninterruptible, so no transaction is left open by an
   * interrupted fiber.
   */
  const transaction = <A, E>(
    operation: string,
    body: (run: Run) => Effect.Effect<A, E | DriverError>
  ): Effect.Effect<A, E | DriverError> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.gen(function*() {
        const trx = yield* Effect.tryPromise({
          try: () => db.beginTransaction({ write: all }, { allowImplicit: false }),
          catch: toDriverError(`pipeline.${operation}.begin`)
        })
        const inside: Run = (step, query, bindVars) =>
          Effect.tryPromise({
            // `step` marks the request arangojs sends synchronously inside the callback with the transaction id.
            try: () => trx.step(() => db.query(query, bindVars)).then((cursor) => cursor.all()),
            catch: toDriverError(`pipeline.${operation}.${step}`)
          })
        const exit = yield* Effect.exit(restore(body(inside)))
        if (Exit.isFailure(exit)) {
          yield* abort(trx, operation)
          return yield* Effect.failCause(exit.cause)
        }
        const committed = yield* Effect.exit(Effect.tryPromise({
          try: () => trx.commit(),
          catch: toDriverError(`pipeline.${operation}.commit`)
        }))
        if (Exit.isFailure(committed)) {
          yield* abort(trx, operation)
          return yield* Effect.failCause(committed.cause)
        }
        return exit.value
      })
    )

  // -- atomic access ------------------------------------------------------

  const accessOf = (q: Run): Access => {
    // The revision each record had when this transaction read it.
    const revisions = new Map<string, string>()
    const ref = (kind: Pipeline.Kind, id: string) => `${kind}\u0000${id}`
    return {
      lock: (kind, id) =>
        q("lock", Aql.lock, { "@collection": collectionOf(kind), key: recordKey(id) }).pipe(
          Effect.flatMap(decode(LockRows, "lock")),
          Effect.map((rows) => {
            const row = rows[0]
            if (row === undefined) return undefined
            revisions.set(ref(kind, id), row.rev)
            return { status: row.status, parentId: parentOf(kind, row), tally: row.tally }
          })
        ),
      update: (kind, id, update) => {
        const patch = patchOf(update.status, update.at, update.message, update.tally)
        if (Object.keys(patch).length === 0) return Effect.void
        const rev = revisions.get(ref(kind, id))
        const base = { "@collection": collectionOf(kind), key: recordKey(id), patch }
        return (rev === undefined ? q("update", Aql.update, base) : q("update", Aql.updateAt, { ...base, rev })).pipe(
          Effect.asVoid
        )
      },
      advance: (kind, id, advance) => {
        if (advance.from.length === 0) return Effect.succeed(undefined)
        return q("advance", Aql.advance, {
          "@collection": collectionOf(kind),
          key: recordKey(id),
          from: [...advance.from],
          patch: patchOf(advance.status, advance.at, advance.message, undefined)
        }).pipe(
          Effect.flatMap(decode(AdvanceRows, "advance")),
          Effect.map((rows) => {
            const row = rows[0]
            if (row === undefined) return undefined
            revisions.set(ref(kind, id), row.rev)
            return { previous: row.previous, parentId: parentOf(kind, row) }
          })
        )
      }
    }
  }

  // -- reads --------------------------------------------------------------

  const getOne = <A, I>(kind: Pipeline.Kind, schema: Schema.Schema<ReadonlyArray<A>, I>, operation: string) =>
  (id: string) =>
    run(operation, Aql.getOne, { "@collection": collectionOf(kind), key: recordKey(id) }).pipe(
      Effect.flatMap(decode(schema, operation)),
      Effect.map((rows) => rows[0])
    )

  const list = <A, I>(
    kind: Pipeline.Kind,
    schema: Schema.Schema<ReadonlyArray<A>, I>,
    operation: string,
    query: ListQuery,
    field: string,
    order: "ordinal" | "index"
  ) =>
    run(operation, Aql.list(query.statuses !== undefined), {
      "@collection": collectionOf(kind),
      field,
      id: query.id,
      order,
      ...(query.statuses === undefined ? {} : { statuses: [...query.statuses] })
    }).pipe(Effect.flatMap(decode(schema, operation)))

  const insertChunks = (q: Run, collection: string, docs: ReadonlyArray<object>) =>
    Effect.forEach(
      chunks(docs, INSERT_CHUNK_SIZE),
      (chunk) => q("insertMany", Aql.insertMany, { "@collection": collection, docs: chunk }),
      { discard: true }
    )

  return {
    kind: "arango",
    insert: (tree, tallies) =>
      transaction("insert", (q) =>
        Effect.gen(function*() {
          const docs = treeDocuments(tree, tallies)
          const inserted = yield* q("insertExecution", Aql.insertExecution, {
            "@collection": names.executions,
            key: docs.execution._key,
            doc: docs.execution
          }).pipe(Effect.flatMap(decode(Flags, "insertExecution")))
          if (inserted.length === 0) return false
          yield* insertChunks(q, names.pipelineResults, docs.pipelineResults)
          yield* insertChunks(q, names.taskExecutions, docs.taskExecutions)
          yield* insertChunks(q, names.taskResults, docs.taskResults)
          return true
        })),

    atomically: (f) => transaction("report", (q) => f(accessOf(q))),

    getExecution: getOne("PipelineExecution", ExecutionDocs, "getExecution"),
    getPipelineResult: getOne("PipelineResult", PipelineResultDocs, "getPipelineResult"),
    getTaskExecution: getOne("TaskExecution", TaskExecutionDocs, "getTaskExecution"),
    getTaskResult: getOne("TaskResult", TaskResultDocs, "getTaskResult"),

    listExecutions: (pipelineId) =>
      run("listExecutions", Aql.listExecutions, { "@collection": names.executions, pipelineId }).pipe(
        Effect.flatMap(decode(ExecutionDocs, "listExecutions"))
      ),
    // The execution is the pipeline results' parent: by run and by parent are the same list.
    listPipelineResults: (query) =>
      list("PipelineResult", PipelineResultDocs, "listPipelineResults", query, "runId", "index"),
    listTaskExecutions: (query) =>
      query.by === "run"
        ? list("TaskExecution", TaskExecutionDocs, "listTaskExecutions", query, "runId", "ordinal")
        : list("TaskExecution", TaskExecutionDocs, "listTaskExecutions", query, "pipelineResultId", "index"),
    listTaskResults: (query) =>
      query.by === "run"
        ? list("TaskResult", TaskResultDocs, "listTaskResults", query, "runId", "ordinal")
        : list("TaskResult", TaskResultDocs, "listTaskResults", query, "taskExecutionId", "index"),

    digest: (pipelineId) =>
      run("digest", Aql.digest, {
        "@collection": names.executions,
        pipelineId,
        done: Pipeline.DONE,
        failures: [...Pipeline.FAILURES]
      }).pipe(
        Effect.flatMap(decode(DigestRows, "digest")),
        Effect.map((rows): Pipeline.Digest => {
          const row = rows[0]
          return {
            pipelineId,
            totalRuns: row?.total ?? 0,
            successes: row?.successes ?? 0,
            failures: row?.failures ?? 0,
            lastRan: row?.lastRan ?? null,
            averageRuntimeMs: row?.averageMs ?? null
          }
        })
      ),

    cleanup: (before, limit) =>
      run("cleanup", Aql.cleanup, {
        "@executions": names.executions,
        "@pipelineResults": names.pipelineResults,
        "@taskExecutions": names.taskExecutions,
        "@taskResults": names.taskResults,
        before: DateTime.toEpochMillis(before),
        finals: Array.from(Pipeline.FINAL_STATUSES),
        limit
      }).pipe(Effect.flatMap(decode(RunIds, "cleanup"))),

    isTransient
  } satisfies PipelineDriver
}

// ---------------------------------------------------------------------------
// service and layers
// ---------------------------------------------------------------------------

/**
 * `make` for settings already resolved (as `ArangoConfig.config` gives them).
 * The connection settings' `collection` is the result backend's and is not
 * used here; the store's collections come from `options`. Without
 * `options.retry` the store retries by `defaultRetry`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromConfig = (
  config: ArangoConfig.ArangoConfig,
  options: Options = {}
): Effect.Effect<
  PipelineStore.Service,
  ArangoConfig.ArangoConfigError | ArangoBackend.ArangoSetupError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const named = collectionNames(options)
    if (Either.isLeft(named)) return yield* named.left
    if (config.httpProtocol === "https" && !config.verify) {
      yield* Effect.logWarning("TLS certificate verification is off for the ArangoDB pipeline store")
    }
    const retry = options.retry ?? defaultRetry
    const db = yield* ArangoBackend.acquireDatabase(config)
    yield* prepareCollections(db, config, named.right, retry)
    return yield* PipelineStore.make(makeDriver(db, named.right), { ...options, retry })
  }).pipe(Effect.annotateLogs({ store: "arango", server: ArangoConfig.describe(config) }))

/**
 * Builds the service: opens the connection for the scope, prepares the
 * collections when `create` is set, and turns the driver into the full
 * `PipelineStore`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: ArangoConfig.Input,
  options: Options = {}
): Effect.Effect<
  PipelineStore.Service,
  ArangoConfig.ArangoConfigError | ArangoBackend.ArangoSetupError,
  Scope.Scope
> => Effect.flatMap(ArangoConfig.make(input), (config) => makeFromConfig(config, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: ArangoConfig.Input,
  options: Options = {}
): Layer.Layer<PipelineStore.PipelineStore, ArangoConfig.ArangoConfigError | ArangoBackend.ArangoSetupError> =>
  Layer.scoped(PipelineStore.PipelineStore, make(input, options))

/**
 * A layer from configuration: the ArangoDB settings (`ArangoConfig.config`)
 * and the store options.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  arango: Config.Config<ArangoConfig.ArangoConfig> = ArangoConfig.config,
  options: Options = {}
): Layer.Layer<
  PipelineStore.PipelineStore,
  ConfigError.ConfigError | ArangoConfig.ArangoConfigError | ArangoBackend.ArangoSetupError
> =>
  Layer.scoped(
    PipelineStore.PipelineStore,
    Effect.flatMap(arango, (config) => makeFromConfig(config, options))
  )
