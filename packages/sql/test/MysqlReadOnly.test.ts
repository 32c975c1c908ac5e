/**
 * `readOnly: true` on MySQL / MariaDB: the server itself refuses writes
 * through a read-only client (every session it uses is `SET SESSION
 * TRANSACTION READ ONLY`, error 1792), for single statements and
 * transactions alike; a read-only backend reads what a writer stored, fails
 * to store with the server's reason and changes nothing; over an empty
 * database it names the missing tables and creates nothing. A writable
 * client's sessions stay read-write.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as MysqlBackend from "../src/MysqlBackend.js"
import {
  createMysqlDatabase,
  dropMysqlDatabase,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseName,
  mysqlQuery,
  mysqlUrlFor
} from "./helpers.js"

const database = mysqlDatabaseName("ro")
const empty = mysqlDatabaseName("ro_empty")
beforeAll(async () => {
  await createMysqlDatabase(database)
  await createMysqlDatabase(empty)
})
afterAll(async () => {
  await dropMysqlDatabase(database)
  await dropMysqlDatabase(empty)
})

const url = mysqlUrlFor(database)

/** What a build failed with (the layer's typed error). */
const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** The tables (and sequences) a database holds, by name. */
const tablesIn = (name: string) =>
  Effect.promise(() =>
    mysqlQuery(`SELECT table_name AS name FROM information_schema.tables WHERE table_schema = ? ORDER BY 1`, [name])
  ).pipe(Effect.map((rows) => (rows as Array<{ name: string }>).map((r) => r.name)))

/** The cause chain's MySQL error numbers. */
const errnos = (error: unknown): Array<number> => {
  const found: Array<number> = []
  for (let e: unknown = error; typeof e === "object" && e !== null; e = (e as { cause?: unknown }).cause) {
    const errno = (e as { errno?: unknown }).errno
    if (typeof errno === "number") found.push(errno)
  }
  return found
}

describe.runIf(HAS_MYSQL)(`MariaDB, readOnly ${MYSQL_TAG}`, () => {
  it.effect("a read-only client's sessions refuse writes (1792), in statements and transactions; a writable one's do not", () =>
    Effect.gen(function*() {
      yield* Effect.promise(() => mysqlQuery("CREATE TABLE ro_probe (a INT)", [], database))
      const [flags, statement, transaction] = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        // Several connections at once: each one the pool hands out is read-only.
        const flags = yield* Effect.all(
          Array.from({ length: 4 }, () =>
            Effect.map(sql<{ ro: number }>`SELECT @@session.tx_read_only AS ro, SLEEP(0.05) AS s`, (rows) => Number(rows[0].ro))),
          { concurrency: "unbounded" }
        )
        const statement = yield* Effect.flip(sql`INSERT INTO ro_probe (a) VALUES (1)`)
        const transaction = yield* Effect.flip(sql.withTransaction(sql`INSERT INTO ro_probe (a) VALUES (2)`))
        return [flags, statement, transaction] as const
      }).pipe(Effect.provide(MysqlBackend.layerClient({ url, readOnly: true, poolSize: 4 })))
      expect(flags).toEqual([1, 1, 1, 1])
      for (const error of [statement, transaction]) {
        expect(error._tag).toBe("SqlError")
        expect(errnos(error)).toContain(1792)
        expect(String((error.cause as Error).message)).toContain("READ ONLY transaction")
      }
      expect(yield* Effect.promise(() => mysqlQuery("SELECT a FROM ro_probe", [], database))).toEqual([])
      const writable = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        yield* sql`INSERT INTO ro_probe (a) VALUES (3)`
        return Number((yield* sql<{ ro: number }>`SELECT @@session.tx_read_only AS ro`)[0].ro)
      }).pipe(Effect.provide(MysqlBackend.layerClient({ url })))
      expect(writable).toBe(0)
      expect(yield* Effect.promise(() => mysqlQuery("SELECT a FROM ro_probe", [], database))).toEqual([{ a: 3 }])
      yield* Effect.promise(() => mysqlQuery("DROP TABLE ro_probe", [], database))
    }))

  it.effect("an empty database is MissingTables naming both tables, and nothing is created in it", () =>
    Effect.gen(function*() {
      const error = yield* buildError(MysqlBackend.layer({ url: mysqlUrlFor(empty), readOnly: true }))
      expect(error._tag).toBe("MissingTables")
      if (error._tag !== "MissingTables") return
      expect(error.tables).toEqual(["celery_taskmeta", "celery_tasksetmeta"])
      expect(yield* tablesIn(empty)).toEqual([])
    }))

  it.effect("over migrated tables: reads what a writer stored; the server refuses the reader's write (1792)", () =>
    Effect.gen(function*() {
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("t1", [1, 2], "SUCCESS")).pipe(
        Effect.provide(MysqlBackend.layer({ url }))
      )
      const before = yield* tablesIn(database)
      const [record, failed] = yield* Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        return [yield* backend.get("t1"), yield* Effect.flip(backend.store("t2", 1, "SUCCESS"))] as const
      }).pipe(Effect.provide(MysqlBackend.layer({ url, readOnly: true })))
      expect(record.result).toEqual([1, 2])
      expect(failed._tag).toBe("StoreError")
      expect(errnos(failed)).toContain(1792)
      expect(failed.message).toContain("READ ONLY transaction")
      expect(yield* tablesIn(database)).toEqual(before)
      const rows = yield* Effect.promise(() => mysqlQuery("SELECT task_id FROM celery_taskmeta", [], database))
      expect(rows).toEqual([{ task_id: "t1" }])
    }))
})
