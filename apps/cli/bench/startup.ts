/**
 * `pnpm --filter @taskmeta/cli run bench:startup` (and the end of `pnpm bench`):
 * how long the built `taskmeta` takes from `node` to exit. Runs
 * `taskmeta --version` and `taskmeta get <id> --json` on a SQLite file (one
 * task, written beforehand with `taskmeta import`), each once to warm the
 * file cache and then RUNS times (TASKMETA_BENCH_STARTUP_RUNS, default 10),
 * and prints the median, min and max wall time and the goals. The script
 * runs the package's `bin` (`dist/bundle/bin.js`) with plain node, as users run it (the
 * `bench:startup` script builds first).
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const PACKAGE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")
/** The `taskmeta` bin as package.json names it (the bundle `pnpm build` writes). */
const BIN = path.resolve(PACKAGE, JSON.parse(fs.readFileSync(path.join(PACKAGE, "package.json"), "utf8")).bin.taskmeta)
const RUNS = Number(process.env.TASKMETA_BENCH_STARTUP_RUNS ?? "10")
const TASK_ID = "startup-bench-0001"

/** Runs the CLI once; fails the bench when it fails or prints something else than `expect`. */
const taskmeta = (args: ReadonlyArray<string>, expect?: (stdout: string) => boolean): number => {
  const start = performance.now()
  const child = spawnSync(process.execPath, [BIN, ...args], {
    encoding: "utf8",
    // Logging and the backend come from the arguments only.
    env: { ...process.env, TASKMETA_BACKEND_URL: undefined, TASKMETA_LOG_LEVEL: undefined, TASKMETA_DEBUG: undefined }
  })
  const millis = performance.now() - start
  if (child.status !== 0 || (expect !== undefined && !expect(child.stdout))) {
    throw new Error(`taskmeta ${args.join(" ")} exited ${child.status}: ${child.stdout}${child.stderr}`)
  }
  return millis
}

interface Figures {
  readonly median: number
  readonly min: number
  readonly max: number
  readonly runs: ReadonlyArray<number>
}

const measure = (args: ReadonlyArray<string>, expect: (stdout: string) => boolean): Figures => {
  taskmeta(args, expect) // warm-up
  const runs = Array.from({ length: RUNS }, () => taskmeta(args, expect))
  const sorted = [...runs].sort((a, b) => a - b)
  const mid = sorted.length / 2
  const median = sorted.length % 2 === 1 ? sorted[Math.floor(mid)] : (sorted[mid - 1] + sorted[mid]) / 2
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs }
}

const seconds = (millis: number) => (millis / 1000).toFixed(3)

const main = () => {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build first (pnpm build)`)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-startup-"))
  try {
    const file = path.join(dir, "results.sqlite")
    const backend = `db+sqlite:///${file}` // an absolute path: four slashes
    const lines = path.join(dir, "task.jsonl")
    fs.writeFileSync(
      lines,
      JSON.stringify({
        kind: "task",
        task_id: TASK_ID,
        status: "SUCCESS",
        result: { sum: 42 },
        traceback: null,
        date_done: "2024-01-01T00:00:00.000Z",
        name: "bench.add",
        args: [40, 2],
        kwargs: {},
        worker: "bench@localhost",
        retries: 0,
        queue: "celery"
      }) + "\n"
    )
    taskmeta(["import", lines, "--backend", backend], (out) => out.startsWith("imported 1 task"))

    const version = JSON.parse(fs.readFileSync(path.join(PACKAGE, "package.json"), "utf8")).version
    const rows: Array<[string, Figures, number]> = [
      ["taskmeta --version", measure(["--version"], (out) => out.trim() === version), 0.4],
      [
        "taskmeta get <id> --json (SQLite)",
        measure(["get", TASK_ID, "--json", "--backend", backend], (out) => out.includes(`"task_id":"${TASK_ID}"`)),
        0.6
      ]
    ]

    const [load1] = os.loadavg()
    console.log(
      `taskmeta start-up: ${RUNS} runs after 1 warm-up, wall time in s (node ${process.version}, ` +
        `${os.cpus().length} CPUs, load ${load1.toFixed(2)})\n`
    )
    const width = Math.max(...rows.map(([name]) => name.length))
    console.log(`  ${"command".padEnd(width)}  median     min     max`)
    for (const [name, f] of rows) {
      console.log(`  ${name.padEnd(width)}  ${seconds(f.median).padStart(6)}  ${seconds(f.min).padStart(6)}  ${seconds(f.max).padStart(6)}`)
    }
    console.log("\ngoals:")
    for (const [name, f, goal] of rows) {
      const ok = f.median / 1000 <= goal
      console.log(
        `  ${ok ? "met    " : "NOT MET"}  ${name} median ≤ ${goal} s  (${seconds(f.median)} s; runs ${
          f.runs.map(seconds).join(", ")
        })`
      )
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

main()
