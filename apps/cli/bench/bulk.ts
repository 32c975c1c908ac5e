/**
 * `pnpm --filter @taskmeta/cli run bench:bulk` (and the end of `pnpm bench`):
 * bulk import and copy with the built `taskmeta` (`dist/bundle/bin.js`, run
 * with plain node as users run it). 100,000 records — 95,000 tasks, 4,000
 * groups of 5 and 1,000 pipeline runs (2 objects × 2 tasks × 2 results,
 * half finished) — as JSON lines, then:
 *
 * 1. import the lines into a new SQLite file,
 * 2. import them into a new PostgreSQL schema,
 * 3. copy the SQLite file into another new PostgreSQL schema,
 * 4. copy that schema back into a new SQLite file,
 *
 * each checked (every record new, the copy back exported equal to the first
 * import), with records/s over the command's wall time (start-up included)
 * and the CLI process's peak RSS (VmHWM from /proc, read every 20 ms).
 * Goals: ≥ 20,000 records/s and < 300 MB each. `TASKMETA_TEST_PG_URL`
 * overrides the PostgreSQL URL; `TASKMETA_BENCH_BULK_RECORDS` the size.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import pg from "pg"

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
const BIN = path.resolve(PACKAGE, JSON.parse(fs.readFileSync(path.join(PACKAGE, "package.json"), "utf8")).bin.taskmeta)
const PG_URL = process.env.TASKMETA_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"
const RECORDS = Number(process.env.TASKMETA_BENCH_BULK_RECORDS ?? "100000")
const RECORDS_GOAL = 20_000
const RSS_GOAL_MB = 300

const RUNS = Math.round(RECORDS / 100)
const GROUPS = Math.round(RECORDS / 25)
const TASKS = RECORDS - RUNS - GROUPS

const iso = (ms: number) => new Date(ms).toISOString()
const T0 = Date.UTC(2026, 0, 1)

/** The input: tasks, then groups, then pipeline runs, one JSON line each. */
const write = (file: string) => {
  const out = fs.createWriteStream(file)
  const lines: Array<string> = []
  const flush = () => {
    out.write(lines.join("\n") + "\n")
    lines.length = 0
  }
  for (let i = 0; i < TASKS; i++) {
    const failed = i % 10 === 0
    const started = i % 50 === 1
    lines.push(JSON.stringify({
      kind: "task",
      task_id: `bench-${String(i).padStart(7, "0")}`,
      status: failed ? "FAILURE" : started ? "STARTED" : "SUCCESS",
      result: failed
        ? { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" }
        : started
        ? { pid: 4242, hostname: "bench@host" }
        : { sum: i, items: [i, i + 1, "x"] },
      traceback: failed ? "Traceback (most recent call last):\n  File \"tasks.py\", line 3\nZeroDivisionError: division by zero\n" : null,
      date_done: started ? null : iso(T0 + i * 1000),
      name: failed ? "bench.divide" : "bench.add",
      args: [i, 1],
      kwargs: {},
      worker: "bench@host",
      retries: 0,
      queue: "celery"
    }))
    if (lines.length === 5000) flush()
  }
  for (let g = 0; g < GROUPS; g++) {
    lines.push(JSON.stringify({
      kind: "group",
      group_id: `bench-group-${g}`,
      task_ids: Array.from({ length: 5 }, (_, k) => `bench-${String((g * 5 + k) % TASKS).padStart(7, "0")}`),
      date_done: iso(T0 + g * 5000)
    }))
  }
  flush()
  for (let r = 0; r < RUNS; r++) {
    const runId = `bench-run-${r}`
    const done = r % 2 === 0
    const created = T0 + r * 60_000
    const stamp = (status: string, at: number) => ({
      status,
      message: null,
      started: status === "PENDING" ? null : iso(at + 1000),
      completed: status === "DONE" ? iso(at + 5000) : null
    })
    lines.push(JSON.stringify({
      kind: "pipeline_run",
      run_id: runId,
      pipeline_id: r % 3 === 0 ? "bench_report" : "bench_ingest",
      input_data: { run: r, files: 2 },
      created: iso(created),
      ...stamp(done ? "DONE" : "RUNNING", created),
      pipeline_results: Array.from({ length: 2 }, (_, p) => ({
        id: `${runId}:${p}`,
        index: p,
        object: { file: `f${p}.csv` },
        ...stamp(done ? "DONE" : p === 0 ? "RUNNING" : "PENDING", created),
        task_executions: Array.from({ length: 2 }, (_, t) => ({
          id: `${runId}:${p}:t${t}`,
          index: t,
          task_name: `step_${t}`,
          config: { step: t },
          ...stamp(done ? "DONE" : p === 0 && t === 0 ? "RUNNING" : "PENDING", created),
          task_results: Array.from({ length: 2 }, (_, k) => ({
            id: `${runId}:${p}:t${t}:${k}`,
            index: k,
            object: { row: k },
            ...stamp(done || (p === 0 && t === 0 && k === 0) ? "DONE" : "PENDING", created)
          }))
        }))
      }))
    }))
  }
  flush()
  return new Promise<void>((resolve) => out.end(resolve))
}

interface Run {
  readonly seconds: number
  readonly peakMb: number | undefined
  readonly stdout: string
}

/** Runs the CLI, timing it and sampling its peak RSS. */
const taskmeta = (args: ReadonlyArray<string>, input?: string): Promise<Run> =>
  new Promise((resolve, reject) => {
    const start = performance.now()
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: [input === undefined ? "ignore" : fs.openSync(input, "r"), "pipe", "pipe"],
      env: { ...process.env, TASKMETA_BACKEND_URL: undefined, TASKMETA_LOG_LEVEL: undefined, TASKMETA_DEBUG: undefined }
    })
    let stdout = ""
    let stderr = ""
    child.stdout!.on("data", (d) => stdout += d)
    child.stderr!.on("data", (d) => stderr += d)
    let peakKb: number | undefined
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, "utf8"))
        if (m !== null) peakKb = Math.max(peakKb ?? 0, Number(m[1]))
      } catch {
        // gone, or no /proc
      }
    }
    const timer = setInterval(sample, 20)
    child.on("exit", (code) => {
      clearInterval(timer)
      const seconds = (performance.now() - start) / 1000
      if (code !== 0) return reject(new Error(`taskmeta ${args.join(" ")} exited ${code}: ${stdout}${stderr}`))
      resolve({ seconds, peakMb: peakKb === undefined ? undefined : peakKb / 1024, stdout })
    })
  })

