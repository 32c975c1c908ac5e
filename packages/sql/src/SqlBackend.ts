/**
 * The SQL `ResultBackend` over the `@effect/sql` client in context
 * (PostgreSQL, MySQL / MariaDB or SQLite), on Celery's `celery_taskmeta` /
 * `celery_tasksetmeta` tables.
 *
 * Every statement is an `sql` template run by that client, whoever built it:
 * hand in the `PgClient.layer` / `SqliteClient.layer` your program already
 * has. Rows are decoded at the edge with `Schema`, and instants never depend
 * on the client's type parsers or the process's time zone: PostgreSQL
 * `timestamp` columns are read as text (`to_char`) and parsed as naive UTC.
 *
 * Writes are single-statement upserts that keep a stored SUCCESS (the rule is
 * in the statement's `WHERE`), and concurrent writes are coalesced into
 * multi-row statements; reads of many ids are one query; cleanup deletes in
 * bounded batches, each statement its own transaction. With a `PgClient` in
 * context, waiting is pushed by LISTEN/NOTIFY (`PgClient.listen`).
 *
 * `SqliteBackend`, `PgBackend` and `MysqlBackend` build the client from a file name or a URL
 * and provide it; use this module when you already have a `SqlClient`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Cause from "effect/Cause"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import type * as BackendDriver from "@taskmeta/core/BackendDriver"
import { DriverError } from "@taskmeta/core/BackendError"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as Batcher from "./internal/batcher.js"
import { isMysqlTransient, isPgTransient, isSqliteTransient, retryStartup } from "./internal/classify.js"
import * as Listener from "./internal/listener.js"
import {
  decodeGroupRows,
  decodeKeyedGroupRows,
  decodeKeyRows,
  decodeTaskRows,
  rowError,
  toParams,
  toRecord
} from "./internal/taskRows.js"
import { type GroupRow, type MysqlLayout, statements } from "./internal/taskStatements.js"
import * as Timestamps from "./internal/timestamps.js"
import * as SqlMigrations from "./SqlMigrations.js"
import * as TableNames from "./TableNames.js"

/**
 * Building a SQL backend failed: invalid table names, an unsupported
 * dialect, or the database refused the connection or the migrations.
 *
 * @since 0.1.0
 * @category errors
 */
export class SetupError extends Schema.TaggedError<SetupError>("@taskmeta/sql/SetupError")("SetupError", {
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect)
}) {
  override get message(): string {
    const cause = this.cause instanceof Error ? `: ${this.cause.message}` : ""
    return `could not set up the SQL result backend: ${this.reason}${cause}`
  }
}

/**
 * How writes are coalesced: at most `maxRows` records per statement, at most
 * `maxInFlight` statements running at once, a second one only once
 * `overlapAt` writes wait.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions {
  readonly maxRows?: number | undefined
  readonly maxInFlight?: number | undefined
  /**
   * How many queued writes it takes to start a statement beside a running
   * one (default 16). Fewer wait for the running statement and then go as
   * one: every statement is a commit, and commits are what PostgreSQL runs
   * out of first when several processes write at once.
   */
  readonly overlapAt?: number | undefined
}

/**
 * @since 0.1.0
 * @category models
 */
export interface DriverOptions {
  readonly tables?: TableNames.Input | undefined
  /**
   * How `result`, `args`, `kwargs` and groups are written: `"json"` (default)
   * or `"pickle"`, the Celery-compatible mode (what Python Celery 5 writes and
   * reads; see `ResultCodec`). Reads decode both whatever the mode.
   */
  readonly encoding?: ResultCodec.Encoding | undefined
  readonly batch?: BatchOptions | undefined
  /**
   * Push-based waiting with LISTEN/NOTIFY when the client is a `PgClient`
   * (its `listen` connection, one per client). Default on; off polls.
   */
  readonly listen?: boolean | undefined
  /** The shortest pause between polls while waiting without notifications. */
  readonly minPollInterval?: number | undefined
  /**
   * How long, in milliseconds, one cleanup `DELETE` aims to take; batch
   * sizes follow from the last batch's time, from 16 rows up to
   * `cleanupBatchSize`. Default 0.25 on SQLite, where a running statement
   * holds the one connection and the event loop, so writers wait at most
   * about this long behind the sweep; 2 on PostgreSQL, where a writer's
   * commit waits for the write-ahead log the sweep's last `DELETE` wrote
   * (smaller deletes, shorter waits); off on MySQL. `0` turns it off.
   */
  readonly cleanupSlice?: number | undefined
}

