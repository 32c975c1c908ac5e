/**
 * Hostile rows of Celery's `celery_taskmeta` table, shared by
 * `HostileFuzz.test.ts`, `scripts/readHostileRows.ts` and
 * `bench/hostile.ts`.
 *
 * The arbitraries produce recipes: small descriptions (a kind and a few
 * numbers) that fast-check prints and shrinks; `buildRow` turns one into the
 * bytes stored, which can be tens of megabytes. `hostileRow` is the same
 * arbitrary already built. What the recipes cover:
 *
 * - memo reuse: one large string put in the memo (BINPUT, LONG_BINPUT,
 *   MEMOIZE, PUT) and referenced many times (BINGET, LONG_BINGET, GET) in a
 *   list, tuple, dict, REDUCE arguments or a BUILD state; nested levels of
 *   references (billion laughs), as deep as 1,500 levels;
 * - deep nesting up to `Scale.maxDepth` (100,000): lists, MARK/LIST, TUPLE1,
 *   dicts, REDUCE chains, frozensets, closed or cut short; JSON arrays,
 *   objects, mixed, unclosed, on the exact-integer path, inside a string;
 * - declared lengths far beyond the bytes present (BINUNICODE, BINUNICODE8,
 *   BINBYTES, BINBYTES8, BYTEARRAY8, BINSTRING, LONG4, LONG1, the SHORT_
 *   forms, FRAME);
 * - URL-like text (`scheme://user:password@`, long alphanumeric runs, white
 *   space) inside REDUCE / NEWOBJ_EX / BUILD, where the password redaction
 *   runs on it;
 * - Celery's own pickles (`CeleryCodec.pickleResult`) with random mutations;
 * - JSON: valid, mutated, long digit runs, wide containers, BOM, invalid
 *   UTF-8, numbers beyond the doubles; random bytes and opcode soup;
 * - large payloads: bytes, control characters, lone surrogates, long
 *   INT / LONG / FLOAT lines, many 4 KiB LONG4 integers, many values.
 *
 * `checkRecord` says what is wrong with a record read back, given the
 * stored columns' sizes: every column must be a JSON value or the
 * undecodable description of that column, args an array, kwargs an object,
 * and the record must print.
 */
import { isUtf8 } from "node:buffer"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import { fileURLToPath } from "node:url"
import Sqlite from "better-sqlite3"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as CeleryCodec from "@taskmeta/celery/CeleryCodec"
import * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"

// ---------------------------------------------------------------------------
// scales
// ---------------------------------------------------------------------------

/** How large the generated values get. */
export interface Scale {
  /** Longest string, byte payload or text, in bytes. */
  readonly maxLength: number
  /** Most references to one memoized value. */
  readonly maxRefs: number
  /** Deepest nesting (pickle and JSON). */
  readonly maxDepth: number
  /** Most items of a wide container. */
  readonly maxWidth: number
}

/** The in-process fuzz test: every kind, small payloads (memo references still expand past the size budget). */
export const TEST_SCALE: Scale = { maxLength: 256 * 1024, maxRefs: 5000, maxDepth: 100_000, maxWidth: 30_000 }

/** The heap-capped reader of the test: large enough that a decoder tens of times its input dies there (300 MB). */
export const MEMORY_SCALE: Scale = { maxLength: 24 * 1024 * 1024, maxRefs: 100_000, maxDepth: 100_000, maxWidth: 1_200_000 }

/** The bench: up to the read budgets (16 MiB stored per column, 1,000,000 values). */
export const BENCH_SCALE: Scale = { maxLength: 16 * 1024 * 1024, maxRefs: 200_000, maxDepth: 100_000, maxWidth: 1_200_000 }

// ---------------------------------------------------------------------------
// recipes
// ---------------------------------------------------------------------------

type StrOp = "BINUNICODE" | "SHORT_BINUNICODE" | "BINUNICODE8" | "BINBYTES" | "BINSTRING"
type PutOp = "BINPUT" | "LONG_BINPUT" | "MEMOIZE" | "PUT"
type GetOp = "BINGET" | "LONG_BINGET" | "GET"
type Holder = "list" | "tuple" | "dict" | "reduce" | "build"
type DeepPickleShape = "list" | "mark-list" | "tuple1" | "dict" | "reduce" | "frozenset"
type DeepJsonShape = "array" | "object" | "mixed" | "unclosed" | "exact" | "in-string"
type LengthOp =
  | "BINUNICODE"
  | "BINBYTES"
  | "BINSTRING"
  | "LONG4"
  | "BINUNICODE8"
  | "BINBYTES8"
  | "BYTEARRAY8"
  | "FRAME"
  | "SHORT_BINUNICODE"
  | "SHORT_BINBYTES"
  | "SHORT_BINSTRING"
  | "LONG1"
type UrlHolder = "reduce" | "reduce-list" | "newobj-kwargs" | "build-state" | "memo-reduce"
type Large =
  | "binbytes"
  | "bytearray8"
  | "control"
  | "control-list"
  | "control-dict"
  | "surrogates"
  | "float-line"
  | "int-line"
  | "long-line"
  | "long4-many"
  | "wide-none"
  | "json-string"
  | "json-escapes"
  | "json-digits"
type JsonDigits = "bare" | "array" | "object" | "fraction" | "string"
type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "set" | "insert"; readonly at: number; readonly byte: number }
  | { readonly op: "delete" | "truncate"; readonly at: number }
  | { readonly op: "repeat"; readonly at: number; readonly length: number; readonly times: number }
  | { readonly op: "length"; readonly at: number; readonly value: number }

/** How one column's bytes are made. `text` stores valid UTF-8 that is not a pickle as TEXT, not BLOB. */
export type ColumnRecipe = (
  | {
    readonly kind: "memo"
    readonly str: StrOp
    readonly unit: string
    readonly length: number
    readonly put: PutOp
    readonly get: GetOp
    readonly key: number
    readonly refs: number
    readonly holder: Holder
  }
  | {
    readonly kind: "laughs"
    readonly levels: number
    readonly fanout: number
    readonly long: boolean
    readonly dup: boolean
    readonly inReduce: boolean
  }
  | { readonly kind: "deep-pickle"; readonly shape: DeepPickleShape; readonly depth: number; readonly closed: boolean }
  | { readonly kind: "deep-json"; readonly shape: DeepJsonShape; readonly depth: number }
  | {
    readonly kind: "huge-length"
    readonly op: LengthOp
    readonly declared: bigint
    readonly present: number
    readonly nested: boolean
    readonly stop: boolean
  }
  | {
    readonly kind: "url"
    readonly pieces: ReadonlyArray<string>
    readonly run: number
    readonly length: number
    readonly holder: UrlHolder
    readonly refs: number
  }
  | {
    readonly kind: "celery"
    readonly status: string
    readonly value: Json.Json
    readonly mutations: ReadonlyArray<Mutation>
  }
  | { readonly kind: "json"; readonly value: Json.Json; readonly indent: number; readonly mutations: ReadonlyArray<Mutation> }
  | { readonly kind: "json-digits"; readonly digits: number; readonly wrap: JsonDigits }
  | { readonly kind: "json-wide"; readonly item: string; readonly width: number }
  | { readonly kind: "json-odd"; readonly source: string; readonly bom: boolean; readonly junk: number }
  | { readonly kind: "bytes"; readonly bytes: Uint8Array; readonly pickle: boolean }
  | { readonly kind: "soup"; readonly protocol: number; readonly ops: ReadonlyArray<number> }
  | { readonly kind: "large"; readonly what: Large; readonly length: number }
) & { readonly text: boolean }

