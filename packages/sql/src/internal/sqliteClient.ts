/**
 * taskmeta's SQLite client: an `@effect/sql` `SqlClient` built with
 * `SqlClient.make` over one better-sqlite3 connection (as
 * `@effect/sql-sqlite-node` builds its own), plus an `Executor` that runs the
 * backend's hot statements on that connection synchronously.
 *
 * Why not `@effect/sql-sqlite-node`'s client: it does not expose its
 * connection, and every statement through it pays a statement compile, a
 * span, a semaphore and an Effect `Cache` lookup (about 40 µs against the
 * 6 µs better-sqlite3 needs to read a row by id). Its prepared-statement
 * cache also kept a failed prepare ("no such table" while a table was being
 * replaced) for the cache's whole time to live; here a failed prepare is not
 * cached and a statement that fails is prepared afresh next time.
 *
 * One connection serves everything. A transaction holds the client's
 * semaphore for its whole scope (other statements wait for it); the executor
 * runs at once when the connection is not inside a transaction
 * (`db.inTransaction`), and waits for the semaphore otherwise, so a write
 * never lands inside someone else's transaction.
 */
import type * as Reactivity from "@effect/experimental/Reactivity"
import * as Client from "@effect/sql/SqlClient"
import type { Connection } from "@effect/sql/SqlConnection"
import { SqlError } from "@effect/sql/SqlError"
import * as Statement from "@effect/sql/Statement"
import Sqlite from "better-sqlite3"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Executor } from "./executor.js"

/** @internal */
export interface Options {
  readonly filename: string
  readonly readonly?: boolean | undefined
  /** Prepared statements kept (least recently prepared dropped first). Default 200. */
  readonly statementCacheSize?: number | undefined
  readonly spanAttributes?: Record<string, unknown> | undefined
}

/** @internal */
export interface SqliteClient {
  readonly client: Client.SqlClient
  readonly executor: Executor
  readonly db: Sqlite.Database
}

type Row = Record<string, unknown>

