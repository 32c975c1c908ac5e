/**
 * Versioned, idempotent migrations for Celery's tables.
 *
 * Every step is written so that it also succeeds over tables Celery's
 * SQLAlchemy models created first (`IF NOT EXISTS`, missing extended columns
 * added), and the applied versions are kept per pair of table names in
 * `taskmeta_migrations`. Several processes may start at once: on PostgreSQL
 * the whole run holds a transaction-scoped advisory lock (DDL is
 * transactional there); on SQLite it runs inside `BEGIN IMMEDIATE`, which
 * takes the write lock up front, with the busy timeout and a retry for
 * `SQLITE_BUSY`; on MySQL / MariaDB (DDL commits at once there) the run holds
 * `GET_LOCK` on its connection.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as SqlConnection from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { DriverError } from "@taskmeta/core/BackendError"
import * as Catalog from "./internal/catalog.js"
import { isSqliteTransient } from "./internal/classify.js"
import { MYSQL_LOCK_WAIT, waitForMysqlLock } from "./internal/mysqlLock.js"
import * as TableNames from "./TableNames.js"

/**
 * @since 0.1.0
 * @category models
 */
export type Dialect = "pg" | "sqlite" | "mysql"

/**
 * One step: runs statements through `exec` inside the migration transaction.
 *
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly run: (exec: Exec) => Effect.Effect<void, SqlError>
}

/**
 * @since 0.1.0
 * @category models
 */
export type Exec = (
  sql: string,
  params?: ReadonlyArray<unknown>
) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError>

/**
 * The advisory lock key every taskmeta migration on a PostgreSQL database takes.
 *
 * @since 0.1.0
 * @category constants
 */
export const ADVISORY_LOCK_KEY = 0x7461736b6d657461n % 9223372036854775807n

/**
 * The NOTIFY channel a task table's READY writes are announced on.
 *
 * @since 0.1.0
 * @category names
 */
export const channel = (names: TableNames.TableNames): string =>
  TableNames.derive("taskmeta", ...(names.schema === undefined ? [] : [names.schema]), names.tasks)

const extendedColumns = (blob: string): ReadonlyArray<readonly [string, string]> => [
  ["name", "VARCHAR(155)"],
  ["args", blob],
  ["kwargs", blob],
  ["worker", "VARCHAR(155)"],
  ["retries", "INTEGER"],
  ["queue", "VARCHAR(155)"]
]

const prefix = (names: TableNames.TableNames) =>
  names.schema === undefined ? "" : `${TableNames.quote(names.schema)}.`

/** Step 2 of both dialects: the `date_done` indexes cleanup scans. */
const dateDoneIndexes = (names: TableNames.TableNames, tasks: string, groups: string): Migration => ({
  version: 2,
  name: "date_done_indexes",
  run: (exec) =>
    Effect.all([
      exec(`CREATE INDEX IF NOT EXISTS ${TableNames.derive(names.tasks, "date_done_idx")} ON ${tasks} (date_done)`),
      exec(`CREATE INDEX IF NOT EXISTS ${TableNames.derive(names.groups, "date_done_idx")} ON ${groups} (date_done)`)
    ], { discard: true })
})

/**
 * The PostgreSQL steps: Celery's sequences and tables, the `date_done`
 * indexes, and a trigger that NOTIFYs every READY write (Celery's too).
 *
 * @since 0.1.0
 * @category migrations
 */
