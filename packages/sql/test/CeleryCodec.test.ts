/**
 * The Celery-compatible codec on its own: Python's json.dumps (checked against
 * the real one, property-based), result and group pickles, group id
 * extraction, and how the `encoding` option is reached from configuration.
 */
import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as fc from "fast-check"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Json from "@taskmeta/schema/Json"
import * as CeleryCodec from "@taskmeta/celery/CeleryCodec"
import * as Pickle from "@taskmeta/celery/Pickle"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import * as SqliteBackend from "../src/SqliteBackend.js"
import * as Harness from "./celery/harness.js"
import { removeDir, tempDir } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

// Any JSON value, with bigints, every kind of double, and any UTF-16 text (lone surrogates included).
const json: fc.Arbitrary<Json.Json> = fc.letrec<{ value: Json.Json }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    fc.constant(null),
    fc.boolean(),
    fc.integer(),
    fc.maxSafeInteger(),
    // bigints as Json carries them: only beyond the safe range
    fc.bigInt({ min: -(2n ** 200n), max: 2n ** 200n }).map((n) =>
      n >= -(2n ** 53n - 1n) && n <= 2n ** 53n - 1n ? Number(n) : n
    ),
    fc.constantFrom(2n ** 53n, -(2n ** 53n), 2n ** 63n, 2n ** 64n, -(2n ** 64n) - 1n),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)),
    fc.constantFrom(0.1, 1e16, 1e-5, 1e-4, 123456789012345680, 1e21, 5e-324, 1.7976931348623157e308, 1e15 + 0.5),
    fc.string({ unit: "binary" }),
    fc.string({ unit: "grapheme" }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 6 }), tie("value"), { maxKeys: 5 })
  )
})).value.map((v) => Either.getOrThrow(Json.normalize(v)))

describe.runIf(has("celery"))(`pythonJson against Python ${tag("celery")}`, () => {
  it.live("writes what Python's json.dumps writes (Celery's args/kwargs bytes)", () =>
    Effect.gen(function*() {
      const values = fc.sample(json, { numRuns: 400, seed: 42 })
      values.push(
        [2n ** 70n, 0.1, 1e16, 1e-7, 1.5e300, "ü\n\"\x7f\t𝄞\u0000\u001f\ud800", [1, [2]], null, true],
        { "ключ": "☃", nested: { x: null, y: 2.5 }, "": -0.000123 },
        [],
        {},
        "",
        -(2n ** 64n)
      )
      // Json.stringify writes the Python value each stands for (ints as digits, floats in exponent form when integral)
      const python = yield* Harness.dumps(values.map((v) => Json.stringify(v)))
      expect(python).toHaveLength(values.length)
      values.forEach((value, i) => {
        expect([i, CeleryCodec.pythonJson(value)]).toEqual([i, python[i]])
      })
    }), 60_000)

  it("is iterative", () => {
    let deep: Json.Json = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    expect(CeleryCodec.pythonJson(deep).length).toBe(200_001)
  })
})

describe("result pickles", () => {
  it("write an error envelope's exc_message as a tuple, in Celery's key order", () => {
    const bytes = CeleryCodec.pickleResult("FAILURE", { exc_type: "ValueError", exc_message: ["x", 1], exc_module: "builtins" })!
    expect(bytes[0]).toBe(0x80)
    expect(bytes[1]).toBe(2)
    expect(Pickle.decode(bytes)).toEqual(
      Either.right(Pickle.dict([
        [Pickle.str("exc_type"), Pickle.str("ValueError")],
        [Pickle.str("exc_message"), Pickle.tuple([Pickle.str("x"), Pickle.int(1)])],
        [Pickle.str("exc_module"), Pickle.str("builtins")]
      ]))
    )
    // not an exception state, or not an envelope: the plain mapping
    const plain = { exc_type: "ValueError", exc_message: ["x"], exc_module: "builtins" }
    expect(Pickle.decode(CeleryCodec.pickleResult("SUCCESS", plain)!)).toEqual(Either.right(Pickle.fromJson(plain)))
    expect(Pickle.decode(CeleryCodec.pickleResult("FAILURE", "boom")!)).toEqual(Either.right(Pickle.str("boom")))
    expect(CeleryCodec.pickleResult("SUCCESS", null)).toBeNull()
  })

  it("read back as the value written, for any JSON value", () => {
    fc.assert(
      fc.property(json, fc.constantFrom("SUCCESS", "FAILURE", "STARTED"), (value, status) => {
        const bytes = ResultCodec.writer("pickle").result(status, value)
        expect(ResultCodec.decode("result", bytes)).toEqual(Either.right(value))
      }),
      { numRuns: 300 }
    )
  })
})