const dropSchema = async (schema: string) => {
  const client = new pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  } finally {
    await client.end()
  }
}

const main = async () => {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build first (pnpm build)`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-bulk-"))
  const tag = Math.random().toString(36).slice(2, 8)
  const schemas = [`tm_bulk_import_${tag}`, `tm_bulk_copy_${tag}`]
  try {
    const input = path.join(dir, "records.jsonl")
    await write(input)
    const sqliteA = `db+sqlite:///${path.join(dir, "import.sqlite")}`
    const sqliteB = `db+sqlite:///${path.join(dir, "back.sqlite")}`
    const expect = (run: Run, what: string) => {
      const summary = run.stdout.trim().split("\n").pop() ?? ""
      const wanted = `${TASKS} tasks, ${GROUPS} groups and ${RUNS} pipeline runs (${RECORDS} new, 0 changed, 0 unchanged)`
      if (!summary.includes(wanted)) throw new Error(`${what}: expected "${wanted}", got "${summary}"`)
      return run
    }
    const rows: Array<readonly [string, Run]> = []
    rows.push(["import JSON lines → SQLite", expect(await taskmeta(["import", input, "--backend", sqliteA]), "import sqlite")])
    rows.push([
      "import JSON lines → PostgreSQL",
      expect(await taskmeta(["import", input, "--backend", PG_URL, "--schema", schemas[0]]), "import postgres")
    ])
    rows.push([
      "copy SQLite → PostgreSQL",
      expect(await taskmeta(["copy", "--from", sqliteA, "--to", PG_URL, "--schema", schemas[1]]), "copy to postgres")
    ])
    // back: from the copy's schema (--schema applies to both sides; SQLite has none)
    rows.push([
      "copy PostgreSQL → SQLite",
      expect(await taskmeta(["copy", "--from", PG_URL, "--to", sqliteB, "--schema", schemas[1]]), "copy to sqlite")
    ])
    const exportA = await taskmeta(["export", "--backend", sqliteA])
    const exportB = await taskmeta(["export", "--backend", sqliteB])
    // The same lines; their order follows the order rows were written, which concurrent batches change.
    const sorted = (text: string) => text.split("\n").filter((l) => l !== "").sort().join("\n")
    if (sorted(exportA.stdout) !== sorted(exportB.stdout)) throw new Error("the copy back to SQLite does not export as the first import")

    const [load1] = os.loadavg()
    console.log(
      `\ntaskmeta bulk: ${RECORDS.toLocaleString("en-US")} records (${TASKS} tasks, ${GROUPS} groups, ${RUNS} pipeline runs), ` +
        `built CLI, wall time incl. start-up (node ${process.version}, ${os.cpus().length} CPUs, load ${load1.toFixed(2)})\n`
    )
    const width = Math.max(...rows.map(([name]) => name.length))
    console.log(`  ${"run".padEnd(width)}  seconds  records/s  peak RSS MB`)
    for (const [name, run] of rows) {
      console.log(
        `  ${name.padEnd(width)}  ${run.seconds.toFixed(2).padStart(7)}  ${Math.round(RECORDS / run.seconds).toString().padStart(9)}  ${
          run.peakMb === undefined ? "n/a".padStart(11) : run.peakMb.toFixed(0).padStart(11)
        }`
      )
    }
    console.log("\ngoals:")
    for (const [name, run] of rows) {
      const rate = RECORDS / run.seconds
      console.log(`  ${rate >= RECORDS_GOAL ? "met    " : "NOT MET"}  ${name} ≥ ${RECORDS_GOAL.toLocaleString("en-US")} records/s (${Math.round(rate)})`)
      if (run.peakMb !== undefined) {
        console.log(`  ${run.peakMb < RSS_GOAL_MB ? "met    " : "NOT MET"}  ${name} peak RSS < ${RSS_GOAL_MB} MB (${run.peakMb.toFixed(0)} MB)`)
      }
    }
  } finally {
    for (const schema of schemas) await dropSchema(schema).catch((e) => console.error(`could not drop ${schema}: ${e}`))
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

await main()
