/**
 * The byte encoding of the `result`, `args` and `kwargs` columns and of group
 * rows.
 *
 * Two writers (`Encoding`):
 *
 * - `"json"` (the default): UTF-8 JSON (`Json.stringify`, big integers
 *   exact); a group is `{"task_ids": […]}`. Python Celery cannot read these.
 * - `"pickle"`, the Celery-compatible mode: what Celery 5's `DatabaseBackend`
 *   writes, so Python Celery reads taskmeta's rows (see `CeleryCodec`):
 *   `result` a protocol 2 pickle (error envelopes with a tuple
 *   `exc_message`), `args` / `kwargs` Python `json.dumps` bytes, a group a
 *   pickled `GroupResult` whose members carry no backend.
 *
 * In both, a `null` result is SQL NULL, as Celery stores `None`.
 *
 * Readers do not depend on the mode: a value whose first byte is 0x80 (a
 * pickle's PROTO opcode, which JSON text never starts with) is decoded by the
 * safe pickle decoder (`Pickle.decodeToJson`: tuples and sets become arrays,
 * anything JSON cannot carry an inert description, URL passwords inside
 * objects redacted); anything else is UTF-8 JSON.
 *
 * The same reading is offered as schemas, for decoding rows at the edge:
 * `column(name)` / `ResultColumn` (bytes or NULL ⇄ JSON value) and `GroupRow`
 * (a group row ⇄ its member ids). They decode what `decode` and `decodeGroup`
 * decode and encode as the `"json"` writer does.
 *
 * @since 0.1.0
 */
import { isUtf8 } from "node:buffer"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import * as CeleryCodec from "./CeleryCodec.js"
import * as Pickle from "./Pickle.js"

/**
 * How values are written: `"json"` (default) or `"pickle"` (what Python
 * Celery 5 writes and reads).
 *
 * @since 0.1.0
 * @category models
 */
export type Encoding = "json" | "pickle"

/**
 * @since 0.1.0
 * @category constants
 */
export const encodings: ReadonlyArray<Encoding> = ["json", "pickle"]

/**
 * Which read budget a stored value went over: `size` (the stored bytes or
 * the JSON text they expand to), nesting `depth`, or the `count` of values.
 *
 * @since 0.1.0
 * @category models
 */
export type Limit = "size" | "depth" | "count"

/**
 * A stored value that cannot be decoded: a pickle the safe decoder refuses
 * (malformed, truncated), a value over a read budget (`limit`: too large,
 * too deep, too many values), invalid UTF-8 or invalid JSON, or a value of
 * the wrong shape for its column. `column` names the column and `size` is
 * the stored value's length in bytes. The reason never quotes the stored
 * bytes.
 *
 * @since 0.1.0
 * @category errors
 */
export class UndecodableValue extends Schema.TaggedError<UndecodableValue>("@taskmeta/celery/UndecodableValue")(
  "UndecodableValue",
  {
    column: Schema.String,
    format: Schema.Literal("pickle", "json"),
    reason: Schema.String,
    size: Schema.Number,
    limit: Schema.optional(Schema.Literal("size", "depth", "count"))
  }
) {
  override get message(): string {
    return `cannot decode the ${this.column} column (${this.format}, ${this.size} bytes): ${this.reason}`
  }
}

/**
 * The read budgets every decoded column is held to, whatever its format:
 *
 * - `maxSize`: the stored bytes, and the JSON text they decode to (a pickle
 *   can reference one large value many times), 16 MiB per column (with
 *   three columns a row then reads within about a second and a few hundred
 *   MB; the pickle codec's own default, `Pickle.DEFAULT_MAX_SIZE`, is 64 MiB);
 * - `maxDepth`: nesting, 1,000 for pickles (`Pickle.DEFAULT_MAX_DEPTH`) and
 *   512 for JSON text (`Json.parse`);
 * - `maxNodes`: values, 1,000,000 (`Pickle.DEFAULT_MAX_NODES`; JSON text is
 *   counted before it is parsed).
 *
 * Integers are held to CPython's 4,300 digits in text (`Json.MAX_INT_DIGITS`).
 *
 * Reading is linear in what these admit, so one column costs at most a few
 * times `maxSize` of memory and a bounded time; a value over a budget is an
 * `UndecodableValue` with its `limit`.
 *
 * @since 0.1.0
 * @category limits
 */
export const limits = {
  maxSize: 16 * 1024 * 1024,
  maxDepth: Pickle.DEFAULT_MAX_DEPTH,
  maxNodes: Pickle.DEFAULT_MAX_NODES
} as const

/**
 * The first byte of a pickle of protocol 2 or later (the PROTO opcode).
 *
 * @since 0.1.0
 * @category constants
 */
export const PICKLE_PROTO = 0x80

/**
 * @since 0.1.0
 * @category predicates
 */
export const isPickle = (bytes: Uint8Array): boolean => bytes.length > 0 && bytes[0] === PICKLE_PROTO

