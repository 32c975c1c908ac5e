/**
 * What the CLI prints through Effect's `Console` (its own tables, and the
 * help and usage errors of `@effect/cli`): colour only on a terminal and
 * never with `NO_COLOR` set, and usage errors as the CLI's other failures
 * read, `taskmeta: <what>` with a hint.
 */
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"

/** Whether text written to `stream` may carry ANSI colour (https://no-color.org). */
export const colour = (stream: { readonly isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean =>
  stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb"

// CSI sequences (colours, styles) as the help renderer writes them.
const ANSI = /\u001b\[[0-9;]*m/g

/** The text without ANSI colour and style sequences. */
export const stripAnsi = (text: string): string => text.replace(ANSI, "")

/**
 * A usage error as `@effect/cli` renders it (a paragraph, maybe a list), as
 * one `taskmeta:` line and a hint line.
 */
export const usageLine = (text: string): string => {
  const lines = stripAnsi(text).split("\n").map((l) => l.trim()).filter((l) => l !== "")
  return `taskmeta: ${lines.join(" ")}\n  (hint: \`taskmeta --help\` lists the commands, \`taskmeta <command> --help\` their options)`
}

// The type sentence @effect/cli puts before each option's own description in
// help ("A user-defined piece of text."): every option here says what it takes.
const TYPE_LINES = /^\s*(A user-defined piece of text\.|A true or false value\.|An integer\.|A floating point number\.)\s*\n\n?/gm

/** Help text as people read it: the options' own descriptions, no generic type sentences. */
export const tidyHelp = (text: string): string => text.includes("OPTIONS") ? text.replace(TYPE_LINES, "") : text

/**
 * The console for a run: `log`/`info` without colour unless standard output
 * takes it; `error` (only `@effect/cli` writes there: usage errors) as
 * `usageLine`. Logging goes through the console's unsafe methods, untouched.
 */
export const make = (base: Console.Console, colours: { readonly stdout: boolean }): Console.Console => {
  const plain = (args: ReadonlyArray<unknown>) =>
    args.map((a) => (typeof a === "string" ? tidyHelp(colours.stdout ? a : stripAnsi(a)) : a))
  return {
    ...base,
    log: (...args) => base.log(...plain(args)),
    info: (...args) => base.info(...plain(args)),
    error: (...args) => base.error(usageLine(args.map(String).join(" ")))
  }
}

/** Runs `self` with `make` over the current console. */
export const withTerminal = <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Console.consoleWith((base) => Effect.withConsole(self, make(base, { stdout: colour(process.stdout) })))
