/**
 * Naive-UTC timestamps as Celery (SQLAlchemy) and PostgreSQL's `to_char`
 * write them: `YYYY-MM-DD HH:MM:SS.ffffff`.
 */
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"
import * as UtcTime from "@taskmeta/schema/UtcTime"

/**
 * The timestamp text Celery reads and writes: naive UTC
 * `YYYY-MM-DD HH:MM:SS.ffffff`, always six fraction digits.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const formatTimestamp = (dateTime: DateTime.Utc): string => {
  const iso = new Date(DateTime.toEpochMillis(dateTime)).toISOString()
  return `${iso.slice(0, 10)} ${iso.slice(11, 23)}${MICROS[UtcTime.micros(dateTime)]}`
}

/** The last three fraction digits, by microseconds past the millisecond. */
const MICROS: ReadonlyArray<string> = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, "0"))

/** `formatTimestamp` remembering its last answer: records written together mostly share an instant. */
export const memoFormatTimestamp = () => {
  let last: DateTime.Utc | undefined
  let lastText = ""
  return (dateTime: DateTime.Utc): string => {
    if (last === undefined || dateTime.epochMillis !== last.epochMillis || UtcTime.micros(dateTime) !== UtcTime.micros(last)) {
      lastText = formatTimestamp(dateTime)
      last = dateTime
    }
    return lastText
  }
}

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(?:Z|[+-]00(?::?00)?)?$/

/**
 * Parses a naive UTC timestamp as Celery (SQLAlchemy) or PostgreSQL writes
 * it; a `Date` (from a driver that parsed it already) is taken as is.
 *
 * @since 0.1.0
 * @category timestamps
 */
export const parseTimestamp = (value: string | Date): Option.Option<DateTime.Utc> => {
  if (value instanceof Date) return DateTime.make(value)
  const fast = parseCeleryTimestamp(value)
  if (fast !== undefined) return Option.some(fast)
  const m = TIMESTAMP.exec(value.trim())
  if (m === null) return Option.none()
  const millis = UtcTime.utcMillis(
    Number(m[1]),
    Number(m[2]) - 1,
    Number(m[3]),
    Number(m[4]),
    Number(m[5]),
    Number(m[6] ?? "0"),
    Number((m[7] ?? "0").padEnd(3, "0").slice(0, 3))
  )
  return Number.isFinite(millis)
    ? Option.some(UtcTime.make(millis, Number((m[7] ?? "").padEnd(6, "0").slice(3, 6))))
    : Option.none()
}

const digit = (text: string, i: number): number => {
  const d = text.charCodeAt(i) - 48
  return d >= 0 && d <= 9 ? d : Number.NaN
}

/**
 * The exact text taskmeta and Celery write, `YYYY-MM-DD HH:MM:SS.ffffff`, read
 * digit by digit (it is on every row read); anything else is `undefined`
 * and goes to the general parser.
 */
const parseCeleryTimestamp = (text: string): DateTime.Utc | undefined => {
  if (text.length !== 26 || text[4] !== "-" || text[7] !== "-" || text[10] !== " " || text[13] !== ":" ||
    text[16] !== ":" || text[19] !== ".") return undefined
  const year = digit(text, 0) * 1000 + digit(text, 1) * 100 + digit(text, 2) * 10 + digit(text, 3)
  const month = digit(text, 5) * 10 + digit(text, 6)
  const day = digit(text, 8) * 10 + digit(text, 9)
  const hour = digit(text, 11) * 10 + digit(text, 12)
  const minute = digit(text, 14) * 10 + digit(text, 15)
  const second = digit(text, 17) * 10 + digit(text, 18)
  const millis = digit(text, 20) * 100 + digit(text, 21) * 10 + digit(text, 22)
  const micros = digit(text, 23) * 100 + digit(text, 24) * 10 + digit(text, 25)
  if (Number.isNaN(year + month + day + hour + minute + second + millis + micros)) return undefined
  const value = UtcTime.utcMillis(year, month - 1, day, hour, minute, second, millis)
  return Number.isFinite(value) ? UtcTime.make(value, micros) : undefined
}

// ---------------------------------------------------------------------------
// MySQL / MariaDB: the one place that knows how `DATETIME(p)` columns are
// written and read. Every statement reads `date_done` through
// `MYSQL_DATE_DONE` (text, never a driver `Date`: no client or session time
// zone involved) and writes the text `formatMysqlTimestamp` makes.
// ---------------------------------------------------------------------------

/** `date_done` as the 26-character text `parseTimestamp` reads, whatever the column's precision. */
export const MYSQL_DATE_DONE = "DATE_FORMAT(date_done, '%Y-%m-%d %H:%i:%s.%f')"

/**
 * The text a `DATETIME(precision)` column stores for an instant: naive UTC,
 * cut (not rounded: MySQL would round, MariaDB cuts) to the column's
 * fraction digits, so what is sent is exactly what is kept.
 */
export const formatMysqlTimestamp = (text: string, precision: number): string =>
  precision <= 0 ? text.slice(0, 19) : text.slice(0, 20 + Math.min(6, precision))
