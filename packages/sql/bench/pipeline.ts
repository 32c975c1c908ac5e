/**
 * Pipeline store benchmark on PostgreSQL: builds a run of 1 execution ×
 * 1,000 objects × 5 tasks (one task result each: 11,001 rows), reports every
 * task result final — one report per task result, each its own transaction
 * with the upward propagation — and prints the times. Tables get a unique
 * prefix and are dropped at the end.
 *
 *   pnpm build && pnpm exec tsx packages/sql/bench/pipeline.ts [--url postgres://…] [--objects 1000] [--tasks 5]
 *     [--results 1] [--concurrency 1,8,32] [--rounds 3]
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1] : fallback
}

const url = arg("url", "postgres://postgres@127.0.0.1:5432/test")
const objects = Number(arg("objects", "1000"))
const tasks = Number(arg("tasks", "5"))
const results = Number(arg("results", "1"))
const concurrencies = arg("concurrency", "1,8,32").split(",").map(Number)
const rounds = Number(arg("rounds", "3"))
const prefix = `bench_${Math.random().toString(36).slice(2, 8)}_`

const input = (runId: string): PipelineStore.BuildInput => ({
  runId,
  pipelineId: "bench",
  inputData: { objects, tasks, results },
  pipelineResults: Array.from({ length: objects }, (_, i) => ({
    object: { item: i, payload: `object ${i}` },
    tasks: Array.from({ length: tasks }, (_, j) => ({
      taskName: `task-${j}`,
      config: { step: j, retries: 3 },
      results: Array.from({ length: results }, (_, k) => ({ object: { item: i, part: k } }))
    }))
  }))
})

const ms = (d: Duration.Duration) => Duration.toMillis(d)
const fmt = (n: number) => n.toFixed(0).padStart(7)

const dropTables = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const t = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
  for (const table of [t.taskResults, t.taskExecutions, t.pipelineResults, t.executions, t.migrations]) {
    yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
  }
})

const program = Effect.gen(function*() {
  const store = yield* SqlPipelineStore.make({ prefix })
  console.log(
    `PostgreSQL pipeline store: 1 execution × ${objects} objects × ${tasks} tasks × ${results} result(s)` +
      ` = ${1 + objects + objects * tasks + objects * tasks * results} rows, ${objects * tasks * results} reports`
  )
  console.log("concurrency  round  build ms  report ms  total ms  reports/s")
  const summary: Array<{ concurrency: number; build: number; report: number }> = []
  for (const concurrency of concurrencies) {
    for (let round = 1; round <= rounds; round++) {
      const runId = `bench-${concurrency}-${round}`
      const [built, outcome] = yield* Effect.timed(store.build(input(runId)))
      // Workers finish objects in waves: task 0 of every object, then task 1, … (as a pipeline whose
      // objects run in parallel and whose tasks run in order would report).
      const ids = outcome.tree.taskResults.map((r, n) => ({ id: r.id, task: Math.floor(n / results) % tasks, n }))
        .sort((a, b) => a.task - b.task || a.n - b.n)
        .map((r) => r.id)
      const [reported] = yield* Effect.timed(
        Effect.forEach(ids, (id, n) => store.report("TaskResult", id, n % 997 === 0 ? "RUNTIME_ERROR" : "DONE"), {
          concurrency,
          discard: true
        })
      )
      const execution = Option.getOrThrow(yield* store.getExecution(runId))
      if (execution.status !== "RUNTIME_ERROR") {
        return yield* Effect.dieMessage(`run ${runId} ended ${execution.status}, expected RUNTIME_ERROR`)
      }
      const b = ms(built)
      const r = ms(reported)
      summary.push({ concurrency, build: b, report: r })
      console.log(
        `${String(concurrency).padStart(11)}  ${String(round).padStart(5)}  ${fmt(b)}   ${fmt(r)}   ${fmt(b + r)}  ${
          fmt(ids.length / (r / 1000))
        }`
      )
    }
  }
  console.log("\nmedian per concurrency (build + report):")
  for (const concurrency of concurrencies) {
    const runs = summary.filter((s) => s.concurrency === concurrency).map((s) => s.build + s.report).sort((a, b) => a - b)
    console.log(`  ${String(concurrency).padStart(3)}: ${fmt(runs[Math.floor(runs.length / 2)])} ms`)
  }
}).pipe(Effect.ensuring(Effect.orDie(dropTables)))

NodeRuntime.runMain(
  program.pipe(
    Effect.provide(PgClient.layer({ url: Redacted.make(url), maxConnections: Math.max(...concurrencies, 1) }))
  )
)