/**
 * Decodes a pickle into a JSON value with the safe decoder and its default
 * limits (`Pickle.decodeToJson`); a refused pickle is `UndecodableValue`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePickle = (column: string, bytes: Uint8Array): Either.Either<Json.Json, UndecodableValue> =>
  Either.mapLeft(Pickle.decodeToJson(bytes, { maxBytes: limits.maxSize, maxSize: limits.maxSize }), (e) => pickleProblem(column, bytes, e))

const pickleProblem = (column: string, bytes: Uint8Array, e: Pickle.PickleError): UndecodableValue =>
  new UndecodableValue({
    column,
    format: "pickle",
    reason: e.message,
    size: bytes.length,
    ...(e.limit !== undefined ? { limit: e.limit } : {})
  })


/**
 * Encodes a value as UTF-8 JSON bytes; `null` becomes SQL NULL.
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (value: Json.Json | null): Uint8Array | null =>
  value === null ? null : Buffer.from(Json.stringify(value), "utf8")

/**
 * Decodes a column: NULL is `null`, a pickle goes to `decodePickle`,
 * anything else is UTF-8 JSON.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (column: string, bytes: Uint8Array | null): Either.Either<Json.Json, UndecodableValue> => {
  if (bytes === null) return Either.right(null)
  if (isPickle(bytes)) return decodePickle(column, bytes)
  if (bytes.length > limits.maxSize) {
    return Either.left(
      new UndecodableValue({
        column,
        format: "json",
        reason: `stored value larger than ${limits.maxSize} bytes`,
        size: bytes.length,
        limit: "size"
      })
    )
  }
  // toString replaces each invalid sequence with U+FFFD: only text holding
  // one needs the check (several times cheaper than a fatal TextDecoder).
  const decoded = Buffer.isBuffer(bytes)
    ? bytes.toString("utf8")
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")
  if (decoded.includes("\uFFFD") && !isUtf8(bytes)) {
    return Either.left(new UndecodableValue({ column, format: "json", reason: "invalid UTF-8", size: bytes.length }))
  }
  // A leading byte-order mark is skipped, as TextDecoder does.
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded
  return Either.mapLeft(Json.parse(text, { maxValues: limits.maxNodes }), (e) => jsonProblem(column, bytes, e))
}

// The engine's JSON.parse messages quote the input; a reason never does.
const jsonProblem = (column: string, bytes: Uint8Array, error: Json.JsonError): UndecodableValue => {
  const size = bytes.length
  const nesting = /nesting deeper than \d+/.exec(error.reason)
  if (nesting !== null) return new UndecodableValue({ column, format: "json", reason: nesting[0], size, limit: "depth" })
  const values = /more than \d+ values/.exec(error.reason)
  if (values !== null) return new UndecodableValue({ column, format: "json", reason: values[0], size, limit: "count" })
  const digits = /integer of more than \d+ digits/.exec(error.reason)
  if (digits !== null) return new UndecodableValue({ column, format: "json", reason: `invalid JSON: ${digits[0]}`, size })
  const position = /position (\d+)/.exec(error.reason)
  const reason = position === null ? "invalid JSON" : `invalid JSON at position ${position[1]}`
  return new UndecodableValue({ column, format: "json", reason, size })
}

/**
 * What a value that cannot be decoded reads as, so one bad row does not hide
 * the others: `{"__pickle__": "undecodable", "column", "format", "reason",
 * "size"}` and, when a read budget refused it, `"limit"` (`"size"`,
 * `"depth"` or `"count"`): an inert description like the pickle decoder's
 * own.
 *
 * @since 0.1.0
 * @category decoding
 */
export const describeUndecodable = (error: UndecodableValue): Json.JsonObject => ({
  __pickle__: "undecodable",
  column: error.column,
  format: error.format,
  reason: error.reason,
  size: error.size,
  ...(error.limit !== undefined ? { limit: error.limit } : {})
})

/**
 * The member ids of a stored group: Celery's pickled `GroupResult` (ids read
 * from the decoded tree, the pickled backend and its URL never touched),
 * taskmeta's JSON `{"task_ids": […]}`, or the other plain forms
 * `CeleryCodec.groupIdsFromJson` knows.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodeGroup = (bytes: Uint8Array | null): Either.Either<ReadonlyArray<string>, UndecodableValue> => {
  if (bytes !== null && isPickle(bytes)) {
    const tree = Pickle.decode(bytes, { maxBytes: limits.maxSize })
    if (Either.isLeft(tree)) return Either.left(pickleProblem("result", bytes, tree.left))
    const ids = CeleryCodec.groupMemberIds(tree.right)
    if (Option.isSome(ids)) return Either.right(ids.value)
  }
  return Either.flatMap(decode("result", bytes), (value) =>
    Either.fromOption(
      CeleryCodec.groupIdsFromJson(value),
      () =>
        new UndecodableValue({
          column: "result",
          format: bytes !== null && isPickle(bytes) ? "pickle" : "json",
          reason: "not a group",
          size: bytes?.length ?? 0
        })
    ))
}

/**
 * The bytes one encoding writes: `result` for a state, `args` / `kwargs`, and
 * group rows.
 *
 * @since 0.1.0
 * @category encoding
 */
