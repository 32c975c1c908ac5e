/**
 * Dialect helpers shared by the SQL pipeline store and its migrations.
 *
 * (The task-result backend has its own transient classifier; the two should
 * be merged into one module when both have landed.)
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"

/** @internal */
export type Dialect = "pg" | "sqlite"

/** @internal */
export const dialectOf = (sql: SqlClient.SqlClient): Dialect | undefined =>
  sql.onDialectOrElse({
    pg: (): Dialect => "pg",
    sqlite: (): Dialect => "sqlite",
    orElse: () => undefined
  })

/** @internal */
export type Transaction = <A, E, R>(effect: Effect.Effect<A, E, R>) => Effect.Effect<A, E | SqlError, R>

/**
 * A transaction that takes SQLite's write lock up front (`BEGIN IMMEDIATE`),
 * so two processes never both read and then fail to upgrade to a write lock.
 * Nested uses become savepoints, like `withTransaction`.
 */
const immediate = (sql: SqlClient.SqlClient): Transaction =>
  SqlClient.makeWithTransaction({
    transactionTag: SqlClient.TransactionConnection,
    spanAttributes: [["db.system.name", "sqlite"]],
    acquireConnection: Effect.flatMap(
      Scope.make(),
      (scope) => Effect.map(Scope.extend(sql.reserve, scope), (conn) => [scope, conn] as const)
    ),
    begin: (conn) => conn.executeUnprepared("BEGIN IMMEDIATE", [], undefined),
    savepoint: (conn, id) => conn.executeUnprepared(`SAVEPOINT effect_sql_${id}`, [], undefined),
    commit: (conn) => conn.executeUnprepared("COMMIT", [], undefined),
    rollback: (conn) => conn.executeUnprepared("ROLLBACK", [], undefined),
    rollbackSavepoint: (conn, id) => conn.executeUnprepared(`ROLLBACK TO SAVEPOINT effect_sql_${id}`, [], undefined)
  })

/** @internal */
export const transaction = (sql: SqlClient.SqlClient, dialect: Dialect): Transaction =>
  dialect === "pg" ? sql.withTransaction : immediate(sql)

// PostgreSQL: serialization failure, deadlock, admin/crash shutdown, cannot
// connect now, too many connections, connection exceptions.
const PG_TRANSIENT = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "53300", "08000", "08001", "08003", "08004", "08006"])
const NET_TRANSIENT = new Set(["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"])
const LOST = /connection terminated|connection timeout|terminating connection|server closed the connection/i

/**
 * Whether an error (or anything in its `cause` chain) is a transient
 * database failure: worth retrying the whole transaction.
 *
 * @internal
 */
export const isTransientCause = (error: unknown): boolean => {
  let current: unknown = error
  for (let depth = 0; depth < 6 && typeof current === "object" && current !== null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") {
      if (PG_TRANSIENT.has(code) || NET_TRANSIENT.has(code)) return true
      if (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED")) return true
    }
    const message = (current as { readonly message?: unknown }).message
    if (typeof message === "string" && LOST.test(message)) return true
    current = (current as { readonly cause?: unknown }).cause
  }
  return false
}
