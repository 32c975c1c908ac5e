import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Json from "@taskmeta/schema/Json"

const jsonArb: fc.Arbitrary<Json.Json> = fc.letrec<{ value: Json.Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
    fc.integer(),
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).filter((b) => b > 2n ** 53n || b < -(2n ** 53n)),
    fc.string({ unit: "binary" }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string(), tie("value"), { maxKeys: 5 })
  )
})).value

describe("Json", () => {
  it("keeps integers beyond 2^53 exact through stringify and parse", () => {
    const value = { big: 2n ** 64n + 1n, neg: -(10n ** 30n), list: [9007199254740993n, 1, 2.5] }
    const text = Json.stringify(value)
    expect(text).toBe("{\"big\":18446744073709551617,\"neg\":-1000000000000000000000000000000,\"list\":[9007199254740993,1,2.5]}")
    expect(Json.parse(text)).toEqual(Either.right(value))
  })

  it("parses safe long literals as numbers and floats as floats", () => {
    expect(Json.parse("[9007199254740991, 1234567890123456.5, 1e400]")).toEqual(
      Either.right([9007199254740991, 1234567890123456.5, Infinity])
    )
    expect(Json.parse("{\"a\":\"\\u00e9\\n\",\"b\":12345678901234567890}")).toEqual(
      Either.right({ a: "é\n", b: 12345678901234567890n })
    )
  })

  it("rejects invalid JSON with a typed error on both paths", () => {
    for (const text of ["{", "[1,]", "nul", "{\"a\" 1}", "[12345678901234567890,", "\"abc"]) {
      const result = Json.parse(text)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) expect(result.left._tag).toBe("JsonError")
    }
  })

  it("round-trips arbitrary values", () => {
    fc.assert(
      fc.property(jsonArb, (value) => {
        expect(Json.parse(Json.stringify(value))).toEqual(Either.right(value))
      }),
      { numRuns: 500 }
    )
  })

  it("normalize copies values and drops undefined properties", () => {
    const input = { a: [1, { b: undefined, c: "x" }], d: undefined }
    const result = Json.normalize(input)
    expect(result).toEqual(Either.right({ a: [1, { c: "x" }] }))
    if (Either.isRight(result)) expect(result.right).not.toBe(input)
  })

  it("normalize names the path of what cannot be stored", () => {
    const cases: ReadonlyArray<[unknown, string]> = [
      [{ a: [1, Number.NaN] }, "$.a[1]"],
      [{ when: new Date(0) }, "$.when"],
      [[() => 1], "$[0]"],
      [undefined, "$"],
      [[undefined], "$[0]"],
      [{ s: Symbol("x") }, "$.s"]
    ]
    for (const [value, path] of cases) {
      const result = Json.normalize(value)
      expect(Either.isLeft(result)).toBe(true)
      if (Either.isLeft(result)) expect(result.left.path).toBe(path)
    }
    const circular: Record<string, unknown> = {}
    circular.me = circular
    const result = Json.normalize(circular)
    expect(Either.isLeft(result) && result.left.reason).toBe("circular reference")
  })

  it("normalize accepts shared (non-circular) references and deep but bounded nesting", () => {
    const shared = { x: 1 }
    expect(Either.isRight(Json.normalize([shared, shared]))).toBe(true)
    let deep: unknown = 1
    for (let i = 0; i < 600; i++) deep = [deep]
    expect(Either.isLeft(Json.normalize(deep))).toBe(true)
  })

  it("JsonFromString decodes and encodes through Schema", () => {
    const decode = Schema.decodeUnknownEither(Json.JsonFromString)
    expect(decode("[1, 99999999999999999999]")).toEqual(Either.right([1, 99999999999999999999n]))
    expect(Either.isLeft(decode("{oops"))).toBe(true)
    expect(Schema.encodeSync(Json.JsonFromString)({ n: 2n ** 60n })).toBe("{\"n\":1152921504606846976}")
  })
})

describe("Json edge cases", () => {
  it("keeps integral doubles beyond 2^53 as numbers", () => {
    for (const n of [2 ** 53, 1e20, -1e300, 2 ** 64]) {
      expect(Json.parse(Json.stringify([n]))).toEqual(Either.right([n]))
    }
  })

  it("treats a __proto__ key as an ordinary property", () => {
    const parsed = Json.parse("{\"__proto__\":{\"polluted\":1},\"n\":123456789012345678901}")
    expect(Either.isRight(parsed)).toBe(true)
    if (Either.isRight(parsed)) {
      const obj = parsed.right as Record<string, unknown>
      expect(Object.getPrototypeOf(obj)).toBe(Object.prototype)
      expect(Object.keys(obj)).toEqual(["__proto__", "n"])
      expect(({} as Record<string, unknown>).polluted).toBeUndefined()
    }
  })
})

