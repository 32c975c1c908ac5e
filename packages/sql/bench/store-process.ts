/**
 * One of the benchmark's store processes (`run.ts` starts several, see
 * `multiprocess.ts`): opens `PgBackend.layer` on the schema it is given,
 * warms up, prints `@bench ready`, waits for a line on stdin (the start
 * barrier), stores its records at its concurrency and prints
 * `@bench done {"count", "secs", "cpuSecs", "latencies"}` (`cpuSecs`: the
 * process's CPU time while storing). Anything else it prints is
 * not part of the protocol.
 *
 *   tsx bench/store-process.ts --schema S --run R --process K --concurrency 16 --count 10000 --warm 10000
 *
 * PostgreSQL from TASKMETA_BENCH_PG_URL; record `i` of process `K` is
 * `<R>-mp-p<K>-<i>` (warm-up: `<R>-mpwarm-p<K>-<i>`).
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as readline from "node:readline"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "@taskmeta/sql/PgBackend"
import { DEFAULT_PG_URL, parallel, processTaskId, result } from "./harness.js"

const arg = (name: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  const value = i >= 0 ? process.argv[i + 1] : undefined
  if (value === undefined) throw new Error(`store-process: --${name} is required`)
  return value
}
const count = (name: string): number => {
  const n = Number(arg(name))
  if (!Number.isInteger(n) || n < 0) throw new Error(`store-process: --${name} must be a count`)
  return n
}

const schema = arg("schema")
const run = arg("run")
const index = count("process")
const concurrency = Math.max(1, count("concurrency"))
const total = count("count")
const warm = count("warm")
const poolSize = Math.max(1, count("pool"))

const send = (message: string) => process.stdout.write(`@bench ${message}\n`)

/** The next line on stdin; fails if stdin ends first (the parent is gone). */
const nextLine = Effect.async<string, Error>((resume) => {
  const lines = readline.createInterface({ input: process.stdin })
  let settled = false
  lines.once("line", (line) => {
    settled = true
    lines.close()
    resume(Effect.succeed(line))
  })
  lines.once("close", () => {
    if (!settled) resume(Effect.fail(new Error("stdin ended before the start line")))
  })
  return Effect.sync(() => lines.close())
})

const program = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  yield* parallel(concurrency, warm, (i) => backend.store(`${run}-mpwarm-p${index}-${i}`, result, "SUCCESS"))
  send("ready")
  yield* nextLine
  const latencies: Array<number> = []
  const cpu = process.cpuUsage()
  const secs = yield* parallel(
    concurrency,
    total,
    (i) => backend.store(processTaskId(run, index, i), result, "SUCCESS"),
    latencies
  )
  const { system, user } = process.cpuUsage(cpu)
  send(`done ${
    JSON.stringify({
      count: total,
      secs,
      cpuSecs: (user + system) / 1e6,
      latencies: latencies.map((l) => Math.round(l * 1000) / 1000)
    })
  }`)
}).pipe(
  Effect.provide(PgBackend.layer({
    resultExpires: "1 day",
    pollInterval: "200 millis",
    url: Redacted.make(process.env.TASKMETA_BENCH_PG_URL ?? DEFAULT_PG_URL),
    tables: { schema },
    poolSize
  }))
)

NodeRuntime.runMain(program)
