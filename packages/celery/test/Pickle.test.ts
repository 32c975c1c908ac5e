import { describe, expect, it } from "@effect/vitest"
import * as Json from "@taskmeta/schema/Json"
import * as Either from "effect/Either"
import * as fc from "fast-check"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Pickle from "../src/Pickle.js"
import type { PickleValue } from "../src/Pickle.js"

const FIXTURES = fileURLToPath(new URL("./fixtures/pickle/", import.meta.url))

const fixtureNames = fs.readdirSync(FIXTURES).filter((f) => f.endsWith(".pickle")).sort()
const fixture = (name: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(FIXTURES, name)))

const bytesOf = (...parts: Array<string | number | ReadonlyArray<number>>): Uint8Array => {
  const out: Array<number> = []
  for (const part of parts) {
    if (typeof part === "number") out.push(part)
    else if (typeof part === "string") for (let i = 0; i < part.length; i++) out.push(part.charCodeAt(i))
    else out.push(...part)
  }
  return Uint8Array.from(out)
}
const u32 = (n: number): Array<number> => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff]
const u64 = (n: bigint): Array<number> => Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))

const decodeOk = (bytes: Uint8Array, options?: Pickle.DecodeOptions): PickleValue =>
  Either.getOrThrowWith(Pickle.decode(bytes, options), (e) => new Error(e.message))
const jsonOk = (value: PickleValue, options?: Pickle.ToJsonOptions): Json.Json =>
  Either.getOrThrowWith(Pickle.toJson(value, options), (e) => new Error(e.message))
const decodeError = (bytes: Uint8Array, options?: Pickle.DecodeOptions): Pickle.PickleError => {
  const result = Pickle.decode(bytes, options)
  if (Either.isRight(result)) throw new Error("expected a PickleError")
  expect(result.left).toBeInstanceOf(Pickle.PickleError)
  expect(result.left._tag).toBe("PickleError")
  return result.left
}
const jsonError = (value: PickleValue, options?: Pickle.ToJsonOptions): Pickle.PickleError => {
  const result = Pickle.toJson(value, options)
  if (Either.isRight(result)) throw new Error("expected a PickleError")
  expect(result.left).toBeInstanceOf(Pickle.PickleError)
  return result.left
}

// ---------------------------------------------------------------------------
// Python fixtures
// ---------------------------------------------------------------------------

