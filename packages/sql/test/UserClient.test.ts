/**
 * `SqlBackend.layer` over clients the user builds with stock settings
 * (`PgClient.layer`, `SqliteClient.layer`, `MysqlClient.layer`), in a process
 * whose local time zone is far from UTC (and, on MariaDB, a session time zone
 * that is neither UTC nor the process's): same records and same instants as
 * taskmeta's own layers give.
 */
process.env.TZ = "America/New_York"

import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as String from "effect/String"
import * as TestClock from "effect/TestClock"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import { PipelineConformance } from "@taskmeta/testkit"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as path from "node:path"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import * as SqlPipelineStore from "../src/SqlPipelineStore.js"
import * as SqlStore from "../src/SqlStore.js"
import {
  dropSchema,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlQuery,
  mysqlUrlFor,
  pgQuery,
  pgUrl,
  removeDir,
  suffix,
  tempDir
} from "./helpers.js"
import { dropTables, uniquePrefix } from "./pipelineSupport.js"

const schema = `tm_user_${suffix()}`
const dir = tempDir("user-client")
const filename = path.join(dir, "user.sqlite")
const database = mysqlDatabaseForSuite("user")
afterAll(() => dropSchema(schema).then(() => removeDir(dir)))

// What a user's program has: the Effect SQL clients with their defaults.
const userPg = PgClient.layer({ url: pgUrl })
const userSqlite = SqliteClient.layer({ filename })
// mysql2 converts Dates in the process's zone ("local", America/New_York here) by default.
const userMysql = MysqlClient.layer({ url: mysqlUrlFor(database) })

describe("the process", () => {
  it("runs in America/New_York (so a parser reading local time would be off by hours)", () => {
    expect(new Date(Date.UTC(2026, 10, 20, 12)).getTimezoneOffset()).toBe(300)
  })
})

ResultBackendConformance.suite("postgres over a user's PgClient.layer, TZ=America/New_York", (options) =>
  SqlBackend.layer({ ...options, tables: { schema } }).pipe(Layer.provide(userPg)))

ResultBackendConformance.suite("sqlite over a user's SqliteClient.layer, TZ=America/New_York", (options) =>
  SqlBackend.layer(options).pipe(Layer.provide(userSqlite)))

// Registered only with a server: the suite's layer would otherwise still try to connect.
if (HAS_MYSQL) {
  ResultBackendConformance.suite("mysql over a user's MysqlClient.layer, TZ=America/New_York", (options) =>
    SqlBackend.layer(options).pipe(Layer.provide(userMysql)))
} else {
  describe.skip(`MariaDB ${MYSQL_TAG}`, () => {
    it("ResultBackend conformance over a user's MysqlClient.layer, TZ=America/New_York", () => {})
  })
}

// The pipeline store the same way: its batches (restoreMany, getRuns) and stamps over the user's clients.
const pipelinePrefix = uniquePrefix("plusr")
afterAll(() => Effect.runPromise(dropTables(pipelinePrefix).pipe(Effect.provide(userPg))), 30_000)
const UserPipelines = SqlPipelineStore.layer({ prefix: pipelinePrefix })

PipelineConformance.suite("postgres over a user's PgClient.layer, TZ=America/New_York", UserPipelines.pipe(Layer.provideMerge(userPg)))

PipelineConformance.suite("sqlite over a user's SqliteClient.layer, TZ=America/New_York", UserPipelines.pipe(Layer.provideMerge(userSqlite)))

if (HAS_MYSQL) {
  PipelineConformance.suite("mysql over a user's MysqlClient.layer, TZ=America/New_York", UserPipelines.pipe(Layer.provideMerge(userMysql)))
} else {
  describe.skip(`MariaDB ${MYSQL_TAG}`, () => {
    it("PipelineConformance over a user's MysqlClient.layer, TZ=America/New_York", () => {})
  })
}

// Celery's naive-UTC text, as Celery writes it (microseconds included).
const CELERY_TEXT = "2026-11-20 08:15:30.123456"
const CELERY_MILLIS = Date.UTC(2026, 10, 20, 8, 15, 30, 123)

const readBack = (id: string) =>
  Effect.flatMap(ResultBackend.ResultBackend, (backend) => backend.get(id)).pipe(
    Effect.map((record) => record.dateDone === null ? null : DateTime.toEpochMillis(record.dateDone))
  )

