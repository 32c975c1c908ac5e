/**
 * taskmeta over the PostgreSQL client a program already has: the result
 * backend, the pipeline store and the browser share its one pool.
 * Run it with `pnpm exec tsx --conditions=source examples/own-client.ts` (PostgreSQL from
 * `DATABASE_URL`, default the local `test` database; tables in the schema
 * `TASKMETA_SCHEMA`, default `taskmeta_example`).
 */
import { PgClient } from "@effect/sql-pg"
import { Effect, Layer, Redacted, Stream } from "effect"
import { ResultBackend, ResultBrowser } from "@taskmeta/core"
import { SqlStore } from "@taskmeta/sql"

// The client your program already has, with its own settings.
const Database = PgClient.layer({
  url: Redacted.make(process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test")
})

// The result backend, the pipeline store and the browser, over that one pool.
const Store = SqlStore.layer({ tables: { schema: process.env.TASKMETA_SCHEMA ?? "taskmeta_example" } }).pipe(
  Layer.provide(Database)
)

const program = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  yield* backend.store("task-1", { sum: 3 }, "SUCCESS")
  const record = yield* backend.get("task-1")
  console.log(`${record.taskId}: ${record.status} ${JSON.stringify(record.result)}`)

  const browser = yield* ResultBrowser.ResultBrowser
  const stats = yield* browser.stats
  console.log(`stored tasks: ${stats.tasks}`)
  yield* Stream.runForEach(browser.list({ limit: 5 }), (r) => Effect.sync(() => console.log(`listed ${r.taskId}`)))
})

program.pipe(Effect.provide(Store), Effect.runPromise).catch((error) => {
  console.error(String(error))
  process.exitCode = 1
})
