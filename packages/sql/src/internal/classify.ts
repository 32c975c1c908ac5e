/**
 * Which SQL failures are transient (SPEC §5), per dialect.
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { DriverError } from "@taskmeta/core/BackendError"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"

const codeOf = (cause: unknown): string | undefined => {
  const code = (cause as { readonly code?: unknown } | null)?.code
  return typeof code === "string" ? code : undefined
}

const messageOf = (cause: unknown): string => {
  const message = (cause as { readonly message?: unknown } | null)?.message
  return typeof message === "string" ? message : ""
}

/** The error and the causes it wraps (SqlError → pg / better-sqlite3 error), at most 8 deep. */
const chain = (error: unknown): ReadonlyArray<unknown> => {
  const out: Array<unknown> = []
  let current = error
  while (current !== null && typeof current === "object" && out.length < 8) {
    out.push(current)
    current = (current as { readonly cause?: unknown }).cause
  }
  return out
}

const PG_STATES = new Set(["40001", "40P01", "57P01", "57P02", "57P03", "53300"])
const NET_CODES = new Set(["ECONNRESET", "ECONNREFUSED", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"])
const PG_LOST =
  /connection terminated|connection error and is not queryable|client was closed and is not queryable|timeout exceeded when trying to connect|connection closed|connection timeout|terminating connection|server closed the connection/i

/** A failure that means the connection itself is gone (drop it before a retry). */
export const isPgConnectionLoss = (cause: unknown): boolean =>
  chain(cause).some((e) => {
    const code = codeOf(e)
    if (code !== undefined && (NET_CODES.has(code) || code.startsWith("08") || code === "57P01" || code === "57P02" || code === "57P03")) {
      return true
    }
    return PG_LOST.test(messageOf(e))
  })

/** PostgreSQL: serialization failures, deadlocks, shutdowns, too many connections, lost connections. */
export const isPgTransient = (error: DriverError): boolean =>
  isPgConnectionLoss(error.cause) ||
  chain(error.cause).some((e) => {
    const code = codeOf(e)
    return code !== undefined && PG_STATES.has(code)
  })

const isSqliteBusy = (cause: unknown): boolean =>
  chain(cause).some((e) => {
    const code = codeOf(e)
    return code !== undefined && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
  })

/** SQLite: SQLITE_BUSY and SQLITE_LOCKED (and their extended codes). */
export const isSqliteTransient = (error: DriverError): boolean => isSqliteBusy(error.cause)

const errnoOf = (cause: unknown): number | undefined => {
  const errno = (cause as { readonly errno?: unknown } | null)?.errno
  return typeof errno === "number" ? errno : undefined
}

/**
 * MySQL / MariaDB server errors worth retrying: deadlock (1213), lock wait
 * timeout (1205), too many connections (1040), server shutdown (1053),
 * connection killed (1927, MariaDB's KILL), query interrupted (1317), network
 * read/write errors (1158–1161), disconnected for inactivity (4031, MySQL),
 * and the client's lost connection (2006, 2013).
 */
const MYSQL_ERRNOS = new Set([1040, 1053, 1158, 1159, 1160, 1161, 1205, 1213, 1317, 1927, 2006, 2013, 4031])
/** mysql2's own codes for a connection that is gone (`NET_CODES` covers the sockets'). */
const MYSQL_LOST_CODES = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "PROTOCOL_SEQUENCE_TIMEOUT",
  "PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR",
  "ER_SERVER_SHUTDOWN",
  "ER_CON_COUNT_ERROR",
  "ER_LOCK_DEADLOCK",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_CONNECTION_KILLED",
  "ER_QUERY_INTERRUPTED"
])
/** Access denied (1044, 1045, 1698), unknown database (1049): the connection closes, nothing to retry. */
const MYSQL_REFUSED = new Set([1044, 1045, 1049, 1698])
const MYSQL_LOST = /connection is in closed state|connection lost|pool is closed|Connection was killed/i

/** MySQL / MariaDB: deadlocks, lock wait timeouts, shutdowns, kills, too many connections, lost connections. */
export const isMysqlTransientCause = (cause: unknown): boolean =>
  chain(cause).some((e) => {
    const errno = errnoOf(e)
    if (errno !== undefined && MYSQL_ERRNOS.has(errno)) return true
    const code = codeOf(e)
    if (code !== undefined && (NET_CODES.has(code) || MYSQL_LOST_CODES.has(code))) return true
    // mysql2 marks an error that closed the connection `fatal`; refused logins are fatal too, and final.
    if ((e as { readonly fatal?: unknown }).fatal === true && (errno === undefined || !MYSQL_REFUSED.has(errno))) return true
    return MYSQL_LOST.test(messageOf(e))
  })

/** MySQL / MariaDB (see `isMysqlTransientCause`). */
export const isMysqlTransient = (error: DriverError): boolean => isMysqlTransientCause(error.cause)

/**
 * Any dialect, for code that runs on all of them (the pipeline store, migrations):
 * whether a failure (or anything in its cause chain) is worth retrying.
 */
export const isTransientCause = (cause: unknown): boolean =>
  isPgConnectionLoss(cause) || isSqliteBusy(cause) || isMysqlTransientCause(cause) ||
  chain(cause).some((e) => {
    const code = codeOf(e)
    return code !== undefined && PG_STATES.has(code)
  })

/**
 * What starting a layer does (connecting, migrating), retried by the
 * backend's own policy on a transient failure, as a statement is at run time;
 * each retry is logged at debug level with what failed.
 */
export const retryStartup = <E extends { readonly message: string } = SqlError>(
  options: BackendOptions.Input,
  what: string
) =>
  RetryPolicy.retryTransient<E>(
    BackendOptions.make(options).retry,
    isTransientCause,
    (error) => Effect.logDebug(`${what}; retrying`).pipe(Effect.annotateLogs({ error: error.message }))
  )
