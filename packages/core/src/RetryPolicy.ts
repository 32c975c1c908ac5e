/**
 * The retry policy for storage operations (Celery's
 * `result_backend_always_retry` and friends): exponential backoff with full
 * jitter, capped, bounded, and only for errors a classifier calls transient.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Random from "effect/Random"
import * as Schedule from "effect/Schedule"

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Retry transient errors at all [result_backend_always_retry]. */
  readonly alwaysRetry: boolean
  /** Retries after the first attempt [result_backend_max_retries]. */
  readonly maxRetries: number
  /** The delay scale: retry n waits a random time in [0, min(maxSleep, baseSleep·2ⁿ)]. */
  readonly baseSleep: Duration.Duration
  readonly maxSleep: Duration.Duration
}

/**
 * Celery's defaults: always retry, 3 retries, 10 ms base, 10 s cap.
 *
 * @since 0.1.0
 * @category constants
 */
export const defaults: Settings = {
  alwaysRetry: true,
  maxRetries: 3,
  baseSleep: Duration.millis(10),
  maxSleep: Duration.seconds(10)
}

/**
 * Settings from configuration (`alwaysRetry`, `maxRetries`, `baseSleep`,
 * `maxSleep`), each defaulting as `defaults`.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<Settings> = Config.all({
  alwaysRetry: Config.boolean("alwaysRetry").pipe(Config.withDefault(defaults.alwaysRetry)),
  maxRetries: Config.integer("maxRetries").pipe(
    Config.validate({ message: "maxRetries must be 0 or more", validation: (n) => n >= 0 }),
    Config.withDefault(defaults.maxRetries)
  ),
  baseSleep: Config.duration("baseSleep").pipe(Config.withDefault(defaults.baseSleep)),
  maxSleep: Config.duration("maxSleep").pipe(Config.withDefault(defaults.maxSleep))
})

/**
 * The ceiling of the delay before retry `n` (1-based): min(maxSleep, baseSleep·2ⁿ).
 *
 * @since 0.1.0
 * @category schedules
 */
export const ceiling = (settings: Settings, n: number): Duration.Duration => {
  const base = Duration.toMillis(settings.baseSleep)
  const cap = Duration.toMillis(settings.maxSleep)
  return Duration.millis(Math.min(cap, base * Math.pow(2, Math.min(n, 52))))
}

/**
 * Full-jitter exponential backoff: before retry n, a random delay in
 * [0, min(maxSleep, baseSleep·2ⁿ)]; at most `maxRetries` retries (none when
 * `alwaysRetry` is off). `skip` starts the count later (a schedule for the
 * retries after the first `skip`).
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (settings: Settings, skip = 0): Schedule.Schedule<number> =>
  Schedule.recurs(Math.max(0, (settings.alwaysRetry ? settings.maxRetries : 0) - skip)).pipe(
    Schedule.modifyDelayEffect((n) => jitter(settings, n + 1 + skip))
  )

const jitter = (settings: Settings, n: number) =>
  Random.nextRange(0, Duration.toMillis(ceiling(settings, n))).pipe(Effect.map(Duration.millis))

/**
 * Retries `self` by the policy while `isTransient` holds for its error.
 * `onRetry` runs after each transient failure (to drop a broken connection).
 * The first attempt runs bare: the retry machinery is only built once a
 * transient failure happened, so the common path costs nothing extra.
 *
 * @since 0.1.0
 * @category combinators
 */
export const retryTransient = <E>(
  settings: Settings,
  isTransient: (error: E) => boolean,
  onRetry: (error: E) => Effect.Effect<void> = () => Effect.void
) => {
  if (!settings.alwaysRetry || settings.maxRetries <= 0) return <A, R>(self: Effect.Effect<A, E, R>) => self
  const later = { schedule: schedule(settings, 1), while: isTransient }
  const before = (e: E) => (isTransient(e) ? onRetry(e) : Effect.void)
  return <A, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
    Effect.catchAll(self, (error) => {
      if (!isTransient(error)) return Effect.fail(error)
      // Built only now: most calls never fail.
      const again: Effect.Effect<A, E, R> = Effect.retry(Effect.tapError(self, before), later)
      return onRetry(error).pipe(
        Effect.zipRight(Effect.flatMap(jitter(settings, 1), Effect.sleep)),
        Effect.zipRight(again)
      )
    })
}
