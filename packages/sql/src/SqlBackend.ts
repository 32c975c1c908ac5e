/**
 * The SQL `ResultBackend` over an `@effect/sql` client (PostgreSQL or
 * SQLite), on Celery's `celery_taskmeta` / `celery_tasksetmeta` tables.
 *
 * Dialect differences are resolved once, when the driver is built. Writes are
 * single-statement upserts that keep a stored SUCCESS (the rule is in the
 * statement's `WHERE`), and concurrent writes are coalesced into multi-row
 * statements; reads of many ids are one query; cleanup deletes in bounded
 * batches, each statement its own transaction.
 *
 * `SqliteBackend` and `PgBackend` build the client, run the migrations and
 * add what each database offers (WAL, LISTEN/NOTIFY); use this module when
 * you already have a `SqlClient`.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Queue from "effect/Queue"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as BackendDriver from "@taskmeta/core/BackendDriver"
import { DriverError } from "@taskmeta/core/BackendError"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Tracing from "@taskmeta/core/Tracing"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as Batcher from "./internal/batcher.js"
import { isPgTransient, isSqliteTransient } from "./internal/classify.js"
import type { Executor } from "./internal/executor.js"
import * as ResultCodec from "./ResultCodec.js"
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
 * `maxInFlight` statements running at once.
 *
 * @since 0.1.0
 * @category models
 */
export interface BatchOptions {
  readonly maxRows?: number | undefined
  readonly maxInFlight?: number | undefined
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
  /** Push notifications of stored READY task ids (PostgreSQL's LISTEN). */
  readonly notifications?: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope> | undefined
  /** Runs before a retry of a transient failure (to drop a broken connection). */
  readonly onRetryableError?: ((error: DriverError) => Effect.Effect<void>) | undefined
  /** The shortest pause between polls while waiting without notifications. */
  readonly minPollInterval?: number | undefined
}

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
  /** Run the migrations while the layer is built. Default on. */
  readonly migrate?: boolean | undefined
}

// ---------------------------------------------------------------------------
// rows
// ---------------------------------------------------------------------------

// Rows are checked by hand: a Schema decode per row cost more than the read.
// SQLite columns are dynamically typed: another writer may have put TEXT in a
// BLOB column. Its UTF-8 bytes are what the codec reads (a pickle cannot be
// TEXT, so this only ever holds JSON).
class Problem {
  constructor(readonly column: string, readonly expected: string) {}
}

const bytesColumn = (value: unknown, column: string): Uint8Array | null | Problem => {
  if (value === null || value === undefined) return null
  if (value instanceof Uint8Array) return value
  if (typeof value === "string") return Buffer.from(value, "utf8")
  return new Problem(column, "bytes, text or null")
}
const textColumn = (value: unknown, column: string): string | null | Problem => {
  if (value === null || value === undefined) return null
  return typeof value === "string" ? value : new Problem(column, "text or null")
}
const timestampColumn = (value: unknown, column: string): string | Date | null | Problem => {
  if (value === null || value === undefined) return null
  return typeof value === "string" || value instanceof Date ? value : new Problem(column, "a timestamp or null")
}
const isProblem = (value: unknown): value is Problem => value instanceof Problem
const problemText = (problem: Problem) => `column ${problem.column}: expected ${problem.expected}`

/**
 * Where a row's undecodable values go: an array collects them (each then
 * reads as `ResultCodec.describeUndecodable`, and is logged); `undefined`
 * means the caller cannot log (the immediate path), so such a row reads as
 * `undefined` and is read again on the effectful path.
 */
type Problems = Array<ResultCodec.UndecodableValue> | undefined

/**
 * The columns of `TASK_COLUMNS`, in that order, checked and decoded into a
 * record. Runs for every row read: no generator, no Schema, no closures, no
 * intermediate row object.
 */
