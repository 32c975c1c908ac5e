/**
 * A small program that stores and reads task results with the memory layer.
 * Run it with `pnpm exec tsx --conditions=source examples/quickstart.ts`.
 */
import { Effect, Layer, Schema } from "effect"
import { Expiry, MemoryBackend, ResultBackend } from "@taskmeta/core"

const program = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  yield* ResultBackend.markAsStarted("task-1", { pid: process.pid, hostname: "demo" })
  yield* ResultBackend.markAsDone("task-1", 16 * 16, { name: "multiply_two_numbers", args: [16, 16] })
  yield* ResultBackend.markAsFailure("task-2", new RangeError("too big"), { traceback: "at demo" })
  yield* backend.saveGroup("group-1", ["task-1", "task-2", "task-3"])

  const product = yield* ResultBackend.getResult("task-1", Schema.Number)
  yield* Effect.log(`task-1 = ${product}`)
  for (const record of yield* backend.getMany(["task-1", "task-2", "task-3"])) {
    yield* Effect.log(`${record.taskId}: ${record.status} ${JSON.stringify(record.result)}`)
  }
})

const Backend = MemoryBackend.layer({ resultExtended: true })
program.pipe(
  Effect.provide(Layer.merge(Backend, Expiry.layer().pipe(Layer.provide(Backend)))),
  Effect.runPromise
)
