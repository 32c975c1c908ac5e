/**
 * Progress of long commands (import, copy, cleanup, export to a file), on
 * stderr so it never mixes with output.
 *
 * On a terminal: a bar drawn by `cli-progress` (the count, the total when
 * known, the rate and the time left), redrawn at most 10 times a second and
 * cleared when the work ends. Elsewhere (a log file, a pipe): a plain line
 * now and then — when a quarter of the work is done, and every `every`
 * (default 10 s) — and none at all for work that ends within the first
 * second, so short commands print nothing but their result.
 *
 * Time comes from `Clock` (the plain lines' cadence runs under `TestClock`);
 * the bar redraws on its own timer, as the library does.
 */
import CliProgress from "cli-progress"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"

/**
 * How far the work is: `done` records so far; `position` is where it is in
 * the unit of `total` (records, or bytes of a file), `done` when left out.
 */
export interface Sample {
  readonly done: number
  readonly position?: number | undefined
}

export interface Options {
  /** `import`, `copy`, … (the start of every line). */
  readonly label: string
  /** The size of the work, in records, or in bytes when `bytes` is set; unknown when left out. */
  readonly total?: number | undefined
  /** `total` and `position` are bytes of the input, not records. */
  readonly bytes?: boolean | undefined
  /** Where to write: a terminal gets the bar, anything else plain lines. */
  readonly stream: NodeJS.WritableStream & { readonly isTTY?: boolean | undefined }
  /** Between two plain lines at most (default 10 s). */
  readonly every?: Duration.DurationInput | undefined
  /** Show nothing at all (a run that gives no progress, e.g. export to a terminal). */
  readonly silent?: boolean | undefined
}

export interface Progress {
  readonly update: (sample: Sample) => Effect.Effect<void>
  /** Writes a line of its own (a skipped line's reason) without breaking the bar. */
  readonly log: (text: string) => Effect.Effect<void>
  /**
   * Ends the display now (the bar is cleared), so that what the command
   * prints next (its summary) stays on the screen; the scope's end does it
   * otherwise.
   */
  readonly finish: Effect.Effect<void>
}

/** Plain lines start after this much work, so a command that ends sooner prints none. */
const QUIET_START_MS = 1000

const count = (n: number) => Math.round(n).toLocaleString("en-US")

/** `2m 05s`, `14s`, `1h 02m`. */
export const formatDuration = (ms: number): string => {
  const s = Math.max(0, Math.round(ms / 1000))
  if (s < 60) return `${s}s`
  if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`
  return `${Math.floor(s / 3600)}h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`
}

/** What a sample means at `elapsedMs`: the fraction done (when the total is known), the rate, the time left. */
export const measure = (options: Pick<Options, "total">, sample: Sample, elapsedMs: number) => {
  const position = sample.position ?? sample.done
  const total = options.total !== undefined && options.total > 0 ? options.total : undefined
  const fraction = total === undefined ? undefined : Math.min(1, position / total)
  const rate = elapsedMs > 0 ? (sample.done * 1000) / elapsedMs : 0
  const leftMs = fraction === undefined || fraction <= 0 || elapsedMs <= 0 ? undefined : (elapsedMs * (1 - fraction)) / fraction
  return { fraction, rate, leftMs }
}

/**
 * The text of one plain line (and of the bar's right-hand side).
 */
export const describe = (options: Pick<Options, "label" | "total" | "bytes">, sample: Sample, elapsedMs: number): string => {
  const { fraction, leftMs, rate } = measure(options, sample, elapsedMs)
  const parts: Array<string> = []
  if (fraction === undefined) parts.push(`${count(sample.done)} records`)
  else if (options.bytes) parts.push(`${count(sample.done)} records, ${Math.floor(fraction * 100)}% of the input read`)
  else parts.push(`${count(sample.done)} of ${count(options.total!)} records (${Math.floor(fraction * 100)}%)`)
  parts.push(`${count(rate)} records/s`)
  if (leftMs !== undefined) parts.push(`about ${formatDuration(leftMs)} left`)
  else parts.push(`${formatDuration(elapsedMs)} so far`)
  return `${options.label}: ${parts.join(", ")}`
}

const plain = (options: Options): Effect.Effect<Progress> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    const every = Duration.toMillis(Duration.decode(options.every ?? "10 seconds"))
    let lastLine = start
    let lastQuarter = 0
    return {
      update: (sample) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            const elapsed = now - start
            if (elapsed < QUIET_START_MS) return
            const { fraction } = measure(options, sample, elapsed)
            const quarter = fraction === undefined ? 0 : Math.floor(fraction * 4)
            const crossed = quarter > lastQuarter && quarter < 4
            if (!crossed && now - lastLine < every) return
            lastQuarter = Math.max(lastQuarter, quarter)
            lastLine = now
            options.stream.write(`${describe(options, sample, elapsed)}\n`)
          })),
      log: (text) => Effect.sync(() => void options.stream.write(`${text}\n`)),
      finish: Effect.void
    }
  })

const bar = (options: Options): Effect.Effect<Progress, never, Scope.Scope> =>
  Effect.gen(function*() {
    const start = yield* Clock.currentTimeMillis
    let latest: Sample = { done: 0 }
    let elapsed = 0
    const known = options.total !== undefined && options.total > 0
    const format: CliProgress.GenericFormatter = (opts, params) => {
      const text = describe(options, latest, elapsed).slice(options.label.length + 2)
      const line = known ? `${CliProgress.Format.BarFormat(params.progress, opts)} ${text}` : text
      return `${options.label} ${line}`
    }
    let stopped = false
    const stop = (b: CliProgress.SingleBar) =>
      Effect.sync(() => {
        if (stopped) return
        stopped = true
        b.stop()
      })
    const progress = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const b = new CliProgress.SingleBar({
          format,
          stream: options.stream,
          barsize: 24,
          hideCursor: true,
          clearOnComplete: true,
          linewrap: false,
          fps: 10
        })
        b.start(known ? options.total! : 1, 0)
        return b
      }),
      stop
    )
    return {
      update: (sample) =>
        Effect.flatMap(Clock.currentTimeMillis, (now) =>
          Effect.sync(() => {
            if (stopped) return
            latest = sample
            elapsed = now - start
            progress.update(known ? Math.min(options.total!, sample.position ?? sample.done) : 0)
          })),
      // Clear the bar's line and write; the bar is drawn again below at its next update.
      log: (text) => Effect.sync(() => void options.stream.write(`\r\x1b[2K${text}\n`)),
      finish: stop(progress)
    }
  })

/**
 * A progress display for the scope: the bar on a terminal, plain lines
 * elsewhere, nothing when `silent`.
 */
export const make = (options: Options): Effect.Effect<Progress, never, Scope.Scope> => {
  if (options.silent) {
    return Effect.succeed({
      update: () => Effect.void,
      log: (text) => Effect.sync(() => void options.stream.write(`${text}\n`)),
      finish: Effect.void
    })
  }
  return options.stream.isTTY === true ? bar(options) : plain(options)
}
