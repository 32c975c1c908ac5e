/**
 * The expiry sweep: runs `ResultBackend.cleanup` in a background fiber on a
 * schedule (by default daily at 04:00 UTC, as Celery beat's
 * `celery.backend_cleanup`), logs and survives a failed sweep, and stops with
 * the layer's scope.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Cron from "effect/Cron"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schedule from "effect/Schedule"
import { ResultBackend } from "./ResultBackend.js"

/**
 * When to sweep: a cron expression (evaluated in UTC) or a fixed interval.
 *
 * @since 0.1.0
 * @category models
 */
export type When = { readonly cron: string } | { readonly every: Duration.DurationInput }

/**
 * Daily at 04:00 UTC.
 *
 * @since 0.1.0
 * @category constants
 */
export const daily: When = { cron: "0 4 * * *" }

/**
 * The schedule for `when`, or why the cron expression is invalid.
 *
 * @since 0.1.0
 * @category schedules
 */
export const schedule = (when: When): Either.Either<Schedule.Schedule<unknown>, Cron.ParseError> =>
  "every" in when ? Either.right(Schedule.spaced(when.every)) : Either.map(Cron.parse(when.cron, "UTC"), (cron) => Schedule.cron(cron))

/**
 * One sweep: cleanup, logged; a failure is logged and swallowed so the loop
 * goes on.
 *
 * @since 0.1.0
 * @category sweeps
 */
export const sweep = Effect.gen(function*() {
  const backend = yield* ResultBackend
  yield* backend.cleanup().pipe(
    Effect.tap((report) =>
      report.tasks + report.groups > 0
        ? Effect.logInfo("expired results deleted").pipe(
          Effect.annotateLogs({ tasks: report.tasks, groups: report.groups })
        )
        : Effect.logDebug("no expired results")
    ),
    Effect.catchAllCause((cause) => Effect.logWarning("expiry sweep failed; will try again at the next tick", cause)),
    Effect.annotateLogs({ service: "taskmeta/expiry", backend: backend.kind })
  )
})

/**
 * Runs the sweep on a schedule in the layer's scope. It needs the
 * `ResultBackend`; `Layer.provideMerge` keeps that in the output too.
 *
 * @example
 * ```ts
 * import { Expiry, MemoryBackend } from "@taskmeta/core"
 * import { Layer } from "effect"
 *
 * // Records done more than a day ago are deleted (failures after a week) by a sweep every hour,
 * // forked into the layer's scope: it stops when the program's scope closes.
 * const Backend = MemoryBackend.layer({ resultExpires: "1 day", expiresByState: { FAILURE: "7 days" } })
 * const Live = Expiry.layer({ every: "1 hour" }).pipe(Layer.provideMerge(Backend))
 *
 * // Without an argument the sweep runs daily at 04:00 UTC, as Celery beat's backend_cleanup;
 * // a cron expression is read in UTC.
 * const Nightly = Expiry.layer({ cron: "30 2 * * *" }).pipe(Layer.provideMerge(Backend))
 * ```
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (when: When = daily): Layer.Layer<never, Cron.ParseError, ResultBackend> =>
  Layer.scopedDiscard(
    Effect.gen(function*() {
      const s = yield* schedule(when)
      yield* sweep.pipe(Effect.schedule(s), Effect.forkScoped, Effect.interruptible)
    })
  )

/**
 * `When` from configuration: `expirySchedule`, a cron expression (UTC) or a
 * duration such as `1 hour`. Default daily at 04:00 UTC.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<When> = Config.string("expirySchedule").pipe(
  Config.mapOrFail((text) => {
    const every = Duration.decodeUnknown(text)
    if (every._tag === "Some") return Either.right({ every: every.value } as When)
    return Either.match(Cron.parse(text, "UTC"), {
      onLeft: (e) => Either.left(ConfigError.InvalidData([], `expirySchedule: ${e.message}`)),
      onRight: () => Either.right({ cron: text } as When)
    })
  }),
  Config.withDefault(daily)
)
