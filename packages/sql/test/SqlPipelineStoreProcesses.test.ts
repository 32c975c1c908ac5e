import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"
import { PipelineConformance } from "@taskmeta/testkit"
import {
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlUrlFor,
  PG_URL
} from "./helpers.js"
import { dropTables, uniquePrefix } from "./pipelineSupport.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const TSX = path.resolve(here, "../../../node_modules/.bin/tsx")
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-pipeline-procs-"))
const prefix = uniquePrefix("plproc")

const reporter = (args: Array<string>) =>
  Effect.async<{ code: number | null; stdout: string; stderr: string }>((resume) => {
    const child = spawn(TSX, ["--conditions=source", path.join(here, "scripts", "pipeline-reporter.ts"), ...args], {
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("close", (code) => resume(Effect.succeed({ code, stdout, stderr })))
    return Effect.sync(() => child.kill())
  })

const Pg = PgClient.layer({ url: Redacted.make(PG_URL) })

const database = mysqlDatabaseForSuite("plproc")
afterAll(async () => {
  await Effect.runPromise(dropTables(prefix).pipe(Effect.provide(Pg)))
  fs.rmSync(dir, { recursive: true, force: true })
}, 30_000)

const scenario = (
  name: string,
  client: Layer.Layer<SqlClient.SqlClient, unknown>,
  target: string,
  dialect: "sqlite" | "pg" | "mysql"
) =>
  it.live(`${name}: three processes report one run at once without losing a propagation`, () =>
    Effect.gen(function*() {
      const store = yield* SqlPipelineStore.make({ prefix })
      const runId = `procs-${Math.random().toString(36).slice(2)}`
      const [P, T, R] = [60, 3, 2]
      yield* store.build(PipelineConformance.shape(runId, "procs", P, T, R))
      const workers = 3
      const runs = yield* Effect.forEach(
        Array.from({ length: workers }, (_, w) => w),
        (w) => reporter([dialect, target, prefix, runId, String(w), String(workers)]),
        { concurrency: "unbounded" }
      )
      for (const run of runs) expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 0, stderr: "" })
      const applied = runs.map((r) => Number(/done (\d+)/.exec(r.stdout)?.[1]))
      expect(applied.reduce((a, b) => a + b, 0)).toBe(P * T * R)
      const prs = yield* store.listPipelineResults(runId)
      expect(prs.map((r) => r.status)).toEqual(prs.map((r) => (r.index % 37 === 0 ? "RUNTIME_ERROR" : "DONE")))
      expect((yield* store.listTaskExecutions({ runId }, { status: "DONE" })).length).toBe((P - 2) * T)
      const execution = Option.getOrThrow(yield* store.getExecution(runId))
      expect(execution.status).toBe("RUNTIME_ERROR")
      expect(execution.started).not.toBeNull()
      expect(execution.completed).not.toBeNull()
      expect((yield* store.listTaskResults({ runId }, { status: ["PENDING", "RUNNING"] })).length).toBe(0)
    }).pipe(Effect.provide(client)), 120_000)

describe("SQL pipeline store across processes", () => {
  const filename = path.join(dir, "procs.sqlite")
  scenario("sqlite", SqliteClient.layer({ filename }), filename, "sqlite")
  scenario("postgres", Pg, PG_URL, "pg")
  const mysqlUrl = mysqlUrlFor(database)
  describe.runIf(HAS_MYSQL)(MYSQL_TAG, () => scenario("mysql", MysqlClient.layer({ url: mysqlUrl }), Redacted.value(mysqlUrl), "mysql"))
})