/** @internal */
export const make = (options: Options): Effect.Effect<SqliteClient, SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => new Sqlite(options.filename, { readonly: options.readonly ?? false }),
        catch: (cause) => new SqlError({ cause, message: `Failed to open ${options.filename}` })
      }),
      (db) => Effect.sync(() => db.close())
    )
    yield* Effect.try({
      try: () => db.pragma("journal_mode = WAL"),
      catch: (cause) => new SqlError({ cause, message: "Failed to set the WAL journal" })
    })

    const capacity = Math.max(1, options.statementCacheSize ?? 200)
    /** A bounded cache of prepared statements; a prepare that throws is not cached. */
    const statementCache = (raw = false) => {
      const statements = new Map<string, Sqlite.Statement>()
      return {
        prepare: (text: string): Sqlite.Statement => {
          let statement = statements.get(text)
          if (statement === undefined) {
            statement = db.prepare(text)
            if (raw && statement.reader) statement.raw(true)
            if (statements.size >= capacity) statements.delete(statements.keys().next().value!)
            statements.set(text, statement)
          }
          return statement
        },
        forget: (text: string): void => {
          statements.delete(text)
        }
      }
    }
    const statements = statementCache()
    const prepare = statements.prepare
    /** Runs a statement now; throws what better-sqlite3 throws. */
    const runNow = (text: string, params: ReadonlyArray<unknown>, safeIntegers: boolean, raw: boolean): unknown => {
      const statement = prepare(text)
      try {
        statement.safeIntegers(safeIntegers)
        if (statement.reader) return statement.all(...params)
        const info = statement.run(...params)
        return raw ? info : []
      } catch (cause) {
        statements.forget(text)
        throw cause
      }
    }
    const execute = (text: string, params: ReadonlyArray<unknown>, raw: boolean) =>
      Effect.withFiberRuntime<any, SqlError>((fiber) => {
        try {
          return Effect.succeed(runNow(text, params, Context.get(fiber.currentContext, Client.SafeIntegers), raw))
        } catch (cause) {
          return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
        }
      })

    const connection: Connection = {
      execute: (text, params, transformRows) =>
        transformRows ? Effect.map(execute(text, params, false), transformRows) : execute(text, params, false),
      executeRaw: (text, params) => execute(text, params, true),
      executeValues: (text, params) =>
        Effect.try({
          try: () => {
            const statement = db.prepare(text)
            if (!statement.reader) {
              statement.run(...params)
              return []
            }
            return statement.raw(true).all(...params) as ReadonlyArray<ReadonlyArray<unknown>>
          },
          catch: (cause) => new SqlError({ cause, message: "Failed to execute statement" })
        }),
      executeUnprepared: (text, params, transformRows) => {
        const effect = Effect.withFiberRuntime<Array<any>, SqlError>((fiber) => {
          try {
            const statement = db.prepare(text)
            statement.safeIntegers(Context.get(fiber.currentContext, Client.SafeIntegers))
            const values = params ?? []
            return Effect.succeed(statement.reader ? statement.all(...values) : (statement.run(...values), []))
          } catch (cause) {
            return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
          }
        })
        return transformRows ? Effect.map(effect, transformRows) : effect
      },
      executeStream: () => Effect.dieMessage("executeStream is not implemented for SQLite") as never
    }

    const semaphore = yield* Effect.makeSemaphore(1)
    const acquirer = semaphore.withPermits(1)(Effect.succeed(connection))
    const transactionAcquirer = Effect.uninterruptibleMask((restore) =>
      Effect.as(
        Effect.zipRight(
          restore(semaphore.take(1)),
          Effect.tap(Effect.scope, (scope) => Scope.addFinalizer(scope, semaphore.release(1)))
        ),
        connection
      )
    )
    const client = yield* Client.make({
      acquirer,
      transactionAcquirer,
      compiler: Statement.makeCompilerSqlite(),
      spanAttributes: [
        ...(options.spanAttributes ? Object.entries(options.spanAttributes) : []),
        ["db.system.name", "sqlite"]
      ]
    })

    // The executor's statements have a cache of their own: they never use
    // safe integers, so they need no per-run toggle.
    const hotStatements = statementCache()
    const direct = (text: string, params: ReadonlyArray<unknown>): Effect.Effect<ReadonlyArray<Row>, SqlError> => {
      try {
        const statement = hotStatements.prepare(text)
        return Effect.succeed(
          (statement.reader ? statement.all(...params) : (statement.run(...params), [])) as ReadonlyArray<Row>
        )
      } catch (cause) {
        hotStatements.forget(text)
        return Effect.fail(new SqlError({ cause, message: "Failed to execute statement" }))
      }
    }
    // Rows as arrays (better-sqlite3's raw mode): cheaper to build than objects.
    const rawStatements = statementCache(true)
    // The immediate statements run at once, outside any transaction: they
    // answer `undefined` inside one or when the statement throws (written
    // out twice rather than sharing a helper taking a closure: they run on
    // every read by id and every lone write).
    const firstNow = (text: string, param: unknown): ReadonlyArray<unknown> | null | undefined => {
      if (db.inTransaction) return undefined
      try {
        return (rawStatements.prepare(text).get(param) as ReadonlyArray<unknown> | undefined) ?? null
      } catch {
        rawStatements.forget(text)
        return undefined
      }
    }
    const changeNow = (text: string, params: ReadonlyArray<unknown>): number | undefined => {
      if (db.inTransaction) return undefined
      try {
        return rawStatements.prepare(text).run(...params).changes
      } catch {
        rawStatements.forget(text)
        return undefined
      }
    }
    const executor: Executor = {
      run: (text, params) =>
        Effect.suspend(() =>
          db.inTransaction ? semaphore.withPermits(1)(Effect.suspend(() => direct(text, params))) : direct(text, params)
        ),
      firstNow,
      changeNow
    }
    return { client, executor, db }
  })
