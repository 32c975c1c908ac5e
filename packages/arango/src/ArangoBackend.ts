/**
 * The ArangoDB `ResultBackend`, over arangojs 10, in the documents Celery's
 * `ArangoDbBackend` uses (see `ArangoDocument`), so Python Celery and
 * taskmeta can share a collection.
 *
 * - Writes are single AQL UPSERTs; the SUCCESS-is-final rule is decided inside
 *   the statement. `getMany` is one query. Deleting a missing key is fine.
 * - Cleanup removes only READY records older than the cutoff, comparing
 *   instants, in bounded batches (one query, one transaction each).
 * - Retries: the shared policy (core's `RetryPolicy`) retries what
 *   `isTransient` accepts; arangojs's own retries are off (`maxRetries:
 *   false`, `retryOnConflict` unset), so the two never stack.
 * - Waiting polls (ArangoDB has no notifications arangojs exposes).
 * - The database and the collection are created only with `create: true`.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import type { BackendDriver, CleanupRule } from "@taskmeta/core/BackendDriver"
import type { DriverError } from "@taskmeta/core/BackendError"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { Database } from "arangojs"
import type { ConfigOptions } from "arangojs/configuration"
import * as ArangoConfig from "./ArangoConfig.js"
import * as ArangoDocument from "./ArangoDocument.js"
import * as Aql from "./internal/aql.js"
import { ArangoFailure, classify, isTransient, toDriverError } from "./internal/classify.js"

export {
  /**
   * What every storage failure of this backend carries as its cause: a kind,
   * a message, the ArangoDB `errorNum`, the HTTP status or system code, and
   * whether it is transient. Safe to print.
   *
   * @since 0.1.0
   * @category errors
   */
  ArangoFailure
}

/**
 * Preparing storage (creating the database, the collection or the TTL
 * index) failed.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArangoSetupError extends Schema.TaggedError<ArangoSetupError>("@taskmeta/arango/ArangoSetupError")(
  "ArangoSetupError",
  {
    step: Schema.String,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `ArangoDB setup failed at ${this.step}: ${cause}`
  }
}

/**
 * The shortest pause between polls while waiting, in milliseconds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MIN_POLL_INTERVAL = 10

/**
 * The name of the TTL index `ttlIndex: true` keeps on `expireAt`.
 *
 * @since 0.1.0
 * @category constants
 */
export const TTL_INDEX_NAME = "taskmeta_expire_at"

/**
 * The arangojs settings for a configuration: credentials through `auth`
 * (never inside the URL), arangojs's retries off, TLS verification as
 * configured.
 *
 * @since 0.1.0
 * @category constructors
 */
export const connectionOptions = (config: ArangoConfig.ArangoConfig): ConfigOptions => ({
  url: ArangoConfig.serverUrl(config),
  databaseName: config.database,
  ...(config.username === undefined && config.password === undefined
    ? {}
    : {
      auth: {
        username: config.username === undefined ? "root" : Redacted.value(config.username),
        password: config.password === undefined ? "" : Redacted.value(config.password)
      }
    }),
  // One retry layer only: core's RetryPolicy, driven by `isTransient`.
  maxRetries: false,
  retryOnConflict: 0,
  ...(config.requestTimeout === undefined ? {} : { timeout: Duration.toMillis(config.requestTimeout) }),
  ...(config.httpProtocol === "https" && !config.verify
    ? { agentOptions: { connect: { rejectUnauthorized: false } } }
    : {})
})

/**
 * Opens an arangojs `Database` for the scope and closes it on release.
 *
 * @since 0.1.0
 * @category constructors
 */
export const acquireDatabase = (config: ArangoConfig.ArangoConfig): Effect.Effect<Database, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.sync(() => new Database(connectionOptions(config))),
    (db) => Effect.sync(() => db.close())
  )

const ERROR_ARANGO_DUPLICATE_NAME = 1207

const setupStep = <A>(step: string, run: () => Promise<A>) =>
  Effect.tryPromise({
    try: run,
    catch: (error) => new ArangoSetupError({ step, cause: classify(error, "setup") })
  })

