import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as TestServices from "effect/TestServices"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"
import { PipelineConformance } from "@taskmeta/testkit"
import { captureStatements, expectRestoreMany, uniquePrefix } from "./pipelineSupport.js"

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-pipelines-"))
const filename = path.join(dir, "results.sqlite")
const prefix = uniquePrefix("plsq")
const Sqlite = SqliteClient.layer({ filename })
const Store = SqlPipelineStore.layer({ prefix })

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }))

PipelineConformance.suite("sqlite", Store.pipe(Layer.provideMerge(Sqlite)))

const Plan = Schema.Array(Schema.Struct({ detail: Schema.String }))

describe("sqlite: SQL pipeline store", () => {
  it.layer(Store.pipe(Layer.provideMerge(Sqlite)), { timeout: 60_000 })((it) => {
    it.effect("lists the failed task results of a run with one indexed query", () =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const sql = yield* SqlClient.SqlClient
        const runId = `explain-${Math.random().toString(36).slice(2)}`
        yield* store.build(PipelineConformance.shape(runId, "explain", 300, 5, 1))
        const failed = Pipeline.taskResultId(Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, 7), 1), 0)
        yield* store.report("TaskResult", failed, "VALIDATION_ERROR")
        const [rows, statements] = yield* captureStatements(
          store.listTaskResults({ runId }, { status: [...Pipeline.FAILURES] })
        )
        expect(rows.map((r) => r.id)).toEqual([failed])
        expect(statements).toHaveLength(1)
        const plan = yield* sql.unsafe(`EXPLAIN QUERY PLAN ${statements[0]}`, [runId, ...Pipeline.FAILURES]).pipe(
          Effect.flatMap(Schema.decodeUnknown(Plan)),
          Effect.map((lines) => lines.map((l) => l.detail).join("\n"))
        )
        expect(plan).toContain(`USING INDEX ${prefix}tr_run_status_idx`)
        expect(plan).not.toMatch(/^SCAN /m)
      }), { timeout: 60_000 })

    it.effect("builds a tree larger than one insert statement can carry", () =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const runId = `big-${Math.random().toString(36).slice(2)}`
        // 5,000 task results × 7 parameters > 32,766.
        const outcome = yield* store.build(PipelineConformance.shape(runId, "big", 1000, 5, 1))
        expect(outcome.created).toBe(true)
        expect(yield* store.listTaskResults({ runId })).toHaveLength(5000)
        const last = outcome.tree.taskResults[4999]
        expect(Option.getOrThrow(yield* store.getTaskResult(last.id)).object).toEqual({ item: 999, part: 0 })
      }), { timeout: 60_000 })

    it.effect("restores 600 runs with one restoreMany (task executions and task results over two statements each: chunked under the parameter limit) and reads them with four SELECTs", () =>

      expectRestoreMany(600, prefix, { inserts: [1, 1, 2, 2], writeSelects: 0, againInserts: 1 }), { timeout: 60_000 })

    it.effect("rerunning the migrations applies nothing; an invalid prefix is refused", () =>
      Effect.gen(function*() {
        const names = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
        expect(yield* PipelineMigrations.run(names)).toEqual([])
        const error = yield* Effect.flip(SqlPipelineStore.make({ prefix: "Nope-" }))
        expect(error._tag).toBe("InvalidInput")
      }))
  })

  it.effect("two connections (as two processes would) report concurrently without losing a propagation", () =>
    TestServices.provideLive(Effect.gen(function*() {
      const shared = path.join(dir, "shared.sqlite")
      const local = uniquePrefix("plsq2")
      const open = Layer.build(SqlPipelineStore.layer({ prefix: local }).pipe(
        Layer.provide(SqliteClient.layer({ filename: shared }))
      )).pipe(Effect.map(Context.get(PipelineStore.PipelineStore)))
      // Each store has its own connection; both migrate at once.
      const [a, b] = yield* Effect.all([open, open], { concurrency: 2 })
      const runId = "two-writers"
      yield* a.build(PipelineConformance.shape(runId, "two", 4, 3, 6))
      const trs = yield* b.listTaskResults({ runId })
      expect(trs).toHaveLength(72)
      yield* Effect.forEach(trs, (tr, n) => (n % 2 === 0 ? a : b).report("TaskResult", tr.id, "DONE"), {
        concurrency: "unbounded",
        discard: true
      })
      expect(Option.getOrThrow(yield* a.getExecution(runId)).status).toBe("DONE")
      expect((yield* b.listTaskExecutions({ runId }, { status: "DONE" })).length).toBe(12)
    }).pipe(Effect.scoped)), { timeout: 60_000 })
})
