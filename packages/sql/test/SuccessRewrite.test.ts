/**
 * The SUCCESS-is-final upsert behaves the same on SQLite, PostgreSQL and MariaDB
 * (README "Writes"): re-storing an identical SUCCESS record — same result
 * bytes, same `date_done`, as `taskmeta import` of the same export does —
 * reports `Stored`; a late duplicate with another `date_done` or another
 * result is `Ignored` and leaves the record as it was.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as path from "node:path"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import type * as ResultCodec from "@taskmeta/celery/ResultCodec"
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

const dir = tempDir("success-rewrite")
const schema = `tm_rewrite_${suffix()}`
const database = mysqlDatabaseForSuite("rewrite")
afterAll(async () => {
  removeDir(dir)
  await dropSchema(schema)
})

/**
 * Stores a record as it was, `dateDone` included: what `Transfer.restoreTask`
 * (import, copy) does — the backend's own `store` under a clock pinned to the
 * record's `dateDone`.
 */
const restore = (backend: ResultBackend.Service, record: TaskRecord.TaskRecord) =>
  UtcTime.withClockAt(
    backend.store(record.taskId, record.result, record.status, {
      traceback: record.traceback,
      name: record.name,
      args: record.args,
      kwargs: record.kwargs,
      worker: record.worker,
      retries: record.retries,
      queue: record.queue
    }),
    record.dateDone!
  )

const backends: ReadonlyArray<
  readonly [string, (encoding: ResultCodec.Encoding) => Layer.Layer<ResultBackend.ResultBackend, unknown>]
> = [
  ["sqlite", (encoding) =>
    SqliteBackend.layer({ filename: path.join(dir, `${encoding}.sqlite`), encoding, resultExtended: true })],
  ["postgres", (encoding) =>
    PgBackend.layer({ url: pgUrl, tables: { schema }, applicationName: schema, encoding, resultExtended: true })],
  ["mysql", (encoding) => MysqlBackend.layer({ url: mysqlUrlFor(database), encoding, resultExtended: true, poolSize: 4 })]
]

for (const [dialect, layer] of backends) {
  describe.runIf(dialect !== "mysql" || HAS_MYSQL)(`${dialect}: re-storing a SUCCESS${dialect === "mysql" ? ` ${MYSQL_TAG}` : ""}`, () => {
    for (const encoding of ["json", "pickle"] as const) {
      it.live(`${encoding}: identical → Stored; another date_done or result → Ignored, record unchanged`, () =>
        Effect.gen(function*() {
          const backend = yield* ResultBackend.ResultBackend
          const taskId = `rewrite-${encoding}-${suffix()}`
          const first = yield* backend.store(taskId, { n: 2n ** 70n, s: "é日本" }, "SUCCESS", {
            name: "multiply_two_numbers",
            args: [16, 16],
            kwargs: { k: 1 },
            worker: "w@host",
            retries: 0,
            queue: "celery"
          })
          expect(first._tag).toBe("Stored")
          const stored = yield* backend.get(taskId)
          expect(stored.dateDone).not.toBeNull()

          // The same record again (an import of the same export, a retry after a lost connection).
          expect((yield* restore(backend, stored))._tag).toBe("Stored")
          expect((yield* restore(backend, stored))._tag).toBe("Stored")
          expect(yield* backend.get(taskId)).toEqual(stored)

          // A late duplicate: another date_done, or the same date_done with another result.
          const later = { ...stored, dateDone: DateTime.add(stored.dateDone!, { millis: 1 }) }
          expect(yield* restore(backend, later)).toMatchObject({ _tag: "Ignored", reason: "SuccessIsFinal" })
          const earlier = { ...stored, dateDone: DateTime.subtract(stored.dateDone!, { seconds: 1 }) }
          expect(yield* restore(backend, earlier)).toMatchObject({ _tag: "Ignored", reason: "SuccessIsFinal" })
          expect(yield* restore(backend, { ...stored, result: 257 })).toMatchObject({ _tag: "Ignored" })
          expect(yield* backend.get(taskId)).toEqual(stored)
        }).pipe(Effect.provide(layer(encoding))), 60_000)
    }

    // Many at once: the writes share multi-row statements, whose outcome is told row by row.
    it.live("concurrent: identical rewrites → Stored, late duplicates → Ignored, each on its own", () =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        // Ids with quotes, a backslash, a comma and non-ASCII text: MariaDB reports the rows it
        // kept as a JSON array of their ids, which must come back exact.
        const ids = Array.from({ length: 200 }, (_, i) => `batch-${suffix()}-${i} "q" 'a\\b', é日本😀`)
        const first = yield* Effect.forEach(ids, (id, i) => backend.store(id, { i }, i % 2 === 0 ? "SUCCESS" : "STARTED"), {
          concurrency: "unbounded"
        })
        expect(first.filter((o) => o._tag !== "Stored")).toEqual([])
        const stored = yield* backend.getMany(ids)
        // Half of them identical rewrites of a SUCCESS, half new results: SUCCESS rows keep theirs.
        const second = yield* Effect.forEach(stored, (record, i) =>
          i % 4 === 0
            ? restore(backend, record)
            : backend.store(record.taskId, { i, again: true }, "FAILURE"), { concurrency: "unbounded" })
        const expected = stored.map((record, i) => (i % 4 === 0 || record.status !== "SUCCESS") ? "Stored" : "Ignored")
        expect(second.map((o) => o._tag)).toEqual(expected)
        const after = yield* backend.getMany(ids)
        after.forEach((record, i) => {
          if (stored[i].status === "SUCCESS") expect(record).toEqual(stored[i])
          else expect([record.status, record.result]).toEqual(["FAILURE", { i, again: true }])
        })
      }).pipe(Effect.provide(layer("json"))), 60_000)
  })
}
