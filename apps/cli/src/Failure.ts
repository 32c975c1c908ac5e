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

/** Hides `user:password@` in anything that slipped into a message. */
export const scrub = (text: string): string =>
  // Up to the last `@` of the URL, so a password holding `@` or `/` is hidden whole.
  text.replace(/([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):\S*@/gi, "$1:***@")

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
    return Option.some(scrub(messageOf(failure.value)).split("\n")[0])
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