/**
 * The default `cleanupSlice` on SQLite, in milliseconds.
 *
 * @since 0.1.0
 * @category config
 */
export const SQLITE_CLEANUP_SLICE = 0.25

/**
 * The default `cleanupSlice` on PostgreSQL, in milliseconds.
 *
 * @since 0.1.0
 * @category config
 */
export const PG_CLEANUP_SLICE = 2

/**
 * The `encoding` setting: `json` (default) or `pickle` (Celery-compatible).
 *
 * @since 0.1.0
 * @category config
 */
export const encodingConfig: Config.Config<ResultCodec.Encoding> = Config.literal("json", "pickle")("encoding").pipe(
  Config.withDefault("json" as const)
)

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends DriverOptions, BackendOptions.Input {
  /** Run the migrations while the layer is built. Default on (off when `readOnly`). */
  readonly migrate?: boolean | undefined
  /**
   * Open the store only to read it: no migration runs, nothing is created,
   * and building the layer checks that the tables exist with the columns
   * taskmeta reads (`SqlMigrations.check`), failing with
   * `SqlMigrations.MissingTables` when they do not. The writes of the service
   * stay in its type; the database refuses them when the client is read-only
   * too (`PgBackend`, `SqliteBackend` and `MysqlBackend` with `readOnly` open it
   * so).
   * Default off.
   */
  readonly readOnly?: boolean | undefined
}

/**
 * The timestamp text Celery reads and writes: naive UTC
 * `YYYY-MM-DD HH:MM:SS.ffffff`, always six fraction digits.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const formatTimestamp: (dateTime: DateTime.Utc) => string = Timestamps.formatTimestamp

/**
 * Parses a naive UTC timestamp as Celery (SQLAlchemy) or PostgreSQL writes
 * it; a `Date` (from a driver that parsed it already) is taken as is.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const parseTimestamp: (value: string | Date) => Option.Option<DateTime.Utc> = Timestamps.parseTimestamp

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

/** Group ids per `getGroups` query (MySQL binds each one; 65,535 at most a statement). */
const GROUP_IDS_PER_READ = 5000

const chunksOf = <A>(items: ReadonlyArray<A>, size: number): ReadonlyArray<ReadonlyArray<A>> => {
  if (items.length <= size) return [items]
  const chunks: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size))
  return chunks
}

const fail = (operation: string) => (cause: unknown) => new DriverError({ operation, cause })

const undecodableWarning = (taskId: string, problem: ResultCodec.UndecodableValue) =>
  Effect.logWarning("a stored value cannot be decoded; it reads as an inert description").pipe(
    Effect.annotateLogs({ taskId, column: problem.column, format: problem.format, reason: problem.reason })
  )