const recordOf = (
  problems: Problems,
  taskId: unknown,
  rawStatus: unknown,
  rawResult: unknown,
  rawDateDone: unknown,
  rawTraceback: unknown,
  rawName: unknown,
  rawArgs: unknown,
  rawKwargs: unknown,
  rawWorker: unknown,
  rawRetries: unknown,
  rawQueue: unknown
): TaskRecord.TaskRecord | Problem | undefined => {
  if (typeof taskId !== "string") return new Problem("task_id", "text")
  const status = textColumn(rawStatus, "status")
  if (isProblem(status)) return status
  const resultBytes = bytesColumn(rawResult, "result")
  if (isProblem(resultBytes)) return resultBytes
  const dateDone = timestampColumn(rawDateDone, "date_done")
  if (isProblem(dateDone)) return dateDone
  const traceback = textColumn(rawTraceback, "traceback")
  if (isProblem(traceback)) return traceback
  const name = textColumn(rawName, "name")
  if (isProblem(name)) return name
  const argsBytes = bytesColumn(rawArgs, "args")
  if (isProblem(argsBytes)) return argsBytes
  const kwargsBytes = bytesColumn(rawKwargs, "kwargs")
  if (isProblem(kwargsBytes)) return kwargsBytes
  const worker = textColumn(rawWorker, "worker")
  if (isProblem(worker)) return worker
  const queue = textColumn(rawQueue, "queue")
  if (isProblem(queue)) return queue
  const retries = rawRetries === undefined || rawRetries === null ? null : rawRetries
  if (retries !== null && typeof retries !== "number") return new Problem("retries", "an integer or null")

  // A column that cannot be decoded (a hostile or corrupt pickle, invalid
  // JSON) does not fail the read: it reads as `describeUndecodable` (`args`
  // as a one-element array holding it). Only a row of the wrong shape fails.
  let result = decodeColumn("result", resultBytes, undefined)
  if (result instanceof ResultCodec.UndecodableValue) {
    if (problems === undefined) return undefined
    problems.push(result)
    result = ResultCodec.describeUndecodable(result)
  }
  let args = decodeColumn("args", argsBytes, "array")
  if (args instanceof ResultCodec.UndecodableValue) {
    if (problems === undefined) return undefined
    problems.push(args)
    args = [ResultCodec.describeUndecodable(args)]
  }
  let kwargs = decodeColumn("kwargs", kwargsBytes, "object")
  if (kwargs instanceof ResultCodec.UndecodableValue) {
    if (problems === undefined) return undefined
    problems.push(kwargs)
    kwargs = ResultCodec.describeUndecodable(kwargs)
  }
  const state = status ?? TaskState.PENDING
  return {
    taskId,
    status: state,
    result,
    traceback,
    // taskmeta reports date_done for READY states only, whatever the row holds.
    dateDone: dateDone === null || !TaskState.isReady(state) ? null : readTimestamp(dateDone),
    name,
    args: args as ReadonlyArray<Json.Json> | null,
    kwargs: kwargs as Json.JsonObject | null,
    worker,
    retries,
    queue
  }
}

/** A row as the driver gives it: an object keyed by column name. */
const decodeTaskRow = (raw: unknown, problems: Problems): TaskRecord.TaskRecord | Problem | undefined => {
  if (typeof raw !== "object" || raw === null) return new Problem("(row)", "an object")
  const row = raw as Record<string, unknown>
  return recordOf(
    problems,
    row.task_id,
    row.status,
    row.result,
    row.date_done,
    row.traceback,
    row.name,
    row.args,
    row.kwargs,
    row.worker,
    row.retries,
    row.queue
  )
}

/** A row as an array of the `TASK_COLUMNS` values (`Executor.firstNow`). */
const decodeTaskValues = (values: ReadonlyArray<unknown>, problems: Problems): TaskRecord.TaskRecord | Problem | undefined =>
  values.length !== 11
    ? new Problem("(row)", "11 columns")
    : recordOf(
      problems,
      values[0],
      values[1],
      values[2],
      values[3],
      values[4],
      values[5],
      values[6],
      values[7],
      values[8],
      values[9],
      values[10]
    )