export interface RowRecipe {
  readonly status: string
  readonly result: ColumnRecipe | null
  readonly args: ColumnRecipe | null
  readonly kwargs: ColumnRecipe | null
  readonly dateDone: string | null
}

/** What goes into one row: columns as BLOB (`Uint8Array`), TEXT (`string`) or NULL. */
export interface HostileRow {
  /** The recipes' kinds, short (stored in the `name` column). */
  readonly kind: string
  readonly status: string
  readonly result: Uint8Array | string | null
  readonly args: Uint8Array | string | null
  readonly kwargs: Uint8Array | string | null
  readonly dateDone: string | null
}

// ---------------------------------------------------------------------------
// arbitraries
// ---------------------------------------------------------------------------

/** Mostly small, sometimes anything up to `max`, sometimes exactly `max`. */
const upTo = (max: number, small = 300): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 0, max: Math.min(small, max) }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max }) },
    { weight: 1, arbitrary: fc.constant(max) }
  )

/** Depths around the budgets (512 for JSON, 1,000 for pickles) and up to `max`. */
const depth = (max: number): fc.Arbitrary<number> =>
  fc.oneof(
    fc.integer({ min: 1, max: 50 }),
    fc.integer({ min: 505, max: 520 }),
    fc.integer({ min: 995, max: 1005 }),
    fc.integer({ min: 1, max }),
    fc.constant(max)
  )

const UNITS = ["a", "é", "☃", "😀", "\u0001", "\"", "\\", "ab://u:p@", "x://", "\n", "0123456789", "\ud800"]

const memo = (scale: Scale) =>
  fc.record({
    kind: fc.constant("memo" as const),
    str: fc.constantFrom<StrOp>("BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "BINSTRING"),
    unit: fc.constantFrom(...UNITS),
    length: upTo(scale.maxLength, 4096),
    put: fc.constantFrom<PutOp>("BINPUT", "LONG_BINPUT", "MEMOIZE", "PUT"),
    get: fc.constantFrom<GetOp>("BINGET", "LONG_BINGET", "GET"),
    key: fc.oneof(fc.integer({ min: 0, max: 255 }), fc.nat()),
    refs: upTo(scale.maxRefs, 50),
    holder: fc.constantFrom<Holder>("list", "tuple", "dict", "reduce", "build"),
    text: fc.constant(false)
  })

const laughs = fc.record({
  kind: fc.constant("laughs" as const),
  levels: fc.oneof(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 990, max: 1500 })),
  fanout: fc.integer({ min: 2, max: 10 }),
  long: fc.boolean(),
  dup: fc.boolean(),
  inReduce: fc.boolean(),
  text: fc.constant(false)
})

const deepPickle = (scale: Scale) =>
  fc.record({
    kind: fc.constant("deep-pickle" as const),
    shape: fc.constantFrom<DeepPickleShape>("list", "mark-list", "tuple1", "dict", "reduce", "frozenset"),
    depth: depth(scale.maxDepth),
    closed: fc.boolean(),
    text: fc.constant(false)
  })

const deepJson = (scale: Scale) =>
  fc.record({
    kind: fc.constant("deep-json" as const),
    shape: fc.constantFrom<DeepJsonShape>("array", "object", "mixed", "unclosed", "exact", "in-string"),
    depth: depth(scale.maxDepth),
    text: fc.boolean()
  })

const HUGE: ReadonlyArray<bigint> = [
  2n ** 64n - 1n,
  2n ** 63n,
  2n ** 53n + 1n,
  2n ** 53n,
  2n ** 53n - 1n,
  2n ** 40n,
  2n ** 32n - 1n,
  2n ** 31n,
  2n ** 31n - 1n,
  2n ** 26n,
  4097n,
  256n
]

const hugeLength = fc.record({
  kind: fc.constant("huge-length" as const),
  op: fc.constantFrom<LengthOp>(
    "BINUNICODE",
    "BINBYTES",
    "BINSTRING",
    "LONG4",
    "BINUNICODE8",
    "BINBYTES8",
    "BYTEARRAY8",
    "FRAME",
    "SHORT_BINUNICODE",
    "SHORT_BINBYTES",
    "SHORT_BINSTRING",
    "LONG1"
  ),
  declared: fc.oneof(fc.constantFrom(...HUGE), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  present: fc.integer({ min: 0, max: 64 }),
  nested: fc.boolean(),
  stop: fc.boolean(),
  text: fc.constant(false)
})

const URL_PIECES = [
  "://",
  ":",
  "@",
  "/",
  " ",
  "?",
  "#",
  "postgresql",
  "redis",
  "db+postgresql",
  "amqp",
  "user",
  "s3cret",
  "\t",
  "\u00a0",
  "\u2028",
  "é"
]

const url = (scale: Scale) =>
  fc.record({
    kind: fc.constant("url" as const),
    pieces: fc.array(fc.constantFrom(...URL_PIECES, "RUN"), { minLength: 1, maxLength: 12 }),
    run: upTo(Math.min(scale.maxLength, 1 << 20), 200),
    length: upTo(scale.maxLength, 2000),
    holder: fc.constantFrom<UrlHolder>("reduce", "reduce-list", "newobj-kwargs", "build-state", "memo-reduce"),
    refs: upTo(scale.maxRefs, 20),
    text: fc.constant(false)
  })

const STATUSES = ["SUCCESS", "FAILURE", "RETRY", "REVOKED", "STARTED", "PROGRESS", "PENDING"]

const jsonValue: fc.Arbitrary<Json.Json> = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((v) => v as Json.Json),
  fc.record({
    exc_type: fc.constantFrom("ValueError", "KeyError", "Boom"),
    exc_message: fc.array(fc.oneof(fc.string(), fc.integer()), { maxLength: 3 }),
    exc_module: fc.constantFrom("builtins", "app.errors")
  }),
  fc.bigInt({ min: -(2n ** 90n), max: 2n ** 90n })
)

