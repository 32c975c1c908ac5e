/**
 * The SQL `PipelineStore`, over the `SqlClient` in context (PostgreSQL,
 * MySQL / MariaDB or SQLite; the dialect is resolved once, when the store is
 * built).
 *
 * - Four tables, one per record kind, created by `PipelineMigrations`
 *   (names prefixed, default `taskmeta_`), with foreign keys to the run and
 *   the parent and an index per list query.
 * - A build is one transaction: the execution row (`ON CONFLICT DO NOTHING`,
 *   so a second build of the run writes nothing), then one multi-row insert
 *   per kind, chunked under the dialect's parameter limit.
 * - `restoreMany` is one transaction for all its runs: the executions first
 *   (`ON CONFLICT DO NOTHING RETURNING run_id`, which tells the runs already
 *   stored; MySQL: `SELECT … FOR UPDATE` of the stored ones, then a plain
 *   insert of the others), then one multi-row insert per kind for the runs
 *   written, each chunked under the parameter limit (SQLite 32,766, else
 *   65,535). `getRuns` is one `SELECT … WHERE run_id IN (…)` per table.
 * - A report is one transaction that locks rows bottom-up — the reported
 *   row, then its parent, grandparent … only as far as the change
 *   propagates: a conditional `UPDATE … WHERE status IN (…) RETURNING` for
 *   the reported row and for a RUNNING propagation, `SELECT … FOR NO KEY
 *   UPDATE` + `UPDATE` for a parent a final child moves (PostgreSQL; MySQL
 *   has no RETURNING: the conditional `UPDATE`, then a `SELECT` of the row it
 *   changed, and `FOR UPDATE`); under the database write lock
 *   (`BEGIN IMMEDIATE`) on SQLite. Every transaction
 *   takes its row locks in the same level order (task result → task
 *   execution → pipeline result → execution), so reports cannot deadlock
 *   each other; cleanup deletes in that order too. Parents keep a tally of
 *   their final children, so a report never reads its siblings.
 * - Deadlocks, serialization failures, lost connections and SQLite BUSY are
 *   retried (the whole transaction) by the shared retry policy.
 * - JSON values are text (`Json.stringify` / `Json.parse`, exact big
 *   integers); timestamps are UTC (`timestamptz` on PostgreSQL, ISO-8601
 *   text with milliseconds and `Z` on SQLite and MySQL).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { DriverError, type InvalidInput } from "@taskmeta/core/BackendError"
import type {
  Access,
  Advanced,
  Insertion,
  ListQuery,
  Node,
  PipelineDriver,
  Tree,
  Update
} from "@taskmeta/core/PipelineDriver"
import { PipelineReadError } from "@taskmeta/core/PipelineError"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as Json from "@taskmeta/schema/Json"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import * as internal from "./internal/pipelineSql.js"
import * as PipelineMigrations from "./PipelineMigrations.js"
import type * as SqlMigrations from "./SqlMigrations.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends PipelineStore.Options {
  /** Table name prefix (default `taskmeta_`), see `PipelineMigrations.tableNames`. */
  readonly prefix?: string | undefined
  /** Run the migrations when the store is built (default true; off when `readOnly`). */
  readonly migrate?: boolean | undefined
  /**
   * Open the store only to read it: no migration runs, nothing is created,
   * and building it checks that the four tables exist
   * (`PipelineMigrations.check`), failing with `SqlMigrations.MissingTables`
   * when they do not. Default off.
   */
  readonly readOnly?: boolean | undefined
}

// ---------------------------------------------------------------------------
// rows
// ---------------------------------------------------------------------------

const Num = Schema.Union(Schema.Number, Schema.NumberFromString)
/** `timestamptz` comes back from node-postgres as a Date; SQLite keeps ISO text. */
const Time = Schema.Union(Schema.DateTimeUtcFromDate, Schema.DateTimeUtc)
const OptionalTime = Schema.NullOr(Time)
/** SQL NULL is the JSON null. */
const Message = Schema.NullOr(Json.JsonFromString)

const stampColumns = {
  status: Pipeline.Status,
  message: Message,
  started: OptionalTime,
  completed: OptionalTime
}