export const pg = (names: TableNames.TableNames): ReadonlyArray<Migration> => {
  const tasks = TableNames.qualify(names, names.tasks)
  const groups = TableNames.qualify(names, names.groups)
  const p = prefix(names)
  // The statement trigger's function (migrations 5 and 6): the READY ids of
  // the statement as JSON arrays, chunked by a running byte count, one NOTIFY
  // each; `guard` runs first and may return early.
  const notifyReadyRows = (guard: string) =>
    `CREATE OR REPLACE FUNCTION ${p}taskmeta_notify_ready_rows() RETURNS trigger LANGUAGE plpgsql AS ` +
    `$$DECLARE ids text; BEGIN ${guard}` +
    `FOR ids IN SELECT json_agg(task_id ORDER BY n)::text FROM (` +
    `SELECT task_id, n, sum(octet_length(to_json(task_id)::text) + 2) OVER (ORDER BY n) AS bytes FROM (` +
    `SELECT task_id, row_number() OVER () AS n FROM ready_rows ` +
    `WHERE status IN ('SUCCESS', 'FAILURE', 'REVOKED')) numbered) sized GROUP BY (bytes - 1) / 7000 LOOP ` +
    `PERFORM pg_notify(TG_ARGV[0], ids); END LOOP; RETURN NULL; END$$`
  return [
    {
      version: 1,
      name: "celery_tables",
      run: (exec) =>
        Effect.all([
          exec(`CREATE SEQUENCE IF NOT EXISTS ${p}task_id_sequence`),
          exec(`CREATE SEQUENCE IF NOT EXISTS ${p}taskset_id_sequence`),
          exec(
            `CREATE TABLE IF NOT EXISTS ${tasks} (id INTEGER NOT NULL, task_id VARCHAR(155), status VARCHAR(50), ` +
              `result BYTEA, date_done TIMESTAMP WITHOUT TIME ZONE, traceback TEXT, name VARCHAR(155), args BYTEA, ` +
              `kwargs BYTEA, worker VARCHAR(155), retries INTEGER, queue VARCHAR(155), PRIMARY KEY (id), UNIQUE (task_id))`
          ),
          // Celery without result_extended creates the table without these.
          exec(
            `ALTER TABLE ${tasks} ${
              extendedColumns("BYTEA").map(([c, t]) => `ADD COLUMN IF NOT EXISTS ${c} ${t}`).join(", ")
            }`
          ),
          exec(
            `CREATE TABLE IF NOT EXISTS ${groups} (id INTEGER NOT NULL, taskset_id VARCHAR(155), result BYTEA, ` +
              `date_done TIMESTAMP WITHOUT TIME ZONE, PRIMARY KEY (id), UNIQUE (taskset_id))`
          )
        ], { discard: true })
    },
    dateDoneIndexes(names, tasks, groups),
    {
      version: 3,
      name: "ready_notify_trigger",
      run: (exec) => {
        const trigger = TableNames.derive(names.tasks, "taskmeta_ready")
        return Effect.all([
          exec(
            `CREATE OR REPLACE FUNCTION ${p}taskmeta_notify_ready() RETURNS trigger LANGUAGE plpgsql AS ` +
              `$$BEGIN PERFORM pg_notify(TG_ARGV[0], NEW.task_id); RETURN NULL; END$$`
          ),
          exec(`DROP TRIGGER IF EXISTS ${trigger} ON ${tasks}`),
          exec(
            `CREATE TRIGGER ${trigger} AFTER INSERT OR UPDATE ON ${tasks} FOR EACH ROW ` +
              `WHEN (NEW.status IN ('SUCCESS', 'FAILURE', 'REVOKED')) ` +
              `EXECUTE FUNCTION ${p}taskmeta_notify_ready('${channel(names)}')`
          )
        ], { discard: true })
      }
    },
    {
      // One NOTIFY per statement (ids as JSON arrays of at most 40) instead of
      // a plpgsql call and a notification per row: a batched upsert of 500
      // rows costs 13 notifications, not 500. A transition-table trigger may
      // name one event only, hence two triggers.
      version: 4,
      name: "ready_notify_statement_triggers",
      run: (exec) => {
        const rowTrigger = TableNames.derive(names.tasks, "taskmeta_ready")
        const onInsert = TableNames.derive(names.tasks, "taskmeta_ready_ins")
        const onUpdate = TableNames.derive(names.tasks, "taskmeta_ready_upd")
        const fn = `${p}taskmeta_notify_ready_rows`
        const create = (trigger: string, event: string) =>
          exec(
            `CREATE TRIGGER ${trigger} AFTER ${event} ON ${tasks} REFERENCING NEW TABLE AS ready_rows ` +
              `FOR EACH STATEMENT EXECUTE FUNCTION ${fn}('${channel(names)}')`
          )
        return Effect.all([
          exec(
            `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$DECLARE ids text; BEGIN ` +
              `FOR ids IN SELECT json_agg(task_id)::text FROM (SELECT task_id, row_number() OVER () AS n ` +
              `FROM ready_rows WHERE status IN ('SUCCESS', 'FAILURE', 'REVOKED')) r GROUP BY (n - 1) / 40 LOOP ` +
              `PERFORM pg_notify(TG_ARGV[0], ids); END LOOP; RETURN NULL; END$$`
          ),
          exec(`DROP TRIGGER IF EXISTS ${rowTrigger} ON ${tasks}`),
          exec(`DROP TRIGGER IF EXISTS ${onInsert} ON ${tasks}`),
          exec(`DROP TRIGGER IF EXISTS ${onUpdate} ON ${tasks}`),
          create(onInsert, "INSERT"),
          create(onUpdate, "UPDATE")
        ], { discard: true })
      }
    },
    {
      // Migration 4 chunked by 40 ids, but a NOTIFY payload is at most 8000
      // bytes and 40 long non-ASCII ids exceed it, failing the whole write.
      // Chunk by a running byte count instead (ids are at most 155
      // characters, ≤ 625 bytes as JSON, so a chunk stays under ~7,700).
      version: 5,
      name: "ready_notify_byte_chunks",
      run: (exec) => exec(notifyReadyRows("")).pipe(Effect.asVoid)
    },
    {
      // A NOTIFY costs every committing writer a global lock, and the
      // statement trigger's work, whether or not anyone listens. Listeners
      // now register in `taskmeta_listeners` (see `internal/listener`), and
      // the trigger does nothing while no session is registered for its
      // channel. The function names the table by its schema (the writer's
      // search_path may differ); if the table is missing, it notifies as before.
      version: 6,
      name: "ready_notify_when_listening",
      run: (exec) =>
        Effect.gen(function*() {
          const schemaName = names.schema ??
            String((yield* exec(`SELECT current_schema() AS name`))[0]?.name ?? "public")
          const registry = `${TableNames.quote(schemaName)}.taskmeta_listeners`
          yield* exec(
            `CREATE TABLE IF NOT EXISTS ${registry} (channel VARCHAR(63) NOT NULL, pid INTEGER NOT NULL, ` +
              `PRIMARY KEY (channel, pid))`
          )
          // Every writer's trigger reads it (Celery's role too).
          yield* exec(
            `DO $$BEGIN GRANT SELECT ON ${registry} TO PUBLIC; EXCEPTION WHEN insufficient_privilege THEN NULL; END$$`
          )
          yield* exec(notifyReadyRows(
            `IF to_regclass(${TableNames.literal(registry)}) IS NOT NULL THEN ` +
              `IF NOT EXISTS (SELECT 1 FROM ${registry} WHERE channel = TG_ARGV[0]) THEN RETURN NULL; END IF; END IF; `
          ))
        })
    },
    {
      // Waiting now LISTENs through `PgClient.listen`, whose connection is
      // the client's own and cannot register itself: the trigger notifies
      // every READY write again (as migration 5), and the registry goes.
      // (Measured before: NOTIFY with nobody listening cost nothing
      // measurable at 64 concurrent writers.)
      version: 7,
      name: "ready_notify_always",
      run: (exec) =>
        Effect.gen(function*() {
          yield* exec(notifyReadyRows(""))
          const schemaName = names.schema ??
            String((yield* exec(`SELECT current_schema() AS name`))[0]?.name ?? "public")
          yield* exec(`DROP TABLE IF EXISTS ${TableNames.quote(schemaName)}.taskmeta_listeners`)
        })
    }
  ]
}