const mutation = (scale: Scale): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ op: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
    fc.record({ op: fc.constantFrom("set" as const, "insert" as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
    fc.record({ op: fc.constantFrom("delete" as const, "truncate" as const), at: fc.nat() }),
    fc.record({
      op: fc.constant("repeat" as const),
      at: fc.nat(),
      length: fc.integer({ min: 1, max: 16 }),
      times: upTo(Math.max(1, Math.floor(scale.maxRefs / 4)), 20)
    }),
    fc.record({ op: fc.constant("length" as const), at: fc.nat(), value: fc.constantFrom(0xffffffff, 0x7fffffff, 0x80000000, 1 << 26) })
  )

const celery = (scale: Scale) =>
  fc.record({
    kind: fc.constant("celery" as const),
    status: fc.constantFrom(...STATUSES),
    value: jsonValue,
    mutations: fc.array(mutation(scale), { maxLength: 6 }),
    text: fc.constant(false)
  })

const json = (scale: Scale) =>
  fc.record({
    kind: fc.constant("json" as const),
    value: jsonValue,
    indent: fc.constantFrom(0, 0, 2),
    mutations: fc.array(mutation(scale), { maxLength: 3 }),
    text: fc.boolean()
  })

const jsonDigits = (scale: Scale) =>
  fc.record({
    kind: fc.constant("json-digits" as const),
    digits: fc.oneof(upTo(scale.maxLength, 20), fc.integer({ min: 4295, max: 4305 })),
    wrap: fc.constantFrom<JsonDigits>("bare", "array", "object", "fraction", "string"),
    text: fc.boolean()
  })

const jsonWide = (scale: Scale) =>
  fc.record({
    kind: fc.constant("json-wide" as const),
    item: fc.constantFrom("0", "{}", "[]", "\"\"", "null", "1e400", "12345678901234567", "[0,{}]"),
    width: upTo(scale.maxWidth, 100),
    text: fc.boolean()
  })

const jsonOdd = fc.record({
  kind: fc.constant("json-odd" as const),
  source: fc.constantFrom(
    "1e400",
    "-0",
    "1E5",
    "[1e-400, -1e400]",
    "\"\\ud800\"",
    "\"\\u0000\"",
    "{\"__proto__\": {\"x\": 1}}",
    "",
    " ",
    "nul",
    "[1,]",
    "{\"a\" 1}"
  ),
  bom: fc.boolean(),
  junk: fc.constantFrom(-1, 0x00, 0xff, 0xc3, 0xed),
  text: fc.constant(false)
})

const bytes = fc.record({
  kind: fc.constant("bytes" as const),
  bytes: fc.uint8Array({ maxLength: 512 }),
  pickle: fc.boolean(),
  text: fc.constant(false)
})

// Every opcode byte, plus a few argument-ish bytes (as PickleFuzz.test.ts).
const OPCODES = [
  ..."().0123FGIJKLMNPQRSTUVXabcdeghijlopqrstu}]BC".split("").map((c) => c.charCodeAt(0)),
  ...Array.from({ length: 0x99 - 0x80 }, (_, i) => 0x80 + i),
  0,
  1,
  2,
  5,
  0x0a,
  0xff
]

const soup = fc.record({
  kind: fc.constant("soup" as const),
  protocol: fc.integer({ min: 0, max: 5 }),
  ops: fc.array(fc.constantFrom(...OPCODES), { maxLength: 300 }),
  text: fc.constant(false)
})

const large = (scale: Scale) =>
  fc.record({
    kind: fc.constant("large" as const),
    what: fc.constantFrom<Large>(
      "binbytes",
      "bytearray8",
      "control",
      "control-list",
      "control-dict",
      "surrogates",
      "float-line",
      "int-line",
      "long-line",
      "long4-many",
      "wide-none",
      "json-string",
      "json-escapes",
      "json-digits"
    ),
    length: upTo(scale.maxLength, 4096),
    text: fc.constant(false)
  })

/** Any hostile column. */
export const columnRecipe = (scale: Scale): fc.Arbitrary<ColumnRecipe> =>
  fc.oneof(
    memo(scale),
    laughs,
    deepPickle(scale),
    deepJson(scale),
    hugeLength,
    url(scale),
    { weight: 2, arbitrary: celery(scale) },
    json(scale),
    jsonDigits(scale),
    jsonWide(scale),
    jsonOdd,
    bytes,
    soup,
    large(scale)
  )

const plainArgs = fc.record({
  kind: fc.constant("json" as const),
  value: fc.array(jsonValue, { maxLength: 4 }),
  indent: fc.constant(0),
  mutations: fc.constant([]),
  text: fc.boolean()
})
const plainKwargs = fc.record({
  kind: fc.constant("json" as const),
  value: fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 4 }),
  indent: fc.constant(0),
  mutations: fc.constant([]),
  text: fc.boolean()
})

/** A row: a hostile result, args and kwargs hostile or plain, odd statuses and dates now and then. */
export const rowRecipe = (scale: Scale): fc.Arbitrary<RowRecipe> =>
  fc.record({
    status: fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...STATUSES) }, fc.string({ maxLength: 20 })),
    result: fc.oneof({ weight: 8, arbitrary: columnRecipe(scale) }, fc.constant(null)),
    args: fc.oneof(fc.constant(null), plainArgs, columnRecipe(scale)),
    kwargs: fc.oneof(fc.constant(null), plainKwargs, columnRecipe(scale)),
    dateDone: fc.oneof(
      { weight: 4, arbitrary: fc.constant("2024-01-02 03:04:05.000000") },
      fc.constant(null),
      // not a number: SQLite's DATETIME affinity would store one as INTEGER or REAL (see HostileFuzz.test.ts)
      fc.string({ maxLength: 40 }).map((s) => `x${s}`)
    )
  })

/** Rows already built (bytes), for callers that do not need printable recipes. */
export const hostileRow = (scale: Scale): fc.Arbitrary<HostileRow> => rowRecipe(scale).map(buildRow)

// ---------------------------------------------------------------------------
// building bytes
// ---------------------------------------------------------------------------

type Part = Buffer | number | string | ReadonlyArray<number>

/** Bytes from parts: a number is one byte, a string Latin-1. */
const cat = (...parts: ReadonlyArray<Part>): Buffer => {
  const buffers: Array<Buffer> = []
  let small: Array<number> = []
  const flush = () => {
    if (small.length > 0) buffers.push(Buffer.from(small))
    small = []
  }
  for (const part of parts) {
    if (typeof part === "number") small.push(part & 0xff)
    else if (typeof part === "string") {
      flush()
      buffers.push(Buffer.from(part, "latin1"))
    } else if (Buffer.isBuffer(part)) {
      flush()
      buffers.push(part)
    } else {
      for (const b of part) small.push(b & 0xff)
    }
  }
  flush()
  return Buffer.concat(buffers)
}

const u32 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(Number(BigInt.asUintN(32, BigInt(n))))
  return b
}
const i32 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(Number(BigInt.asIntN(32, BigInt(n))))
  return b
}
const u64 = (n: number | bigint): Buffer => {
  const b = Buffer.alloc(8)
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)))
  return b
}
/** `times` copies of `unit` (a Buffer, so megabytes stay off the JS heap). */
const repeat = (unit: Buffer, times: number): Buffer =>
  times <= 0 || unit.length === 0 ? Buffer.alloc(0) : Buffer.alloc(unit.length * times, unit)