describe("Json nesting limit (issue 14, finding 3)", () => {
  const nested = (depth: number, open = "[", close = "]") => open.repeat(depth) + close.repeat(depth)

  it("parse refuses text nested deeper than MAX_DEPTH on both paths, whatever JSON.parse accepts", () => {
    const deep = Json.parse(nested(100_000))
    expect(Either.isLeft(deep)).toBe(true)
    if (Either.isLeft(deep)) expect(deep.left.reason).toContain(`nesting deeper than ${Json.MAX_DEPTH}`)
    // the exact-integer path (a long literal) refuses it too
    const exact = Json.parse(`[${"[".repeat(100_000)}12345678901234567890${"]".repeat(100_001)}`)
    expect(Either.isLeft(exact)).toBe(true)
    // objects count as levels
    expect(Either.isLeft(Json.parse(`${`{"a":`.repeat(600)}1${"}".repeat(600)}`))).toBe(true)
  })

  it("parse accepts MAX_DEPTH levels, and brackets inside strings do not count", () => {
    expect(Either.isRight(Json.parse(nested(Json.MAX_DEPTH)))).toBe(true)
    expect(Either.isLeft(Json.parse(nested(Json.MAX_DEPTH + 1)))).toBe(true)
    const inString = JSON.stringify({ text: nested(10_000), quoted: `\\"[[[` })
    expect(Json.parse(inString)).toEqual(Either.right(JSON.parse(inString)))
  })

  it("deeperThan answers for any depth without recursion", () => {
    let deep: Array<unknown> = []
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(Json.deeperThan(deep)).toBe(true)
    expect(Json.deeperThan(JSON.parse(nested(Json.MAX_DEPTH)))).toBe(false)
    expect(Json.deeperThan(JSON.parse(nested(Json.MAX_DEPTH + 1)))).toBe(true)
    expect(Json.deeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false)
    expect(Json.deeperThan({ a: [1, { b: [] }] }, 3)).toBe(true)
    expect(Json.deeperThan("text")).toBe(false)
  })
})

describe("Json.parse on hostile text (issue 14, fuzzing the stored rows)", () => {
  // how many values a parsed value holds: itself, array items, object values (keys are not values)
  const countValues = (value: Json.Json): number => {
    if (typeof value !== "object" || value === null) return 1
    const children: ReadonlyArray<Json.Json> = Array.isArray(value) ? value : Object.values(value)
    let n = 1
    for (const child of children) n += countValues(child)
    return n
  }

  it("a run of 20 million digits is an answer, not a thrown RangeError", () => {
    // the long-literal test was /\d{16,}/, whose backtracking overflowed on a few million digits
    const digits = "7".repeat(20_000_000)
    expect(Either.isLeft(Json.parse(digits))).toBe(true)
    expect(Either.isLeft(Json.parse(`[${digits}]`))).toBe(true)
    // in a string, digits are text
    expect(Json.parse(`["${digits}"]`)).toEqual(Either.right([digits]))
  })

  it("refuses integer literals of more than MAX_INT_DIGITS digits, as Python's json.loads does", () => {
    const most = "9".repeat(Json.MAX_INT_DIGITS)
    expect(Json.parse(`[${most}, -${most}]`)).toEqual(Either.right([BigInt(most), -BigInt(most)]))
    const parsed = Json.parse(`[1, ${most}9]`)
    if (Either.isRight(parsed)) throw new Error("expected a JsonError")
    expect(parsed.left.reason).toBe(`invalid JSON: integer of more than ${Json.MAX_INT_DIGITS} digits at position 4`)
    // a fraction or an exponent makes it a double, whatever its length
    expect(Json.parse(`[${most}9.5]`)).toEqual(Either.right([Number(`${most}9.5`)]))
  })

  it("maxValues counts values (keys are not values) before anything is parsed", () => {
    fc.assert(
      fc.property(jsonArb, fc.constantFrom(undefined, 1, "\t"), (value, indent) => {
        const text = JSON.stringify(value, (_, v) => (typeof v === "bigint" ? Number(v) : v), indent)
        const n = countValues(JSON.parse(text))
        expect(Either.isRight(Json.parse(text, { maxValues: n }))).toBe(true)
        const refused = Json.parse(text, { maxValues: n - 1 })
        if (Either.isRight(refused)) throw new Error(`expected ${n - 1} values to be refused for ${text}`)
        expect(refused.left.reason).toContain(`more than ${n - 1} values`)
      }),
      { numRuns: 500 }
    )
    // brackets and commas inside strings are text
    expect(Json.parse(`["[[,{,]", {"a,[": "]"}]`, { maxValues: 4 })).toEqual(Either.right(["[[,{,]", { "a,[": "]" }]))
    // a million empty objects are refused before JSON.parse builds them
    const wide = `[${"{},".repeat(1_000_000)}{}]`
    const refused = Json.parse(wide, { maxValues: 1_000_000 })
    if (Either.isRight(refused)) throw new Error("expected a JsonError")
    expect(refused.left.reason).toBe("more than 1000000 values at position 2999997")
  })
})