export interface Writer {
  readonly encoding: Encoding
  readonly result: (status: string, value: Json.Json) => Uint8Array | null
  readonly json: (value: Json.Json | null) => Uint8Array | null
  readonly group: (group: GroupRecord.GroupRecord) => Uint8Array
}

const encodeGroupJson = (taskIds: ReadonlyArray<string>): Uint8Array =>
  Buffer.from(Json.stringify({ task_ids: taskIds }), "utf8")

const jsonWriter: Writer = {
  encoding: "json",
  result: (_status, value) => encode(value),
  json: encode,
  group: (group) => encodeGroupJson(group.taskIds)
}

const pickleWriter: Writer = {
  encoding: "pickle",
  result: CeleryCodec.pickleResult,
  json: (value) => (value === null ? null : Buffer.from(CeleryCodec.pythonJson(value), "utf8")),
  group: (group) => CeleryCodec.pickleGroup(group.groupId, group.taskIds)
}

/**
 * The writer for an encoding (default `"json"`).
 *
 * @since 0.1.0
 * @category encoding
 */
export const writer = (encoding: Encoding = "json"): Writer => (encoding === "pickle" ? pickleWriter : jsonWriter)

// ---------------------------------------------------------------------------
// schemas
// ---------------------------------------------------------------------------

const Bytes = Schema.NullOr(Schema.Uint8ArrayFromSelf)

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

// What `decode` returns is JSON by construction, so the decoded side is only
// checked at the top. `Json.Json` (which runs `Json.normalize`) would copy
// every result and refuse values `decode` gives: pickles nested deeper than
// 512 levels (the pickle decoder accepts up to `Pickle.DEFAULT_MAX_DEPTH`)
// and JSON literals beyond the doubles (`1e400` reads as `Infinity`).
const DecodedJson: Schema.Schema<Json.Json> = Schema.declare(
  (u: unknown): u is Json.Json => {
    switch (typeof u) {
      case "string":
      case "boolean":
      case "bigint":
      case "number":
        return true
      case "object":
        return u === null || Array.isArray(u) || isPlainObject(u)
      default:
        return false
    }
  },
  { identifier: "Json", description: "a JSON value decoded from a column (bigints for integers beyond 2^53)" }
)

/**
 * Schema from a column's bytes (`Uint8Array`, a `Buffer` included, or SQL
 * NULL) to its JSON value, as `decode(name, bytes)` reads it: NULL is `null`,
 * a pickle (first byte 0x80) goes through the safe pickle decoder, anything
 * else is UTF-8 JSON. A value `decode` refuses fails with the
 * `UndecodableValue` message, which never quotes the stored bytes. Encoding
 * writes UTF-8 JSON (`encode`, what the `"json"` writer stores; `null` is
 * SQL NULL).
 *
 * @since 0.1.0
 * @category schemas
 */
export const column = (name: string): Schema.Schema<Json.Json, Uint8Array | null> =>
  Schema.transformOrFail(Bytes, DecodedJson, {
    strict: true,
    decode: (bytes, _, ast) =>
      Either.mapLeft(decode(name, bytes), (error) => new ParseResult.Type(ast, bytes, error.message)),
    encode: (value, _, ast) =>
      ParseResult.try({
        try: () => encode(value),
        catch: () => new ParseResult.Type(ast, value, `cannot write the ${name} column: not a JSON value`)
      })
  }).annotations({ identifier: `Column(${name})` })

/**
 * Schema for the `result` column: `column("result")`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const ResultColumn: Schema.Schema<Json.Json, Uint8Array | null> = column("result").annotations({
  identifier: "ResultColumn"
})

/**
 * Schema from a group row's `result` bytes to the group's member ids, in
 * order, as `decodeGroup` reads them (Celery's pickled `GroupResult`, whose
 * pickled backend is never turned into text, or one of the plain forms). A
 * row `decodeGroup` refuses fails with the `UndecodableValue` message.
 * Encoding writes taskmeta's JSON form `{"task_ids": […]}`, what the
 * `"json"` writer stores; Celery's form needs the group id
 * (`writer("pickle").group`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const GroupRow: Schema.Schema<ReadonlyArray<string>, Uint8Array | null> = Schema.transformOrFail(
  Bytes,
  Schema.Array(Schema.String),
  {
    strict: true,
    decode: (bytes, _, ast) =>
      Either.mapLeft(decodeGroup(bytes), (error) => new ParseResult.Type(ast, bytes, error.message)),
    encode: (taskIds) => ParseResult.succeed(encodeGroupJson(taskIds))
  }
).annotations({ identifier: "GroupRow" })