/** `length` bytes of `unit` repeated, cut at a whole unit (`\ud800` as Python's surrogatepass writes it). */
const text = (unit: string, length: number): Buffer => {
  const one = unit === "\ud800" ? Buffer.from([0xed, 0xa0, 0x80]) : Buffer.from(unit, "utf8")
  return repeat(one, Math.floor(length / one.length))
}

const PROTO = (protocol: number) => [0x80, protocol]
const STOP = 0x2e
const MARK = 0x28
const POP = 0x30
const EMPTY_LIST = 0x5d
const EMPTY_DICT = 0x7d
const EMPTY_TUPLE = 0x29
const APPEND = 0x61
const APPENDS = 0x65
const SETITEM = 0x73
const SETITEMS = 0x75
const TUPLE = 0x74
const TUPLE1 = 0x85
const REDUCE = 0x52
const BUILD = 0x62
const NONE = 0x4e
const BININT1 = 0x4b
const NEWOBJ = 0x81
const NEWOBJ_EX = 0x92

const global = (module: string, name: string) => cat(0x63, `${module}\n${name}\n`)
const shortStr = (s: string) => {
  const b = Buffer.from(s, "utf8")
  return cat(0x8c, b.length, b)
}
const binunicode = (payload: Buffer) => cat(0x58, u32(payload.length), payload)

const strOp = (op: StrOp, payload: Buffer): Buffer => {
  switch (op) {
    case "BINUNICODE":
      return binunicode(payload)
    case "SHORT_BINUNICODE": {
      const cut = payload.subarray(0, 255)
      return cat(0x8c, cut.length, cut)
    }
    case "BINUNICODE8":
      return cat(0x8d, u64(payload.length), payload)
    case "BINBYTES":
      return cat(0x42, u32(payload.length), payload)
    case "BINSTRING":
      return cat(0x54, i32(payload.length), payload)
  }
}

/** The memo key a PUT of this kind stores under (MEMOIZE: the next index, 0 here). */
const memoKey = (put: PutOp, key: number): number => (put === "MEMOIZE" ? 0 : put === "BINPUT" ? key & 0xff : key)

const putOp = (put: PutOp, key: number): Buffer => {
  switch (put) {
    case "BINPUT":
      return cat(0x71, key & 0xff)
    case "LONG_BINPUT":
      return cat(0x72, u32(key))
    case "MEMOIZE":
      return cat(0x94)
    case "PUT":
      return cat(0x70, `${key}\n`)
  }
}

const getOp = (get: GetOp, key: number): Buffer => {
  if (get === "GET") return cat(0x67, `${key}\n`)
  return get === "BINGET" && key <= 0xff ? cat(0x68, key) : cat(0x6a, u32(key))
}

/** `times` references, then the ops that gather them into `holder`, around the memoized value. */
const memoBytes = (r: Extract<ColumnRecipe, { kind: "memo" }>): Buffer => {
  const key = memoKey(r.put, r.key)
  const value = cat(strOp(r.str, text(r.unit, r.length)), putOp(r.put, r.key), POP)
  const ref = getOp(r.get, key)
  const refs = repeat(ref, r.refs)
  switch (r.holder) {
    case "list":
      return cat(PROTO(4), value, EMPTY_LIST, MARK, refs, APPENDS, STOP)
    case "tuple":
      return cat(PROTO(4), value, MARK, refs, TUPLE, STOP)
    case "dict": {
      // integer keys: the dict reads as pairs, every value the same string
      const pairs: Array<Buffer> = []
      for (let i = 0; i < r.refs; i++) pairs.push(cat(0x4a, i32(i)), ref)
      return cat(PROTO(4), value, EMPTY_DICT, MARK, Buffer.concat(pairs), SETITEMS, STOP)
    }
    case "reduce":
      return cat(PROTO(4), global("os", "system"), value, MARK, refs, TUPLE, REDUCE, STOP)
    case "build": {
      const pairs: Array<Buffer> = []
      for (let i = 0; i < r.refs; i++) pairs.push(shortStr(`k${i}`), ref)
      return cat(PROTO(4), global("app", "Obj"), EMPTY_TUPLE, NEWOBJ, value, EMPTY_DICT, MARK, Buffer.concat(pairs), SETITEMS, BUILD, STOP)
    }
  }
}

/** level 0 = [leaf]; level i = [level i-1] × fanout, through the memo (and DUP). */
const laughsBytes = (r: Extract<ColumnRecipe, { kind: "laughs" }>): Buffer => {
  const long = r.long || r.levels > 255
  const put = (k: number) => (long ? cat(0x72, u32(k)) : cat(0x71, k))
  const get = (k: number) => (long ? cat(0x6a, u32(k)) : cat(0x68, k))
  const parts: Array<Buffer> = [cat(PROTO(4))]
  if (r.inReduce) parts.push(global("os", "system"))
  parts.push(cat(EMPTY_LIST, BININT1, 1, APPEND), put(0))
  for (let i = 1; i <= r.levels; i++) {
    const refs = r.dup ? cat(get(i - 1), repeat(Buffer.from([0x32]), r.fanout - 1)) : repeat(get(i - 1), r.fanout)
    parts.push(cat(POP, EMPTY_LIST, MARK), refs, cat(APPENDS), put(i))
  }
  if (r.inReduce) parts.push(cat(TUPLE1, REDUCE))
  parts.push(cat(STOP))
  return Buffer.concat(parts)
}

const deepPickleBytes = (r: Extract<ColumnRecipe, { kind: "deep-pickle" }>): Buffer => {
  const d = r.depth
  const one = (b: number) => Buffer.from([b])
  let open: Buffer
  let close: Buffer
  switch (r.shape) {
    case "list":
      open = repeat(one(EMPTY_LIST), d)
      close = repeat(one(APPEND), d - 1)
      break
    case "mark-list":
      open = repeat(one(MARK), d)
      close = repeat(one(0x6c), d)
      break
    case "tuple1":
      open = cat(EMPTY_TUPLE)
      close = repeat(one(TUPLE1), d)
      break
    case "dict":
      open = cat(repeat(cat(EMPTY_DICT, 0x8c, 1, "k"), d - 1), EMPTY_DICT)
      close = repeat(one(SETITEM), d - 1)
      break
    case "reduce":
      open = cat(global("os", "system"), 0x71, 0, POP, repeat(cat(0x68, 0), d), NONE)
      close = repeat(cat(TUPLE1, REDUCE), d)
      break
    case "frozenset":
      open = repeat(one(MARK), d)
      close = repeat(one(0x91), d)
      break
  }
  return r.closed ? cat(PROTO(4), open, close, STOP) : cat(PROTO(4), open, close.subarray(0, close.length >> 1))
}