const duplicate = (error: ArangoSetupError) =>
  error.cause instanceof ArangoFailure && error.cause.errorNum === ERROR_ARANGO_DUPLICATE_NAME

/**
 * Creates what `create` and `ttlIndex` ask for, idempotently (several
 * processes may start at once): the database, the collection, the TTL index.
 *
 * @since 0.1.0
 * @category setup
 */
export const prepareStorage = (
  db: Database,
  config: ArangoConfig.ArangoConfig,
  retry: RetryPolicy.Settings = RetryPolicy.defaults
): Effect.Effect<void, ArangoSetupError> =>
  Effect.gen(function*() {
    const again = RetryPolicy.retryTransient<ArangoSetupError>(
      retry,
      (e) => e.cause instanceof ArangoFailure && e.cause.transient
    )
    const collection = db.collection(config.collection)
    if (config.create) {
      const exists = yield* again(setupStep("checking the database", () => db.exists()))
      if (!exists) {
        yield* Effect.logInfo("creating the ArangoDB database").pipe(Effect.annotateLogs({ database: config.database }))
        yield* again(setupStep("creating the database", () => db.database("_system").createDatabase(config.database)))
          .pipe(Effect.catchIf(duplicate, () => Effect.void))
      }
      const hasCollection = yield* again(setupStep("checking the collection", () => collection.exists()))
      if (!hasCollection) {
        yield* Effect.logInfo("creating the ArangoDB collection").pipe(
          Effect.annotateLogs({ database: config.database, collection: config.collection })
        )
        yield* again(setupStep("creating the collection", () => db.createCollection(config.collection)))
          .pipe(Effect.catchIf(duplicate, () => Effect.void))
      }
    }
    if (config.ttlIndex) {
      yield* again(setupStep("ensuring the TTL index", () =>
        collection.ensureIndex({
          type: "ttl",
          name: TTL_INDEX_NAME,
          fields: ["expireAt"],
          expireAfter: 0
        })))
    }
  })

const READY = [...TaskState.READY_STATES]

/**
 * The READY states one cleanup rule may delete (the rule's `only` / `except`
 * narrow SUCCESS, FAILURE, REVOKED): cleanup's `@states`.
 *
 * @since 0.1.0
 * @category cleanup
 */
export const cleanupStates = (rule: CleanupRule): ReadonlyArray<string> =>
  READY.filter((s) =>
    (rule.only === undefined || rule.only.includes(s)) && (rule.except === undefined || !rule.except.includes(s))
  )

/** Retention for a state, as the cleanup rules apply it (for `expireAt`). */
const retentionFor = (options: BackendOptions.BackendOptions, status: string): Duration.Duration | null =>
  status in options.expiresByState ? options.expiresByState[status] : options.resultExpires

const epochSeconds = (date: DateTime.Utc) => DateTime.toEpochMillis(date) / 1000

