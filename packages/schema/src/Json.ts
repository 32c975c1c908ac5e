/**
 * JSON values as taskmeta stores them.
 *
 * Integers outside ±(2^53 − 1) are carried as `bigint`, so a value that went
 * through a store and a read keeps every digit. `parse` and `stringify` are
 * the codec for that representation; `normalize` checks that an arbitrary
 * value can be stored and returns a detached copy.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export type Json =
  | null
  | boolean
  | number
  | bigint
  | string
  | ReadonlyArray<Json>
  | { readonly [key: string]: Json }

/**
 * @since 0.1.0
 * @category models
 */
export type JsonObject = { readonly [key: string]: Json }

/**
 * Why a value cannot be stored as JSON. `path` points at the offending part
 * (`$.a[2].b`).
 *
 * @since 0.1.0
 * @category errors
 */
export class JsonError extends Schema.TaggedError<JsonError>("@taskmeta/schema/JsonError")("JsonError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.reason} at ${this.path}`
  }
}

/**
 * The deepest nesting `parse` and `normalize` accept: every reader after them
 * (printing included) may recurse this deep.
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_DEPTH = 512

/**
 * Whether a parsed value (arrays and objects) nests deeper than `max`
 * (default `MAX_DEPTH`). Iterative, so it answers for any depth; a value seen
 * twice is walked once.
 *
 * @since 0.1.0
 * @category limits
 */
export const deeperThan = (value: unknown, max: number = MAX_DEPTH): boolean => {
  const seen = new Set<object>()
  const stack: Array<readonly [object, number]> = []
  const visit = (v: unknown, depth: number): boolean => {
    if (typeof v !== "object" || v === null || seen.has(v)) return false
    if (depth > max) return true
    seen.add(v)
    stack.push([v, depth])
    return false
  }
  if (visit(value, 1)) return true
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!
    const children: ReadonlyArray<unknown> = Array.isArray(node) ? node : Object.values(node)
    for (const child of children) if (visit(child, depth + 1)) return true
  }
  return false
}

const describe = (value: unknown): string => {
  if (value === undefined) return "undefined"
  if (typeof value === "function") return "a function"
  if (typeof value === "symbol") return "a symbol"
  if (typeof value === "number") return String(value)
  if (typeof value === "object" && value !== null) {
    const name = (value as object).constructor?.name
    return name ? `an instance of ${name}` : "an object without prototype"
  }
  return typeof value
}

