// Child process for SqliteProcesses.test.ts: stores `count` SUCCESS records
// `<prefix>-<i>` into the SQLite file, then prints "done".
import * as Effect from "effect/Effect"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqliteBackend from "../../src/SqliteBackend.js"

const [filename, prefix, count] = process.argv.slice(2)
const program = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const outcomes = yield* Effect.forEach(
    Array.from({ length: Number(count) }, (_, i) => i),
    (i) => backend.store(`${prefix}-${i}`, { writer: prefix, i }, "SUCCESS"),
    { concurrency: 8 }
  )
  const stored = outcomes.filter((o) => o._tag === "Stored").length
  yield* Effect.sync(() => process.stdout.write(`done ${stored}\n`))
})
Effect.runPromise(program.pipe(
  Effect.provide(SqliteBackend.layer({ filename, retry: { maxRetries: 10 } }))
)).then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(String(e) + "\n")
    process.exit(1)
  }
)
