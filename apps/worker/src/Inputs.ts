/**
 * Durations as people type them (`12s`, `5m`, `1h30m`, `2 days`; a bare
 * number is seconds).
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"

const UNITS: Record<string, number> = {
  ms: 1, millis: 1, s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000, d: 86_400_000, day: 86_400_000, days: 86_400_000
}

/**
 * @since 0.1.0
 * @category parsing
 */
export const duration = (text: string): Either.Either<Duration.Duration, string> => {
  const t = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(t)) return Either.right(Duration.seconds(Number(t)))
  const parts = Array.from(t.matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)\s*/g))
  const consumed = parts.reduce((n, m) => n + m[0].length, 0)
  if (parts.length === 0 || consumed !== t.length || parts.some((m) => UNITS[m[2]] === undefined)) {
    return Either.left(`${JSON.stringify(text)} is not a duration (try 12s, 5m, 1h30m or 2 days)`)
  }
  return Either.right(Duration.millis(parts.reduce((n, m) => n + Number(m[1]) * UNITS[m[2]], 0)))
}
