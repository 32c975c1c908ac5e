/**
 * `readOnly: true` (issue 16): a store opened to read creates nothing — no
 * SQLite file, no journal-mode change, no PostgreSQL schema, table, sequence
 * or function — runs no migration, fails with a typed error naming what is
 * missing, and reads (and waits) as before where the tables exist. The
 * database itself refuses writes through a read-only client.
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schedule from "effect/Schedule"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import Sqlite from "better-sqlite3"
import * as fs from "node:fs"
import * as path from "node:path"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import * as SqlMigrations from "../src/SqlMigrations.js"
import * as SqlStore from "../src/SqlStore.js"
import { dropSchema, PG_URL, pgQuery, pgUrl, removeDir, suffix, tempDir } from "./helpers.js"

const dir = tempDir("read-only")
const missingSchema = `tm_ro_missing_${suffix()}`
const emptySchema = `tm_ro_empty_${suffix()}`
const schema = `tm_ro_${suffix()}`
const app = `tm_ro_${suffix()}`
afterAll(async () => {
  for (const s of [missingSchema, emptySchema, schema]) await dropSchema(s)
  removeDir(dir)
})

const EXTENDED = ["name", "args", "kwargs", "worker", "retries", "queue"]

/** What a build failed with (the layer's typed error). */
const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** Every relation, sequence and function in a PostgreSQL schema, and whether the schema exists. */
const pgObjects = async (name: string) => {
  const namespace = await pgQuery(`SELECT 1 FROM pg_namespace WHERE nspname = $1`, [name])
  const relations = await pgQuery(
    `SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 ORDER BY 1`,
    [name]
  )
  const functions = await pgQuery(
    `SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1`,
    [name]
  )
  return {
    exists: namespace.rowCount === 1,
    relations: relations.rows.map((r: { relname: string }) => r.relname),
    functions: functions.rows.map((r: { proname: string }) => r.proname)
  }
}

describe("SQLite, readOnly", () => {
  it.effect("a missing file is MissingDatabase naming the path, and no file is created (nor its directory)", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "typo.sqlite")
      const error = yield* buildError(SqliteBackend.layer({ filename, readOnly: true }))
      expect(error._tag).toBe("MissingDatabase")
      expect(error.message).toBe(`no SQLite database at ${filename} (a read-only open never creates one)`)
      expect(fs.existsSync(filename)).toBe(false)
      const nested = path.join(dir, "no-such-dir", "typo.sqlite")
      const inMissingDir = yield* buildError(SqliteBackend.layer({ filename: nested, readOnly: true }))
      expect(inMissingDir._tag).toBe("MissingDatabase")
      expect(fs.existsSync(path.dirname(nested))).toBe(false)
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("typo") || f === "no-such-dir")).toEqual([])
    }))

  it.effect("a file without the tables is MissingTables naming them; the file is left byte for byte", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "other.sqlite")
      const db = new Sqlite(filename)
      db.exec("CREATE TABLE other (x INTEGER)")
      db.close()
      const before = fs.readFileSync(filename)
      const error = yield* buildError(SqliteBackend.layer({ filename, readOnly: true }))
      expect(error._tag).toBe("MissingTables")
      if (error._tag !== "MissingTables") return
      expect(error.tables).toEqual(["celery_taskmeta", "celery_tasksetmeta"])
      expect(error.columns).toEqual([])
      expect(error.schema).toBeUndefined()
      expect(error.message).toBe("missing tables celery_taskmeta, celery_tasksetmeta")
      expect(fs.readFileSync(filename).equals(before)).toBe(true)
      expect(fs.readdirSync(dir).filter((f) => f.startsWith("other"))).toEqual(["other.sqlite"])
    }))

  it.effect("Celery's tables without result_extended: MissingTables lists the missing columns, nothing is added", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "celery-plain.sqlite")
      const db = new Sqlite(filename)
      db.exec(
        "CREATE TABLE celery_taskmeta (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, task_id VARCHAR(155), " +
          "status VARCHAR(50), result BLOB, date_done DATETIME, traceback TEXT, UNIQUE (task_id));" +
          "CREATE TABLE celery_tasksetmeta (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, taskset_id VARCHAR(155), " +
          "result BLOB, date_done DATETIME, UNIQUE (taskset_id))"
      )
      db.close()
      const error = yield* buildError(SqliteBackend.layer({ filename, readOnly: true }))
      expect(error._tag).toBe("MissingTables")
      if (error._tag !== "MissingTables") return
      expect(error.tables).toEqual([])
      expect(error.columns).toEqual(EXTENDED.map((c) => `celery_taskmeta.${c}`))
      expect(error.message).toBe(`missing columns ${EXTENDED.map((c) => `celery_taskmeta.${c}`).join(", ")}`)
      const check = new Sqlite(filename, { readonly: true })
      const columns = check.prepare("SELECT name FROM pragma_table_info('celery_taskmeta')").all()
      check.close()
      expect(columns).toHaveLength(6)
    }))

  it.effect("over migrated tables it reads what a writer stored, keeps the journal mode, and the file refuses writes", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "rollback-journal.sqlite")
      // A writer that keeps SQLite's default rollback journal (a Celery-made file, say).
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("t1", { sum: 3 }, "SUCCESS")).pipe(
        Effect.provide(SqlBackend.layer().pipe(Layer.provide(SqliteClient.layer({ filename, disableWAL: true }))))
      )
      const reader = SqliteBackend.layer({ filename, readOnly: true })
      const [record, pending, failed] = yield* Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        return [
          yield* backend.get("t1"),
          yield* backend.get("unknown"),
          yield* Effect.flip(backend.store("t2", 1, "SUCCESS"))
        ] as const
      }).pipe(Effect.provide(reader))
      expect(record.status).toBe("SUCCESS")
      expect(record.result).toEqual({ sum: 3 })
      expect(pending.status).toBe("PENDING")
      expect(failed._tag).toBe("StoreError")
      expect(failed.message).toContain("SQLITE_READONLY")
      const check = new Sqlite(filename, { readonly: true })
      const mode = check.pragma("journal_mode", { simple: true })
      const ids = check.prepare("SELECT task_id FROM celery_taskmeta").all()
      check.close()
      expect(mode).toBe("delete")
      expect(ids).toEqual([{ task_id: "t1" }])
    }))

  it.effect("an in-memory database cannot be read-only: it opens (private and empty) and reports the missing tables", () =>
    Effect.gen(function*() {
      const error = yield* buildError(SqliteBackend.layer({ filename: ":memory:", readOnly: true }))
      expect(error._tag).toBe("MissingTables")
    }))
})