const GroupRow = Schema.Struct({
  result: Schema.NullOr(Schema.Union(
    Schema.Uint8ArrayFromSelf,
    Schema.transform(Schema.String, Schema.Uint8ArrayFromSelf, {
      strict: true,
      decode: (text) => Buffer.from(text, "utf8"),
      encode: (bytes) => Buffer.from(bytes).toString("utf8")
    })
  )),
  date_done: Schema.NullOr(Schema.Union(Schema.String, Schema.DateFromSelf))
})
const decodeGroupRow = Schema.decodeUnknownEither(GroupRow)

const TASK_COLUMNS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"
const WRITE_COLUMNS = 11

/**
 * The timestamp text Celery reads and writes: naive UTC
 * `YYYY-MM-DD HH:MM:SS.ffffff`, always six fraction digits.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const formatTimestamp = (dateTime: DateTime.Utc): string => {
  const iso = new Date(DateTime.toEpochMillis(dateTime)).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}000`
}

/** `formatTimestamp` remembering its last answer: records written together mostly share a millisecond. */
const memoFormatTimestamp = () => {
  let lastMillis = Number.NaN
  let lastText = ""
  return (dateTime: DateTime.Utc): string => {
    const millis = DateTime.toEpochMillis(dateTime)
    if (millis !== lastMillis) {
      lastText = formatTimestamp(dateTime)
      lastMillis = millis
    }
    return lastText
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|[+-]00(?::?00)?)?$/

/**
 * Parses a naive UTC timestamp as Celery (SQLAlchemy) or PostgreSQL writes
 * it; a `Date` (from a driver that parsed it already) is taken as is.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const parseTimestamp = (value: string | Date): Option.Option<DateTime.Utc> => {
  if (value instanceof Date) return DateTime.make(value)
  const fast = parseCeleryTimestamp(value)
  if (fast !== undefined) return Option.some(DateTime.unsafeMake(fast))
  const m = TIMESTAMP.exec(value.trim())
  if (m === null) return Option.none()
  const millis = UtcTime.utcMillis(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? "0"),
    Number((m[7] ?? "0").padEnd(3, "0").slice(0, 3))
  )
  return Number.isFinite(millis) ? Option.some(DateTime.unsafeMake(millis)) : Option.none()
}

const digit = (text: string, i: number): number => {
  const d = text.charCodeAt(i) - 48
  return d >= 0 && d <= 9 ? d : Number.NaN
}

/**
 * The exact text taskmeta and Celery write, `YYYY-MM-DD HH:MM:SS.ffffff`, read
 * digit by digit (it is on every row read); anything else is `undefined`
 * and goes to the general parser.
 */
const parseCeleryTimestamp = (text: string): number | undefined => {
  if (text.length !== 26 || text[4] !== "-" || text[7] !== "-" || text[10] !== " " || text[13] !== ":" ||
    text[16] !== ":" || text[19] !== ".") return undefined
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3)
  const month = digit(text, 5) * 10 + digit(text, 6)
  const day = digit(text, 8) * 10 + digit(text, 9)
  const hour = digit(text, 11) * 10 + digit(text, 12)
  const minute = digit(text, 14) * 10 + digit(text, 15)
  const second = digit(text, 17) * 10 + digit(text, 18)
  const millis = digit(text, 20) * 100 + digit(text, 21) * 10 + digit(text, 22)
  const micros = digit(text, 23) + digit(text, 24) + digit(text, 25)
  if (Number.isNaN(year + month + day + hour + minute + second + millis + micros)) return undefined
  const value = UtcTime.utcMillis(year, month - 1, day, hour, minute, second, millis)
  return Number.isFinite(value) ? value : undefined
}


