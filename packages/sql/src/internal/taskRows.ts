/**
 * Rows of Celery's tables, decoded at the edge with `Schema`, and records
 * as the columns a write binds.
 */
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import type * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { parseTimestamp } from "./timestamps.js"

/**
 * A nullable bytes column. SQLite columns are dynamically typed: another
 * writer may have put TEXT in a BLOB column; its UTF-8 bytes are what the
 * codec reads (a pickle cannot be TEXT, so this only ever holds JSON).
 * One flat union (not `NullOr` of a union): half the decoding time.
 */
const Bytes = Schema.Union(
  Schema.Uint8ArrayFromSelf,
  Schema.Null,
  Schema.transform(Schema.String, Schema.Uint8ArrayFromSelf, {
    strict: true,
    decode: (text) => Buffer.from(text, "utf8"),
    encode: (bytes) => Buffer.from(bytes).toString("utf8")
  })
)

/** A nullable integer column: a number, or a bigint from a client reading safe integers. */
const Int = Schema.Union(
  Schema.Null,
  Schema.Number,
  Schema.transform(Schema.BigIntFromSelf, Schema.Number, { strict: true, decode: Number, encode: BigInt })
)

/** A row of `celery_taskmeta` as selected by `taskColumns` (`date_done` as text). */
export const TaskRow = Schema.Struct({
  task_id: Schema.String,
  status: Schema.NullOr(Schema.String),
  result: Bytes,
  date_done: Schema.NullOr(Schema.String),
  traceback: Schema.NullOr(Schema.String),
  name: Schema.NullOr(Schema.String),
  args: Bytes,
  kwargs: Bytes,
  worker: Schema.NullOr(Schema.String),
  retries: Int,
  queue: Schema.NullOr(Schema.String)
})
export const decodeTaskRows = Schema.decodeUnknownEither(Schema.Array(TaskRow))

/**
 * A row of `celery_tasksetmeta` (its members are decoded by
 * `ResultCodec.decodeGroup`, whose `UndecodableValue` is the typed cause a
 * caller sees).
 */
const GroupRow = Schema.Struct({ result: Bytes, date_done: Schema.NullOr(Schema.String) })
export const decodeGroupRows = Schema.decodeUnknownEither(Schema.Array(GroupRow))

/** Rows of `celery_tasksetmeta` read for many ids, each with its `taskset_id`. */
const KeyedGroupRow = Schema.Struct({ taskset_id: Schema.String, result: Bytes, date_done: Schema.NullOr(Schema.String) })
export const decodeKeyedGroupRows = Schema.decodeUnknownEither(Schema.Array(KeyedGroupRow))

const KeyRows = Schema.Array(Schema.Struct({ task_id: Schema.String }))
export const decodeKeyRows = Schema.decodeUnknownEither(KeyRows)

export class RowError extends Schema.TaggedError<RowError>("@taskmeta/sql/RowError")("RowError", {
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
export const rowError = (error: ParseResult.ParseError) => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  const column = issue?.path.find((key): key is string => typeof key === "string")
  return new RowError({
    reason: column === undefined ? "unexpected row" : `column ${column}: expected ${EXPECTED[column] ?? "another type"}`
  })
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
    format: ResultCodec.isPickle(bytes) ? "pickle" : "json",
    reason: wrong,
    size: bytes.length
  })
}

/**
 * A row decoded into a record. A column that cannot be decoded (a hostile or
 * corrupt pickle, invalid JSON) does not fail the read: it reads as
 * `describeUndecodable` (`args` as a one-element array holding it), and the
 * problem is collected for a warning.
 */
export const toRecord = (
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
export const toParams = (
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
