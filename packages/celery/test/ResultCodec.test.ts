/**
 * The schemas of `ResultCodec`: they read what `decode` / `decodeGroup` read,
 * fail where those fail (without quoting the stored bytes), and encode as the
 * `"json"` writer does.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Json from "@taskmeta/schema/Json"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as CeleryCodec from "../src/CeleryCodec.js"
import { decodeShared } from "../src/internal/pickle/decode.js"
import * as Pickle from "../src/Pickle.js"
import * as ResultCodec from "../src/ResultCodec.js"

const utf8 = (text: string): Uint8Array => Buffer.from(text, "utf8")

// Any JSON value, bigints beyond the safe range included.
const json: fc.Arbitrary<Json.Json> = fc.letrec<{ value: Json.Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.string(),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 5 }), tie("value"), { maxKeys: 4 })
  )
})).value.map((v) => Either.getOrThrow(Json.normalize(v)))

// Column bytes of every kind: what both writers store, and damaged or random bytes.
const columnBytes: fc.Arbitrary<Uint8Array | null> = fc.oneof(
  fc.constant(null),
  json.map((v) => ResultCodec.encode(v)),
  fc.tuple(json, fc.constantFrom("SUCCESS", "FAILURE")).map(([v, status]) => CeleryCodec.pickleResult(status, v)),
  fc.tuple(json, fc.nat()).map(([v, cut]) => {
    const bytes = Pickle.encode(Pickle.fromJson(v))
    return bytes.subarray(0, cut % bytes.length)
  }),
  fc.uint8Array({ maxLength: 24 }),
  fc.uint8Array({ maxLength: 24 }).map((b) => Uint8Array.from([0x80, ...b]))
)

const leftMessage = <A, I>(schema: Schema.Schema<A, I>, input: unknown): string => {
  const result = Schema.decodeUnknownEither(schema)(input)
  if (Either.isRight(result)) throw new Error("expected a ParseError")
  return result.left.message
}

describe("ResultColumn", () => {
  const decode = Schema.decodeUnknownEither(ResultCodec.ResultColumn)

  it("decodes NULL, JSON text and pickles as decode does, whatever the writer", () => {
    const value = { n: 2n ** 64n + 1n, s: "héllo ✓", a: [1, null, true] }
    expect(decode(null)).toEqual(Either.right(null))
    expect(decode(ResultCodec.writer("json").result("SUCCESS", value))).toEqual(Either.right(value))
    expect(decode(ResultCodec.writer("pickle").result("SUCCESS", value))).toEqual(Either.right(value))
    expect(decode(Buffer.from("80054b2a2e", "hex"))).toEqual(Either.right(42))
    // JSON text beyond the doubles reads as decode reads it
    expect(decode(utf8("[1e400, -1e400]"))).toEqual(ResultCodec.decode("result", utf8("[1e400, -1e400]")))
    expect(decode(utf8("1e400"))).toEqual(Either.right(Infinity))
    // Celery's exception envelope: the tuple exc_message reads back as an array
    const envelope = { exc_type: "ValueError", exc_message: ["x", 1], exc_module: "builtins" }
    expect(decode(CeleryCodec.pickleResult("FAILURE", envelope))).toEqual(Either.right(envelope))
    // a pickled call is an inert description, not a failure
    const call = Pickle.encode(Pickle.reduce(Pickle.global("os", "system"), Pickle.tuple([Pickle.str("true")])))
    expect(decode(call)).toEqual(Either.right({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "os", name: "system" },
      args: ["true"]
    }))
  })

  it("agrees with decode on any bytes", () => {
    fc.assert(
      fc.property(columnBytes, (bytes) => {
        const expected = ResultCodec.decode("result", bytes)
        const actual = decode(bytes)
        if (Either.isRight(expected)) {
          expect(actual).toEqual(expected)
        } else {
          expect(Either.isLeft(actual)).toBe(true)
          expect(leftMessage(ResultCodec.ResultColumn, bytes)).toContain(expected.left.message)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("reads pickles as deep as the pickle decoder allows (deeper than Json.normalize's 512)", () => {
    let tree: Pickle.PickleValue = Pickle.int(1)
    for (let i = 0; i < 900; i++) tree = Pickle.list([tree])
    const bytes = Pickle.encode(tree)
    const expected = ResultCodec.decode("result", bytes)
    expect(Either.isRight(expected)).toBe(true)
    expect(decode(bytes)).toEqual(expected)
    expect(Either.isLeft(Json.normalize(Either.getOrThrow(expected)))).toBe(true)
  })

  it("fails with the UndecodableValue message, never quoting the stored bytes", () => {
    const pickle = Pickle.encode(Pickle.str("postgresql://app:SECRET@db/results"))
    const truncated = pickle.subarray(0, pickle.length - 1)
    const pickleError = ResultCodec.decode("result", truncated)
    if (Either.isRight(pickleError)) throw new Error("expected an UndecodableValue")
    expect(pickleError.left.message).toMatch(/^cannot decode the result column \(pickle, \d+ bytes\): /)
    const message = leftMessage(ResultCodec.ResultColumn, truncated)
    expect(message).toContain(pickleError.left.message)
    expect(message).not.toContain("SECRET")

    const badJson = utf8("{\"password\": \"SECRET\"")
    expect(leftMessage(ResultCodec.ResultColumn, badJson)).toContain(`cannot decode the result column (json, ${badJson.length} bytes): invalid JSON`)
    expect(leftMessage(ResultCodec.ResultColumn, badJson)).not.toContain("SECRET")
    expect(leftMessage(ResultCodec.ResultColumn, Uint8Array.from([0x22, 0xc3, 0x22]))).toContain("invalid UTF-8")
    // not bytes at all
    expect(Either.isLeft(decode("{}"))).toBe(true)
  })

  it("names its column", () => {
    expect(leftMessage(ResultCodec.column("kwargs"), utf8("{nope"))).toContain("cannot decode the kwargs column (json, 5 bytes)")
    expect(Schema.decodeUnknownEither(ResultCodec.column("args"))(utf8("[1, 2]"))).toEqual(Either.right([1, 2]))
  })

  it("encodes as the json writer does; NULL for null", () => {
    const encode = Schema.encodeSync(ResultCodec.ResultColumn)
    expect(encode(null)).toBeNull()
    fc.assert(
      fc.property(json, (value) => {
        const bytes = encode(value)
        expect(bytes).toEqual(ResultCodec.encode(value))
        expect(decode(bytes)).toEqual(Either.right(value))
      }),
      { numRuns: 300 }
    )
  })

  it("decodes a row at the edge", () => {
    const Row = Schema.Struct({ task_id: Schema.String, result: ResultCodec.ResultColumn, args: ResultCodec.column("args") })
    const row = { task_id: "t", result: Buffer.from(CeleryCodec.pickleResult("SUCCESS", [1, 2n ** 70n])!), args: null }
    expect(Schema.decodeUnknownSync(Row)(row)).toEqual({ task_id: "t", result: [1, 2n ** 70n], args: null })
  })
})

describe("GroupRow", () => {
  const decode = Schema.decodeUnknownEither(ResultCodec.GroupRow)

  it("reads Celery's group pickle and taskmeta's JSON form, as decodeGroup does", () => {
    expect(decode(CeleryCodec.pickleGroup("g", ["a", "b"]))).toEqual(Either.right(["a", "b"]))
    const group = { groupId: "g", taskIds: ["a"], dateDone: DateTime.unsafeMake(0) }
    expect(decode(ResultCodec.writer("json").group(group))).toEqual(Either.right(["a"]))
    expect(decode(ResultCodec.writer("pickle").group(group))).toEqual(Either.right(["a"]))
    expect(decode(utf8("[[\"g\", null], [[[\"a\", null], null]]]"))).toEqual(Either.right(["a"]))
    // members pickled with Celery's backend: only the ids are read
    const backend = Pickle.reduce(
      Pickle.global("celery.backends.database", "DatabaseBackend"),
      Pickle.tuple([Pickle.str("db+postgresql://app:SECRET@db/results")])
    )
    const tree = Pickle.reduce(Pickle.global("celery.result", "GroupResult"), Pickle.tuple([
      Pickle.str("g"),
      Pickle.list([
        Pickle.reduce(Pickle.global("celery.result", "AsyncResult"), Pickle.tuple([Pickle.str("t1"), backend, Pickle.none]))
      ])
    ]))
    expect(decode(Pickle.encode(tree))).toEqual(Either.right(["t1"]))
  })

  it("agrees with decodeGroup on any bytes", () => {
    const rows = fc.oneof(
      columnBytes,
      fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }).map((ids) => CeleryCodec.pickleGroup("g", ids)),
      fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }).map((ids) => ResultCodec.encode({ task_ids: ids }))
    )
    fc.assert(
      fc.property(rows, (bytes) => {
        const expected = ResultCodec.decodeGroup(bytes)
        const actual = decode(bytes)
        if (Either.isRight(expected)) {
          expect(actual).toEqual(expected)
        } else {
          expect(Either.isLeft(actual)).toBe(true)
          expect(leftMessage(ResultCodec.GroupRow, bytes)).toContain(expected.left.message)
        }
      }),
      { numRuns: 500 }
    )
  })

  it("fails on what is not a group", () => {
    expect(leftMessage(ResultCodec.GroupRow, Pickle.encode(Pickle.int(5)))).toContain("not a group")
    expect(leftMessage(ResultCodec.GroupRow, null)).toContain("not a group")
    expect(leftMessage(ResultCodec.GroupRow, utf8("{\"task_ids\": [1]}"))).toContain("not a group")
  })

  it("encodes taskmeta's JSON form", () => {
    const bytes = Schema.encodeSync(ResultCodec.GroupRow)(["a", "b"])
    expect(Buffer.from(bytes!).toString("utf8")).toBe("{\"task_ids\":[\"a\",\"b\"]}")
    expect(decode(bytes)).toEqual(Either.right(["a", "b"]))
  })
})

describe("read budgets (issue 14, findings 2 and 3)", () => {
  // a string put in the memo once (BINPUT 0, POP) and referenced `times` times in a list
  const memoBomb = (length: number, times: number): Uint8Array => {
    const head = Buffer.from([0x80, 2, 0x58, 0, 0, 0, 0])
    head.writeUInt32LE(length, 3)
    return Buffer.concat([
      head,
      Buffer.alloc(length, "a"),
      Buffer.from([0x71, 0, 0x30, 0x5d, 0x28]),
      Buffer.alloc(times * 2, Buffer.from([0x68, 0])),
      Buffer.from([0x65, 0x2e])
    ])
  }

  it("a pickle whose memo references expand past the size budget is refused, typed, with its size", () => {
    const bytes = memoBomb(1 << 20, 3000)
    const decoded = ResultCodec.decode("result", bytes)
    if (Either.isRight(decoded)) throw new Error("expected an UndecodableValue")
    expect(decoded.left.limit).toBe("size")
    expect(decoded.left.size).toBe(bytes.length)
    expect(decoded.left.reason).toBe(`decoded value larger than ${ResultCodec.limits.maxSize} bytes`)
    expect(ResultCodec.describeUndecodable(decoded.left)).toEqual({
      __pickle__: "undecodable",
      column: "result",
      format: "pickle",
      reason: decoded.left.reason,
      size: bytes.length,
      limit: "size"
    })
  })

  it("the same references under the budget read, and Pickle.toJson takes its own maxSize", () => {
    const small = memoBomb(1000, 50)
    const decoded = ResultCodec.decode("result", small)
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded)) expect(decoded.right).toHaveLength(50)
    const refused = Pickle.decodeToJson(small, { maxSize: 10_000 })
    if (Either.isRight(refused)) throw new Error("expected a PickleError")
    expect(refused.left.limit).toBe("size")
  })

  it("JSON text nested deeper than Json.MAX_DEPTH reads as a depth problem; text over the size budget as a size problem", () => {
    const deep = Buffer.from("[".repeat(100_000) + "]".repeat(100_000))
    const decoded = ResultCodec.decode("result", deep)
    if (Either.isRight(decoded)) throw new Error("expected an UndecodableValue")
    expect(decoded.left.limit).toBe("depth")
    expect(decoded.left.reason).toBe(`nesting deeper than ${Json.MAX_DEPTH}`)
    expect(decoded.left.size).toBe(deep.length)
    const large = Buffer.alloc(ResultCodec.limits.maxSize + 1, 0x20)
    const tooLarge = ResultCodec.decode("result", large)
    if (Either.isRight(tooLarge)) throw new Error("expected an UndecodableValue")
    expect(tooLarge.left.limit).toBe("size")
    expect(tooLarge.left.size).toBe(large.length)
  })

  it("a pickle nested past the depth budget and one with too many values carry their limit", () => {
    const deep = Uint8Array.from([0x80, 2, ...Array<number>(2000).fill(0x5d), ...Array<number>(1999).fill(0x61), 0x2e])
    const depth = ResultCodec.decode("result", deep)
    if (Either.isRight(depth)) throw new Error("expected an UndecodableValue")
    expect(depth.left.limit).toBe("depth")
    const many = Pickle.decodeToJson(memoBomb(1, 100), { maxNodes: 50 })
    if (Either.isRight(many)) throw new Error("expected a PickleError")
    expect(many.left.limit).toBe("count")
  })
})

describe("read budgets on fuzzed rows (issue 14, packages/sql/test/HostileFuzz.test.ts)", () => {
  const refusal = (column: string, bytes: Uint8Array): ResultCodec.UndecodableValue => {
    const decoded = ResultCodec.decode(column, bytes)
    if (Either.isRight(decoded)) throw new Error("expected an UndecodableValue")
    return decoded.left
  }
  const binunicode = (text: Buffer): Buffer => {
    const head = Buffer.from([0x58, 0, 0, 0, 0])
    head.writeUInt32LE(text.length, 1)
    return Buffer.concat([head, text])
  }

  it("JSON text holding more values than the count budget reads as a count problem, as a pickle does", () => {
    // 3 MB of text, 1,000,002 values: JSON.parse built them all (15 MB of `{},` took 440 MB)
    const wide = utf8(`[${"{},".repeat(ResultCodec.limits.maxNodes)}{}]`)
    const problem = refusal("result", wide)
    expect(problem.limit).toBe("count")
    expect(problem.reason).toBe(`more than ${ResultCodec.limits.maxNodes} values`)
    expect(problem.size).toBe(wide.length)
    const within = ResultCodec.decode("result", utf8(`[${"0,".repeat(ResultCodec.limits.maxNodes - 2)}0]`))
    expect(Either.isRight(within) && (within.right as ReadonlyArray<Json.Json>).length).toBe(ResultCodec.limits.maxNodes - 1)
  })

  it("an integer literal of more than Json.MAX_INT_DIGITS digits is refused, never thrown", () => {
    // a run of 15 million digits (under the size budget) overflowed the stack of the long-literal test (a defect, not a value)
    const problem = refusal("kwargs", utf8(`{"n": ${"7".repeat(15_000_000)}}`))
    expect(problem.reason).toBe(`invalid JSON: integer of more than ${Json.MAX_INT_DIGITS} digits`)
  })

  it("a FLOAT line of a million digits followed by junk is refused (the float pattern was quadratic)", () => {
    const line = Buffer.from(`${"7".repeat(1_000_000)}x\n`)
    const problem = refusal("result", Buffer.concat([Buffer.from([0x80, 2, 0x46]), line, Buffer.from([0x2e])]))
    expect(problem.reason).toBe("invalid FLOAT (at byte 2)")
    const valid = Buffer.concat([Buffer.from([0x80, 2, 0x46]), Buffer.from(`${"7".repeat(10)}.5e3\n`), Buffer.from([0x2e])])
    expect(ResultCodec.decode("result", valid)).toEqual(Either.right(7777777777.5e3))
  })

  it("a tree shared through the memo is refused by the count budget before it is expanded", () => {
    // a billion laughs (10^30 values) built as the decoder builds it: one node per level, referenced ten times
    let reads = 0
    const leaf = new Proxy(Pickle.int(1), {
      get: (target, key, receiver) => {
        if (key === "_tag") reads++
        return Reflect.get(target, key, receiver)
      }
    })
    let level: Pickle.PickleValue = Pickle.list([leaf])
    for (let i = 0; i < 30; i++) level = Pickle.list(Array<Pickle.PickleValue>(10).fill(level))
    const json = Pickle.toJson(level)
    if (Either.isRight(json)) throw new Error("expected a PickleError")
    expect(json.left.limit).toBe("count")
    // the leaf was looked at once, not once per expanded copy (a million, a second per column)
    expect(reads).toBeLessThan(10)
  })

  it("the decoder tells which trees share a container, so only those are counted before the walk", () => {
    const limits = { maxDepth: 1000, maxNodes: 1_000_000, maxBytes: 1 << 20 }
    const shared = (...bytes: Array<number>) => decodeShared(Uint8Array.from([0x80, 4, ...bytes, 0x2e]), limits).shared
    expect(shared(0x5d, 0x71, 0, 0x68, 0, 0x86)).toBe(true) // EMPTY_LIST BINPUT 0 BINGET 0 TUPLE2
    expect(shared(0x5d, 0x32, 0x86)).toBe(true) // EMPTY_LIST DUP TUPLE2
    expect(shared(0x8c, 1, 0x61, 0x71, 0, 0x68, 0, 0x86)).toBe(false) // a string referenced twice
    expect(shared(0x5d, 0x5d, 0x86)).toBe(false) // two lists
    // a billion laughs through decodeToJson: refused by count, as through toJson
    const laughs: Array<number> = [0x80, 2, 0x5d, 0x4b, 1, 0x61, 0x71, 0]
    for (let i = 1; i <= 30; i++) laughs.push(0x30, 0x5d, 0x28, 0x68, i - 1, ...Array<number>(9).fill(0x32), 0x65, 0x71, i)
    const json = Pickle.decodeToJson(Uint8Array.from([...laughs, 0x2e]))
    expect(Either.isLeft(json) && json.left.limit).toBe("count")
  })

  it("the size budget counts the escapes a pickled string prints with", () => {
    // 12 MB of control characters print as 72 MB of JSON: two such columns could not be printed as one record
    const control = Buffer.concat([Buffer.from([0x80, 2]), binunicode(Buffer.alloc(12_000_000, 1)), Buffer.from([0x2e])])
    const problem = refusal("result", control)
    expect(problem.limit).toBe("size")
    // a quote or a backslash takes two characters, a lone surrogate six, a pair two
    const text = `"\\${String.fromCharCode(0xd800)}\u{1F600}\n\u0001`
    const pickled = Pickle.encode(Pickle.str(text))
    const printed = JSON.stringify(text).length
    expect(Either.isRight(Pickle.decodeToJson(pickled, { maxSize: printed + 1 }))).toBe(true)
    expect(Either.isLeft(Pickle.decodeToJson(pickled, { maxSize: printed }))).toBe(true)
  })
})