/**
 * The storage driver over the `SqlClient` in context. The tables must exist
 * (see `SqlMigrations.run`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver = (
  options: DriverOptions = {}
): Effect.Effect<BackendDriver.BackendDriver, SetupError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    // The client as the user built it, but with taskmeta's own column names.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SetupError({ reason: e.message, cause: e })
    )
    const kind = sql.onDialectOrElse({
      pg: () => "postgres" as const,
      sqlite: () => "sqlite" as const,
      mysql: () => "mysql" as const,
      orElse: () => undefined
    })
    if (kind === undefined) {
      return yield* new SetupError({ reason: "only PostgreSQL, MySQL / MariaDB and SQLite are supported" })
    }
    if (options.encoding !== undefined && !ResultCodec.encodings.includes(options.encoding)) {
      return yield* new SetupError({ reason: `unknown encoding ${JSON.stringify(options.encoding)} (json or pickle)` })
    }
    const writer = ResultCodec.writer(options.encoding)
    const layout = kind === "mysql" ? yield* mysqlLayout(sql, names) : undefined
    const statement = statements(sql, names, layout)
    const isTransient = kind === "postgres" ? isPgTransient : kind === "mysql" ? isMysqlTransient : isSqliteTransient
    const memoStamp = Timestamps.memoFormatTimestamp()
    // MySQL: the text a DATETIME(p) keeps, cut to its digits (see `internal/timestamps`).
    const stamp = layout === undefined
      ? memoStamp
      : (dateTime: DateTime.Utc) => Timestamps.formatMysqlTimestamp(memoStamp(dateTime), layout.taskPrecision)
    const groupStamp = layout === undefined
      ? formatTimestamp
      : (dateTime: DateTime.Utc) => Timestamps.formatMysqlTimestamp(formatTimestamp(dateTime), layout.groupPrecision)

    const batcher = yield* Batcher.make<ReadonlyArray<unknown>, DriverError>({
      key: (params) => String(params[0]),
      // Parameters per statement: SQLite 32,766, PostgreSQL 65,535 (11 arrays: any), MySQL 65,535.
      maxRows: Math.min(options.batch?.maxRows ?? 500, kind === "sqlite" ? 2900 : 5900),
      maxInFlight: options.batch?.maxInFlight ?? (kind === "sqlite" ? 1 : 2),
      overlapAt: options.batch?.overlapAt ?? 16,
      isolate: (error) => !isTransient(error),
      inline: kind === "sqlite",
      run: (batch) => {
        // A fixed order per statement keeps concurrent writers from deadlocking.
        // (SQLite has one writer at a time: no deadlock, so no sort.)
        const rows = batch.length === 1 || kind === "sqlite"
          ? batch
          : [...batch].sort((a, b) => String(a[0]) < String(b[0]) ? -1 : 1)
        return statement.upsert(rows).pipe(
          Effect.mapError(fail("put")),
          Effect.flatMap((returned) =>
            Either.match(decodeKeyRows(returned), {
              onLeft: (e) => Effect.fail(fail("put")(rowError(e))),
              onRight: (keys) => Effect.succeed(new Set(keys.map((row) => row.task_id)))
            })
          )
        )
      }
    })

    const getMany = (ids: ReadonlyArray<string>) =>
      statement.select(ids).pipe(
        Effect.mapError(fail("getMany")),
        Effect.flatMap((raw) => {
          const rows = decodeTaskRows(raw)
          if (Either.isLeft(rows)) return Effect.fail(fail("getMany")(rowError(rows.left)))
          const problems: Array<ResultCodec.UndecodableValue> = []
          // One id, one row, nothing to warn about: the common read by id.
          if (ids.length === 1 && rows.right.length === 1) {
            const record = toRecord(rows.right[0], problems)
            if (problems.length === 0 && record.taskId === ids[0]) return Effect.succeed([record])
            problems.length = 0
          }
          const byId = new Map<string, TaskRecord.TaskRecord>()
          const warnings: Array<Effect.Effect<void>> = []
          for (const row of rows.right) {
            const record = toRecord(row, problems)
            byId.set(record.taskId, record)
            for (const problem of problems) warnings.push(undecodableWarning(record.taskId, problem))
            problems.length = 0
          }
          const records = ids.map((id) => byId.get(id))
          return warnings.length === 0 ? Effect.succeed(records) : Effect.as(Effect.all(warnings, { discard: true }), records)
        })
      )

    const decodeGroupRow = (groupId: string, result: Uint8Array | null, text: string | null) =>
      Either.map(ResultCodec.decodeGroup(result), (taskIds): GroupRecord.GroupRecord => ({
        groupId,
        taskIds,
        dateDone: text === null
          ? DateTime.unsafeMake(0)
          : Option.getOrElse(parseTimestamp(text), () => DateTime.unsafeMake(0))
      }))

    const getGroup = (groupId: string) =>
      statement.getGroup(groupId).pipe(
        Effect.mapError(fail("getGroup")),
        Effect.flatMap((raw) => {
          const decoded = Either.gen(function*() {
            const rows = yield* Either.mapLeft(decodeGroupRows(raw), rowError)
            if (rows.length === 0) return Option.none<GroupRecord.GroupRecord>()
            return Option.some(yield* decodeGroupRow(groupId, rows[0].result, rows[0].date_done))
          })
          return Either.isLeft(decoded) ? Effect.fail(fail("getGroup")(decoded.left)) : Effect.succeed(decoded.right)
        })
      )

    // Many ids, one query per `GROUP_IDS_PER_READ`; the rows aligned with the ids.
    const getGroups = (groupIds: ReadonlyArray<string>) =>
      groupIds.length === 0 ? Effect.succeed([]) : Effect.map(
        Effect.forEach(chunksOf(groupIds, GROUP_IDS_PER_READ), (ids) =>
          statement.getGroups(ids).pipe(
            Effect.mapError(fail("getGroups")),
            Effect.flatMap((raw) => {
              const decoded = Either.gen(function*() {
                const rows = yield* Either.mapLeft(decodeKeyedGroupRows(raw), rowError)
                const byId = new Map<string, GroupRecord.GroupRecord>()
                for (const row of rows) {
                  byId.set(row.taskset_id, yield* decodeGroupRow(row.taskset_id, row.result, row.date_done))
                }
                return ids.map((id) => byId.get(id))
              })
              return Either.isLeft(decoded) ? Effect.fail(fail("getGroups")(decoded.left)) : Effect.succeed(decoded.right)
            })
          )),
        (found) => found.length === 1 ? found[0] : found.flat()
      )

    // With a `PgClient` in context, READY writes are pushed (its LISTEN connection). Its module
    // (node-postgres) is loaded only here, so SQLite programs never load it.
    const pgClient = kind === "postgres" && options.listen !== false
      ? yield* Effect.flatMap(
        Effect.promise(() => import("@effect/sql-pg/PgClient")),
        (PgClient) => Effect.serviceOption(PgClient.PgClient)
      )
      : Option.none()
    const listener = Option.isSome(pgClient)
      ? yield* Listener.make(pgClient.value, SqlMigrations.channel(names))
      : undefined

    return {
      kind,
      put: (record) => batcher.submit(toParams(record, writer, stamp)),
      putMany: (records) =>
        Effect.flatMap(
          batcher.submitMany(records.map((record) => toParams(record, writer, stamp))),
          (exits) => {
            const out: Array<Either.Either<boolean, DriverError>> = new Array(exits.length)
            for (let i = 0; i < exits.length; i++) {
              const exit = exits[i]
              if (Exit.isSuccess(exit)) {
                out[i] = Either.right(exit.value)
                continue
              }
              // A failure is the write's own; anything else (a defect, an interruption) is the call's.
              const error = Cause.failureOption(exit.cause)
              if (Option.isNone(error)) return Effect.failCause(exit.cause as Cause.Cause<never>)
              out[i] = Either.left(error.value)
            }
            return Effect.succeed(out)
          }
        ),
      getMany,
      remove: (taskId) => Effect.asVoid(Effect.mapError(statement.remove(taskId), fail("remove"))),
      putGroup: (group) =>
        Effect.asVoid(
          Effect.mapError(
            statement.putGroup(group.groupId, writer.group(group), groupStamp(group.dateDone)),
            fail("putGroup")
          )
        ),
      getGroup,
      putGroups: (groups) =>
        Effect.suspend(() => {
          // Distinct ids (one statement cannot upsert a row twice): the last occurrence wins.
          const rows = new Map<string, GroupRow>()
          for (const group of groups) {
            rows.delete(group.groupId)
            rows.set(group.groupId, [group.groupId, writer.group(group), groupStamp(group.dateDone)])
          }
          return Effect.mapError(statement.putGroups(Array.from(rows.values())), fail("putGroups"))
        }),
      getGroups,
      removeGroup: (groupId) => Effect.asVoid(Effect.mapError(statement.removeGroup(groupId), fail("removeGroup"))),
      cleanupTasks: (rule, limit) =>
        statement.cleanupTasks(rule, Math.floor(limit), formatTimestamp(rule.before)).pipe(
          Effect.mapError(fail("cleanupTasks"))
        ),
      cleanupGroups: (before, limit) =>
        statement.cleanupGroups(formatTimestamp(before), Math.floor(limit)).pipe(
          Effect.mapError(fail("cleanupGroups"))
        ),
      subscribe: listener?.subscribe,
      minPollInterval: options.minPollInterval ?? (kind === "sqlite" ? 2 : 5),
      cleanupSlice: options.cleanupSlice ??
        (kind === "sqlite" ? SQLITE_CLEANUP_SLICE : kind === "postgres" ? PG_CLEANUP_SLICE : undefined),
      isTransient
    } satisfies BackendDriver.BackendDriver
  })

const LayoutRows = Schema.Array(Schema.Struct({
  table_name: Schema.String,
  column_name: Schema.String,
  extra: Schema.NullOr(Schema.String),
  fsp: Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString, Schema.BigIntFromSelf))
}))

/**
 * MySQL / MariaDB: how the tables in use were made (by taskmeta or by
 * Celery, on MariaDB or MySQL): ids from Celery's sequences or
 * `AUTO_INCREMENT`, and the fraction digits of each `date_done`.
 */
