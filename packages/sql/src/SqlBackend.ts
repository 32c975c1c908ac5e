/**
 * The SQL `ResultBackend` over the `@effect/sql` client in context
 * (PostgreSQL or SQLite), on Celery's `celery_taskmeta` /
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
 * `SqliteBackend` and `PgBackend` build the client from a file name or a URL
 * and provide it; use this module when you already have a `SqlClient`.
 *
 * @since 0.1.0
 */
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Config from "effect/Config"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import type * as BackendDriver from "@taskmeta/core/BackendDriver"
import { DriverError } from "@taskmeta/core/BackendError"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as Batcher from "./internal/batcher.js"
import { isPgTransient, isSqliteTransient } from "./internal/classify.js"
import * as Listener from "./internal/listener.js"
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

/**
 * A bytes column. SQLite columns are dynamically typed: another writer may
 * have put TEXT in a BLOB column; its UTF-8 bytes are what the codec reads (a
 * pickle cannot be TEXT, so this only ever holds JSON).
 */
const Bytes = Schema.Union(
  Schema.Uint8ArrayFromSelf,
  Schema.transform(Schema.String, Schema.Uint8ArrayFromSelf, {
    strict: true,
    decode: (text) => Buffer.from(text, "utf8"),
    encode: (bytes) => Buffer.from(bytes).toString("utf8")
  })
)

/** An integer column: a number, or a bigint from a client reading safe integers. */
const Int = Schema.Union(
  Schema.Number,
  Schema.transform(Schema.BigIntFromSelf, Schema.Number, { strict: true, decode: Number, encode: BigInt })
)

/** A row of `celery_taskmeta` as selected by `taskColumns` (`date_done` as text). */
const TaskRow = Schema.Struct({
  task_id: Schema.String,
  status: Schema.NullOr(Schema.String),
  result: Schema.NullOr(Bytes),
  date_done: Schema.NullOr(Schema.String),
  traceback: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  args: Schema.NullOr(Bytes),
  kwargs: Schema.NullOr(Bytes),
  worker: Schema.NullOr(Schema.String),
  retries: Schema.NullOr(Int),
  queue: Schema.NullOr(Schema.String)
})
const decodeTaskRows = Schema.decodeUnknownEither(Schema.Array(TaskRow))

/**
 * A row of `celery_tasksetmeta` (its members are decoded by
 * `ResultCodec.decodeGroup`, whose `UndecodableValue` is the typed cause a
 * caller sees).
 */
const GroupRow = Schema.Struct({ result: Schema.NullOr(Bytes), date_done: Schema.NullOr(Schema.String) })
const decodeGroupRows = Schema.decodeUnknownEither(Schema.Array(GroupRow))

const KeyRows = Schema.Array(Schema.Struct({ task_id: Schema.String }))
const decodeKeyRows = Schema.decodeUnknownEither(KeyRows)

class RowError extends Schema.TaggedError<RowError>("@taskmeta/sql/RowError")("RowError", {
  reason: Schema.String
}) {}

/** What each column may hold, for the error that names it (never the stored value). */
const EXPECTED: Readonly<Record<string, string>> = {
  task_id: "text",
  status: "text or null",
  result: "bytes, text or null",
  date_done: "a timestamp or null",
  traceback: "text or null",
  name: "text or null",
  args: "bytes, text or null",
  kwargs: "bytes, text or null",
  worker: "text or null",
  retries: "an integer or null",
  queue: "text or null"
}

/** A row of the wrong shape: the first column at fault and what it may hold (never the stored value). */
const rowError = (error: ParseResult.ParseError) => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  const column = issue?.path.find((key): key is string => typeof key === "string")
  return new RowError({
    reason: column === undefined ? "unexpected row" : `column ${column}: expected ${EXPECTED[column] ?? "another type"}`
  })
}

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

/**
 * A row decoded into a record. A column that cannot be decoded (a hostile or
 * corrupt pickle, invalid JSON) does not fail the read: it reads as
 * `describeUndecodable` (`args` as a one-element array holding it), and the
 * problem is collected for a warning.
 */
