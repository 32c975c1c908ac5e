/**
 * Calendar fields to an instant, for the timestamp texts the stores read.
 *
 * @since 0.1.0
 */

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