describe("Python fixtures", () => {
  it("has fixtures for every protocol", () => {
    expect(fixtureNames.length).toBeGreaterThanOrEqual(6 * 50)
    for (let p = 0; p <= 5; p++) expect(fixtureNames).toContain(`group_result.p${p}.pickle`)
  })

  for (const name of fixtureNames) {
    it(`toJson(decode(${name})) is what Python expects`, () => {
      const expected = Either.getOrThrow(Json.parse(fs.readFileSync(path.join(FIXTURES, name.replace(/\.pickle$/, ".json")), "utf8")))
      expect(jsonOk(decodeOk(fixture(name)))).toEqual(expected)
    })
  }

  it("isPickle recognises protocols 2 to 5, not 0, 1 or JSON", () => {
    for (let p = 0; p <= 5; p++) expect(Pickle.isPickle(fixture(`worker.p${p}.pickle`))).toBe(p >= 2)
    expect(Pickle.isPickle(new TextEncoder().encode("{\"a\":1}"))).toBe(false)
    expect(Pickle.isPickle(new TextEncoder().encode("\u0080"))).toBe(false) // UTF-8 text never starts with 0x80
    expect(Pickle.isPickle(new Uint8Array(0))).toBe(false)
  })

  it("keeps memo sharing and cycles as shared objects", () => {
    for (let p = 0; p <= 5; p++) {
      const shared = decodeOk(fixture(`shared_list.p${p}.pickle`))
      if (shared._tag !== "List") throw new Error("list expected")
      expect(shared.items[0]).toBe(shared.items[1])
      const recursive = decodeOk(fixture(`recursive_list.p${p}.pickle`))
      if (recursive._tag !== "List") throw new Error("list expected")
      expect(recursive.items[1]).toBe(recursive)
    }
  })

  it("folds Python's bytes, set and bytearray encodings into data, leaves datetime and Decimal inert", () => {
    for (let p = 0; p <= 5; p++) {
      expect(decodeOk(fixture(`bytes.p${p}.pickle`))).toEqual(Pickle.bytes(Uint8Array.from([0, 1, ...new TextEncoder().encode("binary"), 0x80, 0xff])))
      expect(decodeOk(fixture(`bytes_empty.p${p}.pickle`))).toEqual(Pickle.bytes(new Uint8Array(0)))
      expect(decodeOk(fixture(`bytearray.p${p}.pickle`))).toEqual(Pickle.bytearray(Uint8Array.from([0x61, 0x62, 0x63, 0x80])))
      expect(decodeOk(fixture(`set.p${p}.pickle`))._tag).toBe("Set")
      expect(decodeOk(fixture(`frozenset_empty.p${p}.pickle`))).toEqual(Pickle.frozenset([]))
      const dt = decodeOk(fixture(`datetime.p${p}.pickle`))
      if (dt._tag !== "Reduce") throw new Error("reduce expected")
      expect(dt.callable).toEqual(Pickle.global("datetime", "datetime"))
      expect(dt.args).toEqual(Pickle.tuple([Pickle.bytes(Uint8Array.from([0x07, 0xe8, 1, 2, 3, 4, 5, 0x0a, 0x5b, 0xf5]))]))
      const decimal = decodeOk(fixture(`decimal.p${p}.pickle`))
      expect(decimal).toEqual(Pickle.reduce(Pickle.global("decimal", "Decimal"), Pickle.tuple([Pickle.str("1.10")])))
    }
  })

  it("reads Celery's GroupResult shape and keeps the state on shared objects", () => {
    const value = decodeOk(fixture("group_result.p5.pickle"))
    if (value._tag !== "Reduce") throw new Error("reduce expected")
    expect(value.callable).toEqual(Pickle.global("celery.app.base", "_unpickle_appattr"))
    if (value.args._tag !== "Tuple") throw new Error("tuple expected")
    expect(value.args.items[0]).toEqual(Pickle.str("GroupResult"))
    const inner = value.args.items[1]
    if (inner._tag !== "Tuple") throw new Error("tuple expected")
    expect(inner.items[0]).toEqual(Pickle.str("9e1d0c2a-0000-4000-8000-00000000000g"))
    const members = inner.items[1]
    if (members._tag !== "List") throw new Error("list expected")
    expect(members.items).toHaveLength(3)
    const backends = members.items.map((m) => {
      if (m._tag !== "Reduce" || m.args._tag !== "Tuple") throw new Error("reduce expected")
      const args = m.args.items[1]
      if (args._tag !== "Tuple") throw new Error("tuple expected")
      return args.items[1]
    })
    // One backend object, pickled once and fetched from the memo twice; BUILD gave it its state.
    expect(backends[1]).toBe(backends[0])
    expect(backends[2]).toBe(backends[0])
    if (backends[0]._tag !== "NewObj") throw new Error("newobj expected")
    expect(backends[0].cls).toEqual(Pickle.global("celery.backends.database", "DatabaseBackend"))
    expect(backends[0].state?._tag).toBe("Dict")
  })

  it("redacts URL passwords inside objects by default, never in plain data", () => {
    for (let p = 0; p <= 5; p++) {
      const value = decodeOk(fixture(`group_result.p${p}.pickle`))
      const shown = Json.stringify(jsonOk(value))
      expect(shown).not.toContain("SECRET")
      expect(shown.split("db+postgresql://user:***@host/db")).toHaveLength(4)
      expect(Json.stringify(jsonOk(value, { redactUrlPasswords: false }))).toContain("user:SECRET@host")
    }
    const data = Pickle.fromJson({ url: "redis://:pw@host:6379/0", nested: ["amqp://u:p@h//"] })
    expect(jsonOk(data)).toEqual({ url: "redis://:pw@host:6379/0", nested: ["amqp://u:p@h//"] })
    const obj = Pickle.reduce(Pickle.global("m", "f"), Pickle.tuple([data]))
    expect(jsonOk(obj)).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "m", name: "f" },
      args: [{ url: "redis://:***@host:6379/0", nested: ["amqp://u:***@h//"] }]
    })
  })

  it("reports an error, never throws, for truncations of every fixture", () => {
    // Every prefix of fixtures up to 1 KB; 300 evenly spread prefixes of the few larger ones.
    let prefixes = 0
    for (const name of fixtureNames) {
      const bytes = fixture(name)
      const step = bytes.length <= 1024 ? 1 : Math.ceil(bytes.length / 300)
      for (let n = 0; n < bytes.length; n += step) {
        const result = Pickle.decode(bytes.subarray(0, n))
        expect(Either.isLeft(result)).toBe(true)
        prefixes++
      }
    }
    expect(prefixes).toBeGreaterThan(20_000)
  })
})

// ---------------------------------------------------------------------------
// toJson / fromJson shapes
// ---------------------------------------------------------------------------