const toRecord = (
  row: typeof TaskRow.Type,
  problems: Array<ResultCodec.UndecodableValue>
): TaskRecord.TaskRecord => {
  let result = decodeColumn("result", row.result, undefined)
  if (result instanceof ResultCodec.UndecodableValue) {
    problems.push(result)
    result = ResultCodec.describeUndecodable(result)
  }
  let args = decodeColumn("args", row.args, "array")
  if (args instanceof ResultCodec.UndecodableValue) {
    problems.push(args)
    args = [ResultCodec.describeUndecodable(args)]
  }
  let kwargs = decodeColumn("kwargs", row.kwargs, "object")
  if (kwargs instanceof ResultCodec.UndecodableValue) {
    problems.push(kwargs)
    kwargs = ResultCodec.describeUndecodable(kwargs)
  }
  const status = row.status ?? TaskState.PENDING
  return {
    taskId: row.task_id,
    status,
    result,
    traceback: row.traceback,
    // taskmeta reports date_done for READY states only, whatever the row holds.
    dateDone: row.date_done === null || !TaskState.isReady(status) ? null : readTimestamp(row.date_done),
    name: row.name,
    args: args === null || Array.isArray(args) ? args : null,
    kwargs: kwargs === null || (typeof kwargs === "object" && !Array.isArray(kwargs)) ? kwargs as Json.JsonObject : null,
    worker: row.worker,
    retries: row.retries,
    queue: row.queue
  }
}

// Rows written together share their timestamp text: the last one parsed is kept.
let lastTimestampText: string | undefined
let lastTimestamp: DateTime.Utc | null = null
const readTimestamp = (value: string): DateTime.Utc | null => {
  if (value !== lastTimestampText) {
    lastTimestamp = Option.getOrNull(parseTimestamp(value))
    lastTimestampText = value
  }
  return lastTimestamp
}

/** A record as the 11 written columns, in `WRITE_COLUMNS` order. */
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
// statements
// ---------------------------------------------------------------------------

const WRITE_COLUMNS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"

// A stored SUCCESS is final: the upsert's update applies unless the stored
// row is SUCCESS (an identical rewrite of the same SUCCESS still reports as applied).
const SUCCESS_IS_FINAL = (distinct: string, same: string) =>
  `WHERE t.status ${distinct} 'SUCCESS' OR (t.status = excluded.status AND t.date_done ${same} excluded.date_done ` +
  `AND t.result ${same} excluded.result)`

// Cleanup deletes READY records only: a row some other writer stamped while
// unfinished reads with no dateDone, and unfinished records are kept (SPEC §6).
const READY_ONLY = "status IN ('SUCCESS', 'FAILURE', 'REVOKED')"

const UPDATE_SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"

/**
 * The statements over one pair of tables, as `sql` templates; where the
 * dialects differ, each statement picks its own with `sql.onDialectOrElse`.
 */