/**
 * The SQLite steps: Celery's tables (as SQLAlchemy creates them with
 * `sqlite_autoincrement`) and the `date_done` indexes.
 *
 * @since 0.1.0
 * @category migrations
 */
export const sqlite = (names: TableNames.TableNames): ReadonlyArray<Migration> => {
  const tasks = TableNames.quote(names.tasks)
  const groups = TableNames.quote(names.groups)
  return [
    {
      version: 1,
      name: "celery_tables",
      run: (exec) =>
        Effect.gen(function*() {
          yield* exec(
            `CREATE TABLE IF NOT EXISTS ${tasks} (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, task_id VARCHAR(155), ` +
              `status VARCHAR(50), result BLOB, date_done DATETIME, traceback TEXT, name VARCHAR(155), args BLOB, ` +
              `kwargs BLOB, worker VARCHAR(155), retries INTEGER, queue VARCHAR(155), UNIQUE (task_id))`
          )
          const present = new Set((yield* exec(`PRAGMA table_info(${tasks})`)).map((row) => String(row.name)))
          for (const [column, type] of extendedColumns("BLOB")) {
            if (!present.has(column)) yield* exec(`ALTER TABLE ${tasks} ADD COLUMN ${column} ${type}`)
          }
          yield* exec(
            `CREATE TABLE IF NOT EXISTS ${groups} (id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT, ` +
              `taskset_id VARCHAR(155), result BLOB, date_done DATETIME, UNIQUE (taskset_id))`
          )
        })
    },
    dateDoneIndexes(names, tasks, groups)
  ]
}