describe("instants through a user's client", () => {
  it.effect("PostgreSQL: a row Celery wrote reads the same instant through the user's PgClient and through PgBackend", () =>
    Effect.gen(function*() {
      const id = `celery-${suffix()}`
      // Tables first (the layer migrates), then Celery's row.
      const viaUser = SqlBackend.layer({ tables: { schema } }).pipe(Layer.provide(userPg))
      yield* Effect.provide(Effect.void, viaUser)
      yield* Effect.promise(() =>
        pgQuery(
          `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result, date_done) ` +
            `VALUES (nextval('"${schema}".task_id_sequence'), $1, 'SUCCESS', NULL, $2)`,
          [id, CELERY_TEXT]
        )
      )
      const user = yield* Effect.provide(readBack(id), viaUser)
      const ours = yield* Effect.provide(readBack(id), PgBackend.layer({ url: pgUrl, tables: { schema } }))
      expect(user).toBe(CELERY_MILLIS)
      expect(ours).toBe(CELERY_MILLIS)
    }))

  it.effect("PostgreSQL: a store at a fixed instant is written as that naive-UTC text", () =>
    Effect.gen(function*() {
      const id = `fixed-${suffix()}`
      yield* TestClock.setTime(CELERY_MILLIS)
      yield* Effect.flatMap(ResultBackend.ResultBackend, (backend) => backend.store(id, 1, "SUCCESS")).pipe(
        Effect.provide(SqlBackend.layer({ tables: { schema } }).pipe(Layer.provide(userPg)))
      )
      const row = yield* Effect.promise(() =>
        pgQuery(
          `SELECT to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.MS') AS text FROM "${schema}".celery_taskmeta WHERE task_id = $1`,
          [id]
        )
      )
      expect(row.rows[0].text).toBe("2026-11-20 08:15:30.123")
    }))

  it.effect("SQLite: the user's client and SqliteBackend read the same instant, and write Celery's text", () =>
    Effect.gen(function*() {
      const id = `fixed-${suffix()}`
      yield* TestClock.setTime(CELERY_MILLIS)
      const viaUser = SqlBackend.layer().pipe(Layer.provide(userSqlite))
      yield* Effect.flatMap(ResultBackend.ResultBackend, (backend) => backend.store(id, 1, "SUCCESS")).pipe(
        Effect.provide(viaUser)
      )
      const user = yield* Effect.provide(readBack(id), viaUser)
      const ours = yield* Effect.provide(readBack(id), SqliteBackend.layer({ filename }))
      expect(user).toBe(CELERY_MILLIS)
      expect(ours).toBe(CELERY_MILLIS)
      const text = yield* Effect.provide(
        Effect.flatMap(SqliteClient.SqliteClient, (sql) =>
          sql<{ date_done: string }>`SELECT date_done FROM celery_taskmeta WHERE task_id = ${id}`),
        userSqlite
      )
      expect(text[0].date_done).toBe("2026-11-20 08:15:30.123000")
    }))

  it.effect("a client that renames result columns (camelCase) still reads taskmeta's rows, and browses them", () =>
    Effect.gen(function*() {
      const id = `camel-${suffix()}`
      const camel = PgClient.layer({ url: pgUrl, transformResultNames: String.snakeToCamel })
      const layer = SqlStore.layer({ tables: { schema } }).pipe(Layer.provide(camel))
      const [record, listed] = yield* Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        yield* backend.store(id, { a: 1 }, "SUCCESS")
        const browser = yield* ResultBrowser.ResultBrowser
        const listed = yield* Stream.runCollect(browser.list({ name: undefined, limit: 1000 }))
        return [yield* backend.get(id), Chunk.toReadonlyArray(listed)] as const
      }).pipe(Effect.provide(layer))
      expect(record.taskId).toBe(id)
      expect(record.result).toEqual({ a: 1 })
      expect(listed.map((r) => r.taskId)).toContain(id)
    }))

  it.effect.runIf(HAS_MYSQL)(`MariaDB: over a user's MysqlClient whose session time zone is +09:00, date_done is naive UTC both ways ${MYSQL_TAG}`, () =>
    Effect.gen(function*() {
      // One connection, so the session setting holds for every statement taskmeta runs.
      const tokyo = Layer.tap(
        MysqlClient.layer({ url: mysqlUrlFor(database), maxConnections: 1 }),
        (context) => Effect.asVoid(Context.get(context, MysqlClient.MysqlClient)`SET time_zone = '+09:00'`)
      )
      const viaUser = SqlBackend.layer().pipe(Layer.provideMerge(tokyo))
      const stored = `fixed-${suffix()}`
      const celery = `celery-${suffix()}`
      const [user, celeryRead, session] = yield* Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const sql = yield* MysqlClient.MysqlClient
        yield* TestClock.setTime(CELERY_MILLIS)
        yield* backend.store(stored, 1, "SUCCESS")
        // A row as Celery writes it (naive UTC text; its DATETIME keeps whole seconds, this one six digits).
        yield* sql`INSERT INTO celery_taskmeta (id, task_id, status, date_done)
          VALUES (NEXTVAL(task_id_sequence), ${celery}, 'SUCCESS', ${CELERY_TEXT})`
        const session = yield* sql<{ zone: string; now: string; utc: string }>`SELECT @@session.time_zone AS zone,
          DATE_FORMAT(NOW(), '%H') AS now, DATE_FORMAT(UTC_TIMESTAMP(), '%H') AS utc`
        return [yield* readBack(stored), yield* readBack(celery), session[0]] as const
      }).pipe(Effect.provide(viaUser))
      // The session really is at +09:00 (NOW() is nine hours off UTC there).
      expect(session.zone).toBe("+09:00")
      expect((Number(session.now) - Number(session.utc) + 24) % 24).toBe(9)
      expect(user).toBe(CELERY_MILLIS)
      expect(celeryRead).toBe(CELERY_MILLIS)
      // What the table holds, read on a connection of its own at the server's zone (UTC): Celery's naive UTC.
      const rows = yield* Effect.promise(() =>
        mysqlQuery(
          "SELECT DATE_FORMAT(date_done, '%Y-%m-%d %H:%i:%s.%f') AS text FROM celery_taskmeta WHERE task_id = ?",
          [stored],
          database
        )
      )
      expect((rows as Array<{ text: string }>)[0].text).toBe("2026-11-20 08:15:30.123000")
      // And taskmeta's own layer reads the same instants.
      const ours = yield* Effect.all([readBack(stored), readBack(celery)]).pipe(
        Effect.provide(MysqlBackend.layer({ url: mysqlUrlFor(database), poolSize: 1 }))
      )
      expect(ours).toEqual([CELERY_MILLIS, CELERY_MILLIS])
    }))
})
