import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as fc from "fast-check"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Pickle from "../src/Pickle.js"

const FIXTURES = fileURLToPath(new URL("./fixtures/pickle/", import.meta.url))
const fixtures = fs
  .readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".pickle"))
  .sort()
  .map((f) => new Uint8Array(fs.readFileSync(path.join(FIXTURES, f))))

// Every opcode byte, plus a few argument-ish bytes, to reach deep states more often than random bytes do.
const OPCODES = [
  ..."().0123FGIJKLMNPQRSTUVXabcdeghijlopqrstu}]BC".split("").map((c) => c.charCodeAt(0)),
  ...Array.from({ length: 0x99 - 0x80 }, (_, i) => 0x80 + i),
  0, 1, 2, 5, 0x0a, 0xff
]

/** decode, then toJson and encode of whatever decoded: each returns an Either, none throws. */
const survives = (bytes: Uint8Array): boolean => {
  const decoded = Pickle.decode(bytes, { maxNodes: 20_000 })
  expect(Either.isEither(decoded)).toBe(true)
  if (Either.isRight(decoded)) {
    const json = Pickle.toJson(decoded.right, { maxNodes: 20_000 })
    expect(Either.isEither(json)).toBe(true)
    expect(Either.isEither(Pickle.encodeEither(decoded.right, { protocol: 4 }))).toBe(true)
  } else {
    expect(decoded.left).toBeInstanceOf(Pickle.PickleError)
  }
  return true
}

type Mutation =
  | { readonly kind: "flip"; readonly at: number; readonly bit: number }
  | { readonly kind: "set"; readonly at: number; readonly byte: number }
  | { readonly kind: "insert"; readonly at: number; readonly byte: number }
  | { readonly kind: "delete"; readonly at: number }

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), byte: fc.constantFrom(...OPCODES) }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), byte: fc.oneof(fc.constantFrom(...OPCODES), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat() })
)

const mutate = (source: Uint8Array, mutations: ReadonlyArray<Mutation>): Uint8Array => {
  const bytes = Array.from(source)
  for (const m of mutations) {
    const at = bytes.length === 0 ? 0 : m.at % bytes.length
    switch (m.kind) {
      case "flip":
        if (bytes.length > 0) bytes[at] ^= 1 << m.bit
        break
      case "set":
        if (bytes.length > 0) bytes[at] = m.byte
        break
      case "insert":
        bytes.splice(at, 0, m.byte)
        break
      case "delete":
        bytes.splice(at, 1)
        break
    }
  }
  return Uint8Array.from(bytes)
}

describe("Pickle fuzzing", () => {
  it("random bytes", () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), survives), { numRuns: 500 })
  })

  it("random opcode soup after a PROTO header", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 }), fc.array(fc.constantFrom(...OPCODES), { maxLength: 200 }), (protocol, ops) =>
        survives(Uint8Array.from([0x80, protocol, ...ops, 0x2e]))),
      { numRuns: 700 }
    )
  })

  it("mutated fixtures", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fixtures), fc.array(mutation, { minLength: 1, maxLength: 4 }), (source, mutations) =>
        survives(mutate(source, mutations))),
      { numRuns: 1000 }
    )
  })
})