describe("toJson", () => {
  it("maps data to JSON and everything else to inert descriptions", () => {
    const g = Pickle.global("mod", "Cls")
    expect(jsonOk(Pickle.none)).toBe(null)
    expect(jsonOk(Pickle.bool(true))).toBe(true)
    expect(jsonOk(Pickle.int(2n ** 64n))).toBe(2n ** 64n)
    expect(jsonOk(Pickle.int(5n))).toBe(5)
    expect(jsonOk(Pickle.float(-0))).toBe(0)
    expect(jsonOk(Pickle.float(NaN))).toEqual({ __pickle__: "float", value: "nan" })
    expect(jsonOk(Pickle.float(-Infinity))).toEqual({ __pickle__: "float", value: "-inf" })
    expect(jsonOk(Pickle.tuple([Pickle.int(1), Pickle.set([Pickle.str("a")]), Pickle.frozenset([])]))).toEqual([1, ["a"], []])
    expect(jsonOk(Pickle.bytes(Uint8Array.from([0, 255])))).toEqual({ __pickle__: "bytes", base64: "AP8=" })
    expect(jsonOk(Pickle.bytearray(Uint8Array.from([104, 105])))).toEqual({ __pickle__: "bytearray", base64: "aGk=" })
    expect(jsonOk(Pickle.dict([[Pickle.int(1), Pickle.str("a")], [Pickle.str("b"), Pickle.none]]))).toEqual({
      __pickle__: "dict",
      items: [[1, "a"], ["b", null]]
    })
    expect(jsonOk(g)).toEqual({ __pickle__: "global", module: "mod", name: "Cls" })
    expect(jsonOk(Pickle.ext(7))).toEqual({ __pickle__: "ext", code: 7 })
    expect(
      jsonOk(
        Pickle.reduce(g, Pickle.tuple([]), {
          state: Pickle.dict([[Pickle.str("x"), Pickle.int(1)]]),
          listItems: [Pickle.int(2)],
          dictItems: [[Pickle.str("k"), Pickle.int(3)]]
        })
      )
    ).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "mod", name: "Cls" },
      args: [],
      state: { x: 1 },
      listitems: [2],
      dictitems: [["k", 3]]
    })
    expect(jsonOk(Pickle.newObj(g, Pickle.tuple([Pickle.int(1)]), { kwargs: Pickle.dict([]) }))).toEqual({
      __pickle__: "newobj",
      cls: { __pickle__: "global", module: "mod", name: "Cls" },
      args: [1],
      kwargs: {}
    })
  })

  it("keeps a __proto__ key as data and the last value of a repeated key", () => {
    const out = jsonOk(Pickle.dict([
      [Pickle.str("__proto__"), Pickle.int(1)],
      [Pickle.str("a"), Pickle.int(1)],
      [Pickle.str("a"), Pickle.int(2)]
    ])) as Record<string, Json.Json>
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype)
    expect(Object.keys(out)).toEqual(["__proto__", "a"])
    expect(out.a).toBe(2)
    expect(Json.stringify(out)).toBe("{\"__proto__\":1,\"a\":2}")
  })

  it("marks cycles instead of following them", () => {
    const list: { _tag: "List"; items: Array<PickleValue> } = { _tag: "List", items: [Pickle.int(1)] }
    list.items.push(Pickle.tuple([list]))
    expect(jsonOk(list)).toEqual([1, [{ __pickle__: "cycle" }]])
  })

  it("fromJson is the plain mapping and does not interpret __pickle__", () => {
    expect(Pickle.fromJson({ a: [null, true, 1, 1.5, 2n ** 70n, "s"], __pickle__: "bytes", base64: "AP8=" })).toEqual(
      Pickle.dict([
        [Pickle.str("a"), Pickle.list([Pickle.none, Pickle.bool(true), Pickle.int(1), Pickle.float(1.5), Pickle.int(2n ** 70n), Pickle.str("s")])],
        [Pickle.str("__pickle__"), Pickle.str("bytes")],
        [Pickle.str("base64"), Pickle.str("AP8=")]
      ])
    )
    expect(Pickle.fromJson(12345678901234567890n)).toEqual(Pickle.int(12345678901234567890n))
    // A JSON number beyond the safe range is not an exact integer (those are bigints): a float.
    expect(Pickle.fromJson(2 ** 60)).toEqual(Pickle.float(2 ** 60))
    expect(Pickle.fromJson(-0)).toEqual(Pickle.int(0))
  })

  it("round-trips JSON through fromJson, encode, decode and toJson", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (json) => {
        const value = Pickle.fromJson(json as Json.Json)
        const back = jsonOk(decodeOk(Pickle.encode(value)))
        expect(back).toEqual(Either.getOrThrow(Json.normalize(json)))
      }),
      { numRuns: 300 }
    )
  })
})

// ---------------------------------------------------------------------------
// encode ∘ decode
// ---------------------------------------------------------------------------

const text = fc
  .array(fc.oneof({ weight: 8, arbitrary: fc.fullUnicode() }, {
    weight: 1,
    arbitrary: fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))
  }), { maxLength: 12 })
  .map((chars) => chars.join(""))

const intArb = fc
  .oneof(
    fc.integer(),
    fc.integer({ min: 0, max: 70000 }),
    fc.maxSafeInteger(),
    fc.bigInt({ min: -(1n << 70n), max: 1n << 70n }),
    fc.bigInt({ min: -(1n << 2100n), max: 1n << 2100n })
  )
  .map(Pickle.int)

const leaf: fc.Arbitrary<PickleValue> = fc.oneof(
  fc.constant(Pickle.none),
  fc.boolean().map(Pickle.bool),
  intArb,
  fc.double().map(Pickle.float),
  text.map(Pickle.str),
  fc.uint8Array({ maxLength: 20 }).map((b) => Pickle.bytes(b)),
  fc.uint8Array({ maxLength: 20 }).map((b) => Pickle.bytearray(b)),
  fc.tuple(fc.string(), fc.string()).map(([m, n]) => Pickle.global(m, n)),
  fc.integer({ min: 1, max: 0x7fffffff }).map(Pickle.ext)
)

const valueArb = (withKwargs: boolean): fc.Arbitrary<PickleValue> =>
  fc.letrec<{ value: PickleValue; items: Array<PickleValue>; entries: Array<readonly [PickleValue, PickleValue]> }>((tie) => ({
    value: fc.oneof(
      { maxDepth: 4 },
      leaf,
      tie("items").map(Pickle.list),
      tie("items").map(Pickle.tuple),
      tie("entries").map(Pickle.dict),
      tie("items").map(Pickle.set),
      tie("items").map(Pickle.frozenset),
      fc
        .record({
          callable: tie("value"),
          args: tie("value"),
          state: fc.option(tie("value"), { nil: undefined }),
          listItems: fc.option(fc.array(tie("value"), { minLength: 1, maxLength: 3 }), { nil: undefined }),
          dictItems: fc.option(fc.array(fc.tuple(tie("value"), tie("value")), { minLength: 1, maxLength: 3 }), { nil: undefined })
        })
        .map(({ args, callable, ...parts }) => Pickle.reduce(callable, args, parts)),
      fc
        .record({
          cls: tie("value"),
          args: tie("value"),
          kwargs: withKwargs ? fc.option(tie("value"), { nil: undefined }) : fc.constant(undefined),
          state: fc.option(tie("value"), { nil: undefined })
        })
        .map(({ args, cls, ...parts }) => Pickle.newObj(cls, args, parts))
    ),
    items: fc.array(tie("value"), { maxLength: 4 }),
    entries: fc.array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 })
  })).value