const isPlainObject = (value: object): boolean => {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/**
 * Checks that `value` is a JSON value (bigints allowed) and returns a deep,
 * detached copy. Object properties whose value is `undefined` are dropped, as
 * `JSON.stringify` does; everything else that JSON cannot carry (functions,
 * symbols, `undefined` at the top or in arrays, NaN, ±Infinity, class
 * instances such as `Date` or `Map`, cycles, nesting deeper than 512) fails.
 *
 * @since 0.1.0
 * @category validation
 */
export const normalize = (value: unknown): Either.Either<Json, JsonError> => {
  // Runs on every store: module-level recursion, no closures per call.
  const state: NormalizeState = { ancestors: [], path: [], failure: undefined }
  const result = normalizeValue(state, value, 0)
  if (result === undefined) {
    return Either.left(state.failure ?? new JsonError({ path: "$", reason: "undefined is not a JSON value" }))
  }
  return Either.right(result)
}

interface NormalizeState {
  /** The arrays and objects being walked, outermost first (a circular reference is one of them). */
  readonly ancestors: Array<object>
  /** The keys and indices down to the value being checked; rendered only on failure. */
  readonly path: Array<string | number>
  failure: JsonError | undefined
}

const renderPath = (path: ReadonlyArray<string | number>): string => {
  let out = "$"
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${key}`
  return out
}

const normalizeFail = (state: NormalizeState, reason: string): undefined => {
  state.failure = new JsonError({ path: renderPath(state.path), reason })
  return undefined
}

const normalizeValue = (state: NormalizeState, v: unknown, depth: number): Json | undefined => {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "bigint":
      return v
    case "number":
      return Number.isFinite(v) ? (Object.is(v, -0) ? 0 : v) : normalizeFail(state, `${describe(v)} is not a JSON number`)
    case "object": {
      if (v === null) return null
      if (depth >= MAX_DEPTH) return normalizeFail(state, `nesting deeper than ${MAX_DEPTH}`)
      if (state.ancestors.includes(v)) return normalizeFail(state, "circular reference")
      if (Array.isArray(v)) {
        state.ancestors.push(v)
        const out: Array<Json> = new Array(v.length)
        for (let i = 0; i < v.length; i++) {
          state.path.push(i)
          const item = normalizeValue(state, v[i], depth + 1)
          if (item === undefined) {
            return state.failure ? undefined : normalizeFail(state, "undefined is not a JSON value")
          }
          state.path.pop()
          out[i] = item
        }
        state.ancestors.pop()
        return out
      }
      if (!isPlainObject(v)) return normalizeFail(state, `${describe(v)} is not a JSON value`)
      state.ancestors.push(v)
      const out: Record<string, Json> = {}
      for (const key of Object.keys(v)) {
        const raw = (v as Record<string, unknown>)[key]
        if (raw === undefined) continue
        state.path.push(key)
        const item = normalizeValue(state, raw, depth + 1)
        if (item === undefined) return undefined
        state.path.pop()
        setOwn(out, key, item)
      }
      state.ancestors.pop()
      return out
    }
    default:
      return normalizeFail(state, `${describe(v)} is not a JSON value`)
  }
}

// ---------------------------------------------------------------------------
// stringify
// ---------------------------------------------------------------------------

// An integral double beyond the safe range would read back as a bigint;
// written in exponent form it reads back as the same double.
const isUnsafeIntegralNumber = (n: number): boolean => Number.isInteger(n) && !Number.isSafeInteger(n)

const needsExactWriter = (value: Json, depth: number): boolean => {
  if (typeof value === "bigint") return true
  if (typeof value === "number") return isUnsafeIntegralNumber(value)
  if (value === null || typeof value !== "object" || depth > MAX_DEPTH) return false
  if (Array.isArray(value)) {
    for (const item of value as ReadonlyArray<Json>) if (needsExactWriter(item, depth + 1)) return true
    return false
  }
  for (const key in value) if (needsExactWriter((value as JsonObject)[key], depth + 1)) return true
  return false
}

/** Sets a property, including one named `__proto__`, as an own data property. */
const setOwn = (target: Record<string, Json>, key: string, value: Json): void => {
  if (key === "__proto__") {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    target[key] = value
  }
}

const stringifySlow = (value: Json): string => {
  if (value === null) return "null"
  switch (typeof value) {
    case "bigint":
      return value.toString()
    case "number":
      return isUnsafeIntegralNumber(value) ? value.toExponential() : JSON.stringify(value)
    case "object": {
      if (Array.isArray(value)) {
        return "[" + (value as ReadonlyArray<Json>).map(stringifySlow).join(",") + "]"
      }
      const parts: Array<string> = []
      for (const key of Object.keys(value)) {
        parts.push(JSON.stringify(key) + ":" + stringifySlow((value as JsonObject)[key]))
      }
      return "{" + parts.join(",") + "}"
    }
    default:
      return JSON.stringify(value)
  }
}

/**
 * Compact JSON text for a `Json` value; bigints are written with every digit,
 * and integral numbers beyond the safe range in exponent form (so they read
 * back as the same number, not as a bigint).
 * The value must already be a `Json` (see `normalize`).
 *
 * @since 0.1.0
 * @category codec
 */
export const stringify = (value: Json): string =>
  needsExactWriter(value, 0) ? stringifySlow(value) : JSON.stringify(value)

// ---------------------------------------------------------------------------
// parse
// ---------------------------------------------------------------------------

// An integer literal of 16 or more digits may lie outside the safe range.
// (Not /\d{16,}/: its backtracking overflows the stack on a few million digits.)
const LONG_INTEGER = /\d{16}/

/**
 * The most digits an integer literal may have: CPython's default limit on
 * reading ints from text (`sys.int_info.default_max_str_digits`), which its
 * `json.loads` applies too. Reading and printing a bigint takes time
 * quadratic in its digits (seconds for ten million).
 *
 * @since 0.1.0
 * @category limits
 */
export const MAX_INT_DIGITS = 4300

/**
 * @since 0.1.0
 * @category codec
 */
export interface ParseOptions {
  /**
   * Most values the text may hold (the value itself, array items and object
   * values; keys are not counted), checked before anything is parsed;
   * default unlimited.
   */
  readonly maxValues?: number | undefined
}

/**
 * Parses JSON text. Integer literals outside the safe integer range become
 * `bigint` (at most `MAX_INT_DIGITS` digits); everything else is what
 * `JSON.parse` gives. Text nested deeper than `MAX_DEPTH`, or holding more
 * than `maxValues` values, fails before anything is built.
 *
 * @since 0.1.0
 * @category codec
 */
export const parse = (text: string, options?: ParseOptions): Either.Either<Json, JsonError> => {
  // JSON.parse itself accepts any depth, but every recursive reader after
  // it (printing included) would overflow the stack.
  const over = overBudget(text, MAX_DEPTH, options?.maxValues ?? Infinity)
  if (over !== undefined) return Either.left(new JsonError({ path: "$", reason: over }))
  if (!LONG_INTEGER.test(text)) {
    try {
      return Either.right(JSON.parse(text) as Json)
    } catch (e) {
      return Either.left(new JsonError({ path: "$", reason: `invalid JSON: ${(e as Error).message}` }))
    }
  }
  return parseExact(text)
}

const isSpace = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13

/**
 * Why `text` is over a budget: a bracket opening a level deeper than
 * `maxDepth`, or the value beyond `maxValues` (counted as JSON.parse would
 * build them: the top value, one per comma, one per non-empty container),
 * outside strings; `undefined` when within. One pass, and none for text too
 * short to go over either (n characters hold at most (n + 1) / 2 values).
 */
const overBudget = (text: string, maxDepth: number, maxValues: number): string | undefined => {
  const n = text.length
  if (n <= 2 * maxDepth + 1 && n + 1 <= 2 * maxValues) return undefined
  let depth = 0
  let values = 1
  if (values > maxValues) return `more than ${maxValues} values at position 0`
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i)
    if (c === 34) { // a string: skip to its closing quote
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i)
        if (d === 92) i++
        else if (d === 34) break
      }
    } else if (c === 91 || c === 123) {
      if (++depth > maxDepth) return `invalid JSON: nesting deeper than ${maxDepth} at position ${i}`
      let j = i + 1
      while (j < n && isSpace(text.charCodeAt(j))) j++
      const next = text.charCodeAt(j)
      if (next !== 93 && next !== 125 && ++values > maxValues) return `more than ${maxValues} values at position ${i}`
    } else if (c === 93 || c === 125) {
      depth--
    } else if (c === 44) {
      if (++values > maxValues) return `more than ${maxValues} values at position ${i}`
    }
  }
  return undefined
}

const parseExact = (text: string): Either.Either<Json, JsonError> => {
  let i = 0
  const n = text.length
  const error = (reason: string) => new JsonError({ path: "$", reason: `invalid JSON: ${reason} at position ${i}` })
  const ws = () => {
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 32 || c === 9 || c === 10 || c === 13) i++
      else break
    }
  }
  const value = (depth: number): Json => {
    if (depth > MAX_DEPTH) throw error(`nesting deeper than ${MAX_DEPTH}`)
    ws()
    const c = text[i]
    if (c === "{") {
      i++
      const out: Record<string, Json> = {}
      ws()
      if (text[i] === "}") {
        i++
        return out
      }
      for (;;) {
        ws()
        if (text[i] !== "\"") throw error("expected a string key")
        const key = string()
        ws()
        if (text[i] !== ":") throw error("expected ':'")
        i++
        setOwn(out, key, value(depth + 1))
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        if (text[i] === "}") {
          i++
          return out
        }
        throw error("expected ',' or '}'")
      }
    }
    if (c === "[") {
      i++
      const out: Array<Json> = []
      ws()
      if (text[i] === "]") {
        i++
        return out
      }
      for (;;) {
        out.push(value(depth + 1))
        ws()
        if (text[i] === ",") {
          i++
          continue
        }
        if (text[i] === "]") {
          i++
          return out
        }
        throw error("expected ',' or ']'")
      }
    }
    if (c === "\"") return string()
    if (text.startsWith("true", i)) {
      i += 4
      return true
    }
    if (text.startsWith("false", i)) {
      i += 5
      return false
    }
    if (text.startsWith("null", i)) {
      i += 4
      return null
    }
    return number()
  }
  const string = (): string => {
    const start = i
    i++
    let escaped = false
    while (i < n) {
      const c = text.charCodeAt(i)
      if (c === 92) {
        escaped = true
        i += 2
        continue
      }
      if (c === 34) break
      i++
    }
    if (i >= n) throw error("unterminated string")
    i++
    const raw = text.slice(start, i)
    return escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1)
  }
  const NUMBER = /-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/y
  const number = (): Json => {
    NUMBER.lastIndex = i
    const m = NUMBER.exec(text)
    if (m === null || m[0].length === 0) throw error("unexpected character")
    const literal = m[0]
    if (m[1] === undefined && m[2] === undefined) {
      // before Number(): converting sixty million digits took a second and a half
      if (literal.length - (literal.charCodeAt(0) === 45 ? 1 : 0) > MAX_INT_DIGITS) {
        throw error(`integer of more than ${MAX_INT_DIGITS} digits`)
      }
      i += literal.length
      const asNumber = Number(literal)
      return Number.isSafeInteger(asNumber) ? asNumber : BigInt(literal)
    }
    i += literal.length
    return Number(literal)
  }
  try {
    const result = value(0)
    ws()
    if (i !== n) throw error("trailing characters")
    return Either.right(result)
  } catch (e) {
    if (e instanceof JsonError) return Either.left(e)
    return Either.left(new JsonError({ path: "$", reason: `invalid JSON: ${(e as Error).message}` }))
  }
}

/**
 * Schema for a `Json` value held in memory (bigints included).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Json: Schema.Schema<Json> = Schema.declare(
  (u: unknown): u is Json => Either.isRight(normalize(u)),
  { identifier: "Json", description: "a JSON value (bigints for integers beyond 2^53)" }
)

/**
 * Schema from JSON text to a `Json` value, keeping big integers exact.
 *
 * @since 0.1.0
 * @category schemas
 */
export const JsonFromString: Schema.Schema<Json, string> = Schema.transformOrFail(Schema.String, Json, {
  strict: true,
  decode: (text, _, ast) =>
    Either.mapLeft(parse(text), (e) => new ParseResult.Type(ast, text, e.message)),
  encode: (value) => Either.right(stringify(value))
})