class RowError extends Schema.TaggedError<RowError>("@taskmeta/sql/RowError")("RowError", {
  reason: Schema.String
}) {}

/** A column's JSON (or pickle), or why it cannot be read: undecodable, or not the shape the column holds. */
const decodeColumn = (
  name: string,
  bytes: Uint8Array | null,
  shape: "array" | "object" | undefined
): Json.Json | ResultCodec.UndecodableValue => {
  if (bytes === null) return null
  const decoded = ResultCodec.decode(name, bytes)
  if (Either.isLeft(decoded)) return decoded.left
  const value = decoded.right
  if (value === null || shape === undefined) return value
  const wrong = shape === "array"
    ? (Array.isArray(value) ? undefined : "not an array")
    : (typeof value === "object" && !Array.isArray(value) ? undefined : "not an object")
  if (wrong === undefined) return value
  return new ResultCodec.UndecodableValue({
    column: name,
    format: bytes !== null && ResultCodec.isPickle(bytes) ? "pickle" : "json",
    reason: wrong
  })
}

// Rows written together share their timestamp text: the last one parsed is kept.
let lastTimestampText: string | undefined
let lastTimestamp: DateTime.Utc | null = null
const readTimestamp = (value: string | Date): DateTime.Utc | null => {
  if (typeof value !== "string") return Option.getOrNull(parseTimestamp(value))
  if (value !== lastTimestampText) {
    lastTimestamp = Option.getOrNull(parseTimestamp(value))
    lastTimestampText = value
  }
  return lastTimestamp
}

const toParams = (
  record: TaskRecord.TaskRecord,
  writer: ResultCodec.Writer,
  stamp: (dateTime: DateTime.Utc) => string
): ReadonlyArray<unknown> => [
  record.taskId,
  record.status,
  writer.result(record.status, record.result),
  record.dateDone === null ? null : stamp(record.dateDone),
  record.traceback,
  record.name,
  writer.json(record.args),
  writer.json(record.kwargs),
  record.worker,
  record.retries,
  record.queue
]

// ---------------------------------------------------------------------------
// dialects
// ---------------------------------------------------------------------------

interface Dialect {
  readonly kind: "postgres" | "sqlite"
  /** The statement writing these rows (each in `toParams` order), and its parameters. */
  readonly upsert: (
    rows: ReadonlyArray<ReadonlyArray<unknown>>,
    /** SQLite on taskmeta's own client: the rows as they are, which better-sqlite3 expands itself. */
    nested?: boolean
  ) => readonly [string, ReadonlyArray<unknown>]
  /** SQLite: the one-row upsert without `RETURNING` (its change count says whether it applied). */
  readonly upsertOne?: string
  readonly selectMany: (ids: ReadonlyArray<string>) => readonly [string, ReadonlyArray<unknown>]
  readonly selectOne: string
  readonly deleteOne: string
  readonly putGroup: string
  readonly getGroup: string
  readonly deleteGroup: string
  readonly cleanupTasks: (rule: BackendDriver.CleanupRule, limit: number) => readonly [string, ReadonlyArray<unknown>]
  readonly cleanupGroups: string
  readonly isTransient: (error: DriverError) => boolean
  readonly minPollInterval: number
}

const SUCCESS_IS_FINAL = (t: string, distinct: string, same: string) =>
  `WHERE ${t}.status ${distinct} 'SUCCESS' OR (${t}.status = excluded.status AND ${t}.date_done ${same} excluded.date_done ` +
  `AND ${t}.result ${same} excluded.result)`

// Cleanup deletes READY records only: a row some other writer stamped while
// unfinished reads with no dateDone, and unfinished records are kept (SPEC §6).
const READY_ONLY = "status IN ('SUCCESS', 'FAILURE', 'REVOKED')"

const UPDATE_SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"

