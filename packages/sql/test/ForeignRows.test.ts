import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import Sqlite from "better-sqlite3"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_cleanup_${suffix()}`
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-cleanup-"))
afterAll(async () => {
  await dropSchema(schema)
  fs.rmSync(dir, { recursive: true, force: true })
})

// A STARTED row that another writer (an older Celery) stamped with a date_done.
const check = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const started = yield* backend.get("stamped-started")
  expect(started.status).toBe("STARTED")
  expect(started.dateDone).toBeNull()
  const report = yield* backend.cleanup()
  expect(report.tasks).toBe(1)
  expect(yield* backend.exists("stamped-started")).toBe(true)
  expect(yield* backend.exists("old-success")).toBe(false)
})

describe("cleanup deletes READY records only", () => {
  it.live("on SQLite", () => {
    const filename = path.join(dir, "c.sqlite")
    return Effect.gen(function*() {
      yield* Effect.scoped(Effect.gen(function*() {
        yield* Effect.provide(Effect.void, SqliteBackend.layer({ filename }))
      }))
      const db = new Sqlite(filename)
      db.prepare("INSERT INTO celery_taskmeta (task_id, status, date_done) VALUES (?, ?, ?)").run("stamped-started", "STARTED", "2020-01-01 00:00:00.000000")
      db.prepare("INSERT INTO celery_taskmeta (task_id, status, date_done) VALUES (?, ?, ?)").run("old-success", "SUCCESS", "2020-01-01 00:00:00.000000")
      db.close()
      yield* check.pipe(Effect.provide(SqliteBackend.layer({ filename })))
    })
  })

  it.live("on PostgreSQL", () =>
    Effect.gen(function*() {
      yield* Effect.provide(Effect.void, PgBackend.layer({ url: pgUrl, tables: { schema } }))
      for (const [id, status] of [["stamped-started", "STARTED"], ["old-success", "SUCCESS"]]) {
        yield* Effect.promise(() =>
          pgQuery(
            `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, date_done) VALUES (nextval('"${schema}".task_id_sequence'), $1, $2, '2020-01-01')`,
            [id, status]
          )
        )
      }
      yield* check.pipe(Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema } })))
    }))
})

describe("rows another writer typed differently", () => {
  it.live("SQLite TEXT in the result and args columns is read as JSON, and the other records still read", () => {
    const filename = path.join(dir, "t.sqlite")
    return Effect.gen(function*() {
      yield* Effect.provide(Effect.void, SqliteBackend.layer({ filename }))
      const db = new Sqlite(filename)
      db.prepare("INSERT INTO celery_taskmeta (task_id, status, result, args, date_done) VALUES (?, ?, ?, ?, ?)")
        .run("text-result", "SUCCESS", "{\"n\":12345678901234567890}", "[1, 2]", "2026-01-01 00:00:00.000000")
      db.close()
      const records = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.getMany(["text-result", "missing"])).pipe(
        Effect.provide(SqliteBackend.layer({ filename, resultExtended: true }))
      )
      expect(records[0].result).toEqual({ n: 12345678901234567890n })
      expect(records[0].args).toEqual([1, 2])
      expect(records[1].status).toBe("PENDING")
    })
  })

  it.live("SQLite: a column of a type no writer of Celery's tables puts there fails the read with a typed error, and the other rows still read", () => {
    const filename = path.join(dir, "wrong-types.sqlite")
    return Effect.gen(function*() {
      yield* Effect.provide(Effect.void, SqliteBackend.layer({ filename }))
      const db = new Sqlite(filename)
      const insert = db.prepare("INSERT INTO celery_taskmeta (task_id, status, result, traceback, date_done) VALUES (?, ?, ?, ?, ?)")
      // (TEXT affinity turns a number into text, not a blob.)
      insert.run("blob-status", Buffer.from("SUCCESS"), null, null, null)
      insert.run("blob-traceback", "FAILURE", null, Buffer.from([1, 2]), "2026-01-01 00:00:00.000000")
      insert.run("number-result", "SUCCESS", 7.5, null, "2026-01-01 00:00:00.000000")
      insert.run("number-date", "SUCCESS", null, null, 20260101)
      insert.run("fine", "SUCCESS", Buffer.from("1"), null, "2026-01-01 00:00:00.000000")
      db.close()
      const backend = yield* ResultBackend.ResultBackend
      for (
        const [id, reason] of [
          ["blob-status", "column status: expected text or null"],
          ["blob-traceback", "column traceback: expected text or null"],
          ["number-result", "column result: expected bytes, text or null"],
          ["number-date", "column date_done: expected a timestamp or null"]
        ] as const
      ) {
        const failed = yield* Effect.flip(backend.get(id))
        expect(failed._tag).toBe("GetError")
        expect(String((failed.cause as { reason?: string }).reason)).toBe(reason)
        const many = yield* Effect.flip(backend.getMany([id, "fine"]))
        expect(many._tag).toBe("GetError")
      }
      expect((yield* backend.get("fine")).result).toBe(1)
    }).pipe(Effect.provide(SqliteBackend.layer({ filename })))
  })
})