/**
 * What the MySQL / MariaDB steps need to know about the server.
 *
 * @since 0.1.0
 * @category models
 */
export interface MysqlServer {
  /**
   * Sequences (MariaDB 10.3+): Celery's SQLAlchemy models then create
   * `task_id_sequence` / `taskset_id_sequence` and ids without a default, as
   * on PostgreSQL. Without them (MySQL) the ids are `AUTO_INCREMENT`.
   */
  readonly sequences: boolean
  /** The binary, no-pad utf8mb4 collation for ids (`utf8mb4_nopad_bin`, `utf8mb4_0900_bin`). */
  readonly idCollation: string
}

/**
 * Asks the server what `mysql` needs (version, collations).
 *
 * @since 0.1.0
 * @category migrations
 */
export const mysqlServer = (exec: Exec): Effect.Effect<MysqlServer, SqlError> =>
  Effect.gen(function*() {
    const version = String((yield* exec("SELECT VERSION() AS v"))[0]?.v ?? "")
    const mariadb = /mariadb/i.exec(version) !== null
    const [major, minor] = version.split(/[.-]/).map(Number)
    const collations = new Set(
      (yield* exec(
        "SELECT COLLATION_NAME AS name FROM information_schema.COLLATIONS " +
          "WHERE COLLATION_NAME IN ('utf8mb4_nopad_bin', 'utf8mb4_0900_bin')"
      )).map((row) => String(row.name))
    )
    return {
      sequences: mariadb && (major > 10 || (major === 10 && minor >= 3)),
      idCollation: collations.has("utf8mb4_nopad_bin")
        ? "utf8mb4_nopad_bin"
        : collations.has("utf8mb4_0900_bin")
        ? "utf8mb4_0900_bin"
        : "utf8mb4_bin"
    }
  })

/**
 * The MySQL / MariaDB steps: Celery's tables as its SQLAlchemy models create
 * them there (on MariaDB with the sequences `task_id_sequence` /
 * `taskset_id_sequence` and no id default; on MySQL `AUTO_INCREMENT` ids),
 * missing extended columns added, then the `date_done` indexes. Tables
 * taskmeta creates differ from Celery's only where Celery reads them the
 * same: `utf8mb4` with ids in a binary collation (exact, case-sensitive ids),
 * `DATETIME(6)` (Celery's `DATETIME` keeps whole seconds), `MEDIUMBLOB` /
 * `MEDIUMTEXT` (16 MiB, the read budget, instead of 64 KiB).
 *
 * @since 0.1.0
 * @category migrations
 */
