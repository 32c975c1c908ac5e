/**
 * What a database already holds, read from its catalog without changing
 * anything: whether a PostgreSQL schema exists, which columns a table has.
 * The read-only checks of `SqlMigrations.check` and `PipelineMigrations.check`.
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import * as TableNames from "../TableNames.js"

const NameRows = Schema.Array(Schema.Struct({ name: Schema.NullOr(Schema.String) }))

const names = (rows: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<string>, SqlError> =>
  Schema.decodeUnknown(NameRows)(rows).pipe(
    Effect.map((decoded) => decoded.flatMap((row) => (row.name === null ? [] : [row.name]))),
    Effect.mapError((cause) => new SqlError({ message: "unexpected rows from the catalog", cause }))
  )

/** Where unqualified names resolve. */
export interface Where {
  /** The schema asked for, else the first existing schema of the `search_path`. */
  readonly schema: string | undefined
  readonly exists: boolean
}

/**
 * PostgreSQL: whether `schema` exists; without one, the `search_path`'s
 * current schema (none when no schema of the path exists). SQLite has no
 * schemas: always there.
 *
 * @internal
 */
export const where = (
  sql: SqlClient.SqlClient,
  schema: string | undefined
): Effect.Effect<Where, SqlError> =>
  sql.onDialectOrElse({
    pg: () =>
      Effect.map(
        Effect.flatMap(
          schema === undefined
            ? sql`SELECT current_schema() AS name`
            : sql`SELECT nspname AS name FROM pg_namespace WHERE nspname = ${schema}`,
          names
        ),
        (found): Where => ({ schema: schema ?? found[0], exists: found.length > 0 })
      ),
    // MySQL's schemas are its databases; without one, the connection's own.
    mysql: () =>
      Effect.map(
        Effect.flatMap(
          schema === undefined
            ? sql`SELECT DATABASE() AS name`
            : sql`SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ${schema}`,
          names
        ),
        (found): Where => ({ schema: schema ?? found[0], exists: found.length > 0 && found[0] !== null })
      ),
    orElse: () => Effect.succeed<Where>({ schema: undefined, exists: true })
  })

/**
 * The columns of a table (none when it does not exist): `name` unqualified,
 * in `schema` on PostgreSQL when given (else where the `search_path` finds it).
 *
 * @internal
 */
export const columns = (
  sql: SqlClient.SqlClient,
  schema: string | undefined,
  name: string
): Effect.Effect<ReadonlyArray<string>, SqlError> =>
  Effect.flatMap(
    sql.onDialectOrElse({
      // `to_regclass` is NULL for a missing relation (no error), so the query finds no rows.
      pg: () =>
        sql`SELECT attname AS name FROM pg_attribute WHERE attrelid = to_regclass(${
          schema === undefined ? TableNames.quote(name) : `${TableNames.quote(schema)}.${TableNames.quote(name)}`
        }) AND attnum > 0 AND NOT attisdropped`,
      mysql: () =>
        schema === undefined
          ? sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ${name}`
          : sql`SELECT COLUMN_NAME AS name FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ${schema} AND TABLE_NAME = ${name}`,
      orElse: () => sql`SELECT name FROM pragma_table_info(${name})`
    }),
    names
  )