const statements = (sql: SqlClient.SqlClient, names: TableNames.TableNames) => {
  // PostgreSQL names the schema; SQLite has none (an attached database is not one).
  const table = (name: string) =>
    sql.literal(sql.onDialectOrElse({ pg: () => TableNames.qualify(names, name), orElse: () => TableNames.quote(name) }))
  const tasks = table(names.tasks)
  const groups = table(names.groups)
  const nextval = (name: string) =>
    sql.literal(`nextval(${TableNames.literal(names.schema === undefined ? name : `"${names.schema}".${name}`)})`)
  // `timestamp` read as text in a fixed format: no type parser, DateStyle or TimeZone involved.
  const dateDone = sql.literal(sql.onDialectOrElse({
    pg: () => "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done",
    orElse: () => "date_done"
  }))
  const taskColumns = sql`task_id, status, result, ${dateDone}, traceback, name, args, kwargs, worker, retries, queue`
  // The read by id's fixed part as one literal: a read by id runs on every `get`.
  const selectById = sql.literal(
    `SELECT task_id, status, result, ${
      sql.onDialectOrElse({ pg: () => "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done", orElse: () => "date_done" })
    }, traceback, name, args, kwargs, worker, retries, queue FROM ${
      sql.onDialectOrElse({ pg: () => TableNames.qualify(names, names.tasks), orElse: () => TableNames.quote(names.tasks) })
    } WHERE task_id = `
  )
  const writeColumns = sql.literal(WRITE_COLUMNS)
  const updateSet = sql.literal(UPDATE_SET)
  const successIsFinal = sql.literal(sql.onDialectOrElse({
    pg: () => SUCCESS_IS_FINAL("IS DISTINCT FROM", "IS NOT DISTINCT FROM"),
    orElse: () => SUCCESS_IS_FINAL("IS NOT", "IS")
  }))
  const readyOnly = sql.literal(READY_ONLY)
  const rowsFor = sql.join(", ", false)

  const stateFilter = (rule: BackendDriver.CleanupRule) =>
    rule.only !== undefined
      ? sql` AND ${sql.in("status", rule.only)}`
      : rule.except !== undefined
      ? sql` AND (status IS NULL OR NOT ${sql.in("status", rule.except)})`
      : sql``

  return {
    upsert: (rows: ReadonlyArray<ReadonlyArray<unknown>>) =>
      sql.onDialectOrElse({
        // Several rows travel as 11 column arrays that `unnest` zips back into
        // rows (one text for any number; at 32 rows ~15% less server time per
        // row than a VALUES list). A lone row is a plain VALUES row: its plan
        // is ~100 µs cheaper than unnest's (the client prepares nothing).
        pg: () => {
          if (rows.length === 1) {
            const [r] = rows
            return sql`INSERT INTO ${tasks} AS t (id, ${writeColumns}) VALUES (${nextval("task_id_sequence")}, ${r[0]}, ${
              r[1]
            }, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${r[9]}, ${
              r[10]
            }) ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING t.task_id`
          }
          const c: Array<Array<unknown>> = []
          for (let k = 0; k < 11; k++) c.push(rows.map((row) => row[k]))
          return sql`INSERT INTO ${tasks} AS t (id, ${writeColumns}) SELECT ${
            nextval("task_id_sequence")
          }, * FROM unnest(${c[0]}::varchar[], ${c[1]}::varchar[], ${c[2]}::bytea[], ${c[3]}::timestamp[], ${
            c[4]
          }::text[], ${c[5]}::varchar[], ${c[6]}::bytea[], ${c[7]}::bytea[], ${c[8]}::varchar[], ${c[9]}::integer[], ${
            c[10]
          }::varchar[]) ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING t.task_id`
        },
        orElse: () =>
          sql`INSERT INTO ${tasks} AS t (${writeColumns}) VALUES ${
            rowsFor(rows.map((r) =>
              sql`(${r[0]}, ${r[1]}, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${r[9]}, ${r[10]})`
            ))
          } ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING task_id`
      }),
    select: (ids: ReadonlyArray<string>) =>
      ids.length === 1
        ? sql`${selectById}${ids[0]}`
        : sql.onDialectOrElse({
          // One statement text whatever the number of ids.
          pg: () => sql`SELECT ${taskColumns} FROM ${tasks} WHERE task_id = ANY(${ids}::varchar[])`,
          orElse: () =>
            sql`SELECT ${taskColumns} FROM ${tasks} WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`
        }),
    remove: (taskId: string) => sql`DELETE FROM ${tasks} WHERE task_id = ${taskId}`,
    putGroup: (groupId: string, result: Uint8Array | null, dateDone: string) =>
      sql.onDialectOrElse({
        // Celery's PostgreSQL tables have no id default: ids come from its sequence.
        pg: () =>
          sql`INSERT INTO ${groups} (id, taskset_id, result, date_done) VALUES (${
            nextval("taskset_id_sequence")
          }, ${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`,
        orElse: () =>
          sql`INSERT INTO ${groups} (taskset_id, result, date_done) VALUES (${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`
      }),
    getGroup: (groupId: string) => sql`SELECT result, ${dateDone} FROM ${groups} WHERE taskset_id = ${groupId}`,
    removeGroup: (groupId: string) => sql`DELETE FROM ${groups} WHERE taskset_id = ${groupId}`,
    cleanupTasks: (rule: BackendDriver.CleanupRule, limit: number, before: string) => {
      const pick = sql`SELECT id FROM ${tasks} WHERE date_done < ${before} AND ${readyOnly}${stateFilter(rule)} LIMIT ${limit}`
      return sql.onDialectOrElse({
        // Concurrent sweeps skip each other's rows instead of waiting.
        pg: () => sql`DELETE FROM ${tasks} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`,
        orElse: () => sql`DELETE FROM ${tasks} WHERE id IN (${pick}) RETURNING id`
      })
    },
    cleanupGroups: (before: string, limit: number) => {
      const pick = sql`SELECT id FROM ${groups} WHERE date_done < ${before} LIMIT ${limit}`
      return sql.onDialectOrElse({
        pg: () => sql`DELETE FROM ${groups} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`,
        orElse: () => sql`DELETE FROM ${groups} WHERE id IN (${pick}) RETURNING id`
      })
    }
  }
}

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

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
      orElse: () => undefined
    })
    if (kind === undefined) return yield* new SetupError({ reason: "only PostgreSQL and SQLite are supported" })
    if (options.encoding !== undefined && !ResultCodec.encodings.includes(options.encoding)) {
      return yield* new SetupError({ reason: `unknown encoding ${JSON.stringify(options.encoding)} (json or pickle)` })
    }
    const writer = ResultCodec.writer(options.encoding)
    const statement = statements(sql, names)
    const isTransient = kind === "postgres" ? isPgTransient : isSqliteTransient
    const stamp = memoFormatTimestamp()

    const batcher = yield* Batcher.make<ReadonlyArray<unknown>, DriverError>({
      key: (params) => String(params[0]),
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

    const getGroup = (groupId: string) =>
      statement.getGroup(groupId).pipe(
        Effect.mapError(fail("getGroup")),
        Effect.flatMap((raw) => {
          const decoded = Either.gen(function*() {
            const rows = yield* Either.mapLeft(decodeGroupRows(raw), rowError)
            if (rows.length === 0) return Option.none<GroupRecord.GroupRecord>()
            const taskIds = yield* ResultCodec.decodeGroup(rows[0].result)
            const text = rows[0].date_done
            const dateDone = text === null
              ? DateTime.unsafeMake(0)
              : Option.getOrElse(parseTimestamp(text), () => DateTime.unsafeMake(0))
            return Option.some<GroupRecord.GroupRecord>({ groupId, taskIds, dateDone })
          })
          return Either.isLeft(decoded) ? Effect.fail(fail("getGroup")(decoded.left)) : Effect.succeed(decoded.right)
        })
      )

    // With a `PgClient` in context, READY writes are pushed (its LISTEN connection).
    const pgClient = kind === "postgres" && options.listen !== false
      ? yield* Effect.serviceOption(PgClient.PgClient)
      : Option.none()
    const listener = Option.isSome(pgClient)
      ? yield* Listener.make(pgClient.value, SqlMigrations.channel(names))
      : undefined

    return {
      kind,
      put: (record) => batcher.submit(toParams(record, writer, stamp)),
      getMany,
      remove: (taskId) => Effect.asVoid(Effect.mapError(statement.remove(taskId), fail("remove"))),
      putGroup: (group) =>
        Effect.asVoid(
          Effect.mapError(
            statement.putGroup(group.groupId, writer.group(group), formatTimestamp(group.dateDone)),
            fail("putGroup")
          )
        ),
      getGroup,
      removeGroup: (groupId) => Effect.asVoid(Effect.mapError(statement.removeGroup(groupId), fail("removeGroup"))),
      cleanupTasks: (rule, limit) =>
        statement.cleanupTasks(rule, Math.floor(limit), formatTimestamp(rule.before)).pipe(
          Effect.mapError(fail("cleanupTasks")),
          Effect.map((rows) => rows.length)
        ),
      cleanupGroups: (before, limit) =>
        statement.cleanupGroups(formatTimestamp(before), Math.floor(limit)).pipe(
          Effect.mapError(fail("cleanupGroups")),
          Effect.map((rows) => rows.length)
        ),
      subscribe: listener?.subscribe,
      minPollInterval: options.minPollInterval ?? (kind === "sqlite" ? 2 : 5),
      isTransient
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
  options: Options = {}
): Effect.Effect<ResultBackend.Service, SetupError, SqlClient.SqlClient | Scope.Scope> =>
  Effect.gen(function*() {
    const names = yield* Either.mapLeft(
      TableNames.make(options.tables),
      (e) => new SetupError({ reason: e.message, cause: e })
    )
    if (options.migrate !== false) {
      yield* SqlMigrations.run(names).pipe(Effect.mapError(setupFailed("migrations failed")))
    }
    const driver = yield* makeDriver(options)
    return yield* ResultBackend.make(driver, BackendOptions.make(options))
  })

/**
 * The service over the `SqlClient` in context: a user's own
 * `PgClient.layer` or `SqliteClient.layer` works as it is.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<ResultBackend.ResultBackend, SetupError, SqlClient.SqlClient> =>
  Layer.scoped(ResultBackend.ResultBackend, make(options))
