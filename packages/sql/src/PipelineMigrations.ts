/**
 * The tables of the SQL `PipelineStore` and their versioned migrations.
 *
 * Four tables (one per record kind) plus a migrations table, all named with
 * a configurable prefix. `run` applies the missing versions in one
 * transaction: on PostgreSQL under a transaction-level advisory lock, on
 * SQLite under `BEGIN IMMEDIATE`, so processes starting at once apply each
 * version exactly once and never see half a schema. Running it again is a
 * no-op.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { InvalidInput } from "@taskmeta/core/BackendError"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import { MYSQL_LOCK_WAIT, waitForMysqlLock } from "./internal/mysqlLock.js"
import * as internal from "./internal/pipelineSql.js"
import * as SqlMigrations from "./SqlMigrations.js"

/**
 * The prefix used when none is configured.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_PREFIX = "taskmeta_"

/**
 * The longest prefix: every table and index name stays under PostgreSQL's
 * 63-byte identifier limit.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_PREFIX_LENGTH = 40

/**
 * @since 0.1.0
 * @category models
 */
export interface TableNames {
  readonly prefix: string
  readonly executions: string
  readonly pipelineResults: string
  readonly taskExecutions: string
  readonly taskResults: string
  readonly migrations: string
}

const PREFIX = /^[a-z_][a-z0-9_]*$/

/**
 * The table names for a prefix: lower-case letters, digits and `_`, not
 * starting with a digit, at most 40 characters (or empty).
 *
 * @since 0.1.0
 * @category tables
 */
export const tableNames = (prefix: string = DEFAULT_PREFIX): Either.Either<TableNames, InvalidInput> => {
  if (typeof prefix !== "string") return Either.left(new InvalidInput({ field: "prefix", reason: "must be a string" }))
  if (prefix.length > MAX_PREFIX_LENGTH) {
    return Either.left(
      new InvalidInput({ field: "prefix", reason: `is ${prefix.length} characters, at most ${MAX_PREFIX_LENGTH} fit` })
    )
  }
  if (prefix !== "" && !PREFIX.test(prefix)) {
    return Either.left(
      new InvalidInput({
        field: "prefix",
        reason: "must be lower-case letters, digits and _, not starting with a digit",
        id: prefix
      })
    )
  }
  return Either.right({
    prefix,
    executions: `${prefix}pipeline_executions`,
    pipelineResults: `${prefix}pipeline_results`,
    taskExecutions: `${prefix}task_executions`,
    taskResults: `${prefix}task_results`,
    migrations: `${prefix}pipeline_migrations`
  })
}

/**
 * A migration failed; nothing of it (or of later versions) was applied.
 *
 * @since 0.1.0
 * @category errors
 */
