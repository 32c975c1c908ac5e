/**
 * The hostile-rows row of the bench (issue 14, "Must show"): every hostile
 * row reads within 1 s and under 300 MB.
 *
 * Writes the worst row of each kind (`extremeRows`) and `rows` fuzzed rows
 * (`rowRecipe`, fixed seed) of `test/hostileRows.ts`, at `BENCH_SCALE`
 * (payloads up to 16 MiB, the read budget per column), into a fresh SQLite
 * file behind the backend's back. Then a fresh process
 * (`test/scripts/readHostileRows.ts`) reads each row alone through
 * `SqliteBackend.layer` and `ResultBackend.get`: the figures are the max and
 * p99 of those reads (the query and the decoding; the process warmed up by
 * one read first), and the process's peak RSS (the kernel's `maxRSS`) above
 * its RSS before the first read. A second pass prints every record; any
 * read that fails, dies or does not print is a problem.
 *
 * The packages are imported by name, as `run.ts` does: their built `dist/`.
 * Run alone: `pnpm -s turbo run build --filter=@taskmeta/sql` then
 * `pnpm exec tsx packages/sql/bench/hostile.ts [--rows 100] [--seed 14] [--max-mib 16]`, or
 * on the sources without a build: `pnpm exec tsx --conditions=source …`.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { pathToFileURL } from "node:url"
import * as Data from "effect/Data"
import * as Effect from "effect/Effect"
import * as fc from "fast-check"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import {
  BENCH_SCALE,
  extremeRows,
  insertRows,
  readInChild,
  type Report,
  rowRecipe,
  type Scale
} from "../test/hostileRows.js"

export interface Options {
  /** Fuzzed rows besides the extreme ones (default 100). */
  readonly rows?: number | undefined
  /** fast-check seed of the fuzzed rows (default 14). */
  readonly seed?: number | undefined
  readonly scale?: Scale | undefined
  /** Where the SQLite file goes (default: a fresh directory under the OS's temp dir, removed afterwards). */
  readonly dir?: string | undefined
}

export interface HostileFigures {
  readonly rows: number
  readonly extreme_rows: number
  readonly seed: number
  readonly max_scale_mib: number
  readonly file_mb: number
  readonly max_ms: number
  readonly p99_ms: number
  readonly rss_growth_mb: number
  readonly baseline_rss_mb: number
  readonly undecodable_columns: number
  readonly rows_over_1s: number
  readonly slowest: Report["slowest"]
  readonly largest: Report["largest"]
  readonly problems: Report["problems"]
}

export class HostileBenchError extends Data.TaggedError("HostileBenchError")<{
  readonly reason: string
  readonly cause?: unknown
}> {
  override get message(): string {
    return this.reason
  }
}

/** The `--conditions` / `-C` options among node's own. */
const conditions = (execArgv: ReadonlyArray<string>): Array<string> => {
  const out: Array<string> = []
  for (let i = 0; i < execArgv.length; i++) {
    const a = execArgv[i]
    if (a.startsWith("--conditions=") || a.startsWith("-C=")) out.push(a)
    else if ((a === "--conditions" || a === "-C") && i + 1 < execArgv.length) out.push(a, execArgv[++i])
  }
  return out
}

export const GOAL_MS = 1000
export const GOAL_MB = 300