describe("encode", () => {
  for (const protocol of [2, 3, 4, 5] as const) {
    it(`decode(encode(x, protocol ${protocol})) equals x`, () => {
      fc.assert(
        fc.property(valueArb(protocol >= 4), (value) => {
          const bytes = Pickle.encode(value, { protocol })
          expect(bytes[0]).toBe(0x80)
          expect(bytes[1]).toBe(protocol)
          expect(decodeOk(bytes)).toEqual(value)
        }),
        { numRuns: 250 }
      )
    })
  }

  it("writes protocol 2 by default, with GLOBAL naming builtins as-is", () => {
    const bytes = Pickle.encode(Pickle.set([Pickle.int(1)]))
    expect(bytes[1]).toBe(2)
    expect(new TextDecoder("latin1").decode(bytes)).toContain("cbuiltins\nset\n")
  })

  it("round-trips big batches, long strings and bytes at every protocol", () => {
    const many = Array.from({ length: 2100 }, (_, i) => Pickle.int(i * 7919 - 9000))
    const values: Array<PickleValue> = [
      Pickle.list(many),
      Pickle.tuple(many),
      Pickle.set(many),
      Pickle.frozenset(many),
      Pickle.dict(many.map((k, i) => [k, Pickle.str(`v${i}`)] as const)),
      Pickle.reduce(Pickle.global("m", "f"), Pickle.tuple([]), {
        listItems: many.slice(0, 1001),
        dictItems: many.slice(0, 1001).map((k) => [k, k] as const)
      }),
      Pickle.str("é".repeat(200)),
      Pickle.str("x".repeat(70000)),
      Pickle.bytes(new Uint8Array(300).fill(0xab)),
      Pickle.bytearray(new Uint8Array(300).fill(0x80)),
      Pickle.int(-(2n ** 9000n)),
      Pickle.int(2n ** 63n),
      Pickle.int(-(2 ** 31)),
      Pickle.int(2 ** 31),
      Pickle.ext(300),
      Pickle.ext(70000)
    ]
    for (const protocol of [2, 3, 4, 5] as const) {
      for (const value of values) expect(decodeOk(Pickle.encode(value, { protocol }))).toEqual(value)
    }
  })

  it("memoizes shared subtrees and cycles, the way Python's pickler does", () => {
    const a = Pickle.list([Pickle.int(1)])
    const shared = Pickle.list([a, a])
    const cyclic: { _tag: "List"; items: Array<PickleValue> } = { _tag: "List", items: [] }
    cyclic.items.push(cyclic)
    const inner: { _tag: "List"; items: Array<PickleValue> } = { _tag: "List", items: [] }
    const viaTuple = Pickle.tuple([inner])
    inner.items.push(viaTuple)
    const argList: { _tag: "List"; items: Array<PickleValue> } = { _tag: "List", items: [] }
    const viaArgs = Pickle.reduce(Pickle.global("m", "f"), Pickle.tuple([argList]))
    argList.items.push(viaArgs)
    const obj: { _tag: "NewObj"; cls: PickleValue; args: PickleValue; state?: PickleValue } = {
      _tag: "NewObj",
      cls: Pickle.global("m", "C"),
      args: Pickle.tuple([])
    }
    obj.state = Pickle.dict([[Pickle.str("self"), obj]])
    for (const protocol of [2, 3, 4, 5] as const) {
      const s = decodeOk(Pickle.encode(shared, { protocol }))
      if (s._tag !== "List") throw new Error("list expected")
      expect(s.items[0]).toBe(s.items[1])
      expect(s).toEqual(shared)
      const c = decodeOk(Pickle.encode(cyclic, { protocol }))
      if (c._tag !== "List") throw new Error("list expected")
      expect(c.items[0]).toBe(c)
      const t = decodeOk(Pickle.encode(viaTuple, { protocol }))
      if (t._tag !== "Tuple" || t.items[0]._tag !== "List") throw new Error("tuple of list expected")
      expect(t.items[0].items[0]).toBe(t)
      const r = decodeOk(Pickle.encode(viaArgs, { protocol }))
      expect(jsonOk(r)).toEqual({
        __pickle__: "reduce",
        callable: { __pickle__: "global", module: "m", name: "f" },
        args: [[{ __pickle__: "cycle" }]]
      })
      const o = decodeOk(Pickle.encode(obj, { protocol }))
      if (o._tag !== "NewObj" || o.state?._tag !== "Dict") throw new Error("object expected")
      expect(o.state.entries[0][1]).toBe(o)
    }
    // Without sharing there is no memo at all.
    expect(Array.from(Pickle.encode(Pickle.list([Pickle.list([])])))).toEqual([0x80, 2, 0x5d, 0x5d, 0x61, 0x2e])
  })

  it("fails with a PickleError for what pickle cannot express", () => {
    const selfSet: { _tag: "Set"; items: Array<PickleValue> } = { _tag: "Set", items: [] }
    selfSet.items.push(selfSet)
    const cases: Array<[PickleValue, Pickle.EncodeOptions]> = [
      [selfSet, { protocol: 2 }],
      [Pickle.global("a\nb", "c"), { protocol: 3 }],
      [Pickle.ext(0), {}],
      [Pickle.int(1.5), {}]
    ]
    for (const [value, options] of cases) {
      const result = Pickle.encodeEither(value, options)
      expect(Either.isLeft(result) && result.left._tag === "PickleError").toBe(true)
      expect(() => Pickle.encode(value, options)).toThrow(Pickle.PickleError)
    }
    // From protocol 4 a set is memoized before its items, so Python could write it.
    expect(Either.isRight(Pickle.encodeEither(selfSet, { protocol: 4 }))).toBe(true)
    expect(Either.isRight(Pickle.encodeEither(Pickle.global("a\nb", "c"), { protocol: 4 }))).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// Python reads what encode writes
// ---------------------------------------------------------------------------

const PYTHON = ["/root/.pyenv/shims/python3", "/usr/bin/python3"].find((p) => fs.existsSync(p))

const PY_READER = `
import json, math, pickle, sys, types
def norm(v):
    t = type(v)
    if v is None or t is bool or t is str: return v
    if t is int: return {"int": str(v)}
    if t is float:
        if v != v: return {"float": "nan"}
        if math.isinf(v): return {"float": "inf" if v > 0 else "-inf"}
        return {"float": v}
    if t is bytes: return {"bytes": v.hex()}
    if t is bytearray: return {"bytearray": v.hex()}
    if t is list: return {"list": [norm(x) for x in v]}
    if t is tuple: return {"tuple": [norm(x) for x in v]}
    if t is dict: return {"dict": [[norm(k), norm(x)] for k, x in v.items()]}
    if t in (set, frozenset): return {t.__name__: sorted(json.dumps(norm(x), separators=(",", ":")) for x in v)}
    if t is complex: return {"complex": [v.real, v.imag]}
    if t is types.SimpleNamespace: return {"ns": norm(vars(v))}
    if callable(v): return {"global": [v.__module__, v.__qualname__]}
    raise TypeError(repr(t))
for line in sys.stdin:
    line = line.strip()
    if line:
        print(json.dumps(norm(pickle.loads(bytes.fromhex(line))), allow_nan=False))
`

const hex = (bytes: Uint8Array): string => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/** The JS side of PY_READER's normal form, computed from the tree. */
const norm = (value: PickleValue): unknown => {
  switch (value._tag) {
    case "None":
      return null
    case "Bool":
      return value.value
    case "Str":
      return value.value
    case "Int":
      return { int: String(value.value) }
    case "Float":
      return Number.isNaN(value.value)
        ? { float: "nan" }
        : Number.isFinite(value.value)
        ? { float: value.value }
        : { float: value.value > 0 ? "inf" : "-inf" }
    case "Bytes":
      return { bytes: hex(value.value) }
    case "ByteArray":
      return { bytearray: hex(value.value) }
    case "List":
      return { list: value.items.map(norm) }
    case "Tuple":
      return { tuple: value.items.map(norm) }
    case "Dict":
      return { dict: value.entries.map(([k, v]) => [norm(k), norm(v)]) }
    case "Set":
    case "FrozenSet":
      return { [value._tag.toLowerCase()]: value.items.map((x) => JSON.stringify(norm(x))).sort() }
    case "Global":
      return { global: [value.module, value.name] }
    case "Reduce":
      if (value.callable._tag === "Global" && value.callable.name === "complex" && value.args._tag === "Tuple") {
        return { complex: value.args.items.map((x) => (x as PickleValue.Float).value) }
      }
      throw new Error("no normal form")
    case "NewObj":
      return { ns: norm(value.state ?? Pickle.dict([])) }
    case "Ext":
      throw new Error("no normal form")
  }
}

// Data Python can hash where it must (set items, dict keys), with distinct keys.
const hashable = fc.oneof(
  fc.integer().map(Pickle.int),
  fc.bigInt({ min: -(1n << 80n), max: 1n << 80n }).map(Pickle.int),
  fc.stringMatching(/^[a-z0-9]{0,6}$/).map(Pickle.str),
  fc.uint8Array({ maxLength: 6 }).map((b) => Pickle.bytes(b))
)
const hashKey = (v: PickleValue): string => JSON.stringify(norm(v))
const dataArb: fc.Arbitrary<PickleValue> = fc.letrec<{ value: PickleValue }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3 },
    fc.constant(Pickle.none),
    fc.boolean().map(Pickle.bool),
    intArb,
    fc.double().map(Pickle.float),
    text.map(Pickle.str),
    fc.uint8Array({ maxLength: 12 }).map((b) => Pickle.bytes(b)),
    fc.uint8Array({ maxLength: 12 }).map((b) => Pickle.bytearray(b)),
    fc.array(tie("value"), { maxLength: 4 }).map(Pickle.list),
    fc.array(tie("value"), { maxLength: 4 }).map(Pickle.tuple),
    fc.uniqueArray(fc.tuple(hashable, tie("value")), { maxLength: 4, selector: ([k]) => hashKey(k) }).map(Pickle.dict),
    fc.uniqueArray(hashable, { maxLength: 4, selector: hashKey }).map(Pickle.set),
    fc.uniqueArray(hashable, { maxLength: 4, selector: hashKey }).map(Pickle.frozenset)
  )
})).value

