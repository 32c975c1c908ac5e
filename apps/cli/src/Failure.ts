/**
 * How the CLI reports a failure: one line, `taskmeta: <message>`, on stderr.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"

const messageOf = (error: unknown): string => {
  if (typeof error === "object" && error !== null) {
    const message = (error as { readonly message?: unknown }).message
    if (typeof message === "string" && message !== "") return message
    const tag = (error as { readonly _tag?: unknown })._tag
    if (typeof tag === "string") return tag
  }
  return String(error)
}

/**
 * Hides `user:password@` in anything that slipped into a message.
 *
 * @since 0.1.0
 */
export const scrub = (text: string): string =>
  // Up to the last `@` of the URL, so a password holding `@` or `/` is hidden whole.
  text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, "$1:***@")

// What to try for the driver codes an operator meets most, matched in the
// message (which carries the cause chain with its codes).
const HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  // A read found no store (reads open it read-only and create nothing).
  [/\bno SQLite database at\b/, "check the path; `taskmeta migrate` (or `import`) with this --backend creates a new store"],
  [/\bschema "[^"]*" does not exist\b/, "check --schema; `taskmeta migrate` with this --schema creates the schema and its tables"],
  [/\bmissing (tables?|columns?) /, "`taskmeta migrate` with the same --backend and --schema creates them (reads never do)"],
  [/\bECONNREFUSED\b/, "is the database server running, and are the URL's host and port right?"],
  [/\b(ENOTFOUND|EAI_AGAIN)\b/, "the host name in the URL does not resolve"],
  [/statement timeout|\bETIMEDOUT\b|timeout exceeded when trying to connect|Connection timed out/i, "the server did not answer in time: check the network, or raise statementTimeout / connectTimeout"],
  [/\b28P01\b|password authentication failed/, "check the user and password in the URL"],
  [/\b3D000\b/, "the database in the URL does not exist: create it or fix the URL's path"],
  [/\b3F000\b/, "the schema does not exist: check --schema"],
  [/\bSQLITE_READONLY\b/, "the SQLite file or its directory is read-only for this user"],
  [/\bSQLITE_CANTOPEN\b/, "the SQLite file cannot be opened: does its directory exist?"],
  [/\bSQLITE_(BUSY|LOCKED)\b/, "another process holds the database's write lock; it was retried, try again later"],
  [/\bSQLITE_CORRUPT\b|\bSQLITE_NOTADB\b/, "the file is not a healthy SQLite database"]
]

/**
 * A hint for the first known driver code in a message, if any.
 *
 * @since 0.1.0
 */
export const hint = (message: string): Option.Option<string> => {
  for (const [pattern, text] of HINTS) if (pattern.test(message)) return Option.some(text)
  return Option.none()
}

const withHint = (message: string): string =>
  Option.match(hint(message), { onNone: () => message, onSome: (text) => `${message} (hint: ${text})` })

/**
 * The one line for a cause, or nothing when the CLI library already said it
 * (usage errors) or the run was interrupted.
 *
 * @since 0.1.0
 */
export const line = (cause: Cause.Cause<unknown>): Option.Option<string> => {
  if (Cause.isInterruptedOnly(cause)) return Option.none()
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) {
    if (ValidationError.isValidationError(failure.value)) return Option.none()
    return Option.some(withHint(scrub(messageOf(failure.value)).split("\n")[0]))
  }
  const defect = Cause.dieOption(cause)
  if (Option.isSome(defect)) return Option.some(`internal error: ${scrub(messageOf(defect.value)).split("\n")[0]}`)
  return Option.some("failed")
}

/**
 * The documented exit statuses: 0 done; 1 failed (a task that finished
 * FAILURE or REVOKED under `wait`, a missing record, bad data); 2 usage (an
 * unknown command or option, a bad value, a malformed URL); 3 timeout
 * (`wait --timeout`); 4 the store's server could not be reached (refused,
 * unknown host, no answer); 130 interrupted (Ctrl-C).
 *
 * @since 0.1.0
 */
export const ExitCode = { failed: 1, usage: 2, timeout: 3, unreachable: 4, interrupted: 130 } as const

// What a driver says when the server is not there or stopped answering.
const UNREACHABLE = /\b(ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH)\b|no answer from PostgreSQL|timeout exceeded when trying to connect|Connection terminated/

/**
 * The exit status for a failed run (see `ExitCode`).
 *
 * @since 0.1.0
 */
export const exitCode = (cause: Cause.Cause<unknown>): number => {
  if (Cause.isInterruptedOnly(cause)) return ExitCode.interrupted
  const failure = Cause.failureOption(cause)
  if (Option.isNone(failure)) return ExitCode.failed
  const error = failure.value
  if (ValidationError.isValidationError(error)) return ExitCode.usage
  const tag = typeof error === "object" && error !== null ? (error as { readonly _tag?: unknown })._tag : undefined
  if (tag === "UsageError" || tag === "BackendConfigError") return ExitCode.usage
  if (tag === "WaitTimeout") return ExitCode.timeout
  // Reachable but not set up (a missing file, schema or table) is a plain failure.
  if (UNREACHABLE.test(messageOf(error))) return ExitCode.unreachable
  return ExitCode.failed
}

/**
 * Prints the line to stderr (with `debug`, the whole cause too).
 *
 * @since 0.1.0
 */
export const report = (debug: boolean) => (cause: Cause.Cause<unknown>) =>
  Effect.sync(() => {
    Option.map(line(cause), (text) => process.stderr.write(`taskmeta: ${text}\n`))
    if (debug) process.stderr.write(`${scrub(Cause.pretty(cause))}\n`)
  })

/**
 * `TASKMETA_LOG_LEVEL` (debug, info, warning, error, none); default warning.
 *
 * @since 0.1.0
 */
export const logLevel = (text: string | undefined): LogLevel.LogLevel => {
  switch (text?.toLowerCase()) {
    case "all":
    case "trace":
    case "debug":
      return LogLevel.Debug
    case "info":
      return LogLevel.Info
    case "error":
      return LogLevel.Error
    case "none":
      return LogLevel.None
    default:
      return LogLevel.Warning
  }
}
