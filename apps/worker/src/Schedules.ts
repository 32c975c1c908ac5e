/**
 * The beat schedule, after the seed's Celery example
 * (`app.conf.beat_schedule`): `multiply_two_numbers` every 5 s and on a
 * crontab (daily at 01:03 UTC), `sum_two_numbers` every 30 s, all with args
 * (16, 16); plus a task that fails, one that retries before it succeeds, a
 * group, and a pipeline run. Every entry also fires once at start, so a short
 * run covers every kind.
 *
 * @since 0.1.0
 */
import * as Cron from "effect/Cron"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schedule from "effect/Schedule"
import type * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as DemoPipeline from "./DemoPipeline.js"
import * as Executor from "./Executor.js"
import * as Tasks from "./Tasks.js"

/**
 * @since 0.1.0
 * @category models
 */
export type When = { readonly every: Duration.DurationInput } | { readonly crontab: string }

/**
 * @since 0.1.0
 * @category models
 */
export interface Entry {
  readonly key: string
  readonly schedule: When
  readonly run: Effect.Effect<unknown, unknown, ResultBackend.ResultBackend | PipelineStore.PipelineStore>
}

const task = (t: Tasks.Task, args: ReadonlyArray<number>) => Executor.execute(t, { args })

/**
 * @since 0.1.0
 * @category schedule
 */
export const beatSchedule: ReadonlyArray<Entry> = [
  {
    key: "add-every-minute-crontab",
    schedule: { crontab: "3 1 * * *" },
    run: task(Tasks.multiplyTwoNumbers, [16, 16])
  },
  { key: "add-every-5-seconds", schedule: { every: "5 seconds" }, run: task(Tasks.multiplyTwoNumbers, [16, 16]) },
  { key: "add-every-30-seconds", schedule: { every: "30 seconds" }, run: task(Tasks.sumTwoNumbers, [16, 16]) },
  { key: "divide-every-20-seconds", schedule: { every: "20 seconds" }, run: task(Tasks.divideTwoNumbers, [16, 0]) },
  { key: "fetch-every-30-seconds", schedule: { every: "30 seconds" }, run: task(Tasks.fetchAndSum, [16, 16]) },
  {
    key: "sum-group-every-minute",
    schedule: { every: "1 minute" },
    run: Executor.group([
      [Tasks.sumTwoNumbers, { args: [1, 2] }],
      [Tasks.sumTwoNumbers, { args: [3, 4] }],
      [Tasks.multiplyTwoNumbers, { args: [5, 6] }]
    ])
  },
  { key: "pipeline-every-minute", schedule: { every: "1 minute" }, run: DemoPipeline.run() }
]

/**
 * The Effect schedule for an entry (cron in UTC).
 *
 * @since 0.1.0
 * @category schedule
 */
export const toSchedule = (when: When): Either.Either<Schedule.Schedule<unknown>, Cron.ParseError> =>
  "every" in when
    ? Either.right(Schedule.spaced(when.every))
    : Either.map(Cron.parse(when.crontab, "UTC"), (cron) => Schedule.cron(cron))

/**
 * Runs an entry now and then on its schedule, forever. A failed run is
 * logged and the entry keeps its schedule.
 *
 * @since 0.1.0
 * @category schedule
 */
export const runEntry = (entry: Entry) =>
  Effect.gen(function*() {
    const schedule = yield* toSchedule(entry.schedule)
    const once = entry.run.pipe(
      Effect.catchAllCause((cause) => Effect.logError(`schedule ${entry.key} failed; next run as scheduled`, cause))
    )
    yield* Effect.repeat(once, schedule)
  }).pipe(Effect.annotateLogs({ schedule: entry.key }))
