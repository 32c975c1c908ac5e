/**
 * The SQL pipeline store on MariaDB (a database of its own), over a
 * `MysqlClient` built as a user would: the shared conformance suite, a tree
 * larger than one insert statement carries, concurrent migrators, and the
 * failed task results of a run read through the (run_id, status, ordinal) index.
 */
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"
import { PipelineConformance } from "@taskmeta/testkit"
import {
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlUrlFor
} from "./helpers.js"
import { captureStatements, expectRestoreMany, serverPipelineCases, uniquePrefix } from "./pipelineSupport.js"

const database = mysqlDatabaseForSuite("pipelines")

const Mysql = MysqlClient.layer({ url: mysqlUrlFor(database), maxConnections: 10 })
const prefix = uniquePrefix("plmy")
const Store = SqlPipelineStore.layer({ prefix })

describe.runIf(HAS_MYSQL)(`MariaDB ${MYSQL_TAG}`, () => {
  PipelineConformance.suite("mysql", Store.pipe(Layer.provideMerge(Mysql)))

  const Plan = Schema.Array(Schema.Struct({ key: Schema.NullOr(Schema.String), type: Schema.NullOr(Schema.String) }))

  describe("mysql: SQL pipeline store", () => {
    it.layer(Store.pipe(Layer.provideMerge(Mysql)), { timeout: 60_000 })((it) => {
      it.effect("lists the failed task results of a run with one indexed query", () =>
        Effect.gen(function*() {
          const store = yield* PipelineStore.PipelineStore
          const sql = yield* SqlClient.SqlClient
          const runId = `explain-${Math.random().toString(36).slice(2)}`
          yield* store.build(PipelineConformance.shape(runId, "explain", 1000, 5, 1))
          for (let n = 0; n < 3; n++) {
            yield* store.build(PipelineConformance.shape(`${runId}-other-${n}`, "explain", 200, 5, 1))
          }
          const failed = [17, 420, 999].map((i) =>
            Pipeline.taskResultId(Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, i), 3), 0)
          )
          for (const id of failed) yield* store.report("TaskResult", id, "RUNTIME_ERROR")
          const names = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
          yield* sql`ANALYZE TABLE ${sql(names.taskResults)}`
          const [rows, statements] = yield* captureStatements(
            store.listTaskResults({ runId }, { status: [...Pipeline.FAILURES] })
          )
          expect(rows.map((r) => r.id)).toEqual(failed)
          expect(statements).toHaveLength(1)
          const plan = yield* sql.unsafe(`EXPLAIN ${statements[0]}`, [runId, ...Pipeline.FAILURES]).pipe(
            Effect.flatMap(Schema.decodeUnknown(Plan))
          )
          yield* Effect.sync(() => console.log(`${statements[0]}\n${JSON.stringify(plan)}`))
          expect(plan[0].key).toBe(`${prefix}tr_run_status_idx`)
          expect(plan[0].type).not.toBe("ALL")
        }), { timeout: 60_000 })

      it.effect("restores 500 runs with one restoreMany and reads them with four SELECTs", () =>

        expectRestoreMany(500, prefix, { inserts: [1, 1, 1, 1], writeSelects: 1, againInserts: 0 }), { timeout: 60_000 })

      serverPipelineCases(it, prefix)
    })
  })
})
