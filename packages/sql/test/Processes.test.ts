import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as Harness from "./celery/harness.js"
import {
  dropMysqlDatabase,
  dropSchema,
  freshMysqlDatabase,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlQuery,
  mysqlUrlFor,
  PG_URL,
  pgQuery,
  removeDir,
  runScript,
  suffix,
  tempDir
} from "./helpers.js"

const dir = tempDir("processes")
const schema = `tm_mig_${suffix()}`
const databases: Array<string> = []
afterAll(async () => {
  removeDir(dir)
  await dropSchema(schema)
  for (const database of databases) await dropMysqlDatabase(database)
})

describe("several processes", () => {
  it("two processes writing one SQLite file lose nothing (and migrate it at once)", async () => {
    const file = path.join(dir, "shared.sqlite")
    const count = 1500
    const [a, b] = await Promise.all([
      runScript("sqlite-writer.ts", [file, "a", String(count)]),
      runScript("sqlite-writer.ts", [file, "b", String(count)])
    ])
    expect(a.stderr).toBe("")
    expect(b.stderr).toBe("")
    expect([a.code, b.code]).toEqual([0, 0])
    expect(a.stdout).toContain(`done ${count}\n`)
    expect(b.stdout).toContain(`done ${count}\n`)
    const db = new Sqlite(file, { readonly: true })
    const rows = db.prepare("SELECT task_id, status, result FROM celery_taskmeta").all() as Array<
      { task_id: string; status: string; result: Buffer }
    >
    const migrations = db.prepare("SELECT version FROM taskmeta_migrations ORDER BY version").all()
    db.close()
    expect(rows.length).toBe(2 * count)
    const ids = new Set(rows.map((r) => r.task_id))
    for (const prefix of ["a", "b"]) {
      for (let i = 0; i < count; i++) expect(ids.has(`${prefix}-${i}`)).toBe(true)
    }
    for (const row of rows) {
      expect(row.status).toBe("SUCCESS")
      const value = JSON.parse(row.result.toString("utf8"))
      expect(`${value.writer}-${value.i}`).toBe(row.task_id)
    }
    expect(migrations).toEqual([{ version: 1 }, { version: 2 }])
  }, 120_000)

  it("SQLite migrations run by four processes at once apply each step once", async () => {
    const file = path.join(dir, "migrate.sqlite")
    const runs = await Promise.all([1, 2, 3, 4].map(() => runScript("migrate.ts", ["sqlite", file])))
    for (const run of runs) expect(run.code, run.stderr).toBe(0)
    const applied = runs.map((r) => JSON.parse(r.stdout.trim().split("\n").pop()!) as Array<string>)
    expect(applied.flat().sort()).toEqual(["1_celery_tables", "2_date_done_indexes"])
  }, 120_000)

  it("PostgreSQL migrations run by four processes at once apply each step once", async () => {
    const runs = await Promise.all([1, 2, 3, 4].map(() => runScript("migrate.ts", ["pg", schema, PG_URL])))
    for (const run of runs) expect(run.code, run.stderr).toBe(0)
    const applied = runs.map((r) => JSON.parse(r.stdout.trim().split("\n").pop()!) as Array<string>)
    expect(applied.flat().sort()).toEqual([
      "1_celery_tables",
      "2_date_done_indexes",
      "3_ready_notify_trigger",
      "4_ready_notify_statement_triggers",
      "5_ready_notify_byte_chunks",
      "6_ready_notify_when_listening",
      "7_ready_notify_always"
    ])
    const versions = await pgQuery(`SELECT version FROM "${schema}".taskmeta_migrations ORDER BY version`)
    expect(versions.rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }, { version: 4 }, { version: 5 }, {
      version: 6
    }, { version: 7 }])
  }, 120_000)

  for (const celeryFirst of [false, true]) {
    it.runIf(HAS_MYSQL)(`MariaDB migrations run by four processes at once apply each step once${celeryFirst ? " (tables Celery created first)" : ""} ${MYSQL_TAG}`, async () => {
      const database = await freshMysqlDatabase("mig")
      databases.push(database)
      const url = Redacted.value(mysqlUrlFor(database))
      if (celeryFirst) await Effect.runPromise(Harness.create(url.replace(/^mysql:/, "db+mysql+pymysql:")))
      const runs = await Promise.all([1, 2, 3, 4].map(() => runScript("migrate.ts", ["mysql", database, url])))
      for (const run of runs) expect(run.code, run.stderr).toBe(0)
      const applied = runs.map((r) => JSON.parse(r.stdout.trim().split("\n").pop()!) as Array<string>)
      expect(applied.flat().sort()).toEqual(["1_celery_tables", "2_date_done_indexes"])
      expect(await mysqlQuery("SELECT version FROM taskmeta_migrations ORDER BY version", [], database))
        .toEqual([{ version: 1 }, { version: 2 }])
      const indexes = await mysqlQuery(
        "SELECT TABLE_NAME AS t FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME LIKE '%date_done_idx' ORDER BY t",
        [database]
      )
      expect(indexes).toEqual([{ t: "celery_taskmeta" }, { t: "celery_tasksetmeta" }])
      const fsp = await mysqlQuery(
        "SELECT DATETIME_PRECISION AS p FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'celery_taskmeta' AND COLUMN_NAME = 'date_done'",
        [database]
      )
      // taskmeta's own tables keep microseconds; Celery's keep whole seconds, and stay as Celery made them.
      expect(fsp).toEqual([{ p: celeryFirst ? 0 : 6 }])
    }, 120_000)
  }
})
