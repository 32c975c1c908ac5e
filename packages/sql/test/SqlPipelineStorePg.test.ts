import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"
import { PipelineConformance } from "@taskmeta/testkit"
import { PG_URL } from "./helpers.js"
import { captureStatements, dropTables, expectRestoreMany, serverPipelineCases, uniquePrefix } from "./pipelineSupport.js"

const url = Redacted.make(PG_URL)
const Pg = PgClient.layer({ url, maxConnections: 10 })
const prefix = uniquePrefix("plpg")
const Store = SqlPipelineStore.layer({ prefix })

afterAll(() => Effect.runPromise(dropTables(prefix).pipe(Effect.provide(Pg))), 30_000)

PipelineConformance.suite("postgres", Store.pipe(Layer.provideMerge(Pg)))

const Plan = Schema.Array(Schema.Struct({ "QUERY PLAN": Schema.String }))

describe("postgres: SQL pipeline store", () => {
  it.layer(Store.pipe(Layer.provideMerge(Pg)), { timeout: 60_000 })((it) => {
    it.effect("lists the failed task results of a run with one indexed query", () =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const sql = yield* SqlClient.SqlClient
        const runId = `explain-${Math.random().toString(36).slice(2)}`
        yield* store.build(PipelineConformance.shape(runId, "explain", 1000, 5, 1))
        // A few other runs, so the run id is selective too.
        for (let n = 0; n < 3; n++) {
          yield* store.build(PipelineConformance.shape(`${runId}-other-${n}`, "explain", 200, 5, 1))
        }
        const failed = [17, 420, 999].map((i) => Pipeline.taskResultId(Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, i), 3), 0))
        for (const id of failed) yield* store.report("TaskResult", id, "RUNTIME_ERROR")
        const names = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
        yield* sql`ANALYZE ${sql(names.taskResults)}`

        const [rows, statements] = yield* captureStatements(
          store.listTaskResults({ runId }, { status: [...Pipeline.FAILURES] })
        )
        expect(rows.map((r) => r.id)).toEqual(failed)
        expect(statements).toHaveLength(1)
        const plan = yield* sql.unsafe(`EXPLAIN ${statements[0]}`, [runId, ...Pipeline.FAILURES]).pipe(
          Effect.flatMap(Schema.decodeUnknown(Plan)),
          Effect.map((lines) => lines.map((l) => l["QUERY PLAN"]).join("\n"))
        )
        yield* Effect.sync(() => console.log(`${statements[0]}\n${plan}`))
        expect(plan).toContain(`${prefix}tr_run_status_idx`)
        expect(plan).not.toContain("Seq Scan")
      }), { timeout: 60_000 })

    it.effect("restores 500 runs with one restoreMany and reads them with four SELECTs", () =>

      expectRestoreMany(500, prefix, { inserts: [1, 1, 1, 1], writeSelects: 0, againInserts: 1 }), { timeout: 60_000 })

    serverPipelineCases(it, prefix)

    it.effect("refuses an invalid table prefix", () =>
      Effect.gen(function*() {
        for (const bad of ["Bad", "1x_", "a-b", "x; drop table y", "a".repeat(41)]) {
          const error = yield* Effect.flip(SqlPipelineStore.make({ prefix: bad }))
          expect(error._tag).toBe("InvalidInput")
        }
      }))
  })
})
