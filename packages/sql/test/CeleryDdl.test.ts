import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import {
  dropMysqlDatabase,
  dropSchema,
  freshMysqlDatabase,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlQuery,
  mysqlUrlFor,
  pgQuery,
  pgUrl,
  removeDir,
  suffix,
  tempDir
} from "./helpers.js"

// What Celery 5's SQLAlchemy models emit (`TaskExtended` with result_extended;
// without it the table lacks name/args/kwargs/worker/retries/queue).
const celeryPg = (schema: string, extended: boolean) => [
  `CREATE SCHEMA "${schema}"`,
  `CREATE SEQUENCE "${schema}".task_id_sequence`,
  `CREATE SEQUENCE "${schema}".taskset_id_sequence`,
  `CREATE TABLE "${schema}".celery_taskmeta (
	id INTEGER NOT NULL,
	task_id VARCHAR(155),
	status VARCHAR(50),
	result BYTEA,
	date_done TIMESTAMP WITHOUT TIME ZONE,
	traceback TEXT,${
    extended
      ? `
	name VARCHAR(155),
	args BYTEA,
	kwargs BYTEA,
	worker VARCHAR(155),
	retries INTEGER,
	queue VARCHAR(155),`
      : ""
  }
	PRIMARY KEY (id),
	UNIQUE (task_id)
)`,
  `CREATE TABLE "${schema}".celery_tasksetmeta (
	id INTEGER NOT NULL,
	taskset_id VARCHAR(155),
	result BYTEA,
	date_done TIMESTAMP WITHOUT TIME ZONE,
	PRIMARY KEY (id),
	UNIQUE (taskset_id)
)`
]

const celerySqlite = (extended: boolean) => [
  `CREATE TABLE celery_taskmeta (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	task_id VARCHAR(155),
	status VARCHAR(50),
	result BLOB,
	date_done DATETIME,
	traceback TEXT,${
    extended
      ? `
	name VARCHAR(155),
	args BLOB,
	kwargs BLOB,
	worker VARCHAR(155),
	retries INTEGER,
	queue VARCHAR(155),`
      : ""
  }
	UNIQUE (task_id)
)`,
  `CREATE TABLE celery_tasksetmeta (
	id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
	taskset_id VARCHAR(155),
	result BLOB,
	date_done DATETIME,
	UNIQUE (taskset_id)
)`
]

// What Celery 5.2 (SQLAlchemy 1.4, pymysql) creates on MariaDB 10.11, as SHOW CREATE TABLE prints it
// (read from a real run; see the sql README): sequences, ids without a default, DATETIME of whole seconds.
const celeryMariadb = (extended: boolean) => [
  "CREATE SEQUENCE `task_id_sequence` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB",
  "CREATE SEQUENCE `taskset_id_sequence` start with 1 minvalue 1 maxvalue 9223372036854775806 increment by 1 cache 1000 nocycle ENGINE=InnoDB",
  `CREATE TABLE \`celery_taskmeta\` (
  \`id\` int(11) NOT NULL,
  \`task_id\` varchar(155) DEFAULT NULL,
  \`status\` varchar(50) DEFAULT NULL,
  \`result\` blob DEFAULT NULL,
  \`date_done\` datetime DEFAULT NULL,
  \`traceback\` text DEFAULT NULL,${
    extended
      ? `
  \`name\` varchar(155) DEFAULT NULL,
  \`args\` blob DEFAULT NULL,
  \`kwargs\` blob DEFAULT NULL,
  \`worker\` varchar(155) DEFAULT NULL,
  \`retries\` int(11) DEFAULT NULL,
  \`queue\` varchar(155) DEFAULT NULL,`
      : ""
  }
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`task_id\` (\`task_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`,
  `CREATE TABLE \`celery_tasksetmeta\` (
  \`id\` int(11) NOT NULL,
  \`taskset_id\` varchar(155) DEFAULT NULL,
  \`result\` blob DEFAULT NULL,
  \`date_done\` datetime DEFAULT NULL,
  PRIMARY KEY (\`id\`),
  UNIQUE KEY \`taskset_id\` (\`taskset_id\`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci`
]

// pickle.dumps(42, protocol=5)
const PICKLED_42 = Buffer.from("80054b2a2e", "hex")
// Python's json.dumps(["é", 1]) and json.dumps({"k": "v"})
const PY_ARGS = Buffer.from(`["\\u00e9", 1]`)
const PY_KWARGS = Buffer.from(`{"k": "v"}`)