const pgDialect = (names: TableNames.TableNames): Dialect => {
  const tasks = TableNames.qualify(names, names.tasks)
  const groups = TableNames.qualify(names, names.groups)
  const seq = (name: string) => `nextval('${names.schema === undefined ? "" : `"${names.schema}".`}${name}')`
  // One statement text for any number of rows: the columns travel as 11
  // arrays and `unnest` zips them back into rows, so the server parses and
  // plans it once per connection (a prepared statement) instead of once per
  // batch size, and node sends 11 parameters instead of 11 per row.
  const upsert = `INSERT INTO ${tasks} AS t (id, ${TASK_COLUMNS}) SELECT ${seq("task_id_sequence")}, * FROM unnest(` +
    `$1::varchar[], $2::varchar[], $3::bytea[], $4::timestamp[], $5::text[], $6::varchar[], $7::bytea[], ` +
    `$8::bytea[], $9::varchar[], $10::integer[], $11::varchar[]) ` +
    `ON CONFLICT (task_id) DO UPDATE SET ${UPDATE_SET} ` +
    `${SUCCESS_IS_FINAL("t", "IS DISTINCT FROM", "IS NOT DISTINCT FROM")} RETURNING t.task_id`
  const stateFilter = (rule: BackendDriver.CleanupRule, params: Array<unknown>) => {
    if (rule.only !== undefined) {
      params.push(rule.only)
      return ` AND status = ANY($${params.length}::text[])`
    }
    if (rule.except !== undefined) {
      params.push(rule.except)
      return ` AND (status IS NULL OR NOT (status = ANY($${params.length}::text[])))`
    }
    return ""
  }
  const selectOne = `SELECT ${TASK_COLUMNS} FROM ${tasks} WHERE task_id = $1`
  const selectAny = `SELECT ${TASK_COLUMNS} FROM ${tasks} WHERE task_id = ANY($1::varchar[])`
  return {
    kind: "postgres",
    upsert: (rows) => {
      const columns: Array<Array<unknown>> = []
      for (let c = 0; c < WRITE_COLUMNS; c++) {
        const column = new Array<unknown>(rows.length)
        for (let r = 0; r < rows.length; r++) column[r] = rows[r][c]
        columns.push(column)
      }
      return [upsert, columns]
    },
    selectMany: (ids) => ids.length === 1 ? [selectOne, ids] : [selectAny, [ids]],
    selectOne,
    deleteOne: `DELETE FROM ${tasks} WHERE task_id = $1`,
    putGroup: `INSERT INTO ${groups} AS g (id, taskset_id, result, date_done) VALUES (${
      seq("taskset_id_sequence")
    }, $1, $2, $3) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`,
    getGroup: `SELECT result, date_done FROM ${groups} WHERE taskset_id = $1`,
    deleteGroup: `DELETE FROM ${groups} WHERE taskset_id = $1`,
    cleanupTasks: (rule, limit) => {
      const params: Array<unknown> = [formatTimestamp(rule.before)]
      const filter = stateFilter(rule, params)
      return [
        `DELETE FROM ${tasks} WHERE id IN (SELECT id FROM ${tasks} WHERE date_done < $1 AND ${READY_ONLY}${filter} ` +
        `LIMIT ${Math.floor(limit)} FOR UPDATE SKIP LOCKED) RETURNING id`,
        params
      ]
    },
    cleanupGroups: `DELETE FROM ${groups} WHERE id IN (SELECT id FROM ${groups} WHERE date_done < $1 LIMIT $2 ` +
      `FOR UPDATE SKIP LOCKED) RETURNING id`,
    isTransient: isPgTransient,
    minPollInterval: 5
  }
}