/**
 * The storage primitives over an open `Database`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver = (
  db: Database,
  config: ArangoConfig.ArangoConfig,
  options: BackendOptions.BackendOptions
): BackendDriver => {
  const collection = config.collection
  const taskKey = (id: string) => ArangoDocument.taskKey(id, config.keyPrefix)
  const groupKey = (id: string) => ArangoDocument.groupKey(id, config.keyPrefix)
  const putTaskQuery = Aql.putTask(config.ttlIndex)
  const putGroupQuery = Aql.putGroup(config.ttlIndex)

  const query = <A = unknown>(operation: string, text: string, bindVars: Record<string, unknown>) =>
    Effect.tryPromise({
      try: async () => {
        const cursor = await db.query<A>(text, { "@collection": collection, ...bindVars })
        return cursor.all()
      },
      catch: toDriverError(operation)
    })

  const decodeFailure = (operation: string) => (error: ArangoDocument.ArangoDocumentError): DriverError =>
    toDriverError(operation)(
      new ArangoFailure({ kind: "unexpected", message: error.message, transient: false })
    )

  const expireAt = (date: DateTime.Utc | null, keep: Duration.Duration | null) =>
    date === null || keep === null ? null : epochSeconds(DateTime.addDuration(date, keep))

  return {
    kind: "arango",
    put: (record: TaskRecord.TaskRecord) =>
      query<boolean>("put", putTaskQuery, {
        key: taskKey(record.taskId),
        task: ArangoDocument.encodeTask(record, options.resultExtended),
        ...(config.ttlIndex ? { expireAt: expireAt(record.dateDone, retentionFor(options, record.status)) } : {})
      }).pipe(Effect.map((rows) => rows[0] === true)),
    getMany: (taskIds) =>
      Effect.gen(function*() {
        const keys = taskIds.map(taskKey)
        const rows = yield* query<[string, unknown]>("getMany", Aql.getMany, { keys: Array.from(new Set(keys)) })
        const byKey = new Map<string, unknown>()
        for (const row of rows) byKey.set(row[0], row[1])
        const out: Array<TaskRecord.TaskRecord | undefined> = []
        for (let i = 0; i < taskIds.length; i++) {
          if (!byKey.has(keys[i])) {
            out.push(undefined)
            continue
          }
          const decoded = ArangoDocument.decodeTask(taskIds[i], byKey.get(keys[i]), keys[i])
          if (Either.isLeft(decoded)) return yield* decodeFailure("getMany")(decoded.left)
          out.push(decoded.right)
        }
        return out
      }),
    remove: (taskId) => Effect.asVoid(query("remove", Aql.removeOne, { key: taskKey(taskId) })),
    putGroup: (group: GroupRecord.GroupRecord) =>
      Effect.asVoid(query("putGroup", putGroupQuery, {
        key: groupKey(group.groupId),
        task: ArangoDocument.encodeGroup(group),
        ...(config.ttlIndex ? { expireAt: expireAt(group.dateDone, options.resultExpires) } : {})
      })),
    getGroup: (groupId) =>
      Effect.gen(function*() {
        const key = groupKey(groupId)
        const rows = yield* query("getGroup", Aql.getOne, { key })
        if (rows.length === 0) return Option.none()
        const decoded = ArangoDocument.decodeGroup(groupId, rows[0], key)
        if (Either.isLeft(decoded)) return yield* decodeFailure("getGroup")(decoded.left)
        return Option.some(decoded.right)
      }),
    // One query for many groups (the documents' read by keys). `putGroups` is left out: saving
    // many groups falls back to `putGroup` per group.
    getGroups: (groupIds) =>
      Effect.gen(function*() {
        const keys = groupIds.map(groupKey)
        const rows = yield* query<[string, unknown]>("getGroups", Aql.getMany, { keys: Array.from(new Set(keys)) })
        const byKey = new Map<string, unknown>()
        for (const row of rows) byKey.set(row[0], row[1])
        const out: Array<GroupRecord.GroupRecord | undefined> = []
        for (let i = 0; i < groupIds.length; i++) {
          if (!byKey.has(keys[i])) {
            out.push(undefined)
            continue
          }
          const decoded = ArangoDocument.decodeGroup(groupIds[i], byKey.get(keys[i]), keys[i])
          if (Either.isLeft(decoded)) return yield* decodeFailure("getGroups")(decoded.left)
          out.push(decoded.right)
        }
        return out
      }),
    removeGroup: (groupId) => Effect.asVoid(query("removeGroup", Aql.removeOne, { key: groupKey(groupId) })),
    cleanupTasks: (rule, limit) => {
      const states = cleanupStates(rule)
      if (states.length === 0) return Effect.succeed(0)
      return query<number>("cleanupTasks", Aql.cleanupTasks, {
        prefix: config.keyPrefix + ArangoDocument.TASK_PREFIX,
        states,
        before: DateTime.toEpochMillis(rule.before),
        limit
      }).pipe(Effect.map((rows) => rows[0] ?? 0))
    },
    cleanupGroups: (before, limit) =>
      query<number>("cleanupGroups", Aql.cleanupGroups, {
        prefix: config.keyPrefix + ArangoDocument.GROUP_PREFIX,
        before: DateTime.toEpochMillis(before),
        limit
      }).pipe(Effect.map((rows) => rows[0] ?? 0)),
    minPollInterval: MIN_POLL_INTERVAL,
    isTransient
  } satisfies BackendDriver
}

/**
 * Builds the service: opens the connection for the scope, prepares storage
 * when asked, and turns the driver into the full `ResultBackend`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: ArangoConfig.Input,
  options: BackendOptions.Input = {}
): Effect.Effect<ResultBackend.Service, ArangoConfig.ArangoConfigError | ArangoSetupError, Scope.Scope> =>
  Effect.flatMap(ArangoConfig.make(input), (config) => makeFromConfig(config, BackendOptions.make(options)))

/**
 * `make` for settings already resolved (as `ArangoConfig.config` gives them).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeFromConfig = (
  config: ArangoConfig.ArangoConfig,
  options: BackendOptions.BackendOptions = BackendOptions.defaults
): Effect.Effect<ResultBackend.Service, ArangoSetupError, Scope.Scope> =>
  Effect.gen(function*() {
    if (config.httpProtocol === "https" && !config.verify) {
      yield* Effect.logWarning("TLS certificate verification is off for the ArangoDB result backend")
    }
    const db = yield* acquireDatabase(config)
    yield* prepareStorage(db, config, options.retry)
    return yield* ResultBackend.make(makeDriver(db, config, options), options)
  }).pipe(Effect.annotateLogs({ backend: "arango", server: ArangoConfig.describe(config) }))

/**
 * A layer for the settings and backend options.
 *
 * @example
 * ```ts
 * import { ArangoBackend } from "@taskmeta/arango"
 * import { ResultBackend } from "@taskmeta/core"
 * import { Effect, Redacted } from "effect"
 *
 * // Celery's ArangoDbBackend documents in the collection `results` of the database `celery`,
 * // created when missing (`create: true`); HTTPS certificates are verified unless `verify: false`.
 * const Backend = ArangoBackend.layer(
 *   {
 *     url: Redacted.make("arangodb://app:secret@arango.internal:8529/celery/results"),
 *     httpProtocol: "https",
 *     create: true,
 *     requestTimeout: "10 seconds"
 *   },
 *   { resultExtended: true, resultExpires: "1 day" }
 * )
 *
 * const program = Effect.gen(function*() {
 *   const backend = yield* ResultBackend.ResultBackend
 *   yield* backend.store("task-1", { sum: 32 }, "SUCCESS") // one AQL UPSERT; SUCCESS stays final
 *   const records = yield* backend.getMany(["task-1", "task-2"]) // one query; task-2 reads as PENDING
 *   yield* Effect.log(records.map((record) => record.status).join(", "))
 * })
 *
 * // With `create: true` the database and the collection are checked (and made) while the layer is
 * // built, an ArangoSetupError if that fails; the client is closed with the layer's scope.
 * // Run it with Effect.runPromise(main) or NodeRuntime.runMain(main).
 * const main = program.pipe(Effect.provide(Backend))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: ArangoConfig.Input,
  options: BackendOptions.Input = {}
): Layer.Layer<ResultBackend.ResultBackend, ArangoConfig.ArangoConfigError | ArangoSetupError> =>
  Layer.scoped(ResultBackend.ResultBackend, make(input, options))

/**
 * A layer from configuration: the ArangoDB settings (`ArangoConfig.config`)
 * and the shared backend options (`BackendOptions.config`).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerConfig = (
  arango: Config.Config<ArangoConfig.ArangoConfig> = ArangoConfig.config,
  backend: Config.Config<BackendOptions.BackendOptions> = BackendOptions.config
): Layer.Layer<ResultBackend.ResultBackend, ConfigError.ConfigError | ArangoSetupError> =>
  Layer.scoped(
    ResultBackend.ResultBackend,
    Effect.gen(function*() {
      const [config, options] = yield* Config.all([arango, backend])
      return yield* makeFromConfig(config, options)
    })
  )