const exercise = (layer: Layer.Layer<ResultBackend.ResultBackend, unknown>, celeryDone = "2024-01-02T03:04:05.123Z") =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    // a row Celery wrote (JSON-compatible: a None result is NULL)
    const celery = yield* backend.get("celery-none")
    expect(celery.status).toBe("SUCCESS")
    expect(celery.result).toBeNull()
    expect(celery.dateDone).not.toBeNull()
    expect(DateTime.formatIso(celery.dateDone!)).toBe(celeryDone)
    // Celery stamps date_done on STARTED too; taskmeta reports it for READY states only
    expect((yield* backend.get("celery-started")).dateDone).toBeNull()
    // a pickled result is recognised and decoded by the safe decoder
    expect((yield* backend.get("celery-pickle")).result).toBe(42)
    // our own writes next to Celery's
    expect((yield* backend.store("ours", { n: 1 }, "SUCCESS", { args: ["x"], kwargs: { a: 1 } }))._tag).toBe("Stored")
    expect((yield* backend.store("ours", { n: 2 }, "FAILURE"))._tag).toBe("Ignored")
    expect((yield* backend.store("celery-started", 7, "SUCCESS"))._tag).toBe("Stored")
    expect((yield* backend.get("celery-started")).result).toBe(7)
    yield* backend.saveGroup("g1", ["ours", "celery-none"])
    expect((yield* backend.restoreGroup("g1"))._tag).toBe("Some")
  }).pipe(Effect.provide(layer))

const dir = tempDir("celery")
const schemas: Array<string> = []
const databases: Array<string> = []
afterAll(async () => {
  removeDir(dir)
  for (const schema of schemas) await dropSchema(schema)
  for (const database of databases) await dropMysqlDatabase(database)
})