describe("PostgreSQL, readOnly", () => {
  it.effect("a missing schema is MissingTables with schemaExists false, and it is not created", () =>
    Effect.gen(function*() {
      const error = yield* buildError(PgBackend.layer({ url: pgUrl, tables: { schema: missingSchema }, readOnly: true }))
      expect(error._tag).toBe("MissingTables")
      if (error._tag !== "MissingTables") return
      expect(error.schemaExists).toBe(false)
      expect(error.schema).toBe(missingSchema)
      expect(error.message).toBe(
        `schema "${missingSchema}" does not exist (looked for celery_taskmeta, celery_tasksetmeta)`
      )
      expect((yield* Effect.promise(() => pgObjects(missingSchema))).exists).toBe(false)
    }))

  it.effect("an empty schema is MissingTables naming both tables, and nothing is created in it", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => pgQuery(`CREATE SCHEMA "${emptySchema}"`))
      const error = yield* buildError(PgBackend.layer({ url: pgUrl, tables: { schema: emptySchema }, readOnly: true }))
      expect(error._tag).toBe("MissingTables")
      if (error._tag !== "MissingTables") return
      expect(error.schemaExists).toBe(true)
      expect(error.tables).toEqual(["celery_taskmeta", "celery_tasksetmeta"])
      expect(error.message).toBe(`missing tables celery_taskmeta, celery_tasksetmeta in schema "${emptySchema}"`)
      expect(yield* Effect.promise(() => pgObjects(emptySchema))).toEqual({ exists: true, relations: [], functions: [] })
    }))

  it.effect("a read-only client's sessions are read-only, with the schema's search_path and the URL's own options kept", () =>
    Effect.gen(function*() {
      const url = Redacted.make(`${PG_URL}?options=${encodeURIComponent("-c statement_timeout=4321")}`)
      const settings = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        const show = (name: string) =>
          Effect.map(sql.unsafe<Record<string, string>>(`SHOW ${name}`), (rows) => Object.values(rows[0])[0])
        return yield* Effect.all([show("default_transaction_read_only"), show("search_path"), show("statement_timeout")])
      }).pipe(Effect.provide(PgBackend.layerClient({ url, tables: { schema: missingSchema }, readOnly: true })))
      expect(settings).toEqual(["on", missingSchema, "4321ms"])
      const writable = yield* Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe<Record<string, string>>("SHOW default_transaction_read_only")).pipe(
        Effect.provide(PgBackend.layerClient({ url: pgUrl }))
      )
      expect(writable[0].default_transaction_read_only).toBe("off")
    }))

  describe("over migrated tables", () => {
    const writer = PgBackend.layer({ url: pgUrl, tables: { schema } })
    const reader = PgBackend.layer({
      url: pgUrl,
      tables: { schema },
      readOnly: true,
      applicationName: app,
      // Within a test only a notification can wake a waiter.
      pollInterval: "1 hour"
    })

    it.effect("reads what a writer stored; the server refuses a write from the reader (25006)", () =>
      Effect.gen(function*() {
        yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("t1", [1, 2], "SUCCESS")).pipe(
          Effect.provide(writer)
        )
        const before = yield* Effect.promise(() => pgObjects(schema))
        const [record, failed] = yield* Effect.gen(function*() {
          const backend = yield* ResultBackend.ResultBackend
          return [yield* backend.get("t1"), yield* Effect.flip(backend.store("t2", 1, "SUCCESS"))] as const
        }).pipe(Effect.provide(reader))
        expect(record.result).toEqual([1, 2])
        expect(failed._tag).toBe("StoreError")
        expect(failed.message).toContain("read-only transaction")
        expect(yield* Effect.promise(() => pgObjects(schema))).toEqual(before)
        const rows = yield* Effect.promise(() => pgQuery(`SELECT task_id FROM "${schema}".celery_taskmeta`))
        expect(rows.rows).toEqual([{ task_id: "t1" }])
      }))

    it.live("a waiter on the read-only client is woken by LISTEN/NOTIFY when a writer stores", () =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const waiter = yield* Effect.fork(backend.waitFor("woken", { timeout: "20 seconds" }))
        yield* Effect.promise(() =>
          pgQuery(`SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, [app])
        ).pipe(
          Effect.filterOrFail((result) => result.rowCount === 1, () => "not yet"),
          Effect.retry(Schedule.spaced("50 millis")),
          Effect.timeoutFail({ duration: "20 seconds", onTimeout: () => new Error("no LISTEN session") })
        )
        yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("woken", "yes", "SUCCESS")).pipe(
          Effect.provide(writer)
        )
        const record = yield* Fiber.join(waiter)
        expect(record.result).toBe("yes")
      }).pipe(Effect.provide(reader)), 30_000)

    it.effect("SqlStore.layer({ readOnly }) also needs the pipeline tables, and names them when they are missing", () =>
      Effect.gen(function*() {
        const prefix = `tm_ro_${suffix()}_`
        const error = yield* buildError(
          SqlStore.layer({ tables: { schema }, pipelinePrefix: prefix, readOnly: true }).pipe(
            Layer.provide(PgClient.layer({ url: pgUrl }))
          )
        )
        expect(error._tag).toBe("MissingTables")
        if (error._tag !== "MissingTables") return
        expect(error.tables).toEqual(
          ["pipeline_executions", "pipeline_results", "task_executions", "task_results"].map((t) => `${prefix}${t}`)
        )
        const created = yield* Effect.promise(() =>
          pgQuery(`SELECT relname FROM pg_class WHERE relname LIKE $1`, [`${prefix}%`])
        )
        expect(created.rows).toEqual([])
      }))
  })
})

describe("SqlMigrations.check", () => {
  it.effect("passes once the migrations ran, and SqlBackend.layer({ readOnly }) over a user's client then reads", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "user.sqlite")
      const client = SqliteClient.layer({ filename })
      const names = { schema: undefined, tasks: "celery_taskmeta", groups: "celery_tasksetmeta" }
      const before = yield* Effect.flip(SqlMigrations.check(names)).pipe(Effect.provide(client))
      expect(before._tag).toBe("MissingTables")
      yield* SqlMigrations.run(names).pipe(Effect.provide(client))
      yield* SqlMigrations.check(names).pipe(Effect.provide(client))
      const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.get("x")).pipe(
        Effect.provide(SqlBackend.layer({ readOnly: true }).pipe(Layer.provide(client)))
      )
      expect(record.status).toBe("PENDING")
    }))
})
