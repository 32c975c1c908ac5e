/**
 * How the CLI reports a failure: one line, `taskmeta: <message>`, on stderr.
 *
 * @since 0.1.0
 */
import * as ValidationError from "@effect/cli/ValidationError"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
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

/** Hides `user:password@` in anything that slipped into a message. */
export const scrub = (text: string): string =>
  // Up to the last `@` of the URL, so a password holding `@` or `/` is hidden whole.
  text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, "$1:***@")

// What to try for the driver codes an operator meets most, matched in the
// message (which carries the cause chain with its codes).
const HINTS: ReadonlyArray<readonly [RegExp, string]> = [
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

/**
 * The process's exit status for a command's exit: 0 on success, 130 when
 * it was interrupted (Ctrl-C), 1 on any failure.
 *
 * @since 0.1.0
 */
export const exitCode = (exit: Exit.Exit<unknown, unknown>): number => {
  if (Exit.isSuccess(exit)) return 0
  return Cause.isInterruptedOnly(exit.cause) ? 130 : 1
}