const deepJsonText = (r: Extract<ColumnRecipe, { kind: "deep-json" }>): string => {
  const d = r.depth
  switch (r.shape) {
    case "array":
      return "[".repeat(d) + "]".repeat(d)
    case "object":
      return "{\"a\":".repeat(d) + "1" + "}".repeat(d)
    case "mixed":
      return "[{\"k\":".repeat(Math.ceil(d / 2)) + "null" + "}]".repeat(Math.ceil(d / 2))
    case "unclosed":
      return "[".repeat(d)
    case "exact":
      return "[".repeat(d) + "12345678901234567890" + "]".repeat(d)
    case "in-string":
      return `["${"[".repeat(d)}", ${"[".repeat(Math.min(d, 500))}${"]".repeat(Math.min(d, 500))}]`
  }
}

const hugeLengthBytes = (r: Extract<ColumnRecipe, { kind: "huge-length" }>): Buffer => {
  const payload = Buffer.alloc(r.present, "a")
  let op: Buffer
  switch (r.op) {
    case "BINUNICODE":
      op = cat(0x58, u32(r.declared))
      break
    case "BINBYTES":
      op = cat(0x42, u32(r.declared))
      break
    case "BINSTRING":
      op = cat(0x54, i32(r.declared))
      break
    case "LONG4":
      op = cat(0x8b, i32(r.declared))
      break
    case "BINUNICODE8":
      op = cat(0x8d, u64(r.declared))
      break
    case "BINBYTES8":
      op = cat(0x8e, u64(r.declared))
      break
    case "BYTEARRAY8":
      op = cat(0x96, u64(r.declared))
      break
    case "FRAME":
      op = cat(0x95, u64(r.declared))
      break
    case "SHORT_BINUNICODE":
      op = cat(0x8c, Number(r.declared & 0xffn))
      break
    case "SHORT_BINBYTES":
      op = cat(0x43, Number(r.declared & 0xffn))
      break
    case "SHORT_BINSTRING":
      op = cat(0x55, Number(r.declared & 0xffn))
      break
    case "LONG1":
      op = cat(0x8a, Number(r.declared & 0xffn))
      break
  }
  const body = r.nested ? cat(EMPTY_LIST, MARK, BININT1, 1, op, payload, APPENDS) : cat(op, payload)
  return r.stop ? cat(PROTO(5), body, STOP) : cat(PROTO(5), body)
}

const RUN = Buffer.from("aZ09bY18cX27dW36eV45fU54gT63hS72iR81jQ90kP")

const urlBytes = (r: Extract<ColumnRecipe, { kind: "url" }>): Buffer => {
  const run = repeat(RUN, Math.ceil(r.run / RUN.length)).subarray(0, r.run)
  const unit = Buffer.concat(r.pieces.map((p) => (p === "RUN" ? run : Buffer.from(p, "utf8"))))
  // whole units only, so multi-byte pieces stay valid UTF-8
  const value = unit.length === 0 ? unit : repeat(unit, Math.max(1, Math.floor(r.length / unit.length)))
  const str = binunicode(value)
  switch (r.holder) {
    case "reduce":
      return cat(PROTO(2), global("os", "system"), str, TUPLE1, REDUCE, STOP)
    case "reduce-list":
      return cat(PROTO(2), global("subprocess", "run"), EMPTY_LIST, MARK, str, shortStr("x://u:p@h"), APPENDS, TUPLE1, REDUCE, STOP)
    case "newobj-kwargs":
      return cat(PROTO(4), global("app", "Conn"), EMPTY_TUPLE, EMPTY_DICT, shortStr("url"), str, SETITEM, NEWOBJ_EX, STOP)
    case "build-state":
      return cat(PROTO(2), global("app", "Conn"), EMPTY_TUPLE, NEWOBJ, EMPTY_DICT, shortStr("url"), str, SETITEM, BUILD, STOP)
    case "memo-reduce":
      return cat(PROTO(4), global("os", "system"), str, 0x94, POP, MARK, repeat(cat(0x68, 0), r.refs), TUPLE, REDUCE, STOP)
  }
}

const mutate = (source: Buffer, mutations: ReadonlyArray<Mutation>): Buffer => {
  let bytes = source
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length
    switch (m.op) {
      case "flip":
        if (bytes.length > 0) {
          bytes = Buffer.from(bytes)
          bytes[at] ^= 1 << m.bit
        }
        break
      case "set":
        if (bytes.length > 0) {
          bytes = Buffer.from(bytes)
          bytes[at] = m.byte
        }
        break
      case "insert":
        bytes = cat(bytes.subarray(0, at), m.byte, bytes.subarray(at))
        break
      case "delete":
        bytes = cat(bytes.subarray(0, at), bytes.subarray(at + 1))
        break
      case "truncate":
        bytes = bytes.subarray(0, at)
        break
      case "repeat": {
        const slice = bytes.subarray(at, at + m.length)
        bytes = cat(bytes.subarray(0, at), repeat(Buffer.from(slice), m.times), bytes.subarray(at))
        break
      }
      case "length":
        bytes = cat(bytes.subarray(0, at), u32(m.value), bytes.subarray(at + 4))
        break
    }
  }
  return bytes
}

const jsonDigitsText = (r: Extract<ColumnRecipe, { kind: "json-digits" }>): Buffer => {
  const digits = repeat(Buffer.from("7"), r.digits)
  switch (r.wrap) {
    case "bare":
      return cat("1", digits)
    case "array":
      return cat("[1, ", digits, "]")
    case "object":
      return cat("{\"n\": 9", digits, "}")
    case "fraction":
      return cat("[", digits, ".5e3]")
    case "string":
      return cat("[\"", digits, "\", 12345678901234567890]")
  }
}

const largeBytes = (r: Extract<ColumnRecipe, { kind: "large" }>): Buffer => {
  const n = r.length
  switch (r.what) {
    case "binbytes":
      return cat(PROTO(3), 0x42, u32(n), Buffer.alloc(n, 7), STOP)
    case "bytearray8":
      return cat(PROTO(5), 0x96, u64(n), Buffer.alloc(n, 0xfe), STOP)
    case "control":
      return cat(PROTO(2), binunicode(Buffer.alloc(n, 1)), STOP)
    case "control-list": // what args holds
      return cat(PROTO(2), EMPTY_LIST, binunicode(Buffer.alloc(n, 1)), APPEND, STOP)
    case "control-dict": // what kwargs holds
      return cat(PROTO(2), EMPTY_DICT, shortStr("k"), binunicode(Buffer.alloc(n, 1)), SETITEM, STOP)
    case "surrogates":
      return cat(PROTO(2), binunicode(text("\ud800", n)), STOP)
    case "float-line":
      return cat(PROTO(2), 0x46, repeat(Buffer.from("7"), n), "x\n", STOP)
    case "int-line":
      return cat(PROTO(2), 0x49, repeat(Buffer.from("7"), n), "\n", STOP)
    case "long-line":
      return cat(PROTO(2), 0x4c, repeat(Buffer.from("7"), n), "L\n", STOP)
    case "long4-many": {
      const one = cat(0x8b, u32(4096), Buffer.alloc(4095, 0x31), 0x01)
      return cat(PROTO(2), EMPTY_LIST, MARK, repeat(one, Math.floor(n / one.length)), APPENDS, STOP)
    }
    case "wide-none":
      return cat(PROTO(2), EMPTY_LIST, MARK, repeat(Buffer.from([NONE]), n), APPENDS, STOP)
    case "json-string":
      return cat("\"", Buffer.alloc(n, "a"), "\"")
    case "json-escapes":
      return cat("\"", repeat(Buffer.from("\\u0001"), Math.floor(n / 6)), "\"")
    case "json-digits":
      return cat("[", repeat(Buffer.from("7"), n), "]")
  }
}

