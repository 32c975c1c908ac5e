import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"

export const PG = process.env.TASKMETA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** Drops a test's PostgreSQL schema, through a client of the test's own. */
export const dropPgSchema = async (schema: string) => {
  const url = Either.getOrThrow(BackendUrl.parse(PG))
  if (url._tag !== "Postgres") return
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
      Effect.provide(Stores.clientLayer(url))
    )
  )
}

/** The MySQL / MariaDB server (no database): tests create a database of their own. */
export const MYSQL = process.env.TASKMETA_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306"

/** Runs one statement on the server's `mysql` database, through a client of the test's own. */
export const mysqlAdmin = async (statement: string) => {
  const url = Either.getOrThrow(BackendUrl.parse(`${MYSQL.replace(/\/$/, "")}/mysql`))
  if (url._tag !== "Mysql") return
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(Effect.provide(Stores.clientLayer(url)))
  )
}