/** Writes the rows, reads them in a fresh process, returns the figures. */
export const benchHostileRows = (options: Options = {}): Effect.Effect<HostileFigures, HostileBenchError> =>
  Effect.gen(function*() {
    const scale = options.scale ?? BENCH_SCALE
    const seed = options.seed ?? 14
    const fuzzed = options.rows ?? 100
    const dir = options.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-bench-hostile-"))
    const file = path.join(dir, "hostile.sqlite")
    const remove = Effect.sync(() => {
      if (options.dir === undefined) fs.rmSync(dir, { recursive: true, force: true })
      else for (const suffix of ["", "-wal", "-shm", "-journal", ".rows.json"]) fs.rmSync(file + suffix, { force: true })
    })
    return yield* Effect.gen(function*() {
      // taskmeta creates the tables, then the rows go in behind its back
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.exists("x")).pipe(
        Effect.provide(SqliteBackend.layer({ filename: file })),
        Effect.mapError((cause) => new HostileBenchError({ reason: "cannot create the tables", cause }))
      )
      const extremes = extremeRows(scale)
      const recipes = fc.sample(rowRecipe(scale), { seed, numRuns: fuzzed })
      yield* Effect.try({
        try: () => insertRows(file, [...extremes, ...recipes], "hostile-"),
        catch: (cause) => new HostileBenchError({ reason: "cannot insert the rows", cause })
      })
      const fileMb = fs.statSync(file).size / 1e6
      // the reader resolves the packages as this process does (dist/, or the sources with --conditions=source)
      const outcome = yield* readInChild(file, conditions(process.execArgv))
      if (outcome.code !== 0 || outcome.report === undefined) {
        return yield* new HostileBenchError({
          reason: `the reader exited with ${outcome.code ?? outcome.signal}: ${outcome.stderr.slice(-600)}`
        })
      }
      const r = outcome.report
      return {
        rows: r.rows,
        extreme_rows: extremes.length,
        seed,
        max_scale_mib: Math.round(scale.maxLength / 2 ** 20),
        file_mb: Math.round(fileMb),
        max_ms: r.maxMs,
        p99_ms: r.p99Ms,
        rss_growth_mb: r.rssGrowthMb,
        baseline_rss_mb: r.baselineRssMb,
        undecodable_columns: r.undecodableColumns,
        rows_over_1s: r.overMs,
        slowest: r.slowest,
        largest: r.largest,
        problems: r.problems
      }
    }).pipe(Effect.ensuring(remove))
  })

/** The goal line, as `run.ts` prints its goals: `[name, met, figures]`. */
export const goal = (f: HostileFigures): [string, boolean, string] => [
  `every hostile row reads within ${GOAL_MS / 1000} s and under ${GOAL_MB} MB`,
  f.max_ms <= GOAL_MS && f.rss_growth_mb < GOAL_MB && f.problems.length === 0,
  `${f.rows} rows (${f.extreme_rows} extreme, ${f.rows - f.extreme_rows} fuzzed, seed ${f.seed}, up to ${f.max_scale_mib} MiB): ` +
  `max ${f.max_ms} ms, p99 ${f.p99_ms} ms, peak RSS +${f.rss_growth_mb} MB; ${f.problems.length} rows with problems`
]

export const print = (f: HostileFigures) => {
  console.log(
    `hostile rows: ${f.rows} rows (${f.extreme_rows} extreme + ${f.rows - f.extreme_rows} fuzzed, seed ${f.seed}), ` +
      `${f.file_mb} MB of SQLite, ${f.undecodable_columns} columns read as undecodable`
  )
  console.log(`  per-row read: max ${f.max_ms} ms, p99 ${f.p99_ms} ms, ${f.rows_over_1s} rows over 1 s`)
  console.log(`  peak RSS during the reads: +${f.rss_growth_mb} MB (from ${f.baseline_rss_mb} MB)`)
  console.log("  slowest:")
  for (const s of f.slowest) console.log(`    ${String(s.ms).padStart(8)} ms  ${s.id}  ${s.kind}`)
  console.log("  raised the peak RSS most (peak above the baseline after the row):")
  for (const s of f.largest) console.log(`    ${String(s.mb).padStart(8)} MB  ${s.id}  ${s.kind}`)
  for (const p of f.problems) console.log(`  PROBLEM ${p.id} ${p.kind}: ${p.problems.join("; ")}`)
  const [name, met, value] = goal(f)
  console.log(`\ngoal:\n  ${met ? "met    " : "NOT MET"}  ${name}  (${value})`)
}

const flag = (name: string): number | undefined => {
  const i = process.argv.indexOf(`--${name}`)
  return i < 0 ? undefined : Number(process.argv[i + 1])
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const mib = flag("max-mib")
  const scale = mib === undefined ? undefined : { ...BENCH_SCALE, maxLength: Math.round(mib * 2 ** 20) }
  Effect.runPromise(benchHostileRows({ rows: flag("rows"), seed: flag("seed"), scale })).then(
    (figures) => {
      print(figures)
      process.exit(goal(figures)[1] ? 0 : 1)
    },
    (e) => {
      console.error(e)
      process.exit(2)
    }
  )
}