describe("group pickles", () => {
  it("are _unpickle_appattr('GroupResult', (id, [_unpickle_appattr('AsyncResult', (id, None, None, None, None))]))", () => {
    const appAttr = (name: string, args: ReadonlyArray<Pickle.PickleValue>) =>
      Pickle.reduce(
        Pickle.global("celery.app.base", "_unpickle_appattr"),
        Pickle.tuple([Pickle.str(name), Pickle.tuple(args)])
      )
    const bytes = CeleryCodec.pickleGroup("g", ["a", "b"])
    expect(Pickle.decode(bytes)).toEqual(Either.right(appAttr("GroupResult", [
      Pickle.str("g"),
      Pickle.list(["a", "b"].map((id) => appAttr("AsyncResult", [Pickle.str(id), Pickle.none, Pickle.none, Pickle.none, Pickle.none])))
    ])))
    expect(ResultCodec.decodeGroup(bytes)).toEqual(Either.right(["a", "b"]))
    expect(ResultCodec.decodeGroup(CeleryCodec.pickleGroup("g", []))).toEqual(Either.right([]))
  })

  it("member ids come from either reduce form, nested groups included", () => {
    const direct = (cls: string, args: ReadonlyArray<Pickle.PickleValue>) =>
      Pickle.reduce(Pickle.global("celery.result", cls), Pickle.tuple(args))
    const backend = Pickle.reduce(Pickle.global("celery.backends.base", "unpickle_backend"), Pickle.tuple([]))
    const tree = direct("GroupResult", [
      Pickle.str("g"),
      Pickle.list([
        direct("AsyncResult", [Pickle.str("t1"), backend, Pickle.none, Pickle.none, Pickle.none]),
        CeleryCodec.groupTree("nested", ["t2"])
      ])
    ])
    expect(CeleryCodec.groupMemberIds(tree)).toEqual(Option.some(["t1", "nested"]))
    expect(CeleryCodec.groupMemberIds(Pickle.fromJson(["t1"]))).toEqual(Option.none())
    expect(CeleryCodec.groupMemberIds(direct("AsyncResult", [Pickle.str("t1")]))).toEqual(Option.none())
    const os = Pickle.reduce(Pickle.global("os", "system"), Pickle.tuple([Pickle.str("g"), Pickle.list([])]))
    expect(CeleryCodec.groupMemberIds(os)).toEqual(Option.none())
  })

  it("plain-data forms are read too", () => {
    expect(CeleryCodec.groupIdsFromJson({ task_ids: ["a", "b"] })).toEqual(Option.some(["a", "b"]))
    expect(CeleryCodec.groupIdsFromJson(["a", "b"])).toEqual(Option.some(["a", "b"]))
    const asTuple: Json.Json = [["g", null], [[["a", null], null], [["b", null], null]]]
    expect(CeleryCodec.groupIdsFromJson(asTuple)).toEqual(Option.some(["a", "b"]))
    expect(CeleryCodec.groupIdsFromJson({ result: asTuple })).toEqual(Option.some(["a", "b"]))
    expect(CeleryCodec.groupIdsFromJson({ nope: 1 })).toEqual(Option.none())
    // a pickled tuple of that form (as_tuple() pickled)
    expect(ResultCodec.decodeGroup(Pickle.encode(Pickle.fromJson(asTuple)))).toEqual(Either.right(["a", "b"]))
    const notGroup = ResultCodec.decodeGroup(Pickle.encode(Pickle.int(5)))
    expect(Either.isLeft(notGroup) && notGroup.left.reason).toBe("not a group")
  })
})

describe("the encoding option", () => {
  const dir = tempDir("celery-codec")
  afterAll(() => removeDir(dir))
  const firstByte = (file: string, id: string) => {
    const db = new Sqlite(file, { readonly: true })
    const row = db.prepare("SELECT result FROM celery_taskmeta WHERE task_id = ?").get(id) as { result: Buffer }
    db.close()
    return row.result[0]
  }

  it.live("is read from configuration (`encoding`), json by default", () =>
    Effect.gen(function*() {
      for (const [encoding, byte] of [["pickle", 0x80], ["json", 0x7b], [undefined, 0x7b]] as const) {
        const file = path.join(dir, `config-${encoding}.sqlite`)
        const map = new Map([["filename", file]])
        if (encoding !== undefined) map.set("encoding", encoding)
        yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("t", { a: 1 }, "SUCCESS")).pipe(
          Effect.provide(SqliteBackend.layerConfig().pipe(Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(map)))))
        )
        expect([encoding, firstByte(file, "t")]).toEqual([encoding, byte])
      }
      const bad = yield* Effect.flip(Layer.launch(
        SqliteBackend.layerConfig().pipe(
          Layer.provide(Layer.setConfigProvider(ConfigProvider.fromMap(new Map([["filename", path.join(dir, "bad.sqlite")], ["encoding", "yaml"]]))))
        )
      ))
      expect(bad._tag).toBe("ConfigError")
    }))

  it.live("an unknown encoding given in code is a SetupError", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.launch(
        SqliteBackend.layer({ filename: path.join(dir, "unknown.sqlite"), encoding: "yaml" as unknown as "json" })
      ))
      expect(error._tag).toBe("SetupError")
      expect(error.message).toContain("unknown encoding")
    }))
})