export const mysql = (names: TableNames.TableNames, server: MysqlServer): ReadonlyArray<Migration> => {
  const tasks = TableNames.qualifyMysql(names, names.tasks)
  const groups = TableNames.qualifyMysql(names, names.groups)
  const schema = names.schema === undefined ? "DATABASE()" : TableNames.literal(names.schema)
  const id = server.sequences ? "`id` INT NOT NULL" : "`id` INT NOT NULL AUTO_INCREMENT"
  const idText = (column: string) => `\`${column}\` VARCHAR(155) CHARACTER SET utf8mb4 COLLATE ${server.idCollation}`
  const columnsOf = (exec: Exec, table: string) =>
    Effect.map(
      exec(
        `SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} ` +
          `AND TABLE_NAME = ${TableNames.literal(table)}`
      ),
      (rows) => new Set(rows.map((row) => String(row.name).toLowerCase()))
    )
  const indexExists = (exec: Exec, table: string, index: string) =>
    Effect.map(
      exec(
        `SELECT 1 AS present FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ${schema} ` +
          `AND TABLE_NAME = ${TableNames.literal(table)} AND INDEX_NAME = ${TableNames.literal(index)} LIMIT 1`
      ),
      (rows) => rows.length > 0
    )
  return [
    {
      version: 1,
      name: "celery_tables",
      run: (exec) =>
        Effect.gen(function*() {
          if (server.sequences) {
            yield* exec(`CREATE SEQUENCE IF NOT EXISTS ${TableNames.qualifyMysql(names, "task_id_sequence")}`)
            yield* exec(`CREATE SEQUENCE IF NOT EXISTS ${TableNames.qualifyMysql(names, "taskset_id_sequence")}`)
          }
          yield* exec(
            `CREATE TABLE IF NOT EXISTS ${tasks} (${id}, ${idText("task_id")} NULL, \`status\` VARCHAR(50), ` +
              "`result` MEDIUMBLOB, `date_done` DATETIME(6), `traceback` MEDIUMTEXT, `name` VARCHAR(155), " +
              "`args` MEDIUMBLOB, `kwargs` MEDIUMBLOB, `worker` VARCHAR(155), `retries` INT, `queue` VARCHAR(155), " +
              "PRIMARY KEY (`id`), UNIQUE KEY `task_id` (`task_id`)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
          )
          // Celery without result_extended creates the table without these.
          const present = yield* columnsOf(exec, names.tasks)
          const missing = extendedColumns("MEDIUMBLOB").filter(([column]) => !present.has(column))
          if (missing.length > 0) {
            yield* exec(`ALTER TABLE ${tasks} ${missing.map(([c, t]) => `ADD COLUMN \`${c}\` ${t}`).join(", ")}`)
          }
          yield* exec(
            `CREATE TABLE IF NOT EXISTS ${groups} (${id}, ${idText("taskset_id")} NULL, \`result\` MEDIUMBLOB, ` +
              "`date_done` DATETIME(6), PRIMARY KEY (`id`), UNIQUE KEY `taskset_id` (`taskset_id`)) " +
              "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
          )
        })
    },
    {
      version: 2,
      name: "date_done_indexes",
      run: (exec) =>
        Effect.gen(function*() {
          for (const [table, quoted] of [[names.tasks, tasks], [names.groups, groups]] as const) {
            const index = TableNames.derive(table, "date_done_idx")
            if (!(yield* indexExists(exec, table, index))) {
              yield* exec(`CREATE INDEX ${TableNames.quoteMysql(index)} ON ${quoted} (date_done)`)
            }
          }
        })
    }
  ]
}

/**
 * The name of the `GET_LOCK` lock every taskmeta migration on a MySQL /
 * MariaDB server takes (server-wide, held by the migrating connection).
 *
 * @since 0.1.0
 * @category constants
 */
export const MYSQL_LOCK = "taskmeta:migrations"

const scopeOf = (names: TableNames.TableNames) => `${names.tasks}/${names.groups}`

const applyPending = (
  exec: Exec,
  names: TableNames.TableNames,
  table: string,
  migrations: ReadonlyArray<Migration>
) =>
  Effect.gen(function*() {
    yield* exec(
      `CREATE TABLE IF NOT EXISTS ${table} (scope VARCHAR(300) NOT NULL, version INTEGER NOT NULL, ` +
        `name VARCHAR(200) NOT NULL, applied_at VARCHAR(40) NOT NULL, PRIMARY KEY (scope, version))`
    )
    const scope = scopeOf(names)
    const rows = yield* exec(`SELECT version FROM ${table} WHERE scope = ${TableNames.literal(scope)}`)
    const done = new Set(rows.map((row) => Number(row.version)))
    const applied: Array<string> = []
    const now = DateTime.formatIso(yield* DateTime.now)
    for (const migration of migrations) {
      if (done.has(migration.version)) continue
      yield* migration.run(exec)
      yield* exec(
        `INSERT INTO ${table} (scope, version, name, applied_at) VALUES (${TableNames.literal(scope)}, ${migration.version}, ` +
          `${TableNames.literal(migration.name)}, ${TableNames.literal(now)})`
      )
      applied.push(`${migration.version}_${migration.name}`)
    }
    return applied
  })

