/**
 * The statements over one pair of Celery's tables, as `sql` templates.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import type * as BackendDriver from "@taskmeta/core/BackendDriver"
import * as TableNames from "../TableNames.js"
import { MYSQL_DATE_DONE } from "./timestamps.js"

/**
 * What the statements need to know about a MySQL / MariaDB pair of tables
 * (read from `information_schema` when the backend is built): whether ids
 * come from Celery's sequences (MariaDB) or `AUTO_INCREMENT` (MySQL), and
 * how many fraction digits each `date_done` keeps.
 */
export interface MysqlLayout {
  readonly taskIds: "sequence" | "auto"
  readonly groupIds: "sequence" | "auto"
  readonly taskPrecision: number
  readonly groupPrecision: number
}

/** A MySQL statement's header (`affectedRows`), decoded at the edge. */
const decodeHeader = Schema.decodeUnknownEither(Schema.Struct({ affectedRows: Schema.Number }))
const affectedRows = (raw: unknown): Effect.Effect<number, SqlError> =>
  Either.match(decodeHeader(raw), {
    onLeft: (cause) => Effect.fail(new SqlError({ cause, message: "unexpected statement result" })),
    onRight: (header) => Effect.succeed(header.affectedRows)
  })

/** A lone MySQL upsert's header: the insert id says whether the rule applied it (see `MYSQL_REPORT`). */
const decodeInsertHeader = Schema.decodeUnknownEither(Schema.Struct({
  insertId: Schema.Union(Schema.Number, Schema.NumberFromString)
}))

/**
 * The three results of `SET @kept = …; INSERT …; SELECT @kept`: the last is
 * one row holding the JSON array of the task ids whose rows the SUCCESS rule
 * kept (see `MYSQL_COLLECT`).
 */
const decodeKept = Schema.decodeUnknownEither(
  Schema.transform(
    Schema.Tuple(
      Schema.Unknown,
      Schema.Unknown,
      Schema.Tuple(Schema.Struct({ kept: Schema.parseJson(Schema.Array(Schema.String)) }))
    ),
    Schema.Array(Schema.String),
    {
      strict: true,
      decode: (results) => results[2][0].kept,
      encode: (kept) => [undefined, undefined, [{ kept }]] as const
    }
  )
)

/**
 * The MySQL statement size a batch aims to stay under (values are sent as
 * text, blobs hex-encoded, so ~2× this): far below `max_allowed_packet`
 * (16 MiB on MariaDB 10.11, 64 MiB on MySQL 8), whose excess closes the
 * connection.
 */
const MYSQL_BATCH_BYTES = 4 * 1024 * 1024

const sizeOf = (row: ReadonlyArray<unknown>): number => {
  let n = 200
  for (const value of row) {
    if (value instanceof Uint8Array) n += value.length
    else if (typeof value === "string") n += value.length * 3
  }
  return n
}