describe.skipIf(PYTHON === undefined)("Python reads what encode writes", () => {
  it("pickle.loads gives the same values, at every protocol", () => {
    const objects: Array<PickleValue> = [
      Pickle.global("builtins", "len"),
      Pickle.reduce(Pickle.global("builtins", "complex"), Pickle.tuple([Pickle.float(1.5), Pickle.float(-2)])),
      Pickle.newObj(Pickle.global("types", "SimpleNamespace"), Pickle.tuple([]), {
        state: Pickle.dict([[Pickle.str("a"), Pickle.int(1)], [Pickle.str("b"), Pickle.list([Pickle.none])]])
      }),
      Pickle.newObj(Pickle.global("types", "SimpleNamespace"), Pickle.tuple([]), {
        kwargs: Pickle.dict([]),
        state: Pickle.dict([[Pickle.str("k"), Pickle.str("w")]])
      }),
      Pickle.int(2n ** 64n),
      Pickle.int(-(2n ** 2100n)),
      Pickle.float(NaN),
      Pickle.float(-0),
      Pickle.str("\ud800 lone surrogate, é ☃ 𝄞"),
      Pickle.bytes(Uint8Array.from([0, 0x80, 0xff])),
      Pickle.bytes(new Uint8Array(0)),
      Pickle.bytearray(Uint8Array.from([0x80])),
      Pickle.list(Array.from({ length: 1500 }, (_, i) => Pickle.int(i)))
    ]
    const values = [...objects, ...fc.sample(dataArb, { numRuns: 150, seed: 42 })]
    const a = Pickle.list([Pickle.int(1)])
    values.push(Pickle.list([a, a]))
    for (const protocol of [2, 3, 4, 5] as const) {
      const input = values.map((v) => hex(Pickle.encode(v, { protocol }))).join("\n") + "\n"
      const run = spawnSync(PYTHON!, ["-c", PY_READER], { input, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 })
      expect(run.stderr).toBe("")
      expect(run.status).toBe(0)
      const lines = run.stdout.trim().split("\n")
      expect(lines).toHaveLength(values.length)
      lines.forEach((line, i) => expect([i, JSON.parse(line)]).toEqual([i, norm(values[i])]))
    }
  })
})

