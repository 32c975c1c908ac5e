/**
 * The byte encoding of the `result`, `args` and `kwargs` columns.
 *
 * taskmeta writes UTF-8 JSON (`Json.stringify`, big integers exact); a
 * `null` result is SQL NULL, as Celery stores `None`. Celery writes `result`
 * as a Python pickle; a reader tells the two apart by the first byte (0x80 is
 * a pickle's PROTO opcode, which JSON text never starts with) and hands
 * pickles to `decodePickle`.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as Json from "@taskmeta/schema/Json"

/**
 * How results are written. Only `json` for now.
 *
 * @since 0.1.0
 * @category models
 */
export type Encoding = "json"

/**
 * A stored value that cannot be decoded: a pickle (no decoder plugged in
 * yet), invalid UTF-8 or invalid JSON. `column` names the column.
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
 * Decodes a pickle into a JSON value. The safe decoder plugs in here; until
 * then a pickle fails with `UndecodableValue`.
 *
 * @since 0.1.0
 * @category decoding
 */
export const decodePickle = (column: string, _bytes: Uint8Array): Either.Either<Json.Json, UndecodableValue> =>
  Either.left(new UndecodableValue({ column, format: "pickle", reason: "pickled values are not supported yet" }))

const utf8 = new TextDecoder("utf-8", { fatal: true })

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
  let text: string
  try {
    text = utf8.decode(bytes)
  } catch {
    return Either.left(new UndecodableValue({ column, format: "json", reason: "invalid UTF-8" }))
  }
  return Either.mapLeft(Json.parse(text), (e) => new UndecodableValue({ column, format: "json", reason: e.message }))
}
