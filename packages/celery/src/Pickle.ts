/**
 * A safe codec for Python pickles, the format Celery's SQL result backend
 * writes into its `result` columns.
 *
 * `decode` is a stack machine for protocols 0–5 that never imports or calls
 * anything: a class or function reference becomes a `Global` node, a call a
 * `Reduce` node, `cls.__new__` a `NewObj` node, and `__setstate__` / list and
 * dict items sent to an object are attached to that object's node. It is
 * bounded against hostile input (truncation, huge length prefixes, deep
 * nesting, memo bombs) and reports every problem as a `PickleError`.
 *
 * `toJson` turns the tree into the JSON taskmeta shows users; anything JSON
 * cannot carry becomes an inert description, an object whose `"__pickle__"`
 * key names what it describes:
 *
 * | Python value                       | JSON                                                                   |
 * | ---------------------------------- | ---------------------------------------------------------------------- |
 * | `None`, `bool`, `str`              | `null`, `true` / `false`, a string                                     |
 * | `int`                              | a number, or a `bigint` beyond ±(2^53 − 1)                             |
 * | finite `float`                     | a number (`-0.0` becomes `0`)                                          |
 * | `nan`, `inf`, `-inf`               | `{"__pickle__":"float","value":"nan" \| "inf" \| "-inf"}`              |
 * | `list`, `tuple`, `set`, `frozenset`| an array                                                               |
 * | `dict` with only `str` keys        | an object                                                              |
 * | any other `dict`                   | `{"__pickle__":"dict","items":[[key, value], …]}`                      |
 * | `bytes`                            | `{"__pickle__":"bytes","base64":"…"}`                                  |
 * | `bytearray`                        | `{"__pickle__":"bytearray","base64":"…"}`                              |
 * | class / function reference         | `{"__pickle__":"global","module":"…","name":"…"}`                      |
 * | `callable(*args)` (REDUCE)         | `{"__pickle__":"reduce","callable":…,"args":…}` (+ extras below)       |
 * | `cls.__new__(cls, *args)` (NEWOBJ) | `{"__pickle__":"newobj","cls":…,"args":…}` (+ `"kwargs":…`, extras)    |
 * | extension code (EXT1/2/4)          | `{"__pickle__":"ext","code":n}`                                        |
 * | a container inside itself          | `{"__pickle__":"cycle"}`                                               |
 *
 * Extras of `reduce` / `newobj`: `"listitems":[…]` (APPEND(S) sent to the
 * object), `"dictitems":[[key, value], …]` (SETITEM(S)), `"state":…` (BUILD).
 * By default, inside those object descriptions the password of any URL
 * (`scheme://user:password@host`) is replaced by `***`: Celery pickles its
 * result backend, database URL included, into every `GroupResult` member.
 * A user's own dict that happens to have a `"__pickle__"` key is shown as it
 * is; the descriptions are for display, not for reading back.
 *
 * `encode` writes protocol 2 (default) to 5; `fromJson` maps JSON to the
 * tree Celery's JSON-to-pickle path would produce. `isPickle` tells pickles
 * of protocol 2+ (which start with the PROTO opcode, byte `0x80`) from UTF-8
 * JSON, which never starts with that byte. Protocol 0 and 1 pickles have no
 * PROTO opcode, so they do not start with `0x80`; Celery does not write them.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as Json from "@taskmeta/schema/Json"
import { Failure } from "./internal/pickle/ast.js"
import * as internalDecode from "./internal/pickle/decode.js"
import * as internalEncode from "./internal/pickle/encode.js"
import * as internalJson from "./internal/pickle/json.js"
import { normalizeInt } from "./internal/pickle/text.js"

// ---------------------------------------------------------------------------
// models
// ---------------------------------------------------------------------------

/**
 * A pickled value. Values reached through the pickle memo are the same JS
 * object wherever they occur, so the tree may share subtrees and, for
 * self-referencing Python data, contain cycles; walk it with care (`toJson`
 * and `encode` do).
 *
 * @since 0.1.0
 * @category models
 */
