// Child process for SqlPipelineStoreProcesses.test.ts: reports every task
// result of a run whose ordinal n has n % workers === worker (RUNNING, then
// DONE — RUNTIME_ERROR when its object's item % 37 === 0), then prints "done <applied>".
//   pipeline-reporter.ts <sqlite|pg|mysql> <filename|url> <prefix> <runId> <worker> <workers>
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as SqlPipelineStore from "../../src/SqlPipelineStore.js"

const [dialect, target, prefix, runId, worker, workers] = process.argv.slice(2)
const client: Layer.Layer<SqlClient.SqlClient, unknown> = dialect === "pg"
  ? PgClient.layer({ url: Redacted.make(target), maxConnections: 4 })
  : dialect === "mysql"
  ? MysqlClient.layer({ url: Redacted.make(target), maxConnections: 4 })
  : SqliteClient.layer({ filename: target })
const store = SqlPipelineStore.layer({
  prefix,
  retry: { alwaysRetry: true, maxRetries: 10, baseSleep: Duration.millis(5), maxSleep: Duration.millis(200) }
})

const program = Effect.gen(function*() {
  const pipelines = yield* PipelineStore.PipelineStore
  const mine = (yield* pipelines.listTaskResults({ runId })).filter((_, n) => n % Number(workers) === Number(worker))
  let applied = 0
  yield* Effect.forEach(mine, (tr) =>
    Effect.gen(function*() {
      yield* pipelines.report("TaskResult", tr.id, "RUNNING")
      const item = typeof tr.object === "object" && tr.object !== null && "item" in tr.object ? Number(tr.object.item) : 1
      const outcome = yield* pipelines.report("TaskResult", tr.id, item % 37 === 0 ? "RUNTIME_ERROR" : "DONE")
      if (outcome.applied) applied++
    }), { concurrency: 4, discard: true })
  yield* Effect.sync(() => process.stdout.write(`done ${applied}\n`))
})

Effect.runPromise(program.pipe(Effect.provide(store.pipe(Layer.provide(client))))).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(String(e) + "\n")
    process.exit(1)
  }
)