// ---------------------------------------------------------------------------
// hostile input
// ---------------------------------------------------------------------------

describe("hostile input", () => {
  it("REDUCE of os.system is an inert description and runs nothing", () => {
    const marker = path.join(os.tmpdir(), `taskmeta-pickle-pwned-${process.pid}`)
    const bytes = bytesOf(`cos\nsystem\n(S'touch ${marker}'\ntR.`)
    const value = decodeOk(bytes)
    expect(value).toEqual(Pickle.reduce(Pickle.global("os", "system"), Pickle.tuple([Pickle.str(`touch ${marker}`)])))
    expect(jsonOk(value)).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "os", name: "system" },
      args: [`touch ${marker}`]
    })
    expect(fs.existsSync(marker)).toBe(false)
    // The classic payload, byte for byte.
    const existedBefore = fs.existsSync("/tmp/x")
    expect(jsonOk(decodeOk(bytesOf("cos\nsystem\n(S'echo pwned > /tmp/x'\ntR.")))).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "os", name: "system" },
      args: ["echo pwned > /tmp/x"]
    })
    if (!existedBefore) expect(fs.existsSync("/tmp/x")).toBe(false)
    // Also through protocol 4's STACK_GLOBAL and NEWOBJ / BUILD.
    const bytes4 = bytesOf(0x80, 4, 0x8c, 2, "os", 0x8c, 6, "system", 0x93, 0x8c, 2, "id", 0x85, 0x52, 0x2e)
    expect(jsonOk(decodeOk(bytes4))).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "os", name: "system" },
      args: ["id"]
    })
  })

  it("a billion-laughs memo decodes small and fails fast in toJson", () => {
    // level 0 = [1]; level i = [level i-1] * 10 through BINGET and DUP; 30 levels
    const parts: Array<number> = [0x80, 2, 0x5d, 0x4b, 1, 0x61, 0x71, 0]
    for (let i = 1; i <= 30; i++) {
      parts.push(0x30) // POP the previous level (it stays in the memo)
      parts.push(0x5d, 0x28, 0x68, i - 1, ...Array<number>(9).fill(0x32), 0x65, 0x71, i)
    }
    parts.push(0x2e)
    const bytes = Uint8Array.from(parts)
    expect(bytes.length).toBeLessThan(600)
    const value = decodeOk(bytes)
    const error = jsonError(value)
    expect(error.reason).toContain("more than 1000000")
    expect(jsonError(value, { maxNodes: 1000 }).reason).toContain("more than 1000")
    // encode keeps the sharing instead of expanding it
    expect(Pickle.encode(value).length).toBeLessThan(2000)
    expect(Either.isLeft(Pickle.decodeToJson(bytes))).toBe(true)
  })

  it("10 000-deep nesting is refused without recursion", () => {
    const depth = 10_000
    const appendNesting = Uint8Array.from([0x80, 2, ...Array<number>(depth).fill(0x5d), ...Array<number>(depth - 1).fill(0x61), 0x2e])
    const markNesting = Uint8Array.from([0x80, 2, ...Array<number>(depth).fill(0x28), ...Array<number>(depth).fill(0x6c), 0x2e])
    const tupleNesting = Uint8Array.from([0x80, 2, 0x4e, ...Array<number>(depth).fill(0x85), 0x2e])
    for (const bytes of [appendNesting, markNesting, tupleNesting]) {
      expect(decodeError(bytes).reason).toContain("nesting deeper than 1000")
      const value = decodeOk(bytes, { maxDepth: depth + 1 })
      expect(jsonError(value).reason).toContain("nesting deeper than 1000")
      expect(Either.isRight(Pickle.toJson(value, { maxDepth: depth + 1 }))).toBe(true)
      // (vitest's toEqual recurses, so compare through a second encoding)
      expect(Pickle.encode(decodeOk(Pickle.encode(value), { maxDepth: depth + 1 }))).toEqual(Pickle.encode(value))
    }
    // A list nested first and filled later: outer = [list0], then list0.append(<1500 deep>).
    const late = bytesOf(
      [0x80, 2, 0x5d, 0x71, 0, 0x30], // list0, memo 0, POP
      [0x5d, 0x68, 0, 0x61], // outer = [list0]
      Array<number>(1500).fill(0x5d),
      Array<number>(1499).fill(0x61), // deep chain on the stack
      [0x71, 1, 0x30, 0x68, 0, 0x68, 1, 0x61, 0x30, 0x2e] // memo 1, POP, list0.append(deep), POP, STOP
    )
    expect(decodeError(late).reason).toContain("nesting deeper than 1000")
    expect(decodeOk(late, { maxDepth: 1502 })._tag).toBe("List")
    expect(decodeError(late, { maxDepth: 1501 }).reason).toContain("nesting deeper than 1501")
  })

  it("length prefixes beyond the input fail before allocating", () => {
    const cases = [
      bytesOf(0x80, 4, 0x8d, u64(1n << 60n), "abc", 0x2e), // BINUNICODE8 2^60
      bytesOf(0x80, 4, 0x8d, u64(1n << 40n), "abc", 0x2e), // BINUNICODE8 2^40
      bytesOf(0x80, 4, 0x8e, u64(0xffffffffffffffffn), 0x2e), // BINBYTES8
      bytesOf(0x80, 5, 0x96, u64(1n << 50n), 0x2e), // BYTEARRAY8
      bytesOf(0x80, 2, 0x8b, u32(0x7fffffff), 0x2e), // LONG4 huge
      bytesOf(0x80, 2, 0x8b, u32(5000), Array<number>(5000).fill(0x5a), 0x2e), // LONG4 present but beyond 4 KiB
      bytesOf(0x80, 2, 0x8b, u32(0xffffffff), 0x2e), // LONG4 negative
      bytesOf(0x80, 2, 0x58, u32(0xffffffff), "ab", 0x2e), // BINUNICODE
      bytesOf(0x80, 3, 0x42, u32(1000), 0x2e), // BINBYTES
      bytesOf(0x80, 2, 0x54, u32(0x80000000), 0x2e), // BINSTRING negative
      bytesOf(0x80, 2, 0x8a, 200, 1, 2, 0x2e), // LONG1
      bytesOf(0x80, 4, 0x95, u64(1n << 40n), 0x4e, 0x2e) // FRAME
    ]
    for (const bytes of cases) decodeError(bytes)
  })

  it("reports malformed streams as PickleErrors", () => {
    const cases: Array<[Uint8Array, string]> = [
      [bytesOf(0x80, 2, 0x68, 5, 0x2e), "memo key 5 not found"],
      [bytesOf(0x80, 2, 0x6a, u32(1 << 30), 0x2e), "memo key"],
      [bytesOf("g7\n."), "memo key 7 not found"],
      [bytesOf(0x80, 2, 0xff, 0x2e), "unknown opcode 0xff"],
      [bytesOf(0x80, 2, 0x99, 0x2e), "unknown opcode 0x99"],
      [bytesOf(0x80, 2, 0x28, 0x4e, 0x2e), "MARK not closed"],
      [bytesOf(0x80, 2, 0x28), "truncated"],
      [bytesOf(0x80, 2, 0x4e, 0x4e, 0x2e), "left on the stack"],
      [bytesOf(0x80, 6, 0x4e, 0x2e), "unsupported pickle protocol 6"],
      [bytesOf(0x80, 2, 0x61, 0x2e), "stack underflow"],
      [bytesOf(0x80, 2, 0x52, 0x2e), "stack underflow"],
      [bytesOf(0x80, 2, 0x4e, 0x28, 0x85, 0x2e), "stack underflow"], // TUPLE1 cannot reach below a MARK
      [bytesOf(0x2e), "stack underflow"],
      [bytesOf(0x80, 2, 0x74, 0x2e), "no MARK"],
      [bytesOf(0x80, 2, 0x4e, 0x4e, 0x4e, 0x28, 0x4e, 0x64, 0x2e), "odd number"],
      [bytesOf("Pfoo\n."), "persistent IDs"],
      [bytesOf(0x80, 2, 0x4e, 0x51, 0x2e), "persistent IDs"],
      [bytesOf(0x80, 5, 0x97, 0x2e), "out-of-band buffers"],
      [bytesOf(0x80, 5, 0x4e, 0x98, 0x2e), "out-of-band buffers"],
      [bytesOf(0x80, 2, 0x5d, 0x4e, 0x62, 0x2e), "cannot BUILD a List"],
      [bytesOf(0x80, 2, 0x7d, 0x4e, 0x61, 0x2e), "cannot append to a Dict"],
      [bytesOf(0x80, 2, 0x5d, 0x4e, 0x4e, 0x73, 0x2e), "cannot set items on a List"],
      [bytesOf(0x80, 2, 0x5d, 0x28, 0x4e, 0x90, 0x2e), "cannot add items to a List"],
      [bytesOf(0x80, 4, 0x4b, 1, 0x4b, 2, 0x93, 0x2e), "STACK_GLOBAL requires str"],
      [bytesOf(0x80, 2, 0x58, u32(2), 0xff, 0xfe, 0x2e), "invalid UTF-8"],
      [bytesOf("Vab\\u12\n."), "raw-unicode-escape"],
      [bytesOf("S'abc\n."), "quoted"],
      [bytesOf("S'\\x4'\n."), "escape"],
      [bytesOf("Iabc\n."), "invalid INT"],
      [bytesOf("Fxyz\n."), "invalid FLOAT"],
      [bytesOf("L", "9".repeat(5000), "L\n."), "invalid LONG"],
      [bytesOf(0x80, 2, 0x82, 0, 0x2e), "EXT code"],
      [bytesOf(0x80, 2, 0x28, 0x6f, 0x2e), "OBJ without a class"],
      [bytesOf(0x80, 2, 0x5d, 0x30, 0x30, 0x2e), "stack underflow"]
    ]
    for (const [bytes, reason] of cases) {
      const error = decodeError(bytes)
      expect(error.reason).toContain(reason)
      expect(error.offset).toBeGreaterThanOrEqual(0)
      expect(error.message).toContain(`at byte ${error.offset}`)
    }
  })

  it("enforces maxBytes and maxNodes in decode", () => {
    const bytes = Pickle.encode(Pickle.list(Array.from({ length: 2000 }, () => Pickle.none)))
    expect(decodeError(bytes, { maxBytes: 100 }).reason).toContain("exceeds the limit")
    expect(decodeError(bytes, { maxNodes: 100 }).reason).toContain("more than 100 values")
    expect(Either.isRight(Pickle.decode(bytes))).toBe(true)
  })
})

