/**
 * The statements over one pair of Celery's tables, as `sql` templates.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import type * as BackendDriver from "@taskmeta/core/BackendDriver"
import * as TableNames from "../TableNames.js"

const WRITE_COLUMNS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"

// A stored SUCCESS is final: the upsert's update applies unless the stored
// row is SUCCESS (an identical rewrite of the same SUCCESS still reports as applied).
const SUCCESS_IS_FINAL = (distinct: string, same: string) =>
  `WHERE t.status ${distinct} 'SUCCESS' OR (t.status = excluded.status AND t.date_done ${same} excluded.date_done ` +
  `AND t.result ${same} excluded.result)`

// Cleanup deletes READY records only: a row some other writer stamped while
// unfinished reads with no dateDone, and unfinished records are kept (SPEC §6).
const READY_ONLY = "status IN ('SUCCESS', 'FAILURE', 'REVOKED')"

const UPDATE_SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"

/**
 * The statements over one pair of tables, as `sql` templates; where the
 * dialects differ, each statement picks its own with `sql.onDialectOrElse`.
 */
export const statements = (sql: SqlClient.SqlClient, names: TableNames.TableNames) => {
  // PostgreSQL names the schema; SQLite has none (an attached database is not one).
  const table = (name: string) =>
    sql.literal(sql.onDialectOrElse({ pg: () => TableNames.qualify(names, name), orElse: () => TableNames.quote(name) }))
  const tasks = table(names.tasks)
  const groups = table(names.groups)
  const nextval = (name: string) =>
    sql.literal(`nextval(${TableNames.literal(names.schema === undefined ? name : `"${names.schema}".${name}`)})`)
  // `timestamp` read as text in a fixed format: no type parser, DateStyle or TimeZone involved.
  const dateDone = sql.literal(sql.onDialectOrElse({
    pg: () => "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done",
    orElse: () => "date_done"
  }))
  const taskColumns = sql`task_id, status, result, ${dateDone}, traceback, name, args, kwargs, worker, retries, queue`
  // The read by id's fixed part as one literal: a read by id runs on every `get`.
  const selectById = sql.literal(
    `SELECT task_id, status, result, ${
      sql.onDialectOrElse({ pg: () => "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done", orElse: () => "date_done" })
    }, traceback, name, args, kwargs, worker, retries, queue FROM ${
      sql.onDialectOrElse({ pg: () => TableNames.qualify(names, names.tasks), orElse: () => TableNames.quote(names.tasks) })
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

  const stateFilter = (rule: BackendDriver.CleanupRule) =>
    rule.only !== undefined
      ? sql` AND ${sql.in("status", rule.only)}`
      : rule.except !== undefined
      ? sql` AND (status IS NULL OR NOT ${sql.in("status", rule.except)})`
      : sql``

  return {
    upsert: (rows: ReadonlyArray<ReadonlyArray<unknown>>) =>
      sql.onDialectOrElse({
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
          orElse: () =>
            sql`SELECT ${taskColumns} FROM ${tasks} WHERE task_id IN (SELECT value FROM json_each(${JSON.stringify(ids)}))`
        }),
    remove: (taskId: string) => sql`DELETE FROM ${tasks} WHERE task_id = ${taskId}`,
    putGroup: (groupId: string, result: Uint8Array | null, dateDone: string) =>
      sql.onDialectOrElse({
        // Celery's PostgreSQL tables have no id default: ids come from its sequence.
        pg: () =>
          sql`INSERT INTO ${groups} (id, taskset_id, result, date_done) VALUES (${
            nextval("taskset_id_sequence")
          }, ${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`,
        orElse: () =>
          sql`INSERT INTO ${groups} (taskset_id, result, date_done) VALUES (${groupId}, ${result}, ${dateDone}) ON CONFLICT (taskset_id) DO UPDATE SET result = excluded.result, date_done = excluded.date_done`
      }),
    getGroup: (groupId: string) => sql`SELECT result, ${dateDone} FROM ${groups} WHERE taskset_id = ${groupId}`,
    removeGroup: (groupId: string) => sql`DELETE FROM ${groups} WHERE taskset_id = ${groupId}`,
    cleanupTasks: (rule: BackendDriver.CleanupRule, limit: number, before: string) => {
      const pick = sql`SELECT id FROM ${tasks} WHERE date_done < ${before} AND ${readyOnly}${stateFilter(rule)} LIMIT ${limit}`
      return sql.onDialectOrElse({
        // Concurrent sweeps skip each other's rows instead of waiting.
        pg: () => sql`DELETE FROM ${tasks} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`,
        orElse: () => sql`DELETE FROM ${tasks} WHERE id IN (${pick}) RETURNING id`
      })
    },
    cleanupGroups: (before: string, limit: number) => {
      const pick = sql`SELECT id FROM ${groups} WHERE date_done < ${before} LIMIT ${limit}`
      return sql.onDialectOrElse({
        pg: () => sql`DELETE FROM ${groups} WHERE id IN (${pick} FOR UPDATE SKIP LOCKED) RETURNING id`,
        orElse: () => sql`DELETE FROM ${groups} WHERE id IN (${pick}) RETURNING id`
      })
    }
  }
}