export class MigrationError extends Schema.TaggedError<MigrationError>("@taskmeta/sql/PipelineMigrationError")(
  "PipelineMigrationError",
  {
    prefix: Schema.String,
    cause: Schema.Defect
  }
) {
  override get message(): string {
    const cause = this.cause instanceof Error ? this.cause.message : String(this.cause)
    return `migrating the pipeline tables ${this.prefix}* failed: ${cause}`
  }
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Migration {
  readonly version: number
  readonly name: string
  readonly up: (
    sql: SqlClient.SqlClient,
    names: TableNames,
    dialect: "pg" | "sqlite" | "mysql"
  ) => ReadonlyArray<Effect.Effect<unknown, SqlError>>
}

const statusCheck = `CHECK (status IN (${Pipeline.STATUSES.map((s) => `'${s}'`).join(", ")}))`

/**
 * Migration 1 on MySQL / MariaDB: the same tables, with timestamps as fixed-width
 * ISO text (`varchar(32)`, ordered as instants), JSON in `mediumtext`, table-level
 * foreign keys (MySQL ignores them written on a column), InnoDB, utf8mb4 with
 * ids in a binary collation. Indexes are created plainly: the migration holds
 * `GET_LOCK` and runs once.
 */
const mysqlTables = (sql: SqlClient.SqlClient, t: TableNames): ReadonlyArray<Effect.Effect<unknown, SqlError>> => {
  const ts = sql.literal("varchar(32)")
  const json = sql.literal("mediumtext")
  const id = (length: number) => sql.literal(`varchar(${length}) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`)
  const check = sql.literal(statusCheck)
  const worstCheck = sql.literal(
    `CHECK (worst_failure IS NULL OR worst_failure IN (${Pipeline.FAILURES.map((s) => `'${s}'`).join(", ")}))`
  )
  const options = sql.literal("ENGINE=InnoDB DEFAULT CHARSET=utf8mb4")
  const index = (name: string) => sql(`${t.prefix}${name}`)
  const cascade = (column: string, table: string, key: string) =>
    sql`FOREIGN KEY (${sql(column)}) REFERENCES ${sql(table)} (${sql(key)}) ON DELETE CASCADE`
  return [
    sql`CREATE TABLE IF NOT EXISTS ${sql(t.executions)} (
      run_id ${id(155)} NOT NULL PRIMARY KEY,
      pipeline_id ${id(155)} NOT NULL,
      input_data ${json} NOT NULL,
      status varchar(16) NOT NULL ${check},
      message ${json} NULL,
      created ${ts} NOT NULL,
      started ${ts} NULL,
      completed ${ts} NULL,
      children_total integer NOT NULL,
      children_final integer NOT NULL DEFAULT 0,
      worst_failure varchar(16) NULL ${worstCheck},
      INDEX ${index("pe_pipeline_idx")} (pipeline_id, created),
      INDEX ${index("pe_completed_idx")} (completed)
    ) ${options}`,
    sql`CREATE TABLE IF NOT EXISTS ${sql(t.pipelineResults)} (
      id ${id(255)} NOT NULL PRIMARY KEY,
      run_id ${id(155)} NOT NULL,
      position integer NOT NULL,
      object ${json} NOT NULL,
      status varchar(16) NOT NULL ${check},
      message ${json} NULL,
      started ${ts} NULL,
      completed ${ts} NULL,
      children_total integer NOT NULL,
      children_final integer NOT NULL DEFAULT 0,
      worst_failure varchar(16) NULL ${worstCheck},
      UNIQUE INDEX ${index("pr_run_idx")} (run_id, position),
      ${cascade("run_id", t.executions, "run_id")}
    ) ${options}`,
    sql`CREATE TABLE IF NOT EXISTS ${sql(t.taskExecutions)} (
      id ${id(255)} NOT NULL PRIMARY KEY,
      run_id ${id(155)} NOT NULL,
      pipeline_result_id ${id(255)} NOT NULL,
      position integer NOT NULL,
      ordinal integer NOT NULL,
      task_name varchar(155) NOT NULL,
      config ${json} NOT NULL,
      status varchar(16) NOT NULL ${check},
      message ${json} NULL,
      started ${ts} NULL,
      completed ${ts} NULL,
      children_total integer NOT NULL,
      children_final integer NOT NULL DEFAULT 0,
      worst_failure varchar(16) NULL ${worstCheck},
      UNIQUE INDEX ${index("te_run_idx")} (run_id, ordinal),
      INDEX ${index("te_parent_idx")} (pipeline_result_id, position),
      ${cascade("run_id", t.executions, "run_id")},
      ${cascade("pipeline_result_id", t.pipelineResults, "id")}
    ) ${options}`,
    sql`CREATE TABLE IF NOT EXISTS ${sql(t.taskResults)} (
      id ${id(255)} NOT NULL PRIMARY KEY,
      run_id ${id(155)} NOT NULL,
      task_execution_id ${id(255)} NOT NULL,
      position integer NOT NULL,
      ordinal integer NOT NULL,
      object ${json} NOT NULL,
      status varchar(16) NOT NULL ${check},
      message ${json} NULL,
      started ${ts} NULL,
      completed ${ts} NULL,
      UNIQUE INDEX ${index("tr_run_idx")} (run_id, ordinal),
      INDEX ${index("tr_parent_idx")} (task_execution_id, position),
      INDEX ${index("tr_run_status_idx")} (run_id, status, ordinal),
      ${cascade("run_id", t.executions, "run_id")},
      ${cascade("task_execution_id", t.taskExecutions, "id")}
    ) ${options}`
  ]
}

/**
 * The migrations, in order. Never edit a released one; add a version.
 *
 * @since 0.1.0
 * @category migrations
 */
export const migrations: ReadonlyArray<Migration> = [
  {
    version: 1,
    name: "pipeline tables",
    up: (sql, t, dialect) => {
      if (dialect === "mysql") return mysqlTables(sql, t)
      const ts = sql.literal(dialect === "pg" ? "timestamptz" : "text")
      const check = sql.literal(statusCheck)
      const worstCheck = sql.literal(
        `CHECK (worst_failure IS NULL OR worst_failure IN (${Pipeline.FAILURES.map((s) => `'${s}'`).join(", ")}))`
      )
      const p = t.prefix
      const index = (name: string) => sql(`${p}${name}`)
      return [
        sql`CREATE TABLE IF NOT EXISTS ${sql(t.executions)} (
          run_id varchar(155) NOT NULL PRIMARY KEY,
          pipeline_id varchar(155) NOT NULL,
          input_data text NOT NULL,
          status varchar(16) NOT NULL ${check},
          message text NULL,
          created ${ts} NOT NULL,
          started ${ts} NULL,
          completed ${ts} NULL,
          children_total integer NOT NULL,
          children_final integer NOT NULL DEFAULT 0,
          worst_failure varchar(16) NULL ${worstCheck}
        )`,
        sql`CREATE INDEX IF NOT EXISTS ${index("pe_pipeline_idx")} ON ${sql(t.executions)} (pipeline_id, created)`,
        sql`CREATE INDEX IF NOT EXISTS ${index("pe_completed_idx")} ON ${sql(t.executions)} (completed)`,
        sql`CREATE TABLE IF NOT EXISTS ${sql(t.pipelineResults)} (
          id varchar(255) NOT NULL PRIMARY KEY,
          run_id varchar(155) NOT NULL REFERENCES ${sql(t.executions)} (run_id) ON DELETE CASCADE,
          position integer NOT NULL,
          object text NOT NULL,
          status varchar(16) NOT NULL ${check},
          message text NULL,
          started ${ts} NULL,
          completed ${ts} NULL,
          children_total integer NOT NULL,
          children_final integer NOT NULL DEFAULT 0,
          worst_failure varchar(16) NULL ${worstCheck}
        )`,
        sql`CREATE UNIQUE INDEX IF NOT EXISTS ${index("pr_run_idx")} ON ${sql(t.pipelineResults)} (run_id, position)`,
        sql`CREATE TABLE IF NOT EXISTS ${sql(t.taskExecutions)} (
          id varchar(255) NOT NULL PRIMARY KEY,
          run_id varchar(155) NOT NULL REFERENCES ${sql(t.executions)} (run_id) ON DELETE CASCADE,
          pipeline_result_id varchar(255) NOT NULL REFERENCES ${sql(t.pipelineResults)} (id) ON DELETE CASCADE,
          position integer NOT NULL,
          ordinal integer NOT NULL,
          task_name varchar(155) NOT NULL,
          config text NOT NULL,
          status varchar(16) NOT NULL ${check},
          message text NULL,
          started ${ts} NULL,
          completed ${ts} NULL,
          children_total integer NOT NULL,
          children_final integer NOT NULL DEFAULT 0,
          worst_failure varchar(16) NULL ${worstCheck}
        )`,
        sql`CREATE UNIQUE INDEX IF NOT EXISTS ${index("te_run_idx")} ON ${sql(t.taskExecutions)} (run_id, ordinal)`,
        sql`CREATE INDEX IF NOT EXISTS ${index("te_parent_idx")} ON ${sql(t.taskExecutions)} (pipeline_result_id, position)`,
        sql`CREATE TABLE IF NOT EXISTS ${sql(t.taskResults)} (
          id varchar(255) NOT NULL PRIMARY KEY,
          run_id varchar(155) NOT NULL REFERENCES ${sql(t.executions)} (run_id) ON DELETE CASCADE,
          task_execution_id varchar(255) NOT NULL REFERENCES ${sql(t.taskExecutions)} (id) ON DELETE CASCADE,
          position integer NOT NULL,
          ordinal integer NOT NULL,
          object text NOT NULL,
          status varchar(16) NOT NULL ${check},
          message text NULL,
          started ${ts} NULL,
          completed ${ts} NULL
        )`,
        sql`CREATE UNIQUE INDEX IF NOT EXISTS ${index("tr_run_idx")} ON ${sql(t.taskResults)} (run_id, ordinal)`,
        sql`CREATE INDEX IF NOT EXISTS ${index("tr_parent_idx")} ON ${sql(t.taskResults)} (task_execution_id, position)`,
        sql`CREATE INDEX IF NOT EXISTS ${index("tr_run_status_idx")} ON ${sql(t.taskResults)} (run_id, status, ordinal)`
      ]
    }
  }
]

/**
 * The latest schema version.
 *
 * @since 0.1.0
 * @category migrations
 */
export const LATEST_VERSION = migrations[migrations.length - 1].version

const Locked = Schema.Array(Schema.Struct({ locked: Schema.NullOr(Schema.Union(Schema.Number, Schema.NumberFromString)) }))

const Versions = Schema.Array(Schema.Struct({ version: Schema.Union(Schema.Number, Schema.NumberFromString) }))

/**
 * Applies the missing migrations and returns the versions it applied (empty
 * when the schema was up to date).
 *
 * @since 0.1.0
 * @category migrations
 */
export const run = (
  names: TableNames,
  options: { readonly retry?: RetryPolicy.Settings | undefined } = {}
): Effect.Effect<ReadonlyArray<number>, MigrationError, SqlClient.SqlClient> =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const dialect = internal.dialectOf(sql)
    if (dialect === undefined) {
      return yield* new MigrationError({
        prefix: names.prefix,
        cause: new Error("only PostgreSQL, MySQL / MariaDB and SQLite are supported")
      })
    }
    const migrate = Effect.gen(function*() {
      if (dialect === "pg") {
        // Serialises concurrent migrators until this transaction ends.
        yield* sql`SELECT pg_advisory_xact_lock(hashtext(${`taskmeta:${names.migrations}`}))`
      }
      yield* sql`CREATE TABLE IF NOT EXISTS ${sql(names.migrations)} (
        version integer NOT NULL PRIMARY KEY,
        name varchar(155) NOT NULL,
        applied ${sql.literal(dialect === "pg" ? "timestamptz" : dialect === "mysql" ? "varchar(40)" : "text")} NOT NULL
      )`
      const rows = yield* sql`SELECT version FROM ${sql(names.migrations)}`.pipe(
        Effect.flatMap(Schema.decodeUnknown(Versions))
      )
      const done = new Set(rows.map((r) => r.version))
      const applied: Array<number> = []
      for (const migration of migrations) {
        if (done.has(migration.version)) continue
        for (const statement of migration.up(sql, names, dialect)) yield* statement
        const now = DateTime.formatIso(yield* DateTime.now)
        yield* sql`INSERT INTO ${sql(names.migrations)} ${
          sql.insert({ version: migration.version, name: migration.name, applied: now })
        }`
        applied.push(migration.version)
      }
      return applied
    })
    // MySQL: DDL commits at once, so the transaction holds nothing; the run holds a named lock on its
    // connection instead (released at the end, or by the server if the connection dies).
    const lock = `taskmeta:${names.migrations}`.slice(0, 64)
    const apply = dialect !== "mysql" ? migrate : Effect.acquireUseRelease(
      Effect.flatMap(
        waitForMysqlLock((seconds) =>
          sql`SELECT GET_LOCK(${lock}, ${seconds}) AS locked`.pipe(
            Effect.flatMap(Schema.decodeUnknown(Locked)),
            Effect.map(([row]) => row?.locked === 1)
          )
        ),
        (locked) => locked ? Effect.void : Effect.fail(new Error(`could not take the lock ${lock} within ${MYSQL_LOCK_WAIT} s`))
      ),
      () => migrate,
      () => Effect.ignoreLogged(sql`SELECT RELEASE_LOCK(${lock})`)
    )
    const transaction = internal.transaction(sql, dialect)
    const retry = RetryPolicy.retryTransient<unknown>(options.retry ?? RetryPolicy.defaults, internal.isTransientCause)
    return yield* retry(transaction(apply)).pipe(
      Effect.mapError((cause) => new MigrationError({ prefix: names.prefix, cause })),
      Effect.withSpan("PipelineMigrations.run", { attributes: { prefix: names.prefix } })
    )
  })

/**
 * Checks, without changing anything, that the four pipeline tables exist
 * (in the `search_path` on PostgreSQL): what a read-only store does instead
 * of `run`. Fails with `SqlMigrations.MissingTables` naming the missing ones.
 *
 * @since 0.1.0
 * @category migrations
 */
export const check = (
  names: TableNames
): Effect.Effect<void, SqlMigrations.MissingTables | SqlError, SqlClient.SqlClient> =>
  SqlMigrations.checkTables(
    undefined,
    [names.executions, names.pipelineResults, names.taskExecutions, names.taskResults].map((table) =>
      [table, []] as const
    )
  ).pipe(Effect.withSpan("PipelineMigrations.check", { attributes: { prefix: names.prefix } }))