const sqliteDialect = (names: TableNames.TableNames): Dialect => {
  const tasks = TableNames.quote(names.tasks)
  const groups = TableNames.quote(names.groups)
  const row = `(${new Array(WRITE_COLUMNS).fill("?").join(", ")})`
  const upserts = new Map<number, string>()
  const selectOne = `SELECT ${TASK_COLUMNS} FROM ${tasks} WHERE task_id = ?`
  const selectAny = `SELECT ${TASK_COLUMNS} FROM ${tasks} WHERE task_id IN (SELECT value FROM json_each(?))`
  return {
    kind: "sqlite",
    upsert: (rows, nested) => {
      let text = upserts.get(rows.length)
      if (text === undefined) {
        text = `INSERT INTO ${tasks} AS t (${TASK_COLUMNS}) VALUES ${new Array(rows.length).fill(row).join(", ")} ` +
          `ON CONFLICT (task_id) DO UPDATE SET ${UPDATE_SET} ${SUCCESS_IS_FINAL("t", "IS NOT", "IS")} RETURNING task_id`
        upserts.set(rows.length, text)
      }
      return [text, nested === true ? rows : rows.length === 1 ? rows[0] : rows.flat()]
    },
    upsertOne: `INSERT INTO ${tasks} AS t (${TASK_COLUMNS}) VALUES ${row} ` +
      `ON CONFLICT (task_id) DO UPDATE SET ${UPDATE_SET} ${SUCCESS_IS_FINAL("t", "IS NOT", "IS")}`,
    selectMany: (ids) => ids.length === 1 ? [selectOne, ids] : [selectAny, [JSON.stringify(ids)]],
    selectOne,
    deleteOne: `DELETE FROM ${tasks} WHERE task_id = ?`,
    putGroup: `INSERT INTO ${groups} (taskset_id, result, date_done) VALUES (?, ?, ?) ` +
      `ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`,
    getGroup: `SELECT result, date_done FROM ${groups} WHERE taskset_id = ?`,
    deleteGroup: `DELETE FROM ${groups} WHERE taskset_id = ?`,
    cleanupTasks: (rule, limit) => {
      const params: Array<unknown> = [formatTimestamp(rule.before)]
      let filter = ""
      if (rule.only !== undefined) {
        params.push(JSON.stringify(rule.only))
        filter = " AND status IN (SELECT value FROM json_each(?))"
      } else if (rule.except !== undefined) {
        params.push(JSON.stringify(rule.except))
        filter = " AND (status IS NULL OR status NOT IN (SELECT value FROM json_each(?)))"
      }
      return [
        `DELETE FROM ${tasks} WHERE id IN (SELECT id FROM ${tasks} WHERE date_done < ? AND ${READY_ONLY}${filter} LIMIT ${
          Math.floor(limit)
        }) RETURNING id`,
        params
      ]
    },
    cleanupGroups: `DELETE FROM ${groups} WHERE id IN (SELECT id FROM ${groups} WHERE date_done < ? LIMIT ?) RETURNING id`,
    isTransient: isSqliteTransient,
    minPollInterval: 2
  }
}

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

const fail = (operation: string) => (cause: unknown) => new DriverError({ operation, cause })

