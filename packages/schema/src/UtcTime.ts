/**
 * Instants as the stores hold them: calendar fields to an instant, and
 * instants to the microsecond (`Instant`), as Celery writes them.
 *
 * @since 0.1.0
 */
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Equal from "effect/Equal"
import { dual } from "effect/Function"
import * as Hash from "effect/Hash"
import * as Option from "effect/Option"
import type * as Order_ from "effect/Order"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/**
 * `Date.UTC`, except that years 0–99 are those years: `Date.UTC` reads them
 * as 1900–1999, so a stored `0050-…` date would come back as 1950.
 *
 * @since 0.1.0
 * @category constructors
 */
export const utcMillis = (
  year: number,
  month: number,
  day: number,
  hour: number,
  minute: number,
  second: number,
  millis: number
): number => {
  const value = Date.UTC(year, month, day, hour, minute, second, millis)
  if (year >= 100 || !Number.isFinite(value)) return value
  const date = new Date(value)
  date.setUTCFullYear(year)
  return date.getTime()
}

// ---------------------------------------------------------------------------
// microseconds
// ---------------------------------------------------------------------------

/**
 * A `DateTime.Utc` that also carries the microseconds past its millisecond
 * (0–999), for instants read from a source that has them: Celery writes
 * `date_done` with microseconds (`datetime.utcnow()`), PostgreSQL keeps them,
 * SQLite holds them as text. Effect's `DateTime` counts whole milliseconds;
 * an `Instant` is still a `DateTime.Utc` (every `DateTime` function takes
 * it; those that compute a new instant return a plain millisecond one), with
 * `micros` as an extra own property. Equality and hashing count `micros`.
 *
 * Make them with `make`, `fromNanos` or `parseIso`; read the extra digits
 * with `micros`; print them with `formatIso`; order with `Order`. An instant
 * whose microseconds are zero is a plain `DateTime.Utc` (no `micros`), so
 * the two compare equal in tests and `Equal.equals`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Instant extends DateTime.Utc {
  /** Microseconds past `epochMillis`, 1–999. */
  readonly micros: number
}

const ProtoUtc: object = Object.getPrototypeOf(DateTime.unsafeMake(0))

const ProtoInstant: object = Object.create(ProtoUtc, {
  [Equal.symbol]: {
    value(this: Instant, that: unknown): boolean {
      return DateTime.isDateTime(that) && DateTime.isUtc(that) && this.epochMillis === that.epochMillis &&
        this.micros === micros(that)
    }
  },
  [Hash.symbol]: {
    value(this: Instant): number {
      return Hash.cached(this, Hash.combine(Hash.number(this.micros))(Hash.number(this.epochMillis)))
    }
  },
  toJSON: {
    value(this: Instant): string {
      return formatIso(this)
    }
  },
  toString: {
    value(this: Instant): string {
      return `DateTime.Utc(${formatIso(this)})`
    }
  }
})

/**
 * The instant `epochMillis` + `micros` µs (`micros` 0–999; 0 gives a plain
 * `DateTime.Utc`). Throws a `RangeError` for a value out of range, as
 * `DateTime.unsafeMake` does.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (epochMillis: number, micros: number): DateTime.Utc => {
  const base = DateTime.unsafeMake(epochMillis)
  if (micros === 0) return base
  if (!Number.isInteger(micros) || micros < 0 || micros > 999) {
    throw new RangeError(`micros must be an integer from 0 to 999, got ${micros}`)
  }
  const self = Object.create(ProtoInstant)
  self.epochMillis = base.epochMillis
  self.micros = micros
  return self
}

/**
 * The instant of a `Clock.currentTimeNanos` reading, to the microsecond.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromNanos = (nanos: bigint): DateTime.Utc => {
  const micros = nanos / 1000n
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n)
  return make(Number(millis), Number(micros - millis * 1000n))
}

/**
 * The microseconds past the millisecond of an instant: 0–999, 0 for a
 * plain `DateTime.Utc`.
 *
 * @since 0.1.0
 * @category getters
 */
export const micros = (self: DateTime.Utc): number => (self as Partial<Instant>).micros ?? 0

/**
 * Whole microseconds since the epoch, as a `bigint` (years 1–9999 need more
 * than 2^53).
 *
 * @since 0.1.0
 * @category getters
 */
export const epochMicros = (self: DateTime.Utc): bigint => BigInt(self.epochMillis) * 1000n + BigInt(micros(self))

/**
 * Orders instants by their millisecond, then their microseconds.
 *
 * @since 0.1.0
 * @category instances
 */
