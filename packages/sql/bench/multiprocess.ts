/**
 * The multi-process row of `pnpm bench`: several `tsx` processes running
 * `store-process.ts`, each storing through its own `PgBackend.layer` into
 * one schema. Each process warms up, says it is ready and waits; the clock
 * starts when all are ready and every one has been told to go, and stops
 * when the last one reports it has stored its records (closing its layer is
 * not counted). Afterwards `checkStored` verifies every record is in the
 * table exactly once.
 */
import { spawn } from "node:child_process"
import { createRequire } from "node:module"
import * as path from "node:path"
import * as readline from "node:readline"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import * as Pg from "pg"
import { processTaskId } from "./harness.js"

const TSX_CLI = createRequire(import.meta.url).resolve("tsx/cli")
const SCRIPT = fileURLToPath(new URL("./store-process.ts", import.meta.url))
const PACKAGE_DIR = path.resolve(path.dirname(SCRIPT), "..")

export interface Options {
  readonly url: string
  readonly schema: string
  /** The ids' prefix, unique per round. */
  readonly run: string
  readonly processes: number
  /** Stores in flight in each process. */
  readonly concurrency: number
  /** Records each process stores after the start barrier. */
  readonly count: number
  /** Records each process stores before it says it is ready. */
  readonly warm: number
  readonly poolSize: number
}

export interface Outcome {
  /** From the start line to the last process's `done`. */
  readonly secs: number
  /** Every store's latency, all processes. */
  readonly latencies: Array<number>
  /** Each process's own count, time (from its own start) and CPU time. */
  readonly perProcess: ReadonlyArray<{ readonly count: number; readonly secs: number; readonly cpuSecs: number }>
}

interface Done {
  readonly at: number
  readonly count: number
  readonly secs: number
  readonly cpuSecs: number
  readonly latencies: Array<number>
}

interface Child {
  readonly ready: Promise<void>
  readonly done: Promise<Done>
  /** Settles when the process has exited and its output has been read. */
  readonly closed: Promise<{ readonly code: number | null; readonly signal: NodeJS.Signals | null }>
  readonly go: () => void
  /** Ends the process (by its pid) if it is still running. */
  readonly stop: () => void
}

const start = (k: number, options: Options): Child => {
  const child = spawn(process.execPath, [
    TSX_CLI,
    SCRIPT,
    "--schema",
    options.schema,
    "--run",
    options.run,
    "--process",
    String(k),
    "--concurrency",
    String(options.concurrency),
    "--count",
    String(options.count),
    "--warm",
    String(options.warm),
    "--pool",
    String(options.poolSize)
  ], {
    cwd: PACKAGE_DIR,
    stdio: ["pipe", "pipe", "inherit"],
    env: { ...process.env, TASKMETA_BENCH_PG_URL: options.url }
  })
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("error", (error) => {
      process.stderr.write(`[store process ${k}] ${error.message}\n`)
      resolve({ code: null, signal: null })
    })
    child.once("close", (code, signal) => resolve({ code, signal }))
  })
  // A write to a process that died fails here; `closed` reports the death.
  child.stdin.on("error", (error) => process.stderr.write(`[store process ${k}] stdin: ${error.message}\n`))
  const ended = (stage: string) =>
    closed.then(({ code, signal }): never => {
      throw new Error(`store process ${k} ended (${signal ?? `exit code ${code}`}) before ${stage}`)
    })
  let onReady: () => void = () => {}
  let onDone: (done: Done) => void = () => {}
  const ready = Promise.race([new Promise<void>((resolve) => (onReady = resolve)), ended("it was ready")])
  const done = Promise.race([new Promise<Done>((resolve) => (onDone = resolve)), ended("it was done")])
  // `drive` may stop at `ready` and never await `done` (or `closed`'s
  // failure): those failures are reported by whichever promise it awaits.
  ready.catch(() => {})
  done.catch(() => {})
  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    if (line === "@bench ready") onReady()
    else if (line.startsWith("@bench done ")) {
      const at = performance.now()
      const body = JSON.parse(line.slice("@bench done ".length)) as Omit<Done, "at">
      onDone({ at, ...body })
    } else process.stderr.write(`[store process ${k}] ${line}\n`)
  })
  return {
    ready,
    done,
    closed,
    go: () => child.stdin.end("go\n"),
    stop: () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid)
    }
  }
}

const drive = async (children: ReadonlyArray<Child>): Promise<Outcome> => {
  await Promise.all(children.map((c) => c.ready))
  const t0 = performance.now()
  for (const c of children) c.go()
  const dones = await Promise.all(children.map((c) => c.done))
  const secs = (Math.max(...dones.map((d) => d.at)) - t0) / 1000
  const exits = await Promise.all(children.map((c) => c.closed))
  exits.forEach(({ code, signal }, k) => {
    if (code !== 0) throw new Error(`store process ${k} ended (${signal ?? `exit code ${code}`}) after it was done`)
  })
  return {
    secs,
    latencies: dones.flatMap((d) => d.latencies),
    perProcess: dones.map(({ count, cpuSecs, secs }) => ({ count, secs, cpuSecs }))
  }
}

/**
 * Starts the processes, runs them past the start barrier and waits for them
 * to exit; any process that fails fails this, and those still running are
 * ended.
 */
export const storeFromProcesses = (options: Options): Effect.Effect<Outcome, Error> =>
  Effect.acquireUseRelease(
    Effect.sync(() => Array.from({ length: options.processes }, (_, k) => start(k, options))),
    (children) =>
      Effect.tryPromise({
        try: () => drive(children),
        catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
      }),
    (children) => Effect.sync(() => children.forEach((c) => c.stop()))
  )

/**
 * Every record the processes stored is in the table exactly once, and
 * nothing else is (the schema is fresh: the warm-up records and these).
 */
export const checkStored = (options: Options): Effect.Effect<void, Error> =>
  Effect.tryPromise({
    try: async () => {
      const client = new Pg.Client({ connectionString: options.url })
      await client.connect()
      try {
        const expected = Array.from(
          { length: options.processes * options.count },
          (_, n) => processTaskId(options.run, Math.floor(n / options.count), n % options.count)
        )
        const { rows } = await client.query<{ rows: number; ids: number; found: number; found_ids: number }>(
          `SELECT count(*)::int AS rows, count(DISTINCT task_id)::int AS ids, ` +
            `count(*) FILTER (WHERE task_id = ANY($1::varchar[]))::int AS found, ` +
            `count(DISTINCT task_id) FILTER (WHERE task_id = ANY($1::varchar[]))::int AS found_ids ` +
            `FROM "${options.schema}"."celery_taskmeta"`,
          [expected]
        )
        const { found, found_ids, ids, rows: total } = rows[0]
        const want = options.processes * options.count
        const wantTotal = options.processes * (options.count + options.warm)
        if (found !== want || found_ids !== want || total !== wantTotal || ids !== wantTotal) {
          throw new Error(
            `multi-process store lost or duplicated records: of ${want} measured records ${found_ids} distinct ids ` +
              `found in ${found} rows; the table holds ${total} rows with ${ids} distinct ids, expected ${wantTotal} ` +
              `(with the warm-up)`
          )
        }
      } finally {
        await client.end()
      }
    },
    catch: (cause) => (cause instanceof Error ? cause : new Error(String(cause)))
  })