/** The stored bytes of one column. */
export const buildColumn = (r: ColumnRecipe): Uint8Array | string => {
  const bytes = columnBytes(r)
  return r.text && bytes[0] !== 0x80 && isUtf8(bytes) ? bytes.toString("utf8") : bytes
}

const columnBytes = (r: ColumnRecipe): Buffer => {
  switch (r.kind) {
    case "memo":
      return memoBytes(r)
    case "laughs":
      return laughsBytes(r)
    case "deep-pickle":
      return deepPickleBytes(r)
    case "deep-json":
      return Buffer.from(deepJsonText(r))
    case "huge-length":
      return hugeLengthBytes(r)
    case "url":
      return urlBytes(r)
    case "celery":
      return mutate(Buffer.from(CeleryCodec.pickleResult(r.status, r.value) ?? [0x80, 2, NONE, STOP]), r.mutations)
    case "json":
      return mutate(Buffer.from(r.indent === 0 ? Json.stringify(r.value) : JSON.stringify(r.value, bigints, r.indent)), r.mutations)
    case "json-digits":
      return jsonDigitsText(r)
    case "json-wide":
      return cat("[", repeat(Buffer.from(`${r.item},`), r.width), r.item, "]")
    case "json-odd": {
      const body = Buffer.from(r.source, "utf8")
      const withJunk = r.junk < 0 ? body : cat(body.subarray(0, body.length >> 1), r.junk, body.subarray(body.length >> 1))
      return r.bom ? cat([0xef, 0xbb, 0xbf], withJunk) : withJunk
    }
    case "bytes":
      return r.pickle ? cat(PROTO(r.bytes[0] ?? 2), Buffer.from(r.bytes)) : Buffer.from(r.bytes)
    case "soup":
      return cat(PROTO(r.protocol), r.ops, STOP)
    case "large":
      return largeBytes(r)
  }
}

const bigints = (_key: string, value: unknown) => (typeof value === "bigint" ? Number(value) : value)

/** The recipe's kind, with its main size. */
export const describeColumn = (r: ColumnRecipe | null): string => {
  if (r === null) return "null"
  switch (r.kind) {
    case "memo":
      return `memo(${r.str}/${r.put}/${r.get} ${r.length} B x${r.refs} in ${r.holder})`
    case "laughs":
      return `laughs(${r.levels}x${r.fanout})`
    case "deep-pickle":
      return `deep-pickle(${r.shape} ${r.depth}${r.closed ? "" : " cut"})`
    case "deep-json":
      return `deep-json(${r.shape} ${r.depth})`
    case "huge-length":
      return `huge-length(${r.op} ${r.declared})`
    case "url":
      return `url(${r.holder} ${r.length} B)`
    case "celery":
      return `celery(${r.status} +${r.mutations.length} mutations)`
    case "json":
      return `json(+${r.mutations.length} mutations)`
    case "json-digits":
      return `json-digits(${r.wrap} ${r.digits})`
    case "json-wide":
      return `json-wide(${r.item} x${r.width})`
    case "json-odd":
      return `json-odd(${JSON.stringify(r.source)})`
    case "bytes":
      return `bytes(${r.bytes.length})`
    case "soup":
      return `soup(${r.ops.length})`
    case "large":
      return `large(${r.what} ${r.length} B)`
  }
}

/** Bytes (and TEXT) of a row's recipe. */
export const buildRow = (r: RowRecipe): HostileRow => ({
  kind: `${describeColumn(r.result)} ${describeColumn(r.args)} ${describeColumn(r.kwargs)}`.slice(0, 150),
  status: r.status,
  result: r.result === null ? null : buildColumn(r.result),
  args: r.args === null ? null : buildColumn(r.args),
  kwargs: r.kwargs === null ? null : buildColumn(r.kwargs),
  dateDone: r.dateDone
})

// ---------------------------------------------------------------------------
// the worst of each kind
// ---------------------------------------------------------------------------

const only = (result: ColumnRecipe, rest?: Partial<RowRecipe>): RowRecipe => ({
  status: "SUCCESS",
  result,
  args: null,
  kwargs: null,
  dateDone: "2024-01-02 03:04:05.000000",
  ...rest
})

/**
 * One row per kind at the top of `scale` (and the shapes that found bugs):
 * what a fixed-seed sample may or may not reach.
 */
