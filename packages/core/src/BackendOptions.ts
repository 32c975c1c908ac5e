/**
 * Settings every `ResultBackend` implementation shares.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as RetryPolicy from "./RetryPolicy.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface BackendOptions {
  /** Store name, args, kwargs, worker, retries and queue [result_extended]. Default off. */
  readonly resultExtended: boolean
  /** How long READY records are kept; `null` keeps them forever [result_expires]. Default 1 day. */
  readonly resultExpires: Duration.Duration | null
  /** Per-state retention overriding `resultExpires` (`null` = keep forever), e.g. keep FAILURE longer. */
  readonly expiresByState: Readonly<Record<string, Duration.Duration | null>>
  /** How many records one cleanup batch (one transaction) deletes. Default 1,000. */
  readonly cleanupBatchSize: number
  /** The longest pause between polls while waiting. Default 500 ms. */
  readonly pollInterval: Duration.Duration
  readonly retry: RetryPolicy.Settings
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults: BackendOptions = {
  resultExtended: false,
  resultExpires: Duration.days(1),
  expiresByState: {},
  cleanupBatchSize: 1000,
  pollInterval: Duration.millis(500),
  retry: RetryPolicy.defaults
}

/**
 * Options given by a caller: every field optional.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly resultExtended?: boolean | undefined
  readonly resultExpires?: Duration.DurationInput | null | undefined
  readonly expiresByState?: Readonly<Record<string, Duration.DurationInput | null>> | undefined
  readonly cleanupBatchSize?: number | undefined
  readonly pollInterval?: Duration.DurationInput | undefined
  readonly retry?: Partial<RetryPolicy.Settings> | undefined
}

const expiry = (input: Duration.DurationInput | null | undefined, fallback: Duration.Duration | null) => {
  if (input === undefined) return fallback
  if (input === null) return null
  const d = Duration.decode(input)
  return Duration.toMillis(d) <= 0 ? null : d
}

/**
 * Fills the defaults in. A `resultExpires` of 0 means never, as in Celery.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): BackendOptions => {
  const byState: Record<string, Duration.Duration | null> = {}
  for (const [state, value] of Object.entries(input.expiresByState ?? {})) byState[state] = expiry(value, null)
  return {
    resultExtended: input.resultExtended ?? defaults.resultExtended,
    resultExpires: expiry(input.resultExpires, defaults.resultExpires),
    expiresByState: byState,
    cleanupBatchSize: Math.max(1, Math.floor(input.cleanupBatchSize ?? defaults.cleanupBatchSize)),
    pollInterval: input.pollInterval === undefined ? defaults.pollInterval : Duration.decode(input.pollInterval),
    retry: { ...defaults.retry, ...input.retry }
  }
}

/**
 * Options from configuration: `resultExtended`, `resultExpires` (a duration,
 * `0` for never), `cleanupBatchSize`, `pollInterval`, and the retry settings
 * under `retry`. Nest it (`Config.nested("TASKMETA")`) as your app wants.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<BackendOptions> = Config.all({
  resultExtended: Config.boolean("resultExtended").pipe(Config.withDefault(defaults.resultExtended)),
  resultExpires: Config.option(Config.duration("resultExpires")),
  cleanupBatchSize: Config.integer("cleanupBatchSize").pipe(Config.withDefault(defaults.cleanupBatchSize)),
  pollInterval: Config.duration("pollInterval").pipe(Config.withDefault(defaults.pollInterval)),
  retry: Config.nested(RetryPolicy.config, "retry")
}).pipe(Config.map((c) =>
  make({
    resultExtended: c.resultExtended,
    resultExpires: Option.getOrUndefined(c.resultExpires),
    cleanupBatchSize: c.cleanupBatchSize,
    pollInterval: c.pollInterval,
    retry: c.retry
  })
))