const inTransaction = <A>(
  conn: SqlConnection.Connection,
  begin: string,
  body: (exec: Exec) => Effect.Effect<A, SqlError>
): Effect.Effect<A, SqlError> => {
  // A statement the driver cannot even prepare throws: a failure like any other.
  const exec: Exec = (sql, params = []) =>
    conn.executeUnprepared(sql, params, undefined).pipe(
      Effect.catchAllDefect((cause) => Effect.fail(new SqlError({ cause, message: "Failed to execute statement" })))
    )
  return Effect.uninterruptibleMask((restore) =>
    Effect.zipRight(exec(begin), restore(body(exec))).pipe(
      Effect.tap(() => exec("COMMIT")),
      Effect.tapErrorCause((cause) =>
        exec("ROLLBACK").pipe(
          Effect.catchAllCause((rollback) =>
            Effect.logDebug("rollback after a failed migration failed", rollback, cause)
          )
        )
      )
    )
  )
}

/**
 * MySQL / MariaDB: DDL commits at once, so there is no transaction to hold;
 * the run holds the server-wide `GET_LOCK(MYSQL_LOCK)` on its connection
 * instead (released at the end, or by the server if the connection dies), so
 * processes starting at once wait for the first and then find nothing to do.
 */
const mysqlLocked = (conn: SqlConnection.Connection, names: TableNames.TableNames) => {
  const exec: Exec = (sql, params = []) =>
    conn.executeUnprepared(sql, params, undefined).pipe(
      Effect.catchAllDefect((cause) => Effect.fail(new SqlError({ cause, message: "Failed to execute statement" })))
    )
  const lock = TableNames.literal(MYSQL_LOCK)
  return Effect.acquireUseRelease(
    Effect.flatMap(
      waitForMysqlLock((seconds) =>
        Effect.map(exec(`SELECT GET_LOCK(${lock}, ${seconds}) AS locked`), (rows) => Number(rows[0]?.locked) === 1)
      ),
      (locked) =>
        locked
          ? Effect.void
          : Effect.fail(new SqlError({ message: `could not take the migration lock ${MYSQL_LOCK} within ${MYSQL_LOCK_WAIT} s` }))
    ),
    () =>
      Effect.gen(function*() {
        if (names.schema !== undefined) {
          yield* exec(`CREATE DATABASE IF NOT EXISTS ${TableNames.quoteMysql(names.schema)} CHARACTER SET utf8mb4`)
        }
        const server = yield* mysqlServer(exec)
        return yield* applyPending(exec, names, TableNames.qualifyMysql(names, "taskmeta_migrations"), mysql(names, server))
      }),
    () =>
      exec(`SELECT RELEASE_LOCK(${lock})`).pipe(
        Effect.catchAllCause((cause) => Effect.logDebug("releasing the migration lock failed", cause))
      )
  )
}

/**
 * Runs the pending migrations for the tables in one transaction and returns
 * the steps applied (empty when the tables were up to date).
 *
 * @since 0.1.0
 * @category run
 */
export const run = (
  names: TableNames.TableNames
): Effect.Effect<ReadonlyArray<string>, SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = sql.onDialectOrElse({
      pg: () => "pg" as const,
      sqlite: () => "sqlite" as const,
      mysql: () => "mysql" as const,
      orElse: () => undefined
    })
    if (dialect === undefined) {
      return yield* new SqlError({ message: "taskmeta migrations support PostgreSQL, MySQL / MariaDB and SQLite only" })
    }
    const applied = yield* Effect.scoped(Effect.gen(function*() {
      const conn = yield* sql.reserve
      if (dialect === "pg") {
        return yield* inTransaction(conn, "BEGIN", (exec) =>
          Effect.gen(function*() {
            yield* exec(`SELECT pg_advisory_xact_lock(${ADVISORY_LOCK_KEY})`)
            if (names.schema !== undefined) yield* exec(`CREATE SCHEMA IF NOT EXISTS ${TableNames.quote(names.schema)}`)
            return yield* applyPending(exec, names, `${prefix(names)}taskmeta_migrations`, pg(names))
          }))
      }
      if (dialect === "mysql") return yield* mysqlLocked(conn, names)
      return yield* inTransaction(conn, "BEGIN IMMEDIATE", (exec) =>
        applyPending(exec, names, "taskmeta_migrations", sqlite(names)))
    })).pipe(
      Effect.retry({
        schedule: Schedule.exponential("20 millis").pipe(Schedule.jittered, Schedule.intersect(Schedule.recurs(10))),
        while: (e) => isSqliteTransient(new DriverError({ operation: "migrate", cause: e }))
      })
    )
    if (applied.length > 0) {
      yield* Effect.logInfo("taskmeta migrations applied").pipe(
        Effect.annotateLogs({ dialect, tables: scopeOf(names), steps: applied.join(",") })
      )
    }
    return applied
  })