/** Rows in statements of at most `MYSQL_BATCH_BYTES` (a larger row goes alone). */
const chunkBySize = (rows: ReadonlyArray<ReadonlyArray<unknown>>): ReadonlyArray<ReadonlyArray<ReadonlyArray<unknown>>> => {
  const chunks: Array<Array<ReadonlyArray<unknown>>> = []
  let current: Array<ReadonlyArray<unknown>> = []
  let bytes = 0
  for (const row of rows) {
    const size = sizeOf(row)
    if (current.length > 0 && bytes + size > MYSQL_BATCH_BYTES) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(row)
    bytes += size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** A group as `putGroups` binds it: its id, its encoded `result`, its `date_done` text. */
export type GroupRow = readonly [groupId: string, result: Uint8Array | null, dateDone: string]

/**
 * Groups per `putGroups` statement: SQLite binds 3 parameters a row (at most
 * 32,766 a statement), MySQL 3 or 4 (65,535; the statement's size is bounded
 * too), PostgreSQL 3 arrays whatever the count (the bound only keeps one
 * message moderate).
 */
export const GROUP_ROWS_PER_STATEMENT = { sqlite: 5000, mysql: 5000, pg: 5000 } as const

const WRITE_COLUMNS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"

// A stored SUCCESS is final: the upsert's update applies unless the stored
// row is SUCCESS (an identical rewrite of the same SUCCESS still reports as applied).
const SUCCESS_IS_FINAL = (distinct: string, same: string) =>
  `WHERE t.status ${distinct} 'SUCCESS' OR (t.status = excluded.status AND t.date_done ${same} excluded.date_done ` +
  `AND t.result ${same} excluded.result)`

// Cleanup deletes READY records only: a row some other writer stamped while
// unfinished reads with no dateDone, and unfinished records are kept (SPEC §6).
const READY_ONLY = "status IN ('SUCCESS', 'FAILURE', 'REVOKED')"

// MySQL evaluates ON DUPLICATE KEY UPDATE assignments left to right, each
// seeing the columns assigned before it. Every column takes the new value
// under the same condition, and `status` (which the condition reads first) is
// assigned last: assigning the others cannot change the condition's answer
// (not SUCCESS stays not SUCCESS; an identical rewrite stays identical). The
// comparisons are binary (the columns' collations may ignore case). VALUES()
// is the new value converted to the column (a DATETIME keeps its digits).
const MYSQL_KEEP_SUCCESS = "(NOT (CAST(status AS BINARY) <=> 'SUCCESS') OR (CAST(status AS BINARY) <=> " +
  "CAST(VALUES(status) AS BINARY) AND date_done <=> VALUES(date_done) AND result <=> VALUES(result)))"
// A lone row reports what the rule decided in the statement itself: the first
// assignment (reading the row as stored) sets LAST_INSERT_ID to one of two
// markers, which the server returns as the statement's insert id. A new row
// returns 0 or its AUTO_INCREMENT id instead (an INT: never a marker).
const MYSQL_APPLIED = 4503599627370496 // 2^52
const MYSQL_KEPT = MYSQL_APPLIED + 1
const MYSQL_REPORT = `id = IF(LAST_INSERT_ID(IF(${MYSQL_KEEP_SUCCESS}, ${MYSQL_APPLIED}, ${MYSQL_KEPT})) > 0, id, id), `
// Several rows collect the same answer in a session variable: the first
// assignment appends the id of each write the rule refuses to a JSON array,
// which the statement after the upsert reads (`SELECT` of the variable, in the
// same round trip). The id is the write's own (`VALUES(task_id)`), not the
// stored row's: on Celery's tables ids compare without case, and "case-1" may
// land on the row of "Case-1". The upsert alone is atomic, so no transaction is needed. (MySQL
// 8 deprecates assigning variables inside expressions but still runs it.)
const MYSQL_KEPT_IDS = "@taskmeta_kept"
const MYSQL_COLLECT = `id = IF(${MYSQL_KEEP_SUCCESS}, id, IF((${MYSQL_KEPT_IDS} := JSON_ARRAY_APPEND(${MYSQL_KEPT_IDS}, '$', VALUES(task_id))) IS NULL, id, id)), `
const MYSQL_UPDATE_SET = ["traceback", "name", "args", "kwargs", "worker", "retries", "queue", "result", "date_done", "status"]
  .map((column) => `\`${column}\` = IF(${MYSQL_KEEP_SUCCESS}, VALUES(\`${column}\`), \`${column}\`)`)
  .join(", ")

const UPDATE_SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"

/**
 * The statements over one pair of tables, as `sql` templates; where the
 * dialects differ, each statement picks its own with `sql.onDialectOrElse`.
 */
export const statements = (
  sql: SqlClient.SqlClient,
  names: TableNames.TableNames,
  layout: MysqlLayout = { taskIds: "sequence", groupIds: "sequence", taskPrecision: 6, groupPrecision: 6 }
) => {
  // PostgreSQL names the schema, MySQL the database; SQLite has none (an attached database is not one).
  const tableName = (name: string) =>
    sql.onDialectOrElse({
      pg: () => TableNames.qualify(names, name),
      mysql: () => TableNames.qualifyMysql(names, name),
      orElse: () => TableNames.quote(name)
    })
  const table = (name: string) => sql.literal(tableName(name))
  const tasks = table(names.tasks)
  const groups = table(names.groups)
  const nextval = (name: string) =>
    sql.literal(`nextval(${TableNames.literal(names.schema === undefined ? name : `"${names.schema}".${name}`)})`)
  // `timestamp` read as text in a fixed format: no type parser, DateStyle or TimeZone involved.
  const dateDoneText = sql.onDialectOrElse({
    pg: () => "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done",
    mysql: () => `${MYSQL_DATE_DONE} AS date_done`,
    orElse: () => "date_done"
  })
  const dateDone = sql.literal(dateDoneText)
  const taskColumns = sql`task_id, status, result, ${dateDone}, traceback, name, args, kwargs, worker, retries, queue`
  // The read by id's fixed part as one literal: a read by id runs on every `get`.
  const selectById = sql.literal(
    `SELECT task_id, status, result, ${dateDoneText}, traceback, name, args, kwargs, worker, retries, queue FROM ${
      tableName(names.tasks)
    } WHERE task_id = `
  )
  const writeColumns = sql.literal(WRITE_COLUMNS)
  const updateSet = sql.literal(UPDATE_SET)
  const successIsFinal = sql.literal(sql.onDialectOrElse({
    pg: () => SUCCESS_IS_FINAL("IS DISTINCT FROM", "IS NOT DISTINCT FROM"),
    orElse: () => SUCCESS_IS_FINAL("IS NOT", "IS")
  }))
  const readyOnly = sql.literal(READY_ONLY)
  const rowsFor = sql.join(", ", false)

  // MySQL / MariaDB: one row reports through its insert id (`MYSQL_REPORT`),
  // several through a session variable (`MYSQL_COLLECT`).
  const mysqlIds = (kind: "sequence" | "auto", sequence: string) =>
    kind === "sequence" ? [`NEXTVAL(${TableNames.qualifyMysql(names, sequence)})`] : []
  const mysqlTaskId = mysqlIds(layout.taskIds, "task_id_sequence")
  const mysqlWriteColumns = sql.literal([...(mysqlTaskId.length > 0 ? ["id"] : []), WRITE_COLUMNS].join(", "))
  const mysqlCollectingSet = sql.literal(MYSQL_COLLECT + MYSQL_UPDATE_SET)
  const mysqlReportingSet = sql.literal(MYSQL_REPORT + MYSQL_UPDATE_SET)
  const mysqlKeptReset = sql.literal(`SET ${MYSQL_KEPT_IDS} = JSON_ARRAY()`)
  const mysqlKeptRead = sql.literal(`SELECT ${MYSQL_KEPT_IDS} AS kept`)
  const mysqlRow = (r: ReadonlyArray<unknown>) =>
    mysqlTaskId.length > 0
      ? sql`(${sql.literal(mysqlTaskId[0])}, ${r[0]}, ${r[1]}, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${
        r[9]
      }, ${r[10]})`
      : sql`(${r[0]}, ${r[1]}, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${r[9]}, ${r[10]})`
  // One row: one statement, whose insert id tells whether it applied.
  const mysqlUpsertOne = (row: ReadonlyArray<unknown>) =>
    Effect.flatMap(
      sql`INSERT INTO ${tasks} (${mysqlWriteColumns}) VALUES ${mysqlRow(row)} ON DUPLICATE KEY UPDATE ${mysqlReportingSet}`
        .raw,
      (raw) =>
        Either.match(decodeInsertHeader(raw), {
          onLeft: (cause) => Effect.fail(new SqlError({ cause, message: "unexpected statement result" })),
          onRight: (header) => Effect.succeed(header.insertId === MYSQL_KEPT ? [] : [{ task_id: row[0] as string }])
        })
    )
  // Several rows: the variable reset, the upsert and the variable read, as one text in one round
  // trip (the client's connections run multi-statement text: `MysqlClient` turns
  // `multipleStatements` on; text, because one prepared statement per row count would fill the
  // server's). When the upsert fails, the read after it does not run.
  const mysqlUpsertChunk = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => {
    if (rows.length === 1) return mysqlUpsertOne(rows[0])
    return sql`${mysqlKeptReset}; INSERT INTO ${tasks} (${mysqlWriteColumns}) VALUES ${
      rowsFor(rows.map(mysqlRow))
    } ON DUPLICATE KEY UPDATE ${mysqlCollectingSet}; ${mysqlKeptRead}`.unprepared.pipe(Effect.flatMap((raw) =>
      Either.match(decodeKept(raw), {
        onLeft: (cause) => Effect.fail(new SqlError({ cause, message: "unexpected result after the upsert" })),
        onRight: (kept) => {
          const refused = new Set(kept)
          const applied: Array<{ readonly task_id: string }> = []
          for (const r of rows) {
            if (!refused.has(r[0] as string)) applied.push({ task_id: r[0] as string })
          }
          return Effect.succeed(applied)
        }
      })
    ))
  }
  const mysqlUpsert = (rows: ReadonlyArray<ReadonlyArray<unknown>>) => {
    const chunks = chunkBySize(rows)
    return chunks.length === 1
      ? mysqlUpsertChunk(rows)
      : Effect.map(Effect.forEach(chunks, mysqlUpsertChunk), (applied) => applied.flat())
  }
  const mysqlGroupId = mysqlIds(layout.groupIds, "taskset_id_sequence")

  const stateFilter = (rule: BackendDriver.CleanupRule) =>
    rule.only !== undefined
      ? sql` AND ${sql.in("status", rule.only)}`
      : rule.except !== undefined
      ? sql` AND (status IS NULL OR NOT ${sql.in("status", rule.except)})`
      : sql``

  return {
    upsert: (rows: ReadonlyArray<ReadonlyArray<unknown>>): Effect.Effect<ReadonlyArray<unknown>, SqlError> =>
      sql.onDialectOrElse({
        mysql: () => mysqlUpsert(rows),
        // Several rows travel as 11 column arrays that `unnest` zips back into
        // rows (one text for any number; at 32 rows ~15% less server time per
        // row than a VALUES list). A lone row is a plain VALUES row: its plan
        // is ~100 µs cheaper than unnest's (the client prepares nothing).
        pg: () => {
          if (rows.length === 1) {
            const [r] = rows
            return sql`INSERT INTO ${tasks} AS t (id, ${writeColumns}) VALUES (${nextval("task_id_sequence")}, ${r[0]}, ${
              r[1]
            }, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${r[9]}, ${
              r[10]
            }) ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING t.task_id`
          }
          const c: Array<Array<unknown>> = []
          for (let k = 0; k < 11; k++) c.push(rows.map((row) => row[k]))
          return sql`INSERT INTO ${tasks} AS t (id, ${writeColumns}) SELECT ${
            nextval("task_id_sequence")
          }, * FROM unnest(${c[0]}::varchar[], ${c[1]}::varchar[], ${c[2]}::bytea[], ${c[3]}::timestamp[], ${
            c[4]
          }::text[], ${c[5]}::varchar[], ${c[6]}::bytea[], ${c[7]}::bytea[], ${c[8]}::varchar[], ${c[9]}::integer[], ${
            c[10]
          }::varchar[]) ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING t.task_id`
        },
        orElse: () =>
          sql`INSERT INTO ${tasks} AS t (${writeColumns}) VALUES ${
            rowsFor(rows.map((r) =>
              sql`(${r[0]}, ${r[1]}, ${r[2]}, ${r[3]}, ${r[4]}, ${r[5]}, ${r[6]}, ${r[7]}, ${r[8]}, ${r[9]}, ${r[10]})`
            ))
          } ON CONFLICT (task_id) DO UPDATE SET ${updateSet} ${successIsFinal} RETURNING task_id`
      }),
    select: (ids: ReadonlyArray<string>) =>
      ids.length === 1
        ? sql`${selectById}${ids[0]}`
        : sql.onDialectOrElse({
          // One statement text whatever the number of ids.
          pg: () => sql`SELECT ${taskColumns} FROM ${tasks} WHERE task_id = ANY(${ids}::varchar[])`,
          // As text: one statement text per number of ids would fill the server's prepared statements.
          mysql: () => sql`SELECT ${taskColumns} FROM ${tasks} WHERE ${sql.in("task_id", ids)}`.unprepared,
          orElse: () =>
            sql`SELECT ${taskColumns} FROM ${tasks} WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`
        }),
    remove: (taskId: string) => sql`DELETE FROM ${tasks} WHERE task_id = ${taskId}`,
    putGroup: (groupId: string, result: Uint8Array | null, dateDone: string) =>
      sql.onDialectOrElse({
        mysql: () =>
          mysqlGroupId.length > 0
            ? sql`INSERT INTO ${groups} (id, taskset_id, result, date_done) VALUES (${
              sql.literal(mysqlGroupId[0])
            }, ${groupId}, ${result}, ${dateDone}) ON DUPLICATE KEY UPDATE result = VALUES(result), date_done = VALUES(date_done)`
              .raw
            : sql`INSERT INTO ${groups} (taskset_id, result, date_done) VALUES (${groupId}, ${result}, ${dateDone}) ON DUPLICATE KEY UPDATE result = VALUES(result), date_done = VALUES(date_done)`
              .raw,
        // Celery's PostgreSQL tables have no id default: ids come from its sequence.
        pg: () =>
          sql`INSERT INTO ${groups} (id, taskset_id, result, date_done) VALUES (${
            nextval("taskset_id_sequence")
          }, ${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`,
        orElse: () =>
          sql`INSERT INTO ${groups} (taskset_id, result, date_done) VALUES (${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`
      }),
    getGroup: (groupId: string) => sql`SELECT result, ${dateDone} FROM ${groups} WHERE taskset_id = ${groupId}`,
    /**
     * Upserts many groups, rows of `[groupId, result, dateDone]` with distinct ids, in statements
     * within the dialect's limits (`GROUP_ROWS_PER_STATEMENT`, and on MySQL `MYSQL_BATCH_BYTES`);
     * several run in one transaction.
     */
    putGroups: (rows: ReadonlyArray<GroupRow>): Effect.Effect<void, SqlError> => {
      const dialect = sql.onDialectOrElse({
        pg: () => "pg" as const,
        mysql: () => "mysql" as const,
        orElse: () => "sqlite" as const
      })
      // A fixed order per statement keeps concurrent writers from deadlocking (SQLite has one writer).
      const sorted = dialect === "sqlite" ? rows : [...rows].sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
      const chunks: Array<ReadonlyArray<GroupRow>> = []
      const perStatement = GROUP_ROWS_PER_STATEMENT[dialect]
      for (let i = 0; i < sorted.length; i += perStatement) {
        const chunk = sorted.slice(i, i + perStatement)
        if (dialect === "mysql") chunks.push(...(chunkBySize(chunk) as ReadonlyArray<ReadonlyArray<GroupRow>>))
        else chunks.push(chunk)
      }
      const one = (chunk: ReadonlyArray<GroupRow>): Effect.Effect<void, SqlError> => {
        switch (dialect) {
          case "pg": {
            // Three arrays that `unnest` zips back into rows: one statement text for any number.
            const ids = chunk.map((r) => r[0])
            const results = chunk.map((r) => r[1])
            const dates = chunk.map((r) => r[2])
            return Effect.asVoid(
              sql`INSERT INTO ${groups} (id, taskset_id, result, date_done) SELECT ${
                nextval("taskset_id_sequence")
              }, * FROM unnest(${ids}::varchar[], ${results}::bytea[], ${dates}::timestamp[]) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`
            )
          }
          case "mysql": {
            const values = rowsFor(chunk.map((r) =>
              mysqlGroupId.length > 0
                ? sql`(${sql.literal(mysqlGroupId[0])}, ${r[0]}, ${r[1]}, ${r[2]})`
                : sql`(${r[0]}, ${r[1]}, ${r[2]})`
            ))
            const columns = sql.literal(mysqlGroupId.length > 0 ? "id, taskset_id, result, date_done" : "taskset_id, result, date_done")
            // As text: one statement text per row count would fill the server's prepared statements.
            return Effect.asVoid(
              sql`INSERT INTO ${groups} (${columns}) VALUES ${values} ON DUPLICATE KEY UPDATE result = VALUES(result), date_done = VALUES(date_done)`
                .unprepared
            )
          }
          case "sqlite":
            return Effect.asVoid(
              sql`INSERT INTO ${groups} (taskset_id, result, date_done) VALUES ${
                rowsFor(chunk.map((r) => sql`(${r[0]}, ${r[1]}, ${r[2]})`))
              } ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`
            )
        }
      }
      if (chunks.length === 0) return Effect.void
      return chunks.length === 1 ? one(chunks[0]) : sql.withTransaction(Effect.forEach(chunks, one, { discard: true }))
    },
    /** The rows of many groups, each with its `taskset_id`, in one query (the caller aligns them). */
    getGroups: (groupIds: ReadonlyArray<string>) =>
      sql.onDialectOrElse({
        // One statement text whatever the number of ids.
        pg: () => sql`SELECT taskset_id, result, ${dateDone} FROM ${groups} WHERE taskset_id = ANY(${groupIds}::varchar[])`,
        // As text: one statement text per number of ids would fill the server's prepared statements.
        mysql: () => sql`SELECT taskset_id, result, ${dateDone} FROM ${groups} WHERE ${sql.in("taskset_id", groupIds)}`.unprepared,
        orElse: () =>
          sql`SELECT taskset_id, result, ${dateDone} FROM ${groups} WHERE taskset_id IN (SELECT value FROM json_each(${
            JSON.stringify(groupIds)
          }))`
      }),
    removeGroup: (groupId: string) => sql`DELETE FROM ${groups} WHERE taskset_id = ${groupId}`,
    /** How many rows one bounded batch deleted. */
    cleanupTasks: (rule: BackendDriver.CleanupRule, limit: number, before: string): Effect.Effect<number, SqlError> => {
      const where = sql`date_done < ${before} AND ${readyOnly}${stateFilter(rule)}`
      const pick = sql`SELECT id FROM ${tasks} WHERE ${where} LIMIT ${limit}`
      return sql.onDialectOrElse({
        // Concurrent sweeps skip each other's rows instead of waiting.
        pg: () => Effect.map(sql`DELETE FROM ${tasks} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`, (rows) => rows.length),
        // MySQL cannot delete from a table it selects the ids from: the batch is the
        // first `limit` expired rows in the date_done index's order.
        mysql: () =>
          Effect.flatMap(sql`DELETE FROM ${tasks} WHERE ${where} ORDER BY date_done, id LIMIT ${sql.literal(String(limit))}`.raw, affectedRows),
        orElse: () => Effect.map(sql`DELETE FROM ${tasks} WHERE id IN (${pick}) RETURNING id`, (rows) => rows.length)
      })
    },
    cleanupGroups: (before: string, limit: number): Effect.Effect<number, SqlError> => {
      const pick = sql`SELECT id FROM ${groups} WHERE date_done < ${before} LIMIT ${limit}`
      return sql.onDialectOrElse({
        pg: () => Effect.map(sql`DELETE FROM ${groups} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`, (rows) => rows.length),
        mysql: () =>
          Effect.flatMap(
            sql`DELETE FROM ${groups} WHERE date_done < ${before} ORDER BY date_done, id LIMIT ${sql.literal(String(limit))}`.raw,
            affectedRows
          ),
        orElse: () => Effect.map(sql`DELETE FROM ${groups} WHERE id IN (${pick}) RETURNING id`, (rows) => rows.length)
      })
    }
  }
}
