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
 * @since 0.1.0
 */
import { isUtf8 } from "node:buffer"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
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
 * A stored value that cannot be decoded: a pickle the safe decoder refuses
 * (malformed, truncated, too deep, too large), invalid UTF-8 or invalid JSON,
 * or a value of the wrong shape for its column. `column` names the column.
 * The reason never quotes the stored bytes.
 *
 * @since 0.1.0
 * @category errors
 */
export class UndecodableValue extends Schema.TaggedError<UndecodableValue>("@taskmeta/sql/UndecodableValue")(
  "UndecodableValue",
  {
    column: Schema.String,
    format: Schema.Literal("pickle", "json"),
    reason: Schema.String
  }
) {
  override get message(): string {
    return `cannot decode the ${this.column} column (${this.format}): ${this.reason}`
  }
}

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
  Either.mapLeft(
    Pickle.decodeToJson(bytes),
    (e) => new UndecodableValue({ column, format: "pickle", reason: e.message })
  )


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
  // toString replaces each invalid sequence with U+FFFD: only text holding
  // one needs the check (several times cheaper than a fatal TextDecoder).
  const decoded = Buffer.isBuffer(bytes)
    ? bytes.toString("utf8")
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("utf8")
  if (decoded.includes("\uFFFD") && !isUtf8(bytes)) {
    return Either.left(new UndecodableValue({ column, format: "json", reason: "invalid UTF-8" }))
  }
  // A leading byte-order mark is skipped, as TextDecoder does.
  const text = decoded.charCodeAt(0) === 0xfeff ? decoded.slice(1) : decoded
  return Either.mapLeft(Json.parse(text), (e) => new UndecodableValue({ column, format: "json", reason: jsonReason(e) }))
}

// The engine's JSON.parse messages quote the input; a reason never does.
const jsonReason = (error: Json.JsonError): string => {
  const nesting = /nesting deeper than \d+/.exec(error.reason)
  if (nesting !== null) return `invalid JSON: ${nesting[0]}`
  const position = /position (\d+)/.exec(error.reason)
  return position === null ? "invalid JSON" : `invalid JSON at position ${position[1]}`
}

/**
 * What a value that cannot be decoded reads as, so one bad row does not hide
 * the others: `{"__pickle__": "undecodable", "column", "format", "reason"}`,
 * an inert description like the pickle decoder's own.
 *
 * @since 0.1.0
 * @category decoding
 */
export const describeUndecodable = (error: UndecodableValue): Json.JsonObject => ({
  __pickle__: "undecodable",
  column: error.column,
  format: error.format,
  reason: error.reason
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
    const tree = Pickle.decode(bytes)
    if (Either.isLeft(tree)) {
      return Either.left(new UndecodableValue({ column: "result", format: "pickle", reason: tree.left.message }))
    }
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
          reason: "not a group"
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

const jsonWriter: Writer = {
  encoding: "json",
  result: (_status, value) => encode(value),
  json: encode,
  group: (group) => Buffer.from(Json.stringify({ task_ids: group.taskIds }), "utf8")
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