const mysqlLayout = (sql: SqlClient.SqlClient, names: TableNames.TableNames): Effect.Effect<MysqlLayout, SetupError> =>
  Effect.gen(function*() {
    const schema = names.schema === undefined ? sql`DATABASE()` : sql`${names.schema}`
    const raw = yield* sql`SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, EXTRA AS extra,
      DATETIME_PRECISION AS fsp FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema}
      AND ${sql.in("TABLE_NAME", [names.tasks, names.groups])} AND COLUMN_NAME IN ('id', 'date_done')`.pipe(
      Effect.mapError((cause) => new SetupError({ reason: "cannot read the tables' layout", cause }))
    )
    const rows = yield* Schema.decodeUnknown(LayoutRows)(raw).pipe(
      Effect.mapError((cause) => new SetupError({ reason: "cannot read the tables' layout", cause }))
    )
    const find = (table: string, column: string) =>
      rows.find((row) => row.table_name.toLowerCase() === table.toLowerCase() && row.column_name.toLowerCase() === column)
    for (const table of [names.tasks, names.groups]) {
      if (find(table, "id") === undefined || find(table, "date_done") === undefined) {
        return yield* new SetupError({ reason: `table ${table} not found (run the migrations)` })
      }
    }
    const ids = (table: string): MysqlLayout["taskIds"] =>
      /auto_increment/i.test(find(table, "id")?.extra ?? "") ? "auto" : "sequence"
    const fsp = (table: string) => Number(find(table, "date_done")?.fsp ?? 0)
    return {
      taskIds: ids(names.tasks),
      groupIds: ids(names.groups),
      taskPrecision: fsp(names.tasks),
      groupPrecision: fsp(names.groups)
    }
  })