export const extremeRows = (scale: Scale): ReadonlyArray<RowRecipe> => {
  const n = scale.maxLength
  const memoOf = (unit: string, length: number, holder: Holder): Extract<ColumnRecipe, { kind: "memo" }> => ({
    kind: "memo",
    str: "BINUNICODE",
    unit,
    length,
    put: "BINPUT",
    get: "BINGET",
    key: 0,
    refs: scale.maxRefs,
    holder,
    text: false
  })
  const big = (what: Large, length = n): ColumnRecipe => ({ kind: "large", what, length, text: false })
  const control = big("control")
  const controlArgs = big("control-list")
  const controlKwargs = big("control-dict")
  return [
    only(memoOf("a", 1 << 20, "list")),
    only(memoOf("ab://u:p@", 1 << 20, "reduce")),
    only({ ...memoOf("é", 1 << 16, "build"), put: "MEMOIZE", get: "LONG_BINGET" }),
    only({ kind: "laughs", levels: 30, fanout: 10, long: false, dup: true, inReduce: false, text: false }),
    only({ kind: "laughs", levels: 1500, fanout: 2, long: true, dup: false, inReduce: true, text: false }),
    only({ kind: "deep-pickle", shape: "list", depth: scale.maxDepth, closed: true, text: false }),
    only({ kind: "deep-pickle", shape: "reduce", depth: scale.maxDepth, closed: true, text: false }),
    only({ kind: "deep-pickle", shape: "dict", depth: scale.maxDepth, closed: false, text: false }),
    only({ kind: "deep-json", shape: "array", depth: scale.maxDepth, text: false }, {
      kwargs: { kind: "deep-json", shape: "object", depth: scale.maxDepth, text: true }
    }),
    only({ kind: "deep-json", shape: "exact", depth: scale.maxDepth, text: false }),
    only({ kind: "huge-length", op: "BINUNICODE8", declared: 2n ** 64n - 1n, present: 3, nested: false, stop: true, text: false }),
    only({ kind: "huge-length", op: "BINBYTES8", declared: 2n ** 53n, present: 8, nested: true, stop: true, text: false }),
    only({ kind: "huge-length", op: "LONG4", declared: 2n ** 31n - 1n, present: 0, nested: false, stop: false, text: false }),
    only({ kind: "url", pieces: ["ab", "://", "u", ":", "p", "@"], run: 0, length: n, holder: "reduce", refs: 0, text: false }),
    only({ kind: "url", pieces: ["a", "://", "RUN"], run: 1 << 20, length: n, holder: "reduce-list", refs: 0, text: false }),
    only({ kind: "url", pieces: ["RUN", "://", "u", ":", "RUN"], run: 1 << 20, length: n, holder: "newobj-kwargs", refs: 0, text: false }),
    only({ kind: "url", pieces: ["db+postgresql://app:s3cret@db/x "], run: 0, length: 1 << 20, holder: "memo-reduce", refs: scale.maxRefs, text: false }),
    only(big("binbytes", Math.floor(n * 0.7))),
    only(big("bytearray8", Math.floor(n * 0.7))),
    // three pickled columns of control characters: each prints six times its length
    only(control, { args: controlArgs, kwargs: controlKwargs }),
    only(big("surrogates")),
    only(big("float-line", Math.min(n, 1 << 20))),
    only(big("int-line")),
    only(big("long-line")),
    only(big("long4-many")),
    only(big("wide-none", Math.min(n, scale.maxWidth))),
    only(big("json-string"), { args: { kind: "json-wide", item: "{}", width: scale.maxWidth, text: false } }),
    only(big("json-escapes")),
    only(big("json-digits")),
    only({ kind: "json-digits", digits: n, wrap: "object", text: true }),
    only({ kind: "json-wide", item: "{}", width: Math.floor(n / 3), text: false }),
    only({ kind: "json-wide", item: "12345678901234567", width: scale.maxWidth, text: false })
  ]
}

/**
 * The rows whose memory a regression would blow up, at the top of `scale`:
 * URL passwords in a call (a rope of one piece per match), bytes (base64 one
 * character at a time), a million and more empty objects in JSON text (the
 * count budget), three columns of control characters (each prints six times
 * its length), and a large string shared through the memo in a call.
 */
export const memoryRows = (scale: Scale): ReadonlyArray<RowRecipe> => {
  const n = scale.maxLength
  const control = (what: "control" | "control-list" | "control-dict"): ColumnRecipe => ({ kind: "large", what, length: n, text: false })
  return [
    only({ kind: "url", pieces: ["ab", "://", "u", ":", "p", "@"], run: 0, length: n, holder: "reduce", refs: 0, text: false }),
    only({ kind: "large", what: "binbytes", length: Math.floor(n * 0.7), text: false }),
    only({ kind: "json-wide", item: "{}", width: Math.floor(n / 3), text: false }),
    only(control("control"), { args: control("control-list"), kwargs: control("control-dict") }),
    only({
      kind: "memo",
      str: "BINUNICODE",
      unit: "ab://u:p@",
      length: 1 << 20,
      put: "BINPUT",
      get: "BINGET",
      key: 0,
      refs: scale.maxRefs,
      holder: "reduce",
      text: false
    }),
  ]
}

// ---------------------------------------------------------------------------
// checking what reads back
// ---------------------------------------------------------------------------

/** What a stored column is, for the check: its size in bytes and whether it is a pickle. */
export interface StoredColumn {
  readonly size: number
  readonly pickle: boolean
}

export const storedColumn = (value: Uint8Array | string | null): StoredColumn | null =>
  value === null
    ? null
    : typeof value === "string"
    ? { size: Buffer.byteLength(value, "utf8"), pickle: false }
    : { size: value.length, pickle: value[0] === 0x80 }

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** Why `value` is not a JSON value as `ResultCodec.decode` gives them, or undefined. Iterative. */
export const notJson = (value: unknown): string | undefined => {
  const stack: Array<unknown> = [value]
  const seen = new Set<object>()
  while (stack.length > 0) {
    const v = stack.pop()
    switch (typeof v) {
      case "string":
      case "boolean":
      case "bigint":
        continue
      case "number":
        if (Number.isNaN(v)) return "NaN"
        continue
      case "object": {
        if (v === null) continue
        if (seen.has(v)) continue // shared (memo) subtrees are fine; cycles would be caught by printing
        seen.add(v)
        if (Array.isArray(v)) {
          for (let i = 0; i < v.length; i++) stack.push(v[i])
        } else if (isPlainObject(v)) {
          for (const key of Object.keys(v)) stack.push((v as Record<string, unknown>)[key])
        } else {
          return `an instance of ${v.constructor?.name}`
        }
        continue
      }
      default:
        return typeof v
    }
  }
  return undefined
}

const LIMITS = new Set(["size", "depth", "count"])

const isDescription = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value) &&
  (value as Record<string, unknown>).__pickle__ === "undecodable"

/** Why `value` is not the undecodable description of `column` as stored, or undefined. */
const badDescription = (column: string, value: Record<string, unknown>, stored: StoredColumn): string | undefined => {
  const keys = Object.keys(value).sort().join(",")
  const expected = value.limit === undefined ? "__pickle__,column,format,reason,size" : "__pickle__,column,format,limit,reason,size"
  if (keys !== expected) return `${column}: description keys ${keys}`
  if (value.column !== column) return `${column}: description names ${String(value.column)}`
  if (value.format !== (stored.pickle ? "pickle" : "json")) return `${column}: format ${String(value.format)}`
  if (value.size !== stored.size) return `${column}: size ${String(value.size)}, stored ${stored.size}`
  if (typeof value.reason !== "string" || value.reason.length === 0 || value.reason.length > 200) {
    return `${column}: reason ${typeof value.reason} of ${String(value.reason).length} characters`
  }
  if (value.limit !== undefined && !LIMITS.has(String(value.limit))) return `${column}: limit ${String(value.limit)}`
  return undefined
}

/** How a record read back came out, column by column. */
export interface Checked {
  readonly problems: ReadonlyArray<string>
  /** `limit` of each undecodable column (or `invalid` when none). */
  readonly undecodable: ReadonlyArray<string>
}

/**
 * Checks a record read back for a row stored with these columns: every column
 * a JSON value (`null` when stored NULL), or the undecodable description of
 * that column with the stored size (args: an array holding it); args an
 * array, kwargs an object. With `print`, also prints the record as one JSON
 * line (`Json.stringify`) and each column, and reports what throws.
 */
