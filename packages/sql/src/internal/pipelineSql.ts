/**
 * Dialect helpers shared by the SQL pipeline store and its migrations.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

/** @internal */
export type Dialect = "pg" | "sqlite" | "mysql"

/** @internal */
export const dialectOf = (sql: SqlClient.SqlClient): Dialect | undefined =>
  sql.onDialectOrElse({
    pg: (): Dialect => "pg",
    sqlite: (): Dialect => "sqlite",
    mysql: (): Dialect => "mysql",
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

/**
 * A transaction whose failed COMMIT or ROLLBACK (a connection lost mid-way),
 * which `@effect/sql` turns into a defect, fails with its `SqlError` instead:
 * the caller's retry policy sees a lost connection like any other.
 *
 * @internal
 */
export const transaction = (sql: SqlClient.SqlClient, dialect: Dialect): Transaction => {
  const run: Transaction = dialect === "sqlite" ? immediate(sql) : sql.withTransaction
  return (effect) =>
    Effect.catchSomeDefect(run(effect), (defect) => defect instanceof SqlError ? Option.some(Effect.fail(defect)) : Option.none())
}

/**
 * Whether an error (or anything in its `cause` chain) is a transient
 * database failure: worth retrying the whole transaction.
 *
 * @internal
 */
export { isTransientCause } from "./classify.js"
