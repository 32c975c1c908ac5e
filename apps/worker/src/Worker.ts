/**
 * The demo worker: every beat schedule entry running in its own fiber,
 * results stored through the `ResultBackend` the URL selects (extended
 * results on), pipeline runs through the `PipelineStore` on the same
 * storage, and the expiry sweep in the background. Stops after `runFor`
 * when given, or when interrupted (SIGINT/SIGTERM through
 * `NodeRuntime.runMain`); tasks already started are finished first.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Expiry from "@taskmeta/core/Expiry"
import * as Executor from "./Executor.js"
import * as Schedules from "./Schedules.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Default: `TASKMETA_BACKEND_URL`, else `db+sqlite:///results.sqlite`. */
  readonly backend: Option.Option<Redacted.Redacted<string>>
  /** PostgreSQL schema for the tables. */
  readonly schema: Option.Option<string>
  /** Stop after this long; default: run until interrupted. */
  readonly runFor: Option.Option<Duration.Duration>
  /** How long READY results are kept (Celery's result_expires). Default 1 day. */
  readonly expires: Duration.Duration
  /** Sweep expired results this often; default daily at 04:00 UTC. */
  readonly sweepEvery: Option.Option<Duration.Duration>
  /**
   * How SQL backends write results: `json` (default) or `pickle`, what
   * Python Celery writes and reads back (Celery-compatible mode).
   */
  readonly encoding?: Stores.Options["encoding"]
  /** Where a relative SQLite path resolves. */
  readonly baseDirectory: string
  readonly schedule?: ReadonlyArray<Schedules.Entry> | undefined
}

/**
 * The layers for the settings: backend + expiry sweep, pipeline store.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Settings) =>
  Layer.unwrapEffect(Effect.gen(function*() {
    const url = yield* Option.match(settings.backend, { onNone: () => BackendUrl.config, onSome: BackendUrl.parse })
    const options: Stores.Options = {
      resultExtended: true,
      resultExpires: settings.expires,
      baseDirectory: settings.baseDirectory,
      encoding: settings.encoding,
      tables: Option.match(settings.schema, { onNone: () => undefined, onSome: (schema) => ({ schema }) })
    }
    const mode = settings.encoding === "pickle" && (url._tag === "Sqlite" || url._tag === "Postgres" || url._tag === "Mysql")
      ? " (Celery-compatible pickles)"
      : ""
    yield* Effect.logInfo(`storing results in ${BackendUrl.describe(url)}${mode}`)
    const expiry = Expiry.layer(Option.match(settings.sweepEvery, { onNone: () => Expiry.daily, onSome: (every) => ({ every }) }))
    // One store, one client: the result backend, the pipeline store and the browsers share it.
    return Layer.provideMerge(expiry, Stores.layerFromUrl(url, options))
  }))

/**
 * Runs the schedule until `runFor` elapses or the fiber is interrupted.
 *
 * @since 0.1.0
 * @category run
 */
export const run = (settings: Settings) =>
  Effect.gen(function*() {
    const schedule = settings.schedule ?? Schedules.beatSchedule
    yield* Effect.logInfo(`${Executor.workerName} ready: ${schedule.map((e) => e.key).join(", ")}`)
    const loops = Effect.forEach(schedule, Schedules.runEntry, { concurrency: "unbounded", discard: true })
    if (Option.isNone(settings.runFor)) return yield* loops
    const stopped = yield* Effect.timeoutOption(loops, settings.runFor.value)
    if (Option.isNone(stopped)) {
      yield* Effect.logInfo(`ran for ${Duration.format(settings.runFor.value)}; stopped after finishing started tasks`)
    }
  }).pipe(
    Effect.onInterrupt(() => Effect.logInfo("interrupted; stopped after finishing started tasks")),
    Effect.provide(layer(settings))
  )
