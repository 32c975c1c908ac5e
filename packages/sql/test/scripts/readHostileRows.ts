// Child process that reads every row of a SQLite file of hostile rows (see
// ../hostileRows.ts) through `SqliteBackend.layer`, each one alone with
// `get`, and prints one line `HOSTILE_REPORT {json}`: per-row read times,
// the process's peak RSS growth during the reads, and every problem
// `checkRecord` found (a failed or dying read counts as one). Used by
// HostileFuzz.test.ts (under a capped heap) and bench/hostile.ts; a fresh
// process, so its peak RSS is the reads' own.
//
// Two passes: the first times the reads and checks the records' shapes; its
// end is where the peak RSS is taken. The second reads again and prints
// every record (`Json.stringify`), which must not throw. With `--one-pass`
// (after the file), each row is read once, checked and printed.
//
// The packages are imported by name: run with `--conditions=source` for
// their sources (the tests), without for their built `dist/` (the bench).
import * as fs from "node:fs"
import * as v8 from "node:v8"
import * as vm from "node:vm"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import { checkRecord, type Report, type StoredRow, storedRowsFile } from "../hostileRows.js"

const [file, mode] = process.argv.slice(2)
// `--one-pass`: each row read once, checked and printed (no figures wanted, half the reads)
const onePass = mode === "--one-pass"

// What was stored, as insertRows listed it next to the file (no value loaded to learn it).
const rows = JSON.parse(fs.readFileSync(storedRowsFile(file), "utf8")) as ReadonlyArray<StoredRow>

const gc = (() => {
  try {
    v8.setFlagsFromString("--expose-gc")
    return vm.runInNewContext("gc") as () => void
  } catch {
    return () => {}
  }
})()

const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
const mb = (bytes: number) => Math.round(bytes / 1e5) / 10

const main = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const problems = new Map<string, Array<string>>()
  const problem = (id: string, text: string) => {
    const list = problems.get(id) ?? []
    list.push(text)
    problems.set(id, list)
  }
  const read = (id: string) =>
    Effect.map(Effect.exit(backend.get(id)), (exit) => {
      if (Exit.isSuccess(exit)) return exit.value
      problem(id, `${Cause.isDie(exit.cause) ? "defect" : "failure"}: ${Cause.pretty(exit.cause).slice(0, 300)}`)
      return undefined
    })

  yield* backend.get("warm-up") // code paths loaded, the connection open
  gc()
  const baseline = process.memoryUsage.rss()
  const times: Array<{ id: string; kind: string; ms: number }> = []
  // the rows that raised the process's peak RSS, and to what (above the baseline)
  const peaks: Array<{ id: string; kind: string; mb: number }> = []
  let undecodableColumns = 0
  for (const row of rows) {
    const before = process.resourceUsage().maxRSS * 1024
    const t0 = performance.now()
    const record = yield* read(row.taskId)
    const ms = performance.now() - t0
    times.push({ id: row.taskId, kind: row.kind, ms: Math.round(ms * 10) / 10 })
    const after = process.resourceUsage().maxRSS * 1024
    if (after - before > 10e6) peaks.push({ id: row.taskId, kind: row.kind, mb: mb(after - baseline) })
    if (record === undefined) continue
    const checked = checkRecord(record, row, onePass)
    undecodableColumns += checked.undecodable.length
    for (const p of checked.problems) problem(row.taskId, p)
    // the next row starts from a collected heap: the peak is one row's, not the garbage of several
    gc()
  }
  const peak = process.resourceUsage().maxRSS * 1024
  for (const row of onePass ? [] : rows) {
    const record = yield* read(row.taskId)
    if (record === undefined) continue
    for (const p of checkRecord(record, row, true).problems) problem(row.taskId, `second read: ${p}`)
  }
  const ms = times.map((t) => t.ms)
  const kinds = new Map(rows.map((r) => [r.taskId, r.kind]))
  const report: Report = {
    rows: rows.length,
    maxMs: Math.max(0, ...ms),
    p99Ms: percentile(ms, 0.99),
    baselineRssMb: mb(baseline),
    peakRssMb: mb(peak),
    rssGrowthMb: mb(Math.max(0, peak - baseline)),
    undecodableColumns,
    slowest: [...times].sort((a, b) => b.ms - a.ms).slice(0, 8),
    overMs: times.filter((t) => t.ms > 1000).length,
    largest: [...peaks].sort((a, b) => b.mb - a.mb).slice(0, 5),
    problems: [...problems].map(([id, list]) => ({ id, kind: kinds.get(id) ?? "", problems: list }))
  }
  process.stdout.write(`HOSTILE_REPORT ${JSON.stringify(report)}\n`)
}).pipe(
  Effect.provide(SqliteBackend.layer({ filename: file })),
  // one warning per undecodable column otherwise
  Logger.withMinimumLogLevel(LogLevel.None)
)

Effect.runPromise(main).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${String(e)}\n`)
    process.exit(1)
  }
)
