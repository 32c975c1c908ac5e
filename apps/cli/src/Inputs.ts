/**
 * What people type on the command line: durations (`30s`, `5m`, `1h30m`,
 * `2 days`) and instants (ISO-8601, or a duration meaning "that long ago").
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as UtcTime from "@taskmeta/schema/UtcTime"

const UNITS: Record<string, number> = {
  ms: 1, millis: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hr: 3_600_000, hrs: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
  w: 604_800_000, week: 604_800_000, weeks: 604_800_000
}

const PART = /(\d+(?:\.\d+)?)\s*([a-z]+)/gy

/**
 * Parses `500ms`, `30s`, `5m`, `1h30m`, `2 days`, `1.5h`; a bare number is
 * seconds.
 *
 * @since 0.1.0
 * @category parsing
 */
export const duration = (text: string): Either.Either<Duration.Duration, string> => {
  const t = text.trim().toLowerCase()
  if (/^\d+(\.\d+)?$/.test(t)) return Either.right(Duration.seconds(Number(t)))
  let total = 0
  let at = 0
  PART.lastIndex = 0
  for (;;) {
    while (t[at] === " ") at++
    if (at >= t.length) break
    PART.lastIndex = at
    const m = PART.exec(t)
    const unit = m === null ? undefined : UNITS[m[2]]
    if (m === null || unit === undefined) {
      return Either.left(`${JSON.stringify(text)} is not a duration (try 30s, 5m, 1h30m or 2 days)`)
    }
    total += Number(m[1]) * unit
    at = PART.lastIndex
  }
  if (t.length === 0) return Either.left("the duration is empty")
  return Either.right(Duration.millis(total))
}

/**
 * Parses an instant: ISO-8601 (`2026-05-01`, `2026-05-01T12:00:00Z`,
 * `2026-05-01 12:00`; no zone means UTC) or a duration meaning that long
 * before `now` (`2h` = two hours ago).
 *
 * @since 0.1.0
 * @category parsing
 */
export const instant = (text: string, now: DateTime.Utc): Either.Either<DateTime.Utc, string> => {
  const t = text.trim()
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) {
    // ISO-8601 to the microsecond (naive text is UTC, as Celery writes it); a bare date too.
    const exact = UtcTime.parseIso(t)
    if (Option.isSome(exact)) return Either.right(exact.value)
    const zoned = /([zZ]|[+-]\d{2}:?\d{2})$/.test(t) || /^\d{4}-\d{2}-\d{2}$/.test(t) ? t : `${t.replace(" ", "T")}Z`
    return Option.match(DateTime.make(zoned.replace(" ", "T")), {
      onNone: () => Either.left(`${JSON.stringify(text)} is not a date (try 2026-05-01T12:00:00Z or 2h for two hours ago)`),
      onSome: (d) => Either.right(DateTime.toUtc(d))
    })
  }
  return Either.match(duration(t), {
    onLeft: () => Either.left(`${JSON.stringify(text)} is not a date or a duration (try 2026-05-01T12:00:00Z or 2h)`),
    onRight: (d) => Either.right(DateTime.subtractDuration(now, d))
  })
}
