/**
 * MariaDB with taskmeta's connections killed (`KILL CONNECTION` from a second
 * connection) every 200 ms while 20,000 stores run: every store is
 * acknowledged, and every record is there exactly once, as written. And a
 * value the server refuses inside a shared multi-row statement fails alone,
 * leaving no transaction open on the pool's connections.
 */
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Schedule from "effect/Schedule"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as MysqlBackend from "../src/MysqlBackend.js"
import {
  createMysqlDatabase,
  dropMysqlDatabase,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlDatabaseName,
  mysqlQuery,
  mysqlUrlFor
} from "./helpers.js"

const database = mysqlDatabaseForSuite("faults")

/** Kills every connection to the test's database but the killer's own; how many it killed. */
const killAll = Effect.promise(async () => {
  const sessions = (await mysqlQuery(
    "SELECT ID AS id FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()",
    [database]
  )) as Array<{ id: number }>
  let killed = 0
  for (const { id } of sessions) {
    // A session may end on its own between the list and the kill (1094: unknown thread).
    await mysqlQuery(`KILL CONNECTION ${Number(id)}`).then(() => killed++, () => undefined)
  }
  return killed
})

describe.runIf(HAS_MYSQL)(`MariaDB with connections killed every 200 ms ${MYSQL_TAG}`, () => {
  it.live("20,000 stores: each acknowledged, each record there exactly once", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      let kills = 0
      let rounds = 0
      const killer = yield* killAll.pipe(
        Effect.tap((n) => Effect.sync(() => {
          kills += n
          rounds++
        })),
        Effect.repeat(Schedule.spaced("200 millis")),
        Effect.fork
      )
      const count = 20_000
      const outcomes = yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) =>
          Effect.zipRight(
            // Paced, so the stream lasts at least 20,000 × 12 ms / 64 ≈ 3.75 s whatever the speed: many kills land in it.
            Effect.sleep("12 millis"),
            backend.store(`rec-${i}`, { i, big: 2n ** 70n }, i % 10 === 0 ? "FAILURE" : "SUCCESS", { args: [i], kwargs: { i } })
          ),
        { concurrency: 64 }
      )
      yield* Fiber.interrupt(killer)
      console.info(`MariaDB faults: ${kills} connections killed in ${rounds} rounds`)
      expect(rounds).toBeGreaterThan(10)
      expect(kills).toBeGreaterThan(10)
      expect(outcomes.filter((o) => o._tag !== "Stored")).toEqual([])

      const rows = (yield* Effect.promise(() =>
        mysqlQuery("SELECT task_id, COUNT(*) AS n FROM celery_taskmeta GROUP BY task_id", [], database)
      )) as Array<{ task_id: string; n: number }>
      expect(rows.length).toBe(count)
      expect(rows.filter((r) => Number(r.n) !== 1)).toEqual([])
      const ids = Array.from({ length: count }, (_, i) => `rec-${i}`)
      expect(new Set(rows.map((r) => r.task_id))).toEqual(new Set(ids))
      const records = yield* backend.getMany(ids)
      const wrong = records.filter((record, i) =>
        record.status !== (i % 10 === 0 ? "FAILURE" : "SUCCESS") ||
        JSON.stringify(record.result, (_, v) => typeof v === "bigint" ? `${v}n` : v) !== JSON.stringify({ i, big: `${2n ** 70n}n` }) ||
        JSON.stringify(record.args) !== JSON.stringify([i]) ||
        record.dateDone === null
      )
      expect(wrong.map((r) => r.taskId)).toEqual([])
    }).pipe(
      Effect.provide(MysqlBackend.layer({
        url: mysqlUrlFor(database),
        poolSize: 8,
        resultExtended: true,
        retry: { maxRetries: 30, baseSleep: Duration.millis(5), maxSleep: Duration.millis(250) }
      })),
      Logger.withMinimumLogLevel(LogLevel.Error)
    ), 300_000)
})

describe.runIf(HAS_MYSQL)(`MariaDB refusing one value of a multi-row statement ${MYSQL_TAG}`, () => {
  const celeryMade = mysqlDatabaseName("refuse")
  beforeAll(async () => {
    await createMysqlDatabase(celeryMade)
    // Celery's own table: `result` is a BLOB of at most 64 KiB.
    await mysqlQuery("CREATE SEQUENCE task_id_sequence", [], celeryMade)
    await mysqlQuery("CREATE SEQUENCE taskset_id_sequence", [], celeryMade)
    await mysqlQuery(
      "CREATE TABLE celery_taskmeta (id INT NOT NULL, task_id VARCHAR(155), status VARCHAR(50), result BLOB, " +
        "date_done DATETIME, traceback TEXT, name VARCHAR(155), args BLOB, kwargs BLOB, worker VARCHAR(155), " +
        "retries INT, queue VARCHAR(155), PRIMARY KEY (id), UNIQUE KEY task_id (task_id))",
      [],
      celeryMade
    )
    await mysqlQuery(
      "CREATE TABLE celery_tasksetmeta (id INT NOT NULL, taskset_id VARCHAR(155), result BLOB, date_done DATETIME, " +
        "PRIMARY KEY (id), UNIQUE KEY taskset_id (taskset_id))",
      [],
      celeryMade
    )
  })
  afterAll(() => dropMysqlDatabase(celeryMade))

  it.live("the write at fault fails, the others are stored, and no transaction stays open", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, i) => i),
        (i) => Effect.either(backend.store(`r-${i}`, i === 17 ? "x".repeat(70_000) : { i }, "SUCCESS")),
        { concurrency: "unbounded" }
      )
      const failed = outcomes.flatMap((o, i) => (o._tag === "Left" ? [i] : []))
      expect(failed).toEqual([17])
      expect(outcomes.filter((o) => o._tag === "Right" && o.right._tag !== "Stored")).toEqual([])
      // Committed: another connection sees the 39.
      const rows = (yield* Effect.promise(() =>
        mysqlQuery("SELECT COUNT(*) AS n FROM celery_taskmeta", [], celeryMade)
      )) as Array<{ n: number }>
      expect(Number(rows[0].n)).toBe(39)
      // Nothing left open on the pool's connections (an open transaction would hold row locks).
      const open = (yield* Effect.promise(() =>
        mysqlQuery(
          "SELECT COUNT(*) AS n FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p " +
            "ON p.ID = t.trx_mysql_thread_id WHERE p.DB = ?",
          [celeryMade]
        )
      )) as Array<{ n: number }>
      expect(Number(open[0].n)).toBe(0)
      expect((yield* backend.store("after", 1, "SUCCESS"))._tag).toBe("Stored")
    }).pipe(
      Effect.provide(MysqlBackend.layer({ url: mysqlUrlFor(celeryMade), poolSize: 2, retry: { maxRetries: 0 } })),
      Logger.withMinimumLogLevel(LogLevel.Error)
    ), 60_000)
})