export type PickleValue =
  | PickleValue.None
  | PickleValue.Bool
  | PickleValue.Int
  | PickleValue.Float
  | PickleValue.Str
  | PickleValue.Bytes
  | PickleValue.ByteArray
  | PickleValue.List
  | PickleValue.Tuple
  | PickleValue.Dict
  | PickleValue.Set
  | PickleValue.FrozenSet
  | PickleValue.Global
  | PickleValue.Reduce
  | PickleValue.NewObj
  | PickleValue.Ext

/**
 * @since 0.1.0
 * @category models
 */
export declare namespace PickleValue {
  /**
   * @since 0.1.0
   * @category models
   */
  export interface None {
    readonly _tag: "None"
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Bool {
    readonly _tag: "Bool"
    readonly value: boolean
  }
  /**
   * A Python `int`: a `number` when within ±(2^53 − 1), else a `bigint`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Int {
    readonly _tag: "Int"
    readonly value: number | bigint
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Float {
    readonly _tag: "Float"
    readonly value: number
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Str {
    readonly _tag: "Str"
    readonly value: string
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Bytes {
    readonly _tag: "Bytes"
    readonly value: Uint8Array
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface ByteArray {
    readonly _tag: "ByteArray"
    readonly value: Uint8Array
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface List {
    readonly _tag: "List"
    readonly items: ReadonlyArray<PickleValue>
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Tuple {
    readonly _tag: "Tuple"
    readonly items: ReadonlyArray<PickleValue>
  }
  /**
   * Entries in pickle order. Keys are not merged: a hand-made pickle that sets
   * a key twice has both entries (`toJson` keeps the last value for `str`
   * keys, as Python would).
   *
   * @since 0.1.0
   * @category models
   */
  export interface Dict {
    readonly _tag: "Dict"
    readonly entries: ReadonlyArray<readonly [PickleValue, PickleValue]>
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface Set {
    readonly _tag: "Set"
    readonly items: ReadonlyArray<PickleValue>
  }
  /**
   * @since 0.1.0
   * @category models
   */
  export interface FrozenSet {
    readonly _tag: "FrozenSet"
    readonly items: ReadonlyArray<PickleValue>
  }
  /**
   * A reference to `module.name` (GLOBAL, STACK_GLOBAL, INST). Names are kept
   * as written: protocol 0–2 pickles from Python 3 say `__builtin__` and
   * `copy_reg` where Python 3 itself says `builtins` and `copyreg`.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Global {
    readonly _tag: "Global"
    readonly module: string
    readonly name: string
  }
  /**
   * What Python would build from a constructed object after creating it:
   * APPEND(S) and SETITEM(S) sent to it, and the BUILD state.
   *
   * @since 0.1.0
   * @category models
   */
  export interface ObjectParts {
    readonly state?: PickleValue | undefined
    readonly listItems?: ReadonlyArray<PickleValue> | undefined
    readonly dictItems?: ReadonlyArray<readonly [PickleValue, PickleValue]> | undefined
  }
  /**
   * `callable(*args)` (REDUCE; also INST and OBJ, whose arguments become a
   * tuple). Never called.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Reduce extends ObjectParts {
    readonly _tag: "Reduce"
    readonly callable: PickleValue
    readonly args: PickleValue
  }
  /**
   * `cls.__new__(cls, *args, **kwargs)` (NEWOBJ, NEWOBJ_EX). Never called.
   *
   * @since 0.1.0
   * @category models
   */
  export interface NewObj extends ObjectParts {
    readonly _tag: "NewObj"
    readonly cls: PickleValue
    readonly args: PickleValue
    readonly kwargs?: PickleValue | undefined
  }
  /**
   * An entry of `copyreg`'s extension registry (EXT1, EXT2, EXT4). Never looked up.
   *
   * @since 0.1.0
   * @category models
   */
  export interface Ext {
    readonly _tag: "Ext"
    readonly code: number
  }
}

// ---------------------------------------------------------------------------
// constructors
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category constructors
 */
export const none: PickleValue.None = { _tag: "None" }

/**
 * @since 0.1.0
 * @category constructors
 */
export const bool = (value: boolean): PickleValue.Bool => ({ _tag: "Bool", value })

/**
 * An `int`; the value is normalised (a `number` when safe, else a `bigint`,
 * never `-0`). Non-integral numbers are a programming error that `encode`
 * reports.
 *
 * @since 0.1.0
 * @category constructors
 */
export const int = (value: number | bigint): PickleValue.Int => ({
  _tag: "Int",
  value: typeof value === "number" && !Number.isInteger(value) ? value : normalizeInt(value)
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const float = (value: number): PickleValue.Float => ({ _tag: "Float", value })

/**
 * @since 0.1.0
 * @category constructors
 */
export const str = (value: string): PickleValue.Str => ({ _tag: "Str", value })

/**
 * @since 0.1.0
 * @category constructors
 */
export const bytes = (value: Uint8Array): PickleValue.Bytes => ({ _tag: "Bytes", value })

/**
 * @since 0.1.0
 * @category constructors
 */
export const bytearray = (value: Uint8Array): PickleValue.ByteArray => ({ _tag: "ByteArray", value })

/**
 * @since 0.1.0
 * @category constructors
 */
export const list = (items: ReadonlyArray<PickleValue>): PickleValue.List => ({ _tag: "List", items })

/**
 * @since 0.1.0
 * @category constructors
 */
export const tuple = (items: ReadonlyArray<PickleValue>): PickleValue.Tuple => ({ _tag: "Tuple", items })

/**
 * @since 0.1.0
 * @category constructors
 */
export const dict = (entries: ReadonlyArray<readonly [PickleValue, PickleValue]>): PickleValue.Dict => ({
  _tag: "Dict",
  entries
})

/**
 * @since 0.1.0
 * @category constructors
 */
export const set = (items: ReadonlyArray<PickleValue>): PickleValue.Set => ({ _tag: "Set", items })

/**
 * @since 0.1.0
 * @category constructors
 */
export const frozenset = (items: ReadonlyArray<PickleValue>): PickleValue.FrozenSet => ({ _tag: "FrozenSet", items })

/**
 * A reference to `module.name`.
 *
 * @since 0.1.0
 * @category constructors
 */
export const global = (module: string, name: string): PickleValue.Global => ({ _tag: "Global", module, name })

/**
 * @since 0.1.0
 * @category constructors
 */
export const reduce = (
  callable: PickleValue,
  args: PickleValue,
  parts?: PickleValue.ObjectParts
): PickleValue.Reduce => ({ _tag: "Reduce", callable, args, ...withoutUndefined(parts) })

/**
 * @since 0.1.0
 * @category constructors
 */
export const newObj = (
  cls: PickleValue,
  args: PickleValue,
  parts?: PickleValue.ObjectParts & { readonly kwargs?: PickleValue | undefined }
): PickleValue.NewObj => ({ _tag: "NewObj", cls, args, ...withoutUndefined(parts) })

/**
 * @since 0.1.0
 * @category constructors
 */
export const ext = (code: number): PickleValue.Ext => ({ _tag: "Ext", code })

const withoutUndefined = <A extends object>(parts: A | undefined): Partial<A> => {
  const out: Partial<A> = {}
  if (parts === undefined) return out
  for (const key of Object.keys(parts) as Array<keyof A>) {
    if (parts[key] !== undefined) out[key] = parts[key]
  }
  return out
}

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * Why bytes could not be read as a pickle, or a tree could not be turned into
 * JSON or bytes. `offset` is the byte offset of the offending opcode in the
 * input, or -1 when the problem is not tied to an input byte (nesting or size
 * limits met while walking the tree).
 *
 * @since 0.1.0
 * @category errors
 */
export class PickleError extends Schema.TaggedError<PickleError>("@taskmeta/celery/PickleError")("PickleError", {
  reason: Schema.String,
  offset: Schema.Number,
  /** Set when a budget refused the value: input or output `size`, nesting `depth`, or value `count`. */
  limit: Schema.optional(Schema.Literal("size", "depth", "count"))
}) {
  override get message(): string {
    return this.offset >= 0 ? `${this.reason} (at byte ${this.offset})` : this.reason
  }
}

const catchFailure = <A>(f: () => A): Either.Either<A, PickleError> => {
  try {
    return Either.right(f())
  } catch (e) {
    if (e instanceof Failure) {
      return Either.left(
        new PickleError({ reason: e.reason, offset: e.offset, ...(e.limit !== undefined ? { limit: e.limit } : {}) })
      )
    }
    throw e
  }
}

// ---------------------------------------------------------------------------
// limits
// ---------------------------------------------------------------------------

/**
 * Default nesting limit of `decode` and `toJson` (containers inside
 * containers). Python's own pickler stops near the same depth (its recursion
 * limit).
 *
 * @since 0.1.0
 * @category limits
 */
export const DEFAULT_MAX_DEPTH = 1000

/**
 * Default limit on the values `decode` pushes and `toJson` produces. `toJson`
 * counts every value of the expanded tree, so memo-shared subtrees count each
 * time they appear.
 *
 * @since 0.1.0
 * @category limits
 */
export const DEFAULT_MAX_NODES = 1_000_000

/**
 * Default limit on the input size of `decode` (64 MiB).
 *
 * @since 0.1.0
 * @category limits
 */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

/**
 * Default limit on the JSON text `toJson` may produce (64 MiB, counted as
 * the value is built, escapes included). Memo references count each
 * time they appear, so a large string shared thousands of times is refused
 * instead of expanded.
 *
 * @since 0.1.0
 * @category limits
 */
export const DEFAULT_MAX_SIZE = 64 * 1024 * 1024

/**
 * @since 0.1.0
 * @category options
 */
export interface DecodeOptions {
  /** Deepest container nesting accepted; default `DEFAULT_MAX_DEPTH`. */
  readonly maxDepth?: number | undefined
  /** Most values pushed on the stack (fresh or from the memo); default `DEFAULT_MAX_NODES`. */
  readonly maxNodes?: number | undefined
  /** Largest input accepted; default `DEFAULT_MAX_BYTES`. */
  readonly maxBytes?: number | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface ToJsonOptions {
  /** Deepest nesting of the produced JSON; default `DEFAULT_MAX_DEPTH`. */
  readonly maxDepth?: number | undefined
  /** Most JSON values produced (shared subtrees count every time); default `DEFAULT_MAX_NODES`. */
  readonly maxNodes?: number | undefined
  /** Most characters of JSON text produced (shared subtrees count every time); default `DEFAULT_MAX_SIZE`. */
  readonly maxSize?: number | undefined
  /**
   * Replace URL passwords with `***` in strings inside `reduce` / `newobj`
   * descriptions; default `true`. Plain data (lists, dicts, … outside any
   * object) is never changed.
   */
  readonly redactUrlPasswords?: boolean | undefined
}

/**
 * @since 0.1.0
 * @category options
 */
export interface EncodeOptions {
  /** Pickle protocol to write; default 2 (readable by every Python 3). */
  readonly protocol?: 2 | 3 | 4 | 5 | undefined
}

// ---------------------------------------------------------------------------
// decoding
// ---------------------------------------------------------------------------

/**
 * Whether `bytes` look like a pickle of protocol 2 or later: the first byte is
 * PROTO (`0x80`), a byte UTF-8 text never starts with. Protocol 0 and 1
 * pickles do not start with `0x80` and are not recognised here (`decode`
 * still reads them).
 *
 * @since 0.1.0
 * @category decoding
 */
export const isPickle = (bytes: Uint8Array): boolean => bytes.length > 0 && bytes[0] === 0x80

/**
 * Reads a pickle of protocol 0 to 5 without running anything.
 *
 * Never imports, never calls: GLOBAL / STACK_GLOBAL / INST name a `Global`,
 * REDUCE / INST / OBJ give a `Reduce`, NEWOBJ / NEWOBJ_EX a `NewObj`, and
 * BUILD, or APPEND(S) / SETITEM(S) aimed at such an object, are attached to
 * it. PERSID / BINPERSID and out-of-band buffers (NEXT_BUFFER,
 * READONLY_BUFFER) fail. Only these pure-data calls are folded into data,
 * exactly when their arguments have the shape Python's pickler writes (these
 * are how protocols before 3, 4 and 5 carry bytes, sets and bytearrays):
 *
 * - `builtins.set` / `__builtin__.set` of nothing or of one list or tuple → `Set`
 * - `builtins.frozenset` / `__builtin__.frozenset` likewise → `FrozenSet`
 * - `_codecs.encode` / `codecs.encode` of `(str, "latin1" | "latin-1")`, every
 *   code point below 256 → `Bytes`
 * - `builtins.bytes` / `__builtin__.bytes` of `()` → empty `Bytes`
 * - `builtins.bytearray` / `__builtin__.bytearray` of `()`, `(bytes,)` or
 *   `(str, "latin1" | "latin-1")` → `ByteArray`
 *
 * Everything else, `datetime`, `decimal.Decimal` and `copy_reg._reconstructor`
 * included, stays an inert node. STRING / BINSTRING / SHORT_BINSTRING (Python
 * 2 `str`) become `Str` when ASCII and `Bytes` otherwise. Data after STOP is
 * ignored, as Python does; a STOP with open MARKs or more than one value on
 * the stack fails. Integers are limited to 4,300 decimal digits in text
 * (INT, LONG; CPython's own limit) and 4 KiB in binary (LONG4).
 *
 * @example
 * ```ts
 * import { Pickle } from "@taskmeta/celery"
 * import { Either } from "effect"
 *
 * // What Celery's SQL backend writes for {"sum": 32, "parts": (16, 16)}.
 * const celeryRow = Buffer.from("gAJ9cQAoWAMAAABzdW1xAUsgWAUAAABwYXJ0c3ECSxBLEIZxA3Uu", "base64")
 * const tree = Pickle.decode(celeryRow) // Either<PickleValue, PickleError>
 * console.log(Either.getOrThrow(Either.flatMap(tree, (value) => Pickle.toJson(value))))
 * // { sum: 32, parts: [ 16, 16 ] }
 *
 * // Nothing is imported or called: a pickle that runs os.system("ls") in Python is an inert description.
 * const hostile = Buffer.from("gAJjcG9zaXgKc3lzdGVtCnEAWAIAAABsc3EBhXECUnEDLg==", "base64")
 * console.log(JSON.stringify(Either.getOrThrow(Pickle.decodeToJson(hostile))))
 * // {"__pickle__":"reduce","callable":{"__pickle__":"global","module":"posix","name":"system"},"args":["ls"]}
 *
 * // Bad input is a PickleError, never a crash.
 * const truncated = Pickle.decode(celeryRow.subarray(0, 10))
 * console.log(Either.isLeft(truncated) && truncated.left._tag) // "PickleError"
 * ```
 *
 * @since 0.1.0
 * @category decoding
 */
export const decode = (bytes: Uint8Array, options?: DecodeOptions): Either.Either<PickleValue, PickleError> =>
  catchFailure(() =>
    internalDecode.decode(bytes, {
      maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
      maxNodes: options?.maxNodes ?? DEFAULT_MAX_NODES,
      maxBytes: options?.maxBytes ?? DEFAULT_MAX_BYTES
    })
  )

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

/**
 * The JSON taskmeta shows for a pickled value (see the module documentation
 * for the shapes). Iterative; fails with a `PickleError` beyond `maxDepth`
 * nesting, `maxNodes` produced values or `maxSize` characters of JSON text,
 * so a memo bomb fails fast instead of expanding.
 *
 * @since 0.1.0
 * @category json
 */
export const toJson = (value: PickleValue, options?: ToJsonOptions): Either.Either<Json.Json, PickleError> =>
  catchFailure(() =>
    internalJson.toJson(value, {
      maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
      maxNodes: options?.maxNodes ?? DEFAULT_MAX_NODES,
      maxSize: options?.maxSize ?? DEFAULT_MAX_SIZE,
      redact: options?.redactUrlPasswords ?? true,
      countFirst: true
    })
  )

/**
 * `decode` then `toJson`, with the same limits.
 *
 * @since 0.1.0
 * @category json
 */
export const decodeToJson = (
  bytes: Uint8Array,
  options?: DecodeOptions & ToJsonOptions
): Either.Either<Json.Json, PickleError> =>
  catchFailure(() => {
    const { shared, value } = internalDecode.decodeShared(bytes, {
      maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
      maxNodes: options?.maxNodes ?? DEFAULT_MAX_NODES,
      maxBytes: options?.maxBytes ?? DEFAULT_MAX_BYTES
    })
    return internalJson.toJson(value, {
      maxDepth: options?.maxDepth ?? DEFAULT_MAX_DEPTH,
      maxNodes: options?.maxNodes ?? DEFAULT_MAX_NODES,
      maxSize: options?.maxSize ?? DEFAULT_MAX_SIZE,
      redact: options?.redactUrlPasswords ?? true,
      // without a shared container the tree has no more nodes than the decoder built (within its
      // own count budget): the walk counts those itself
      countFirst: shared
    })
  })

/**
 * The plain mapping used to write a JSON result as a pickle: `null` → `None`,
 * booleans → `Bool`, bigints and integral numbers within ±(2^53 − 1) → `Int`,
 * other numbers → `Float` (a `number` beyond the safe range is not an exact
 * integer: `Json` carries those as bigints), strings → `Str`, arrays → `List`,
 * objects → `Dict` with `Str` keys.
 * Objects with a `"__pickle__"` key are ordinary dicts here. A JS object or
 * array met twice becomes one shared node, so `encode` memoizes it.
 *
 * @since 0.1.0
 * @category json
 */
export const fromJson = (json: Json.Json): PickleValue => internalJson.fromJson(json)

// ---------------------------------------------------------------------------
// encoding
// ---------------------------------------------------------------------------

/**
 * Writes `value` as a pickle of the given protocol (default 2), or fails when
 * it cannot be written: a non-integral `Int`, a `Global` name with a newline
 * (protocols 2 and 3), an `Ext` code out of range, or a cycle Python's
 * pickler could not write either (a container inside itself with no list,
 * dict or object state on the way to break it).
 *
 * Ints use BININT1 / BININT2 / BININT / LONG1 / LONG4, floats BINFLOAT,
 * strings BINUNICODE (SHORT_BINUNICODE from protocol 4). Before protocol 3,
 * bytes are written as `_codecs.encode(latin1_str, "latin1")`, before 4 sets
 * as `builtins.set([...])`, before 5 bytearrays as `builtins.bytearray(...)`.
 * `NewObj` with keyword arguments uses NEWOBJ_EX from protocol 4 and
 * `copyreg.__newobj_ex__(cls, args, kwargs)` before. Subtrees are memoized
 * (BINPUT / BINGET) only when the value shares or repeats a container. No
 * FRAME opcodes are written (they are optional).
 *
 * @since 0.1.0
 * @category encoding
 */
export const encodeEither = (value: PickleValue, options?: EncodeOptions): Either.Either<Uint8Array, PickleError> =>
  catchFailure(() => internalEncode.encode(value, options?.protocol ?? 2))

/**
 * `encodeEither` for values known to be writable (anything `fromJson` or the
 * constructors build from acyclic data); throws the `PickleError` otherwise.
 *
 * @example
 * ```ts
 * import { Pickle } from "@taskmeta/celery"
 * import { Either } from "effect"
 *
 * // JSON to a protocol-2 pickle, what Python's pickle.loads (and so Celery 5) reads back.
 * const bytes = Pickle.encode(Pickle.fromJson({ sum: 32, parts: [16, 16] }))
 * console.log(bytes[0], bytes[1]) // 128 2 (PROTO 2)
 *
 * // Python values JSON has no form for are built with the constructors.
 * const tuple = Pickle.encode(Pickle.tuple([Pickle.int(16n), Pickle.bytes(new Uint8Array([1, 2]))]), { protocol: 4 })
 * console.log(Either.getOrThrow(Pickle.decodeToJson(tuple)))
 * // [ 16, { __pickle__: 'bytes', base64: 'AQI=' } ]
 *
 * // encodeEither returns what Python's pickler could not write either as a PickleError.
 * console.log(Either.isLeft(Pickle.encodeEither(Pickle.int(1.5)))) // true
 * ```
 *
 * @since 0.1.0
 * @category encoding
 */
export const encode = (value: PickleValue, options?: EncodeOptions): Uint8Array =>
  Either.getOrThrowWith(encodeEither(value, options), (error) => error)