export const Order: Order_.Order<DateTime.Utc> = (a, b) =>
  a.epochMillis < b.epochMillis
    ? -1
    : a.epochMillis > b.epochMillis
    ? 1
    : micros(a) < micros(b)
    ? -1
    : micros(a) > micros(b)
    ? 1
    : 0

/**
 * ISO-8601 in UTC: `…T08:15:30.123Z` as `DateTime.formatIso` prints it, or
 * six fraction digits (`…T08:15:30.123456Z`) when the instant has
 * microseconds.
 *
 * @since 0.1.0
 * @category formatting
 */
export const formatIso = (self: DateTime.Utc): string => {
  const iso = DateTime.formatIso(DateTime.unsafeMake(self.epochMillis))
  const us = micros(self)
  return us === 0 ? iso : `${iso.slice(0, -1)}${String(us).padStart(3, "0")}Z`
}

const ISO = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?(Z|[+-]\d{2}:?\d{2})?$/

/**
 * Parses ISO-8601 text, keeping up to six fraction digits (further digits
 * are cut; Python's `datetime` keeps six). A zone (`Z`, `±HH:MM`) is
 * applied; text without one is naive UTC, as Celery's `isoformat()` of
 * `datetime.utcnow()` writes it. An impossible date is `None`.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseIso = (text: string): Option.Option<DateTime.Utc> => {
  const m = ISO.exec(text)
  if (m === null) return Option.none()
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i] ?? "0"))
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 59) return Option.none()
  const fraction = (m[7] ?? "").padEnd(6, "0")
  const zone = m[8] === undefined || m[8] === "Z" ? 0 : (m[8][0] === "-" ? -1 : 1) * (Number(m[8].slice(1, 3)) * 60 + Number(m[8].slice(-2)))
  const millis = utcMillis(year, month - 1, day, hour, minute, second, Number(fraction.slice(0, 3))) - zone * 60_000
  // Date.UTC rolls 31 April over to 1 May: refuse it instead.
  const check = new Date(millis + zone * 60_000)
  if (!Number.isFinite(millis) || check.getUTCDate() !== day) return Option.none()
  try {
    return Option.some(make(millis, Number(fraction.slice(3, 6))))
  } catch {
    return Option.none()
  }
}

/**
 * `DateTime.Utc` from ISO-8601 text, to the microsecond: decodes what
 * `parseIso` reads, encodes with `formatIso` (six fraction digits only when
 * there are microseconds). The JSON line shapes use it for `date_done`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const DateTimeUtcFromIso: Schema.Schema<DateTime.Utc, string> = Schema.transformOrFail(
  Schema.String,
  Schema.DateTimeUtcFromSelf,
  {
    strict: true,
    decode: (text, _, ast) =>
      Option.match(parseIso(text), {
        onNone: () =>
          ParseResult.fail(new ParseResult.Type(ast, text, `not an ISO-8601 instant: ${JSON.stringify(text)}`)),
        onSome: ParseResult.succeed
      }),
    encode: (instant) => ParseResult.succeed(formatIso(instant))
  }
).annotations({ identifier: "DateTimeUtcFromIso" })

/**
 * A `Clock` that reads `instant` (to the microsecond: `currentTimeNanos`
 * included) and sleeps with `real`, so retries still back off. What a store
 * made under it stamps is exactly `instant`: restoring a record as it was
 * (import, copy) runs the backend's own `store` under it.
 *
 * @since 0.1.0
 * @category clock
 */
export const clockAt = (instant: DateTime.Utc, real: Clock.Clock): Clock.Clock => {
  const millis = instant.epochMillis
  const nanos = epochMicros(instant) * 1000n
  return {
    [Clock.ClockTypeId]: Clock.ClockTypeId,
    unsafeCurrentTimeMillis: () => millis,
    currentTimeMillis: Effect.succeed(millis),
    unsafeCurrentTimeNanos: () => nanos,
    currentTimeNanos: Effect.succeed(nanos),
    sleep: (duration) => real.sleep(duration)
  }
}

/**
 * Runs `self` with the clock at `instant` (`clockAt` over the current clock).
 *
 * @since 0.1.0
 * @category clock
 */
export const withClockAt: {
  (instant: DateTime.Utc): <A, E, R>(self: Effect.Effect<A, E, R>) => Effect.Effect<A, E, R>
  <A, E, R>(self: Effect.Effect<A, E, R>, instant: DateTime.Utc): Effect.Effect<A, E, R>
} = dual(
  2,
  <A, E, R>(self: Effect.Effect<A, E, R>, instant: DateTime.Utc): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.clock, (real) => Effect.withClock(self, clockAt(instant, real)))
)
