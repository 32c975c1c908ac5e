import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Equal from "effect/Equal"
import * as Hash from "effect/Hash"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as UtcTime from "@taskmeta/schema/UtcTime"

const at = "2026-11-20T08:15:30.123Z"
const millis = Date.parse(at)

describe("instants to the microsecond", () => {
  it("make keeps the microseconds past the millisecond and is still a DateTime.Utc", () => {
    const instant = UtcTime.make(millis, 456)
    expect(DateTime.isDateTime(instant)).toBe(true)
    expect(DateTime.isUtc(instant)).toBe(true)
    expect(instant.epochMillis).toBe(millis)
    expect(UtcTime.micros(instant)).toBe(456)
    expect(UtcTime.epochMicros(instant)).toBe(BigInt(millis) * 1000n + 456n)
    expect(DateTime.formatIso(instant)).toBe(at)
  })

  it("zero microseconds give a plain DateTime.Utc, equal to DateTime.unsafeMake", () => {
    const instant = UtcTime.make(millis, 0)
    expect(instant).toEqual(DateTime.unsafeMake(millis))
    expect(UtcTime.micros(instant)).toBe(0)
  })

  it("refuses microseconds out of 0–999", () => {
    expect(() => UtcTime.make(millis, 1000)).toThrow(RangeError)
    expect(() => UtcTime.make(millis, -1)).toThrow(RangeError)
    expect(() => UtcTime.make(millis, 1.5)).toThrow(RangeError)
  })

  it("equality and hashing count the microseconds", () => {
    expect(Equal.equals(UtcTime.make(millis, 456), UtcTime.make(millis, 456))).toBe(true)
    expect(Equal.equals(UtcTime.make(millis, 456), UtcTime.make(millis, 457))).toBe(false)
    expect(Equal.equals(UtcTime.make(millis, 456), DateTime.unsafeMake(millis))).toBe(false)
    expect(Hash.hash(UtcTime.make(millis, 456))).toBe(Hash.hash(UtcTime.make(millis, 456)))
    expect(UtcTime.make(millis, 456)).not.toEqual(UtcTime.make(millis, 457))
  })

  it("fromNanos reads a Clock.currentTimeNanos value to the microsecond", () => {
    const instant = UtcTime.fromNanos(BigInt(millis) * 1_000_000n + 456_789n)
    expect(instant.epochMillis).toBe(millis)
    expect(UtcTime.micros(instant)).toBe(456)
    // before 1970 the millisecond is the floor
    const early = UtcTime.fromNanos(-1_000n)
    expect(early.epochMillis).toBe(-1)
    expect(UtcTime.micros(early)).toBe(999)
  })

  it("Order sorts by millisecond, then microseconds", () => {
    const list = [UtcTime.make(millis, 5), UtcTime.make(millis + 1, 0), UtcTime.make(millis, 0), UtcTime.make(millis, 999)]
    const sorted = [...list].sort(UtcTime.Order).map((d) => UtcTime.formatIso(d))
    expect(sorted).toEqual([
      "2026-11-20T08:15:30.123Z",
      "2026-11-20T08:15:30.123005Z",
      "2026-11-20T08:15:30.123999Z",
      "2026-11-20T08:15:30.124Z"
    ])
  })

  it("formatIso prints six fraction digits only when there are microseconds", () => {
    expect(UtcTime.formatIso(UtcTime.make(millis, 456))).toBe("2026-11-20T08:15:30.123456Z")
    expect(UtcTime.formatIso(UtcTime.make(millis, 6))).toBe("2026-11-20T08:15:30.123006Z")
    expect(UtcTime.formatIso(DateTime.unsafeMake(millis))).toBe(at)
    expect(JSON.stringify(UtcTime.make(millis, 456))).toBe(`"2026-11-20T08:15:30.123456Z"`)
  })

  it("parseIso keeps six digits, applies a zone, reads naive text as UTC and refuses impossible dates", () => {
    const parsed = (text: string) => Option.map(UtcTime.parseIso(text), UtcTime.formatIso)
    expect(parsed("2026-11-20T08:15:30.123456Z")).toEqual(Option.some("2026-11-20T08:15:30.123456Z"))
    expect(parsed("2026-11-20T08:15:30.1234567Z")).toEqual(Option.some("2026-11-20T08:15:30.123456Z"))
    expect(parsed("2026-11-20T08:15:30.1Z")).toEqual(Option.some("2026-11-20T08:15:30.100Z"))
    expect(parsed("2026-11-20T09:15:30.123456+01:00")).toEqual(Option.some("2026-11-20T08:15:30.123456Z"))
    expect(parsed("2026-11-20T08:15:30.123456")).toEqual(Option.some("2026-11-20T08:15:30.123456Z"))
    expect(parsed("2026-11-20 08:15:30")).toEqual(Option.some("2026-11-20T08:15:30.000Z"))
    expect(parsed("0050-01-02T03:04:05.000006Z")).toEqual(Option.some("0050-01-02T03:04:05.000006Z"))
    expect(parsed("2026-04-31T00:00:00Z")).toEqual(Option.none())
    expect(parsed("2026-13-01T00:00:00Z")).toEqual(Option.none())
    expect(parsed("yesterday")).toEqual(Option.none())
  })

  it("DateTimeUtcFromIso round-trips every digit and fails with a clear message", () => {
    const decode = Schema.decodeUnknownEither(UtcTime.DateTimeUtcFromIso)
    const encode = Schema.encodeSync(UtcTime.DateTimeUtcFromIso)
    const decoded = decode("2026-11-20T08:15:30.123456Z")
    expect(Either.isRight(decoded)).toBe(true)
    if (Either.isRight(decoded)) {
      expect(UtcTime.micros(decoded.right)).toBe(456)
      expect(encode(decoded.right)).toBe("2026-11-20T08:15:30.123456Z")
    }
    const bad = decode("2026-11-20T25:00:00Z")
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) expect(bad.left.message).toContain("not an ISO-8601 instant")
  })
})
