/**
 * `SqlBrowser` over SQLite (a temp file), PostgreSQL (a fresh schema) and
 * MariaDB (a fresh database),
 * each next to the SQL backend on the same tables, through the shared
 * `ResultBrowserConformance` suite. SQLite pages by three ids, so lists and
 * exports cross page boundaries.
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as TestClock from "effect/TestClock"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as ResultBrowserConformance from "@taskmeta/testkit/ResultBrowserConformance"
import * as path from "node:path"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBrowser from "../src/SqlBrowser.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import {
  dropSchema,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlUrlFor,
  pgUrl,
  removeDir,
  suffix,
  tempDir
} from "./helpers.js"

const dir = tempDir("browse")
const schema = `tm_browse_${suffix()}`
const database = mysqlDatabaseForSuite("browse")
afterAll(async () => {
  removeDir(dir)
  await dropSchema(schema)
})

/** The browser over `client`, next to `backend` (built first: it runs the migrations). */
const withBrowser = <E1, E2>(
  backend: Layer.Layer<ResultBackend.ResultBackend, E1>,
  client: Layer.Layer<SqlClient.SqlClient, E2>,
  options: SqlBrowser.Options
) => SqlBrowser.layer(options).pipe(Layer.provide(client), Layer.provideMerge(backend))

const filename = path.join(dir, "browse.sqlite")

ResultBrowserConformance.suite("sqlite", (options) =>
  withBrowser(
    SqliteBackend.layer({ ...options, filename }),
    Layer.scoped(SqlClient.SqlClient, SqliteBackend.makeClient({ filename })).pipe(Layer.provide(Reactivity.layer)),
    { pageSize: 3 }
  ))

ResultBrowserConformance.suite("postgres", (options) =>
  withBrowser(
    PgBackend.layer({ ...options, url: pgUrl, tables: { schema }, poolSize: 2 }),
    PgClient.layer({ url: pgUrl, maxConnections: 2 }),
    { tables: { schema } }
  ))

// MariaDB, the browser over a MysqlClient built as a user would, pages of three ids.
describe.runIf(HAS_MYSQL)(`MariaDB ${MYSQL_TAG}`, () => {
  ResultBrowserConformance.suite("mysql", (options) =>
    withBrowser(
      MysqlBackend.layer({ ...options, url: mysqlUrlFor(database), poolSize: 2 }),
      MysqlClient.layer({ url: mysqlUrlFor(database), maxConnections: 2 }),
      { pageSize: 3 }
    ))
})

describe("countExpired counts what cleanup deletes", () => {
  // Issue 14, finding 11: an unfinished row another writer stamped with an old date_done was counted,
  // though cleanup (READY records only) keeps it.
  it.effect("an unfinished row with an old date_done is neither counted nor deleted", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const browser = yield* ResultBrowser.ResultBrowser
      const sql = yield* SqlClient.SqlClient
      yield* backend.store("old-done", 1, "SUCCESS")
      yield* sql`INSERT INTO celery_taskmeta (task_id, status, date_done) VALUES ('old-started', 'STARTED', '1970-01-01 00:00:00.000000')`
      yield* TestClock.adjust(Duration.days(2))
      expect((yield* browser.countExpired).tasks).toBe(1)
      expect((yield* backend.cleanup()).tasks).toBe(1)
      expect(yield* backend.exists("old-started")).toBe(true)
      expect(yield* backend.exists("old-done")).toBe(false)
    }).pipe(Effect.provide(SqliteBackend.layerStore({ filename: path.join(dir, "expired.sqlite") }).pipe(
      Layer.provideMerge(SqliteBackend.layerClient({ filename: path.join(dir, "expired.sqlite") }))
    ))))
})