const setupFailed = (reason: string) => (cause: SqlError) => new SetupError({ reason, cause })

/**
 * Runs the migrations (unless `migrate: false`; with `readOnly`, checks the
 * tables instead) and builds the service over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<ResultBackend.Service, SetupError | SqlMigrations.MissingTables, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SetupError({ reason: e.message, cause: e })
    )
    if (options.readOnly === true) {
      const retry = retryStartup<SqlError | SqlMigrations.MissingTables>(options, "cannot check the tables")
      yield* retry(SqlMigrations.check(names)).pipe(
        Effect.catchTag("SqlError", (cause) => Effect.fail(new SetupError({ reason: "cannot check the tables", cause })))
      )
    } else if (options.migrate !== false) {
      // A transient failure while starting (a lost connection, 57P01, SQLITE_BUSY) is retried by
      // the backend's policy, as at run time; then the error says what failed, with its cause.
      const retry = retryStartup(options, "migrations failed")
      yield* retry(SqlMigrations.run(names)).pipe(Effect.mapError(setupFailed("migrations failed")))
    }
    const driver = yield* makeDriver(options)
    return yield* ResultBackend.make(driver, BackendOptions.make(options))
  })

/**
 * The service over the `SqlClient` in context: a user's own
 * `PgClient.layer` or `SqliteClient.layer` works as it is.
 *
 * @example
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { ResultBackend } from "@taskmeta/core"
 * import { SqlBackend } from "@taskmeta/sql"
 * import { Config, Effect, Layer } from "effect"
 *
 * // The client the program already has, with its own settings.
 * const Database = PgClient.layerConfig({ url: Config.redacted("DATABASE_URL") })
 *
 * // The backend takes the SqlClient from context and uses it as it is: one pool for everything.
 * const Live = SqlBackend.layer({ tables: { schema: "taskmeta" } }).pipe(Layer.provideMerge(Database))
 *
 * const program = Effect.gen(function*() {
 *   const sql = yield* PgClient.PgClient
 *   const backend = yield* ResultBackend.ResultBackend
 *   // The program's own statements and the backend's share the pool.
 *   const rows = yield* sql<{ readonly taskId: string }>`SELECT task_id AS "taskId" FROM orders WHERE paid`
 *   const records = yield* backend.getMany(rows.map((row) => row.taskId))
 *   yield* Effect.log(`${records.filter((record) => record.status === "SUCCESS").length} of ${records.length} done`)
 * })
 *
 * // Run it with Effect.runPromise(main) or NodeRuntime.runMain(main).
 * const main = program.pipe(Effect.provide(Live))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<ResultBackend.ResultBackend, SetupError | SqlMigrations.MissingTables, SqlClient.SqlClient> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options))
