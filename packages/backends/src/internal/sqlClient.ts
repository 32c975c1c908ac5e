/**
 * A `SqlClient` for the browser, on the database a SQL backend uses: one
 * extra SQLite connection (made as the backend makes its own), or a small
 * PostgreSQL pool (two connections, the schema as its search_path).
 */
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import * as SqlMigrations from "@taskmeta/sql/SqlMigrations"
import * as Effect from "effect/Effect"
import * as Schedule from "effect/Schedule"
import * as Redacted from "effect/Redacted"
import * as PgClient from "@effect/sql-pg/PgClient"

/**
 * A client on a SQLite file, configured as the SQLite backend's own.
 */
export const sqlite = (filename: string) => SqliteBackend.makeClient({ filename })

/**
 * A small pool on a PostgreSQL database; with `schema`, its connections
 * use it as their `search_path` (it is created when missing).
 */
export const pg = (url: Redacted.Redacted<string>, schema: string | undefined) =>
  Effect.gen(function*() {
    const client = yield* PgClient.make({
      url: schema === undefined ? url : withSearchPath(url, schema),
      maxConnections: 2,
      applicationName: "taskmeta-browse",
      connectTimeout: "10 seconds",
      spanAttributes: { "db.taskmeta": "postgres-browse" }
    })
    // Tables addressed without a schema (the pipeline store's) live in `schema` too.
    // CREATE SCHEMA IF NOT EXISTS in two sessions at once can still collide (23505): take the lock
    // taskmeta's migrations hold while they create it, and try again if another writer raced anyway.
    if (schema !== undefined) {
      yield* client.withTransaction(
        Effect.zipRight(
          client.unsafe(`SELECT pg_advisory_xact_lock(${SqlMigrations.ADVISORY_LOCK_KEY})`),
          client.unsafe(`CREATE SCHEMA IF NOT EXISTS "${schema}"`)
        )
      ).pipe(Effect.retry({ times: 3, schedule: Schedule.spaced("50 millis") }))
    }
    return client
  })

/** Adds `options=-c search_path=<schema>` (a validated identifier) to a connection URL. */
const withSearchPath = (url: Redacted.Redacted<string>, schema: string): Redacted.Redacted<string> => {
  const text = Redacted.value(url)
  const option = `options=${encodeURIComponent(`-c search_path=${schema}`)}`
  return Redacted.make(`${text}${text.includes("?") ? "&" : "?"}${option}`)
}