const ExecutionRows = Schema.Array(Schema.Struct({
  run_id: Schema.String,
  pipeline_id: Schema.String,
  input_data: Json.JsonFromString,
  created: Time,
  ...stampColumns
}))

const PipelineResultRows = Schema.Array(Schema.Struct({
  id: Schema.String,
  run_id: Schema.String,
  position: Num,
  object: Json.JsonFromString,
  ...stampColumns
}))

const TaskExecutionRows = Schema.Array(Schema.Struct({
  id: Schema.String,
  run_id: Schema.String,
  pipeline_result_id: Schema.String,
  position: Num,
  task_name: Schema.String,
  config: Json.JsonFromString,
  ...stampColumns
}))

const TaskResultRows = Schema.Array(Schema.Struct({
  id: Schema.String,
  run_id: Schema.String,
  task_execution_id: Schema.String,
  position: Num,
  object: Json.JsonFromString,
  ...stampColumns
}))

const NodeRows = Schema.Array(Schema.Struct({
  status: Pipeline.Status,
  parent_id: Schema.NullOr(Schema.String),
  children_total: Schema.NullOr(Num),
  children_final: Schema.NullOr(Num),
  worst_failure: Schema.NullOr(Pipeline.Status)
}))

const DigestRows = Schema.Array(Schema.Struct({
  total: Num,
  successes: Num,
  failures: Num,
  last_ran: OptionalTime,
  average_ms: Schema.NullOr(Num)
}))

const RunIdRows = Schema.Array(Schema.Struct({ run_id: Schema.String }))

/** A MySQL duplicate entry (1062) anywhere in a failure's cause chain. */
const duplicateKey = (cause: unknown): boolean => {
  for (let e = cause, n = 0; e !== null && typeof e === "object" && n < 8; n++) {
    if ((e as { readonly errno?: unknown }).errno === 1062) return true
    e = (e as { readonly cause?: unknown }).cause
  }
  return false
}

const iso = (time: DateTime.Utc | null): string | null => (time === null ? null : DateTime.formatIso(time))
const text = (value: Json.Json): string | null => (value === null ? null : Json.stringify(value))

const EXECUTION_COLUMNS = "run_id, pipeline_id, input_data, created, status, message, started, completed"
const PIPELINE_RESULT_COLUMNS = "id, run_id, position, object, status, message, started, completed"
const TASK_EXECUTION_COLUMNS =
  "id, run_id, pipeline_result_id, position, task_name, config, status, message, started, completed"
const TASK_RESULT_COLUMNS = "id, run_id, task_execution_id, position, object, status, message, started, completed"

const isSqlError = (u: unknown): u is SqlError => u instanceof SqlError

/** MySQL: a run's execution was inserted by another transaction between the check and the insert. */
class RunRace {
  constructor(readonly cause: SqlError) {}
}

const chunks = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

// ---------------------------------------------------------------------------
// driver
// ---------------------------------------------------------------------------

/**
 * What building the store may fail with: bad options, a failed migration,
 * or (read-only) missing tables or a failed check.
 *
 * @since 0.1.0
 * @category errors
 */
export type SetupError =
  | InvalidInput
  | PipelineMigrations.MigrationError
  | SqlMigrations.MissingTables
  | PipelineReadError

