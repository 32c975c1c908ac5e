/**
 * Python Celery 5.2 and taskmeta on one MariaDB database: Celery writes and
 * taskmeta reads every field as Celery's own get_task_meta / restore_group do;
 * taskmeta writes in the Celery-compatible mode (`encoding: "pickle"`) and
 * Celery reads it back equal, on tables taskmeta created and on tables Celery
 * created first (whose DATETIME keeps whole seconds). A fresh database per
 * test, reached through a user with a password: Celery pickles that password
 * into its group rows, and it must never come out of taskmeta.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as Harness from "./celery/harness.js"
import * as Scenarios from "./celery/scenarios.js"
import { dropMysqlDatabase, HAS_MYSQL, MYSQL_TAG, MYSQL_URL, mysqlQuery, suffix } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

const SECRET = `Pw-${suffix()}-s3cr3t`
const USER = `tm_celery_${suffix()}`

const databases: Array<string> = []
beforeAll(async () => {
  if (!HAS_MYSQL) return
  await mysqlQuery(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${SECRET}'`)
  await mysqlQuery(`GRANT ALL PRIVILEGES ON *.* TO '${USER}'@'%'`)
})
afterAll(async () => {
  if (!HAS_MYSQL) return
  for (const database of databases) await dropMysqlDatabase(database)
  await mysqlQuery(`DROP USER IF EXISTS '${USER}'@'%'`)
})

const freshDatabase = (label: string) =>
  Effect.promise(async () => {
    const database = `tm_celery_${label}_${suffix()}`
    databases.push(database)
    await mysqlQuery(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`)
    return database
  })

const server = new URL(MYSQL_URL.replace(/^mysql:/, "http:"))
/** taskmeta's URL for a database, with the user and password. */
const taskmetaUrl = (database: string) =>
  Redacted.make(`mysql://${USER}:${SECRET}@${server.hostname}:${server.port || 3306}/${database}`)
/** Celery's SQLAlchemy URL for the same database. */
const celeryUrl = (database: string) => `db+mysql+pymysql://${USER}:${SECRET}@${server.hostname}:${server.port || 3306}/${database}`

describe.runIf(HAS_MYSQL && has("celery"))(`Celery 5.2 ⇄ taskmeta on MariaDB ${MYSQL_TAG} ${tag("celery")}`, () => {
  it.live("Celery writes (its own tables) → taskmeta reads every field as get_task_meta does; no password leaks", () =>
    Effect.gen(function*() {
      const database = yield* freshDatabase("reads")
      const url = celeryUrl(database)
      const { written, groupId, groupBytes, logs } = yield* Scenarios.celeryWritesTaskmetaReads({
        celeryUrl: url,
        secret: SECRET,
        microseconds: false,
        backend: (encoding) =>
          MysqlBackend.layer({ url: taskmetaUrl(database), encoding, resultExtended: true, poolSize: 2 })
      })
      expect(logs.length).toBeGreaterThan(0) // the migrations log, so the capture works
      // Celery's table, untouched by taskmeta's migrations but for the date_done index.
      const ddl = (yield* Effect.promise(() => mysqlQuery("SHOW CREATE TABLE celery_taskmeta", [], database))) as Array<
        Record<string, string>
      >
      expect(ddl[0]["Create Table"]).toContain("`date_done` datetime DEFAULT NULL")
      expect(ddl[0]["Create Table"]).toContain("`result` blob DEFAULT NULL")
      // Celery's group pickle stored as a task's result (as a chord header would be):
      // shown as an inert description with the URL password redacted.
      yield* Effect.promise(() =>
        mysqlQuery(
          "INSERT INTO celery_taskmeta (id, task_id, status, result) VALUES (NEXTVAL(task_id_sequence), ?, 'SUCCESS', ?)",
          ["group-as-result", groupBytes],
          database
        )
      )
      const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.get("group-as-result")).pipe(
        Effect.provide(MysqlBackend.layer({ url: taskmetaUrl(database), poolSize: 1 }))
      )
      const text = JSON.stringify(record.result, Scenarios.bigints)
      expect(text).toContain("_unpickle_appattr")
      expect(text).toContain(groupId)
      expect(text).toContain(":***@")
      expect(text).not.toContain(SECRET)
      yield* Scenarios.argsBytesMatchCelery({
        celeryUrl: url,
        backend: MysqlBackend.layer({ url: taskmetaUrl(database), encoding: "pickle", resultExtended: true, poolSize: 1 }),
        celeryTaskId: written.tasks["extended-big"].task_id
      })
    }), 120_000)

  it.live("taskmeta writes in Celery mode (tables taskmeta created) → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const database = yield* freshDatabase("own")
      const options = { url: taskmetaUrl(database), poolSize: 2 } as const
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(database),
        backend: MysqlBackend.layer({ ...options, encoding: "pickle", resultExtended: true }),
        jsonBackend: MysqlBackend.layer(options),
        prefix: "tm-own"
      })
      // Celery writes into taskmeta's tables too (its sequences are there).
      const written = yield* Harness.write(celeryUrl(database))
      const records = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) =>
        b.getMany(Object.values(written.tasks).map((t) => t.task_id))).pipe(Effect.provide(MysqlBackend.layer(options)))
      expect(records.map(Harness.view)).toEqual(Object.values(written.tasks).map(Harness.celeryView))
    }), 120_000)

  it.live("taskmeta writes in Celery mode on tables Celery created first → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const database = yield* freshDatabase("celerymade")
      yield* Harness.create(celeryUrl(database))
      const options = { url: taskmetaUrl(database), poolSize: 2 } as const
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(database),
        backend: MysqlBackend.layer({ ...options, encoding: "pickle", resultExtended: true }),
        jsonBackend: MysqlBackend.layer(options),
        prefix: "tm-celery-tables",
        wholeSeconds: true
      })
    }), 120_000)
})