/**
 * The storage driver over the `SqlClient` in context. The tables must exist
 * (see `SqlMigrations.run`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver = (
  options: DriverOptions = {},
  /** @internal the hot statements' direct way to the database (see `internal/executor`) */
  executor?: Executor
): Effect.Effect<BackendDriver.BackendDriver, SetupError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SetupError({ reason: e.message, cause: e })
    )
    const dialect = sql.onDialectOrElse({
      pg: () => pgDialect(names),
      sqlite: () => sqliteDialect(names),
      orElse: () => undefined
    })
    if (dialect === undefined) return yield* new SetupError({ reason: "only PostgreSQL and SQLite are supported" })
    if (options.encoding !== undefined && !ResultCodec.encodings.includes(options.encoding)) {
      return yield* new SetupError({ reason: `unknown encoding ${JSON.stringify(options.encoding)} (json or pickle)` })
    }
    const writer = ResultCodec.writer(options.encoding)

    const query = (operation: string, text: string, params: ReadonlyArray<unknown>) =>
      Effect.mapError(sql.unsafe<Record<string, unknown>>(text, params), fail(operation))
    // The hot statements (writes, reads by id) go straight to the driver when
    // the backend built the client; their span opens only when a tracer is installed.
    const system = dialect.kind === "postgres" ? "postgresql" : "sqlite"
    const hot = executor === undefined ? query : (operation: string, text: string, params: ReadonlyArray<unknown>) =>
      Tracing.withSpan(
        Effect.mapError(executor.run(text, params), fail(operation)),
        "sql.execute",
        () => ({ "db.system.name": system, "db.query.text": text, "db.taskmeta.operation": operation }),
        "client"
      )

    const stamp = memoFormatTimestamp()
    const firstNow = executor?.firstNow
    const changeNow = executor?.changeNow
    const batcher = yield* Batcher.make<ReadonlyArray<unknown>, DriverError>({
      key: (params) => params[0] as string,
      maxRows: Math.min(options.batch?.maxRows ?? 500, dialect.kind === "sqlite" ? 2900 : 5900),
      maxInFlight: options.batch?.maxInFlight ?? (dialect.kind === "sqlite" ? 1 : 2),
      isolate: (error) => !dialect.isTransient(error),
      inline: dialect.kind === "sqlite",
      run: (batch) => {
        // A fixed order per statement keeps concurrent writers from deadlocking.
        // (SQLite has one connection: no other writer to deadlock with, so no sort.)
        const rows = batch.length === 1 || dialect.kind === "sqlite"
          ? batch
          : [...batch].sort((a, b) => (a[0] as string) < (b[0] as string) ? -1 : 1)
        const [text, params] = dialect.upsert(rows, executor !== undefined)
        return Effect.flatMap(hot("put", text, params), (returned) => {
          const applied = new Set<string>()
          for (const row of returned) {
            if (typeof row.task_id !== "string") {
              return Effect.fail(fail("put")(new RowError({ reason: "column task_id: expected text" })))
            }
            applied.add(row.task_id)
          }
          return Effect.succeed(applied)
        })
      },
      // One row: its change count (0 when SUCCESS is final) is the answer.
      runNow: changeNow === undefined || dialect.upsertOne === undefined ? undefined : (params) => {
        const changed = changeNow(dialect.upsertOne!, params)
        return changed === undefined ? undefined : changed > 0
      }
    })

    // A synchronous database answers a read by id and a lone write at once
    // (see `BackendDriver.Immediate`); anything unusual takes the effectful
    // path: a failure, a row that needs a warning, a concurrent writer.
    // (`task_id` is unique: Celery's DDL says so, and the upsert's ON CONFLICT needs it.)
    const immediate: BackendDriver.Immediate | undefined = firstNow === undefined ? undefined : {
      get: (taskId) => {
        const row = firstNow(dialect.selectOne, taskId)
        if (row === undefined) return BackendDriver.NotNow
        if (row === null) return undefined
        const record = decodeTaskValues(row, undefined)
        return record === undefined || isProblem(record) || record.taskId !== taskId ? BackendDriver.NotNow : record
      },
      put: (record) => {
        if (!batcher.idle()) return BackendDriver.NotNow
        return batcher.tryNow(toParams(record, writer, stamp)) ?? BackendDriver.NotNow
      }
    }

    const getMany = (ids: ReadonlyArray<string>) => {
      const [text, params] = dialect.selectMany(ids)
      return Effect.flatMap(hot("getMany", text, params), (rows) => {
        // One id, one row, nothing to warn about: the common read by id.
        if (ids.length === 1 && rows.length <= 1) {
          if (rows.length === 0) return Effect.succeed([undefined])
          const record = decodeTaskRow(rows[0], undefined)
          if (isProblem(record)) return Effect.fail(fail("getMany")(new RowError({ reason: problemText(record) })))
          if (record !== undefined && record.taskId === ids[0]) return Effect.succeed([record])
        }
        const byId = new Map<string, TaskRecord.TaskRecord>()
        const warnings: Array<Effect.Effect<void>> = []
        const problems: Array<ResultCodec.UndecodableValue> = []
        for (const raw of rows) {
          const before = problems.length
          const record = decodeTaskRow(raw, problems)!
          if (isProblem(record)) return Effect.fail(fail("getMany")(new RowError({ reason: problemText(record) })))
          byId.set(record.taskId, record)
          for (let k = before; k < problems.length; k++) {
            const problem = problems[k]
            warnings.push(
              Effect.logWarning("a stored value cannot be decoded; it reads as an inert description").pipe(
                Effect.annotateLogs({
                  taskId: record.taskId,
                  column: problem.column,
                  format: problem.format,
                  reason: problem.reason
                })
              )
            )
          }
        }
        const records = ids.map((id) => byId.get(id))
        return warnings.length === 0 ? Effect.succeed(records) : Effect.as(Effect.all(warnings, { discard: true }), records)
      })
    }

    const getGroup = (groupId: string) =>
      Effect.flatMap(query("getGroup", dialect.getGroup, [groupId]), (rows) => {
        if (rows.length === 0) return Effect.succeed(Option.none<GroupRecord.GroupRecord>())
        const decoded = Either.gen(function*() {
          const row = yield* Either.mapLeft(decodeGroupRow(rows[0]), (e) => new RowError({ reason: e.message }))
          const taskIds = yield* ResultCodec.decodeGroup(row.result)
          const dateDone = row.date_done === null
            ? DateTime.unsafeMake(0)
            : Option.getOrElse(parseTimestamp(row.date_done), () => DateTime.unsafeMake(0))
          return Option.some<GroupRecord.GroupRecord>({ groupId, taskIds, dateDone })
        })
        return Either.isLeft(decoded) ? Effect.fail(fail("getGroup")(decoded.left)) : Effect.succeed(decoded.right)
      })

    return {
      kind: dialect.kind,
      put: (record) => batcher.submit(toParams(record, writer, stamp)),
      getMany,
      remove: (taskId) => Effect.asVoid(query("remove", dialect.deleteOne, [taskId])),
      putGroup: (group) =>
        Effect.asVoid(
          query("putGroup", dialect.putGroup, [group.groupId, writer.group(group), formatTimestamp(group.dateDone)])
        ),
      getGroup,
      removeGroup: (groupId) => Effect.asVoid(query("removeGroup", dialect.deleteGroup, [groupId])),
      cleanupTasks: (rule, limit) => {
        const [text, params] = dialect.cleanupTasks(rule, limit)
        return Effect.map(query("cleanupTasks", text, params), (rows) => rows.length)
      },
      cleanupGroups: (before, limit) =>
        Effect.map(
          query("cleanupGroups", dialect.cleanupGroups, [formatTimestamp(before), Math.floor(limit)]),
          (rows) => rows.length
        ),
      subscribe: options.notifications,
      minPollInterval: options.minPollInterval ?? dialect.minPollInterval,
      isTransient: dialect.isTransient,
      onRetryableError: options.onRetryableError,
      immediate
    } satisfies BackendDriver.BackendDriver
  })

const setupFailed = (reason: string) => (cause: SqlError) => new SetupError({ reason, cause })

/**
 * Runs the migrations (unless `migrate: false`) and builds the service over
 * the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {},
  /** @internal */
  executor?: Executor
): Effect.Effect<ResultBackend.Service, SetupError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SetupError({ reason: e.message, cause: e })
    )
    if (options.migrate !== false) {
      yield* SqlMigrations.run(names).pipe(Effect.mapError(setupFailed("migrations failed")))
    }
    const driver = yield* makeDriver(options, executor)
    return yield* ResultBackend.make(driver, BackendOptions.make(options))
  })

/**
 * The service over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<ResultBackend.ResultBackend, SetupError, SqlClient.SqlClient> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options))