export const checkRecord = (
  record: TaskRecord.TaskRecord,
  expected: {
    readonly taskId: string
    readonly status: string | null
    readonly result: StoredColumn | null
    readonly args: StoredColumn | null
    readonly kwargs: StoredColumn | null
  },
  print: boolean
): Checked => {
  const problems: Array<string> = []
  const undecodable: Array<string> = []
  if (record.taskId !== expected.taskId) problems.push(`taskId ${record.taskId}`)
  if (record.status !== (expected.status ?? "PENDING")) problems.push(`status ${JSON.stringify(record.status)}`)
  const column = (name: "result" | "args" | "kwargs", value: unknown) => {
    const stored = expected[name]
    if (stored === null) {
      if (value !== null) problems.push(`${name}: stored NULL, read ${typeof value}`)
      return
    }
    const inner = name === "args" && Array.isArray(value) && value.length === 1 && isDescription(value[0])
      ? value[0]
      : value
    if (isDescription(inner)) {
      const bad = badDescription(name, inner, stored)
      if (bad !== undefined) problems.push(bad)
      undecodable.push(`${name}:${String(inner.limit ?? "invalid")}`)
      return
    }
    const why = notJson(value)
    if (why !== undefined) problems.push(`${name}: not JSON (${why})`)
    if (name === "args" && value !== null && !Array.isArray(value)) problems.push("args: not an array")
    if (name === "kwargs" && value !== null && (typeof value !== "object" || Array.isArray(value))) {
      problems.push("kwargs: not an object")
    }
  }
  column("result", record.result)
  column("args", record.args)
  column("kwargs", record.kwargs)
  if (print) {
    const attempt = (label: string, f: () => string) => {
      try {
        if (typeof f() !== "string") problems.push(`${label}: printed nothing`)
      } catch (e) {
        problems.push(`${label}: printing threw ${String(e).slice(0, 120)}`)
      }
    }
    attempt("result", () => Json.stringify(record.result))
    attempt("args", () => Json.stringify(record.args))
    attempt("kwargs", () => Json.stringify(record.kwargs))
    attempt("record", () => printRecord(record))
  }
  return { problems, undecodable }
}

// ---------------------------------------------------------------------------
// writing and reading a file of them
// ---------------------------------------------------------------------------

/**
 * Inserts rows behind the backend's back (its tables must exist), building
 * each from its recipe only when it is inserted, so one row at a time is in
 * memory. The row's kinds go in the `name` column. Returns the ids, `prefix`
 * followed by the row's index.
 */
export const insertRows = (file: string, recipes: Iterable<RowRecipe>, prefix: string): Array<string> => {
  const db = new Sqlite(file)
  // a scratch file: no fsync per row (hundreds of megabytes go in)
  db.pragma("synchronous = OFF")
  try {
    const stored: Array<StoredRow> = []
    for (const recipe of recipes) {
      const id = `${prefix}${stored.length}`
      const row = buildRow(recipe)
      insertRow(db, id, row)
      stored.push({
        taskId: id,
        kind: row.kind,
        status: row.status,
        result: storedColumn(row.result),
        args: storedColumn(row.args),
        kwargs: storedColumn(row.kwargs)
      })
    }
    fs.writeFileSync(storedRowsFile(file), JSON.stringify(stored))
    return stored.map((r) => r.taskId)
  } finally {
    db.close()
  }
}

/** What `insertRows` stored, for the checks (read back without loading the values). */
export interface StoredRow {
  readonly taskId: string
  readonly kind: string
  readonly status: string | null
  readonly result: StoredColumn | null
  readonly args: StoredColumn | null
  readonly kwargs: StoredColumn | null
}

/** Where `insertRows` lists the rows it stored: next to the SQLite file. */
export const storedRowsFile = (file: string): string => `${file}.rows.json`

/** Inserts one built row with better-sqlite3 (BLOB, TEXT or NULL columns as built). */
export const insertRow = (db: Sqlite.Database, id: string, row: HostileRow): void => {
  db.prepare(
    "INSERT INTO celery_taskmeta (task_id, status, result, date_done, name, args, kwargs) VALUES (?, ?, ?, ?, ?, ?, ?)"
  ).run(id, row.status, row.result, row.dateDone, row.kind, row.args, row.kwargs)
}

/** What `scripts/readHostileRows.ts` prints. */
export interface Report {
  readonly rows: number
  readonly maxMs: number
  readonly p99Ms: number
  readonly baselineRssMb: number
  readonly peakRssMb: number
  readonly rssGrowthMb: number
  readonly undecodableColumns: number
  readonly slowest: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly ms: number }>
  /** Rows read in more than a second. */
  readonly overMs: number
  /** The rows that raised the peak RSS most, with the peak they reached above the baseline. */
  readonly largest: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly mb: number }>
  readonly problems: ReadonlyArray<{ readonly id: string; readonly kind: string; readonly problems: ReadonlyArray<string> }>
}

export interface ReaderOutcome {
  readonly code: number | null
  readonly signal: string | null
  /** Undefined when the process died before printing it (out of memory). */
  readonly report: Report | undefined
  readonly stderr: string
}

const READER = fileURLToPath(new URL("./scripts/readHostileRows.ts", import.meta.url))
const PACKAGE_DIR = fileURLToPath(new URL("..", import.meta.url))

/**
 * Runs `scripts/readHostileRows.ts` on `file` in a fresh node process started
 * with `nodeOptions` (and tsx's loader, in that same process, so options
 * such as `--max-old-space-size` apply to the reads). The packages resolve
 * as `nodeOptions` say: `--conditions=source` reads their sources, without
 * it their built `dist/`.
 */
export const readInChild = (
  file: string,
  nodeOptions: ReadonlyArray<string> = [],
  options: { readonly onePass?: boolean } = {}
): Effect.Effect<ReaderOutcome> =>
  Effect.async<ReaderOutcome>((resume) => {
    const args = [...nodeOptions, "--import", "tsx", READER, file, ...(options.onePass === true ? ["--one-pass"] : [])]
    const child = spawn(process.execPath, args, {
      cwd: PACKAGE_DIR,
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)))
    child.on("close", (code, signal) => {
      const line = stdout.split("\n").find((l) => l.startsWith("HOSTILE_REPORT "))
      const report = line === undefined ? undefined : (JSON.parse(line.slice("HOSTILE_REPORT ".length)) as Report)
      resume(Effect.succeed({ code, signal, report, stderr }))
    })
    return Effect.sync(() => {
      if (child.exitCode === null) child.kill()
    })
  })

/** The record as one JSON line (what `taskmeta get --json` prints, less the schema). */
export const printRecord = (record: TaskRecord.TaskRecord): string =>
  Json.stringify({
    task_id: record.taskId,
    status: record.status,
    result: record.result,
    traceback: record.traceback,
    date_done: record.dateDone === null ? null : DateTime.formatIso(record.dateDone),
    name: record.name,
    args: record.args,
    kwargs: record.kwargs,
    worker: record.worker,
    retries: record.retries,
    queue: record.queue
  })
