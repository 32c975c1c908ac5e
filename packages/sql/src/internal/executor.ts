/**
 * The hot statements' way to the database: the driver itself, without
 * `@effect/sql`'s per-statement work (statement compile, span, connection
 * acquire), which costs more than a SQLite read by id. Everything else (the
 * migrations, cleanup, groups, transactions, the pipeline store) goes through
 * the `SqlClient`.
 */
import type { SqlError } from "@effect/sql/SqlError"
import type * as Effect from "effect/Effect"

/** @internal */
export interface Executor {
  /** Runs one statement (its text always the same for the same shape); the rows as objects. */
  readonly run: (text: string, params: ReadonlyArray<unknown>) => Effect.Effect<ReadonlyArray<Record<string, unknown>>, SqlError>
  /**
   * A synchronous driver (SQLite) runs a read of one row by one parameter
   * (a read by a unique key) at once: the row as an array of column values,
   * in the statement's column order, `null` when there is none, or
   * `undefined` when it cannot (inside a transaction) or the statement failed
   * (`run` repeats it and reports the failure).
   */
  readonly firstNow?: ((text: string, param: unknown) => ReadonlyArray<unknown> | null | undefined) | undefined
  /** Like `firstNow` for a statement returning no rows: how many rows it changed. */
  readonly changeNow?: ((text: string, params: ReadonlyArray<unknown>) => number | undefined) | undefined
}
