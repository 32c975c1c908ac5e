import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Text from "@taskmeta/schema/Text"

const NUL = "must not contain a NUL character"
const SURROGATE = "must be well-formed Unicode (it has an unpaired surrogate)"

// Text a UTF-8 store would give back changed: encoding replaces an unpaired surrogate with U+FFFD.
const encoder = new TextEncoder()
const decoder = new TextDecoder()
const survivesUtf8 = (value: string) => decoder.decode(encoder.encode(value)) === value

describe("Text.textIssue", () => {
  it("accepts ordinary and astral text", () => {
    for (const ok of ["", "abc", "héllo ☃ 日本", "𝄞", "\uD834\uDD1E", "a\uFFFDb", "\u0001\u001f\n"]) {
      expect(Text.textIssue(ok)).toBeUndefined()
    }
  })

  it("refuses a NUL character anywhere", () => {
    for (const bad of ["\u0000", "a\u0000", "\u0000b", "a\u0000b"]) expect(Text.textIssue(bad)).toBe(NUL)
    // NUL is reported before a surrogate.
    expect(Text.textIssue("\uD800\u0000")).toBe(NUL)
  })

  it("refuses unpaired surrogates, high or low, anywhere", () => {
    for (const bad of ["\uD800", "a\uDBFF", "\uDC00", "\uDFFFa", "\uDC00\uD800", "𝄞\uDD1E", "\uD834\uD834\uDD1E"]) {
      expect(Text.textIssue(bad)).toBe(SURROGATE)
    }
  })

  it("refuses exactly the strings that contain NUL or would not survive UTF-8", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), fc.string({ unit: fc.constantFrom("\u0000", "\uD800", "\uDC00", "a") }), (a, b) => {
        for (const value of [a, b, a + b]) {
          const expected = value.includes("\u0000") ? NUL : survivesUtf8(value) ? undefined : SURROGATE
          expect(Text.textIssue(value)).toBe(expected)
        }
      })
    )
  })
})

describe("Text.lengthIssue and Text.nonEmptyIssue", () => {
  it("counts UTF-16 code units up to the limit", () => {
    expect(Text.lengthIssue("", 3)).toBeUndefined()
    expect(Text.lengthIssue("abc", 3)).toBeUndefined()
    expect(Text.lengthIssue("abcd", 3)).toBe("is 4 characters, at most 3 fit")
    expect(Text.lengthIssue("𝄞𝄞", 3)).toBe("is 4 characters, at most 3 fit")
  })

  it("also refuses the empty string", () => {
    expect(Text.nonEmptyIssue("", 3)).toBe("must not be empty")
    expect(Text.nonEmptyIssue("a", 3)).toBeUndefined()
    expect(Text.nonEmptyIssue("abcd", 3)).toBe("is 4 characters, at most 3 fit")
  })
})

describe("Text.Text", () => {
  it("decodes what textIssue accepts and reports what it refuses", () => {
    const decode = Schema.decodeUnknownEither(Text.Text)
    expect(decode("𝄞 ok")).toEqual(Either.right("𝄞 ok"))
    expect(Either.isLeft(decode(1))).toBe(true)
    for (const [bad, message] of [["a\u0000", NUL], ["a\uD800", SURROGATE]] as const) {
      const result = decode(bad)
      expect(Either.isLeft(result) && result.left.message).toContain(message)
    }
  })
})