// ---------------------------------------------------------------------------
// read-only checks
// ---------------------------------------------------------------------------

/**
 * A store opened read-only (`readOnly: true`) found its tables missing, or
 * their schema: nothing was created, and no migration ran. `tables` are the
 * missing tables, `columns` the missing columns (`table.column`) of tables
 * that exist (Celery creates `celery_taskmeta` without the extended columns
 * unless `result_extended` is on). The migrations (`run`) create them all.
 *
 * @since 0.1.0
 * @category errors
 */
export class MissingTables extends Schema.TaggedError<MissingTables>("@taskmeta/sql/MissingTables")("MissingTables", {
  /** The PostgreSQL schema looked in: the one configured, else the `search_path`'s; none on SQLite. */
  schema: Schema.optional(Schema.String),
  /** `false` when that schema does not exist (then `tables` are all the tables asked for). */
  schemaExists: Schema.Boolean,
  tables: Schema.Array(Schema.String),
  columns: Schema.Array(Schema.String)
}) {
  override get message(): string {
    if (!this.schemaExists) {
      const lookedFor = this.tables.length === 0 ? "" : ` (looked for ${this.tables.join(", ")})`
      return this.schema === undefined
        ? `no schema of the search_path exists${lookedFor}`
        : `schema "${this.schema}" does not exist${lookedFor}`
    }
    const where = this.schema === undefined ? "" : ` in schema "${this.schema}"`
    const parts: Array<string> = []
    if (this.tables.length > 0) {
      parts.push(`missing table${this.tables.length === 1 ? "" : "s"} ${this.tables.join(", ")}${where}`)
    }
    if (this.columns.length > 0) {
      parts.push(`missing column${this.columns.length === 1 ? "" : "s"} ${this.columns.join(", ")}${where}`)
    }
    return parts.join("; ")
  }
}

/**
 * Looks for tables (and the columns each must have) without changing
 * anything: the schema first (PostgreSQL), then each table's columns in the
 * catalog.
 *
 * @since 0.1.0
 * @category read-only
 */
export const checkTables = (
  schema: string | undefined,
  required: ReadonlyArray<readonly [table: string, columns: ReadonlyArray<string>]>
): Effect.Effect<void, MissingTables | SqlError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const where = yield* Catalog.where(sql, schema)
    const tableNames = required.map(([table]) => table)
    if (!where.exists) {
      return yield* new MissingTables({ schema: where.schema, schemaExists: false, tables: tableNames, columns: [] })
    }
    const tables: Array<string> = []
    const columns: Array<string> = []
    for (const [table, wanted] of required) {
      const present = new Set(yield* Catalog.columns(sql, schema, table))
      if (present.size === 0) tables.push(table)
      else for (const column of wanted) if (!present.has(column)) columns.push(`${table}.${column}`)
    }
    if (tables.length > 0 || columns.length > 0) {
      return yield* new MissingTables({ schema: where.schema, schemaExists: true, tables, columns })
    }
  })

/**
 * The columns taskmeta reads from the task table.
 *
 * @since 0.1.0
 * @category read-only
 */
export const TASK_COLUMNS: ReadonlyArray<string> = [
  "id",
  "task_id",
  "status",
  "result",
  "date_done",
  "traceback",
  ...extendedColumns("").map(([column]) => column)
]

/**
 * The columns taskmeta reads from the group table.
 *
 * @since 0.1.0
 * @category read-only
 */
export const GROUP_COLUMNS: ReadonlyArray<string> = ["id", "taskset_id", "result", "date_done"]

/**
 * Checks, without changing anything, that the tables (and the PostgreSQL
 * schema) exist with every column taskmeta reads: what a read-only store
 * does instead of migrating. Fails with `MissingTables` naming what is
 * missing.
 *
 * @since 0.1.0
 * @category read-only
 */
export const check = (
  names: TableNames.TableNames
): Effect.Effect<void, MissingTables | SqlError, SqlClient.SqlClient> =>
  checkTables(names.schema, [[names.tasks, TASK_COLUMNS], [names.groups, GROUP_COLUMNS]]).pipe(
    Effect.withSpan("SqlMigrations.check")
  )