/**
 * The driver over the `SqlClient` in context; runs the migrations first
 * unless `migrate: false` (with `readOnly`, checks the tables instead).
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver = (
  options: Options = {}
): Effect.Effect<PipelineDriver, SetupError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const named = PipelineMigrations.tableNames(options.prefix)
    if (Either.isLeft(named)) return yield* named.left
    const t = named.right
    const dialect = internal.dialectOf(sql)
    if (dialect === undefined) {
      return yield* new PipelineMigrations.MigrationError({
        prefix: t.prefix,
        cause: new Error("only PostgreSQL, MySQL / MariaDB and SQLite are supported")
      })
    }
    if (options.readOnly === true) {
      yield* PipelineMigrations.check(t).pipe(
        Effect.catchTag("SqlError", (cause) =>
          Effect.fail(
            new PipelineReadError({ operation: "checking the pipeline tables", id: `${t.prefix}*`, cause })
          ))
      )
    } else if (options.migrate !== false) {
      yield* PipelineMigrations.run(t, { retry: options.retry })
    }
    if (dialect === "sqlite") {
      // Foreign keys are off per connection by default in SQLite.
      yield* sql`PRAGMA foreign_keys = ON`.pipe(
        Effect.mapError((cause) => new PipelineMigrations.MigrationError({ prefix: t.prefix, cause }))
      )
    }

    const transaction = internal.transaction(sql, dialect)
    const lockRows = sql.literal(dialect === "pg" ? "FOR NO KEY UPDATE" : dialect === "mysql" ? "FOR UPDATE" : "")
    const maxParams = dialect === "sqlite" ? 32_766 : 65_535
    // Without statistics SQLite prefers the (run_id, ordinal) index, which saves a sort but reads
    // every task result of the run; the status index reads only the matching ones.
    const byRunAndStatus = sql.literal(dialect === "sqlite" ? `INDEXED BY "${t.prefix}tr_run_status_idx"` : "")
    const runtimeMs = sql.literal(
      dialect === "pg"
        ? "EXTRACT(EPOCH FROM (completed - started)) * 1000"
        : dialect === "mysql"
        // The ISO text as DATETIME(3) values: their difference needs no time zone.
        ? "TIMESTAMPDIFF(MICROSECOND, STR_TO_DATE(started, '%Y-%m-%dT%H:%i:%s.%fZ'), " +
          "STR_TO_DATE(completed, '%Y-%m-%dT%H:%i:%s.%fZ')) / 1000"
        // Exact milliseconds from the fixed-width ISO text (…THH:MM:SS.sssZ): whole seconds + the ms digits.
        : "(strftime('%s', completed) - strftime('%s', started)) * 1000" +
          " + CAST(substr(completed, 21, 3) AS INTEGER) - CAST(substr(started, 21, 3) AS INTEGER)"
    )
    const executions = sql(t.executions)
    const pipelineResults = sql(t.pipelineResults)
    const taskExecutions = sql(t.taskExecutions)
    const taskResults = sql(t.taskResults)
    const columns = {
      execution: sql.literal(EXECUTION_COLUMNS),
      pipelineResult: sql.literal(PIPELINE_RESULT_COLUMNS),
      taskExecution: sql.literal(TASK_EXECUTION_COLUMNS),
      taskResult: sql.literal(TASK_RESULT_COLUMNS)
    }

    const refail = (operation: string) => <A, E, R>(effect: Effect.Effect<A, E, R>) =>
      Effect.mapError(effect, (cause) => new DriverError({ operation, cause }))

    const decodeExecutions = (rows: typeof ExecutionRows.Type): ReadonlyArray<Pipeline.PipelineExecution> =>
      rows.map((r) => ({
        runId: r.run_id,
        pipelineId: r.pipeline_id,
        inputData: r.input_data,
        created: r.created,
        status: r.status,
        message: r.message,
        started: r.started,
        completed: r.completed
      }))
    const decodePipelineResults = (rows: typeof PipelineResultRows.Type): ReadonlyArray<Pipeline.PipelineResult> =>
      rows.map((r) => ({
        id: r.id,
        runId: r.run_id,
        index: r.position,
        object: r.object,
        status: r.status,
        message: r.message,
        started: r.started,
        completed: r.completed
      }))
    const decodeTaskExecutions = (rows: typeof TaskExecutionRows.Type): ReadonlyArray<Pipeline.TaskExecution> =>
      rows.map((r) => ({
        id: r.id,
        runId: r.run_id,
        pipelineResultId: r.pipeline_result_id,
        index: r.position,
        taskName: r.task_name,
        config: r.config,
        status: r.status,
        message: r.message,
        started: r.started,
        completed: r.completed
      }))
    const decodeTaskResults = (rows: typeof TaskResultRows.Type): ReadonlyArray<Pipeline.TaskResult> =>
      rows.map((r) => ({
        id: r.id,
        runId: r.run_id,
        taskExecutionId: r.task_execution_id,
        index: r.position,
        object: r.object,
        status: r.status,
        message: r.message,
        started: r.started,
        completed: r.completed
      }))

    const selectExecutions = (where: ReturnType<typeof sql.and>, order: string) =>
      sql`SELECT ${columns.execution} FROM ${executions} WHERE ${where} ${sql.literal(order)}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(ExecutionRows)),
        Effect.map(decodeExecutions)
      )
    const selectPipelineResults = (where: ReturnType<typeof sql.and>) =>
      sql`SELECT ${columns.pipelineResult} FROM ${pipelineResults} WHERE ${where} ORDER BY run_id, position`.pipe(
        Effect.flatMap(Schema.decodeUnknown(PipelineResultRows)),
        Effect.map(decodePipelineResults)
      )
    const selectTaskExecutions = (where: ReturnType<typeof sql.and>, order: string) =>
      sql`SELECT ${columns.taskExecution} FROM ${taskExecutions} WHERE ${where} ${sql.literal(order)}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(TaskExecutionRows)),
        Effect.map(decodeTaskExecutions)
      )
    const selectTaskResults = (where: ReturnType<typeof sql.and>, order: string, hint = sql.literal("")) =>
      sql`SELECT ${columns.taskResult} FROM ${taskResults} ${hint} WHERE ${where} ${sql.literal(order)}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(TaskResultRows)),
        Effect.map(decodeTaskResults)
      )

    const filter = (column: string, query: ListQuery) =>
      sql.and(
        query.statuses === undefined
          ? [sql`${sql(column)} = ${query.id}`]
          : [sql`${sql(column)} = ${query.id}`, sql`status IN ${sql.in(query.statuses)}`]
      )

    // -- atomic access ------------------------------------------------------

    const lockStatement = (kind: Pipeline.Kind, id: string) => {
      switch (kind) {
        case "PipelineExecution":
          return sql`SELECT status, NULL AS parent_id, children_total, children_final, worst_failure
            FROM ${executions} WHERE run_id = ${id} ${lockRows}`
        case "PipelineResult":
          return sql`SELECT status, run_id AS parent_id, children_total, children_final, worst_failure
            FROM ${pipelineResults} WHERE id = ${id} ${lockRows}`
        case "TaskExecution":
          return sql`SELECT status, pipeline_result_id AS parent_id, children_total, children_final, worst_failure
            FROM ${taskExecutions} WHERE id = ${id} ${lockRows}`
        case "TaskResult":
          return sql`SELECT status, task_execution_id AS parent_id,
              NULL AS children_total, NULL AS children_final, NULL AS worst_failure
            FROM ${taskResults} WHERE id = ${id} ${lockRows}`
      }
    }

    const target = (kind: Pipeline.Kind) => {
      switch (kind) {
        case "PipelineExecution":
          return { table: executions, key: sql("run_id") }
        case "PipelineResult":
          return { table: pipelineResults, key: sql("id") }
        case "TaskExecution":
          return { table: taskExecutions, key: sql("id") }
        case "TaskResult":
          return { table: taskResults, key: sql("id") }
      }
    }

    const stampValues = (status: Pipeline.Status, at: DateTime.Utc, values: Record<string, unknown>) => {
      values.status = status
      if (status === Pipeline.RUNNING) values.started = iso(at)
      if (Pipeline.isFinal(status)) values.completed = iso(at)
      return values
    }

    const parentColumn = (kind: Pipeline.Kind) => {
      switch (kind) {
        case "PipelineExecution":
          return sql.literal("NULL")
        case "PipelineResult":
          return sql.literal("run_id")
        case "TaskExecution":
          return sql.literal("pipeline_result_id")
        case "TaskResult":
          return sql.literal("task_execution_id")
      }
    }

    const AdvancedRows = Schema.Array(Schema.Struct({ parent_id: Schema.NullOr(Schema.String), started: OptionalTime }))

    // One statement where the database returns rows from an UPDATE; on MySQL (no RETURNING) the
    // conditional UPDATE, then, if it matched, the row it changed (locked by it until the transaction ends).
    const advanced = (
      kind: Pipeline.Kind,
      id: string,
      values: Record<string, unknown>,
      from: ReadonlyArray<Pipeline.Status>
    ): Effect.Effect<ReadonlyArray<unknown>, SqlError | ParseResult.ParseError> => {
      const { key, table } = target(kind)
      if (dialect !== "mysql") {
        return sql`UPDATE ${table} SET ${sql.update(values)}
          WHERE ${key} = ${id} AND status IN ${sql.in(from)}
          RETURNING ${parentColumn(kind)} AS parent_id, started`
      }
      return sql`UPDATE ${table} SET ${sql.update(values)} WHERE ${key} = ${id} AND status IN ${sql.in(from)}`.raw.pipe(
        Effect.flatMap(Schema.decodeUnknown(Schema.Struct({ affectedRows: Num }))),
        // The new status is never one of `from`: a matched row is a changed row.
        Effect.flatMap(({ affectedRows }) =>
          affectedRows === 0
            ? Effect.succeed([])
            : sql`SELECT ${parentColumn(kind)} AS parent_id, started FROM ${table} WHERE ${key} = ${id}`
        )
      )
    }

    const access: Access = {
      lock: (kind, id) =>
        lockStatement(kind, id).pipe(
          Effect.flatMap(Schema.decodeUnknown(NodeRows)),
          Effect.map((rows): Node | undefined => {
            const row = rows[0]
            if (row === undefined) return undefined
            return {
              status: row.status,
              parentId: kind === "PipelineExecution" ? null : row.parent_id,
              tally: row.children_total === null
                ? null
                : { total: row.children_total, final: row.children_final ?? 0, worst: row.worst_failure }
            }
          }),
          refail(`lock ${kind}`)
        ),
      update: (kind, id, update: Update) => {
        const values: Record<string, unknown> = {}
        if (update.status !== undefined) stampValues(update.status, update.at, values)
        if (update.message !== undefined) values.message = text(update.message)
        if (update.tally !== undefined) {
          values.children_final = update.tally.final
          values.worst_failure = update.tally.worst
        }
        if (Object.keys(values).length === 0) return Effect.void
        const { key, table } = target(kind)
        return sql`UPDATE ${table} SET ${sql.update(values)} WHERE ${key} = ${id}`.pipe(
          Effect.asVoid,
          refail(`update ${kind}`)
        )
      },
      advance: (kind, id, advance) => {
        if (advance.from.length === 0) return Effect.succeed(undefined)
        const values = stampValues(advance.status, advance.at, {})
        if (advance.message !== undefined) values.message = text(advance.message)
        // One statement: the row lock, the advance rule's check on the latest version, the write.
        return advanced(kind, id, values, advance.from).pipe(
          Effect.flatMap(Schema.decodeUnknown(AdvancedRows)),
          Effect.map((rows): Advanced | undefined => {
            const row = rows[0]
            if (row === undefined) return undefined
            // `started` is set exactly when a record went RUNNING, so it tells which of PENDING/RUNNING it left.
            const previous = advance.from.length === 1
              ? advance.from[0]
              : advance.status === Pipeline.RUNNING || row.started === null
              ? Pipeline.PENDING
              : Pipeline.RUNNING
            return { previous, parentId: kind === "PipelineExecution" ? null : row.parent_id }
          }),
          refail(`advance ${kind}`)
        )
      }
    }

    // -- build --------------------------------------------------------------

    const insertChunked = (
      table: ReturnType<typeof sql>,
      rows: ReadonlyArray<Record<string, unknown>>
    ) => {
      if (rows.length === 0) return Effect.void
      const perRow = Object.keys(rows[0]).length
      return Effect.forEach(
        chunks(rows, Math.max(1, Math.floor(maxParams / perRow))),
        (chunk) => sql`INSERT INTO ${table} ${sql.insert(chunk as Array<Record<string, unknown>>)}`,
        { discard: true }
      )
    }

    const stampColumns = (r: Pipeline.Stamped) => ({
      status: r.status,
      message: text(r.message),
      started: iso(r.started),
      completed: iso(r.completed)
    })
    const tallyColumns = (tally: Pipeline.Tally) => ({
      children_total: tally.total,
      children_final: tally.final,
      worst_failure: tally.worst
    })

    const executionRow = ({ tallies, tree }: Insertion) => {
      const e = tree.execution
      return {
        run_id: e.runId,
        pipeline_id: e.pipelineId,
        input_data: Json.stringify(e.inputData),
        status: e.status,
        message: text(e.message),
        created: iso(e.created),
        started: iso(e.started),
        completed: iso(e.completed),
        ...tallyColumns(tallies.execution)
      }
    }

    // Every record as given: a built tree's children are PENDING with no message or stamps, a
    // restored tree's keep theirs. One multi-row insert per kind for all the runs, chunked.
    const insertChildren = (runs: ReadonlyArray<Insertion>) =>
      Effect.gen(function*() {
        yield* insertChunked(
          pipelineResults,
          runs.flatMap(({ tallies, tree }) =>
            tree.pipelineResults.map((r, i) => ({
              id: r.id,
              run_id: r.runId,
              position: r.index,
              object: Json.stringify(r.object),
              ...stampColumns(r),
              ...tallyColumns(tallies.pipelineResults[i])
            }))
          )
        )
        yield* insertChunked(
          taskExecutions,
          runs.flatMap(({ tallies, tree }) =>
            tree.taskExecutions.map((r, i) => ({
              id: r.id,
              run_id: r.runId,
              pipeline_result_id: r.pipelineResultId,
              position: r.index,
              ordinal: i,
              task_name: r.taskName,
              config: Json.stringify(r.config),
              ...stampColumns(r),
              ...tallyColumns(tallies.taskExecutions[i])
            }))
          )
        )
        yield* insertChunked(
          taskResults,
          runs.flatMap(({ tree }) =>
            tree.taskResults.map((r, i) => ({
              id: r.id,
              run_id: r.runId,
              task_execution_id: r.taskExecutionId,
              position: r.index,
              ordinal: i,
              object: Json.stringify(r.object),
              ...stampColumns(r)
            }))
          )
        )
      })

    // The run ids among `runIds` that are stored; on MySQL their rows stay locked (and the gaps of the
    // others, under REPEATABLE READ) until the transaction ends.
    const storedRunIds = (runIds: ReadonlyArray<string>) =>
      Effect.map(
        Effect.forEach(
          chunks(runIds, maxParams),
          (chunk) =>
            sql`SELECT run_id FROM ${executions} WHERE run_id IN ${sql.in(chunk)} ${
              sql.literal(dialect === "mysql" ? "FOR UPDATE" : "")
            }`.pipe(Effect.flatMap(Schema.decodeUnknown(RunIdRows))),
          { concurrency: 1 }
        ),
        (found) => new Set(found.flat().map((r) => r.run_id))
      )

    // Which runs' executions this call inserted: `ON CONFLICT DO NOTHING RETURNING` where the dialect has it;
    // on MySQL the stored ones are locked and left out, and a duplicate key (a run inserted by someone else
    // in between, under READ COMMITTED) is a `RunRace`, after which the whole transaction is tried again.
    const insertExecutions = (runs: ReadonlyArray<Insertion>) =>
      Effect.gen(function*() {
        const rows = runs.map(executionRow)
        if (dialect === "mysql") {
          const stored = yield* storedRunIds(rows.map((r) => r.run_id))
          const fresh = rows.filter((r) => !stored.has(r.run_id))
          yield* insertChunked(executions, fresh).pipe(
            Effect.catchIf((error) => duplicateKey(error.cause), (error) => Effect.fail(new RunRace(error)))
          )
          return new Set(fresh.map((r) => r.run_id))
        }
        const inserted = yield* Effect.forEach(
          chunks(rows, Math.floor(maxParams / Object.keys(rows[0]).length)),
          (chunk) =>
            sql`INSERT INTO ${executions} ${sql.insert(chunk)} ON CONFLICT (run_id) DO NOTHING RETURNING run_id`.pipe(
              Effect.flatMap(Schema.decodeUnknown(RunIdRows))
            ),
          { concurrency: 1 }
        )
        return new Set(inserted.flat().map((r) => r.run_id))
      })

    const driver: PipelineDriver = {
      kind: dialect === "pg" ? "postgres" : dialect,
      insert: (tree, tallies) =>
        transaction(Effect.gen(function*() {
          const row = sql.insert(executionRow({ tree, tallies }))
          const inserted = dialect === "mysql"
            // No RETURNING: the run exists when its key does (1062, a duplicate entry for the key).
            ? yield* sql`INSERT INTO ${executions} ${row}`.raw.pipe(
              Effect.as(true),
              Effect.catchIf((error) => duplicateKey(error.cause), () => Effect.succeed(false))
            )
            : (yield* sql`INSERT INTO ${executions} ${row} ON CONFLICT (run_id) DO NOTHING RETURNING run_id`).length > 0
          if (!inserted) return false
          yield* insertChildren([{ tree, tallies }])
          return true
        })).pipe(refail("insert")),

      insertMany: (runs) =>
        runs.length === 0
          ? Effect.succeed([])
          : transaction(Effect.gen(function*() {
            const inserted = yield* insertExecutions(runs)
            yield* insertChildren(runs.filter(({ tree }) => inserted.has(tree.execution.runId)))
            return runs.map(({ tree }) => inserted.has(tree.execution.runId))
          })).pipe(
            Effect.retry({ while: (e) => e instanceof RunRace, times: 3 }),
            Effect.mapError((e) => e instanceof RunRace ? e.cause : e),
            refail("insertMany")
          ),

      atomically: (f) =>
        transaction(f(access)).pipe(
          Effect.catchIf(isSqlError, (cause) => Effect.fail(new DriverError({ operation: "transaction", cause })))
        ),

      getExecution: (runId) =>
        selectExecutions(sql.and([sql`run_id = ${runId}`]), "").pipe(
          Effect.map((rows) => rows[0]),
          refail("getExecution")
        ),
      getRuns: (runIds) =>
        Effect.gen(function*() {
          const found = (yield* Effect.forEach(
            chunks(runIds, maxParams),
            (chunk) => selectExecutions(sql.and([sql`run_id IN ${sql.in(chunk)}`]), ""),
            { concurrency: 1 }
          )).flat()
          if (found.length === 0) return runIds.map(() => undefined)
          const stored = found.map((e) => e.runId)
          const byRun = (column: string) => (chunk: ReadonlyArray<string>) => sql.and([sql`${sql(column)} IN ${sql.in(chunk)}`])
          const each = <A>(select: (chunk: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<A>, SqlError | ParseResult.ParseError>) =>
            Effect.map(Effect.forEach(chunks(stored, maxParams), select, { concurrency: 1 }), (rows) => rows.flat())
          const prs = yield* each((chunk) => selectPipelineResults(byRun("run_id")(chunk)))
          const tes = yield* each((chunk) => selectTaskExecutions(byRun("run_id")(chunk), "ORDER BY run_id, ordinal"))
          const trs = yield* each((chunk) => selectTaskResults(byRun("run_id")(chunk), "ORDER BY run_id, ordinal"))
          // Each list is ordered by run, then tree order: grouping keeps each run's records in order.
          const group = <A extends { readonly runId: string }>(records: ReadonlyArray<A>) => {
            const out = new Map<string, Array<A>>()
            for (const record of records) {
              const list = out.get(record.runId)
              if (list === undefined) out.set(record.runId, [record])
              else list.push(record)
            }
            return out
          }
          const [prOf, teOf, trOf] = [group(prs), group(tes), group(trs)]
          const executionOf = new Map(found.map((e) => [e.runId, e] as const))
          return runIds.map((runId): Tree | undefined => {
            const execution = executionOf.get(runId)
            return execution === undefined ? undefined : {
              execution,
              pipelineResults: prOf.get(runId) ?? [],
              taskExecutions: teOf.get(runId) ?? [],
              taskResults: trOf.get(runId) ?? []
            }
          })
        }).pipe(refail("getRuns")),
      getPipelineResult: (id) =>
        selectPipelineResults(sql.and([sql`id = ${id}`])).pipe(Effect.map((rows) => rows[0]), refail("getPipelineResult")),
      getTaskExecution: (id) =>
        selectTaskExecutions(sql.and([sql`id = ${id}`]), "").pipe(
          Effect.map((rows) => rows[0]),
          refail("getTaskExecution")
        ),
      getTaskResult: (id) =>
        selectTaskResults(sql.and([sql`id = ${id}`]), "").pipe(Effect.map((rows) => rows[0]), refail("getTaskResult")),

      listExecutions: (pipelineId) =>
        selectExecutions(sql.and([sql`pipeline_id = ${pipelineId}`]), "ORDER BY created, run_id").pipe(
          refail("listExecutions")
        ),
      listPipelineResults: (query) => selectPipelineResults(filter("run_id", query)).pipe(refail("listPipelineResults")),
      listTaskExecutions: (query) =>
        (query.by === "run"
          ? selectTaskExecutions(filter("run_id", query), "ORDER BY run_id, ordinal")
          : selectTaskExecutions(filter("pipeline_result_id", query), "ORDER BY pipeline_result_id, position")).pipe(
            refail("listTaskExecutions")
          ),
      listTaskResults: (query) =>
        (query.by === "run"
          ? selectTaskResults(
            filter("run_id", query),
            "ORDER BY run_id, ordinal",
            query.statuses === undefined ? undefined : byRunAndStatus
          )
          : selectTaskResults(filter("task_execution_id", query), "ORDER BY task_execution_id, position")).pipe(
            refail("listTaskResults")
          ),

      digest: (pipelineId) =>
        sql`SELECT
            COUNT(*) AS total,
            COALESCE(SUM(CASE WHEN status = ${Pipeline.DONE} THEN 1 ELSE 0 END), 0) AS successes,
            COALESCE(SUM(CASE WHEN status IN ${sql.in(Pipeline.FAILURES)} THEN 1 ELSE 0 END), 0) AS failures,
            MAX(COALESCE(started, created)) AS last_ran,
            AVG(${runtimeMs}) AS average_ms
          FROM ${executions} WHERE pipeline_id = ${pipelineId}`.pipe(
          Effect.flatMap(Schema.decodeUnknown(DigestRows)),
          Effect.map(([row]): Pipeline.Digest => ({
            pipelineId,
            totalRuns: row.total,
            successes: row.successes,
            failures: row.failures,
            lastRan: row.last_ran,
            averageRuntimeMs: row.average_ms
          })),
          refail("digest")
        ),

      cleanup: (before, limit) =>
        transaction(Effect.gen(function*() {
          const cutoff = iso(before)
          const finals = Array.from(Pipeline.FINAL_STATUSES)
          // MySQL locks the runs it picks (no RETURNING below: what it picked is what it removes).
          const candidates = yield* sql`SELECT run_id FROM ${executions}
            WHERE completed < ${cutoff} AND status IN ${sql.in(finals)}
            ORDER BY completed LIMIT ${sql.literal(String(Math.floor(limit)))} ${
            sql.literal(dialect === "mysql" ? "FOR UPDATE" : "")
          }`.pipe(Effect.flatMap(Schema.decodeUnknown(RunIdRows)))
          if (candidates.length === 0) return []
          const ids = candidates.map((r) => r.run_id)
          // Bottom-up, the order reports lock rows in.
          yield* sql`DELETE FROM ${taskResults} WHERE run_id IN ${sql.in(ids)}`
          yield* sql`DELETE FROM ${taskExecutions} WHERE run_id IN ${sql.in(ids)}`
          yield* sql`DELETE FROM ${pipelineResults} WHERE run_id IN ${sql.in(ids)}`
          if (dialect === "mysql") {
            yield* sql`DELETE FROM ${executions} WHERE run_id IN ${sql.in(ids)} AND completed < ${cutoff}`.raw
            return ids
          }
          const removed = yield* sql`DELETE FROM ${executions}
            WHERE run_id IN ${sql.in(ids)} AND completed < ${cutoff} RETURNING run_id`.pipe(
            Effect.flatMap(Schema.decodeUnknown(RunIdRows))
          )
          return removed.map((r) => r.run_id)
        })).pipe(refail("cleanup")),

      isTransient: (error) => internal.isTransientCause(error.cause)
    }
    return driver
  })

/**
 * Builds the service over the `SqlClient` in context.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<PipelineStore.Service, SetupError, SqlClient.SqlClient> =>
  Effect.flatMap(makeDriver(options), (driver) => PipelineStore.make(driver, options))

/**
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<PipelineStore.PipelineStore, SetupError, SqlClient.SqlClient> =>
  Layer.effect(PipelineStore.PipelineStore, make(options))