// ---------------------------------------------------------------------------
// protocol 0 and Python 2 opcodes
// ---------------------------------------------------------------------------

describe("protocol 0 and Python 2 opcodes", () => {
  it("reads STRING escapes, INST, OBJ, text ints, floats and memo", () => {
    expect(decodeOk(bytesOf("S'a\\x41\\n\\'b\\\\\\101'\n."))).toEqual(Pickle.str("aA\n'b\\A"))
    expect(decodeOk(bytesOf("S\"caf\\xe9\"\n."))).toEqual(Pickle.bytes(Uint8Array.from([0x63, 0x61, 0x66, 0xe9])))
    expect(decodeOk(bytesOf(0x80, 2, 0x55, 2, "hi", 0x2e))).toEqual(Pickle.str("hi"))
    expect(decodeOk(bytesOf(0x80, 2, 0x54, u32(1), 0xff, 0x2e))).toEqual(Pickle.bytes(Uint8Array.from([0xff])))
    expect(decodeOk(bytesOf("(I1\nS'x'\nimymod\nCls\n."))).toEqual(
      Pickle.reduce(Pickle.global("mymod", "Cls"), Pickle.tuple([Pickle.int(1), Pickle.str("x")]))
    )
    expect(decodeOk(bytesOf("(cmymod\nCls\nI2\no."))).toEqual(
      Pickle.reduce(Pickle.global("mymod", "Cls"), Pickle.tuple([Pickle.int(2)]))
    )
    expect(decodeOk(bytesOf("(lp0\nI01\naI00\naL-12345678901234567890L\naF-1.5e3\nag0\na."))).toEqual(
      (() => {
        const l: { _tag: "List"; items: Array<PickleValue> } = {
          _tag: "List",
          items: [Pickle.bool(true), Pickle.bool(false), Pickle.int(-12345678901234567890n), Pickle.float(-1500)]
        }
        l.items.push(l)
        return l
      })()
    )
    expect(decodeOk(bytesOf("V\\u005c\\\\u0041\\U0001d11e\xe9\n."))).toEqual(Pickle.str("\\\\\\u0041𝄞é"))
    expect(decodeOk(bytesOf(0x80, 2, 0x8a, 0, 0x2e))).toEqual(Pickle.int(0))
    expect(decodeOk(bytesOf(0x80, 2, 0x8a, 1, 0xff, 0x2e))).toEqual(Pickle.int(-1))
    expect(decodeOk(bytesOf(0x80, 2, 0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x2e))).toEqual(Pickle.int(-(2n ** 63n)))
    expect(decodeOk(bytesOf(0x80, 2, 0x84, u32(0x01020304), 0x2e))).toEqual(Pickle.ext(0x01020304))
    expect(decodeOk(bytesOf("N.trailing data is ignored"))).toEqual(Pickle.none)
  })
})