describe("tables created by Celery first", () => {
  for (const extended of [true, false]) {
    it.live(`SQLite (result_extended ${extended ? "on" : "off"})`, () =>
      Effect.gen(function*() {
        const file = path.join(dir, `celery-${extended}.sqlite`)
        const db = new Sqlite(file)
        for (const statement of celerySqlite(extended)) db.exec(statement)
        const insert = db.prepare(
          "INSERT INTO celery_taskmeta (task_id, status, result, date_done, traceback) VALUES (?, ?, ?, ?, ?)"
        )
        insert.run("celery-none", "SUCCESS", null, "2024-01-02 03:04:05.123000", null)
        insert.run("celery-started", "STARTED", null, "2024-01-02 03:04:05.000000", null)
        insert.run("celery-pickle", "SUCCESS", PICKLED_42, "2024-01-02 03:04:05.000000", null)
        db.close()
        yield* exercise(SqliteBackend.layer({ filename: file, resultExtended: true }))
        const check = new Sqlite(file, { readonly: true })
        const row = check.prepare("SELECT id, date_done, args FROM celery_taskmeta WHERE task_id = 'ours'").get() as {
          id: number
          date_done: string
          args: Buffer
        }
        check.close()
        expect(row.id).toBe(4)
        expect(row.date_done).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/)
        expect(row.args.toString()).toBe(`["x"]`)
      }), 60_000)

    it.live(`PostgreSQL (result_extended ${extended ? "on" : "off"})`, () =>
      Effect.gen(function*() {
        const schema = `tm_celery_${suffix()}`
        schemas.push(schema)
        for (const statement of celeryPg(schema, extended)) yield* Effect.promise(() => pgQuery(statement))
        const insert = (id: string, status: string, result: Buffer | null, date: string) =>
          Effect.promise(() =>
            pgQuery(
              `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result, date_done) ` +
                `VALUES (nextval('"${schema}".task_id_sequence'), $1, $2, $3, $4)`,
              [id, status, result, date]
            )
          )
        yield* insert("celery-none", "SUCCESS", null, "2024-01-02 03:04:05.123")
        yield* insert("celery-started", "STARTED", null, "2024-01-02 03:04:05")
        yield* insert("celery-pickle", "SUCCESS", PICKLED_42, "2024-01-02 03:04:05")
        yield* exercise(PgBackend.layer({ url: pgUrl, tables: { schema }, resultExtended: true, poolSize: 2 }))
        const row = yield* Effect.promise(() =>
          pgQuery(`SELECT id, args FROM "${schema}".celery_taskmeta WHERE task_id = 'ours'`)
        )
        expect(row.rows[0].id).toBe(4)
        expect(row.rows[0].args.toString()).toBe(`["x"]`)
        // Celery's extended columns written by Python are read back
        yield* Effect.promise(() =>
          pgQuery(`UPDATE "${schema}".celery_taskmeta SET args = $1, kwargs = $2 WHERE task_id = 'celery-none'`, [
            PY_ARGS,
            PY_KWARGS
          ])
        )
        const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.get("celery-none")).pipe(
          Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, poolSize: 1, listen: false }))
        )
        expect(record.args).toEqual(["é", 1])
        expect(record.kwargs).toEqual({ k: "v" })
      }), 60_000)

    it.live.runIf(HAS_MYSQL)(`MariaDB (result_extended ${extended ? "on" : "off"}) ${MYSQL_TAG}`, () =>
      Effect.gen(function*() {
        const database = yield* Effect.promise(() => freshMysqlDatabase("celeryddl"))
        databases.push(database)
        const query = (text: string, params: Array<unknown> = []) => Effect.promise(() => mysqlQuery(text, params, database))
        for (const statement of celeryMariadb(extended)) yield* query(statement)
        const insert = (id: string, status: string, result: Buffer | null, date: string) =>
          query(
            "INSERT INTO celery_taskmeta (id, task_id, status, result, date_done) VALUES (NEXTVAL(task_id_sequence), ?, ?, ?, ?)",
            [id, status, result, date]
          )
        yield* insert("celery-none", "SUCCESS", null, "2024-01-02 03:04:05.123")
        yield* insert("celery-started", "STARTED", null, "2024-01-02 03:04:05")
        yield* insert("celery-pickle", "SUCCESS", PICKLED_42, "2024-01-02 03:04:05")
        // Celery's DATETIME keeps whole seconds: the server cut .123 when the row was written.
        yield* exercise(MysqlBackend.layer({ url: mysqlUrlFor(database), resultExtended: true, poolSize: 2 }), "2024-01-02T03:04:05.000Z")
        const rows = (yield* query(
          "SELECT id, args, DATE_FORMAT(date_done, '%Y-%m-%d %H:%i:%s.%f') AS done FROM celery_taskmeta WHERE task_id = 'ours'"
        )) as Array<{ id: number; args: Buffer; done: string }>
        expect(rows[0].id).toBe(4) // from Celery's sequence
        expect(rows[0].args.toString()).toBe(`["x"]`)
        expect(rows[0].done).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.000000$/)
        // Celery's extended columns written by Python are read back
        yield* query("UPDATE celery_taskmeta SET args = ?, kwargs = ? WHERE task_id = 'celery-none'", [PY_ARGS, PY_KWARGS])
        const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.get("celery-none")).pipe(
          Effect.provide(MysqlBackend.layer({ url: mysqlUrlFor(database), poolSize: 1 }))
        )
        expect(record.args).toEqual(["é", 1])
        expect(record.kwargs).toEqual({ k: "v" })
        // Celery's ids compare without case (utf8mb4_general_ci): two ids that differ only in case
        // are one row. In one multi-row statement (its rows sorted by id: "Case-…" before "case-…"),
        // each write is still told its own outcome.
        const outcomes = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) =>
          b.storeMany([
            { taskId: "Case-1", result: 1, state: "SUCCESS" },
            { taskId: "case-1", result: 2, state: "FAILURE" },
            { taskId: "Case-2", result: 3, state: "STARTED" },
            { taskId: "case-2", result: 4, state: "SUCCESS" }
          ])).pipe(Effect.provide(MysqlBackend.layer({ url: mysqlUrlFor(database), poolSize: 1 })))
        expect(outcomes.map((o) => Either.isRight(o) ? o.right._tag : o.left._tag)).toEqual([
          "Stored",
          "Ignored",
          "Stored",
          "Stored"
        ])
        const cased = (yield* query(
          "SELECT task_id, status, CAST(result AS CHAR) AS result FROM celery_taskmeta WHERE task_id IN ('case-1', 'case-2') ORDER BY id"
        )) as Array<{ task_id: string; status: string; result: string }>
        expect(cased).toEqual([
          { task_id: "Case-1", status: "SUCCESS", result: "1" },
          { task_id: "Case-2", status: "SUCCESS", result: "4" }
        ])
        // Celery's columns keep their types; the migrations only added what was missing and an index.
        const ddl = ((yield* query("SHOW CREATE TABLE celery_taskmeta")) as Array<Record<string, string>>)[0]["Create Table"]
        expect(ddl).toContain("`date_done` datetime DEFAULT NULL")
        expect(ddl).toContain("`result` blob DEFAULT NULL")
        expect(ddl).toContain("KEY `celery_taskmeta_date_done_idx` (`date_done`)")
        expect(ddl).toContain(extended ? "`args` blob DEFAULT NULL" : "`args` mediumblob DEFAULT NULL")
      }), 60_000)
  }
})
