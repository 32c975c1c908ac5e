/**
 * The password redaction inside decoded pickle descriptions: the same
 * replacements as the regular expression it replaced, in linear time
 * (issue 14, finding 1: the regex took 37 s on a 200 KB row).
 */
import { describe, expect, it } from "@effect/vitest"
import * as fc from "fast-check"
import { redactUrlPasswords } from "../src/internal/pickle/text.js"

const OLD = /([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/?#@]*):([^\s@/]+)@/g
const reference = (text: string) => (text.includes("://") ? text.replace(OLD, "$1:***@") : text)

describe("redactUrlPasswords", () => {
  it("hides the password of every scheme://user:password@", () => {
    expect(redactUrlPasswords("connect postgresql://app:s3cret@db/results failed")).toBe(
      "connect postgresql://app:***@db/results failed"
    )
    expect(redactUrlPasswords("a://x:1@h and redis://:pw@cache:6379/0")).toBe("a://x:***@h and redis://:***@cache:6379/0")
    expect(redactUrlPasswords("no url here")).toBe("no url here")
    expect(redactUrlPasswords("http://host/path")).toBe("http://host/path")
  })

  it("replaces exactly what the old regular expression replaced", () => {
    const piece = fc.constantFrom(
      "://", ":", "@", "/", " ", "?", "#", "a", "B", "1", "+", ".", "-", "x:y@", "db+postgresql",
      // white space beyond ASCII, as \s matches it
      "\t", "\u00a0", "\u2028", "\u3000", "\ufeff", "\u200b"
    )
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }).map((parts) => parts.join("")), (text) => {
        expect(redactUrlPasswords(text)).toBe(reference(text))
      }),
      { numRuns: 3000 }
    )
  })

  it("finishes on 200 KB of one alphanumeric run around a ://", () => {
    const run = "a".repeat(100_000)
    const text = `${run}://${run}:secret@host`
    expect(redactUrlPasswords(text).endsWith(":***@host")).toBe(true)
    const noMatch = `${"b".repeat(200_000)}://`
    expect(redactUrlPasswords(noMatch)).toBe(noMatch)
  })
})
