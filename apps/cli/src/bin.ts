#!/usr/bin/env node
/**
 * The `taskmeta` command's entry point (`pnpm taskmeta …`).
 *
 * Errors are one line on stderr and a non-zero exit (`Failure.ExitCode`), never a stack trace
 * (`TASKMETA_DEBUG=1` prints the whole cause). Logs go to stderr, warnings
 * and worse only unless `TASKMETA_LOG_LEVEL` says otherwise, so standard
 * output carries nothing but the command's output.
 *
 * @since 0.1.0
 */
import * as CliConfig from "@effect/cli/CliConfig"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeTerminal from "@effect/platform-node/NodeTerminal"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Cli from "./Cli.js"
import * as Failure from "./Failure.js"
import * as Terminal from "./internal/terminal.js"

// What the commands need (`CliApp.Environment`); `NodeContext.layer` would also load the command
// executor and workers, which nothing here uses, on every start.
const Platform = Layer.mergeAll(NodeFileSystem.layer, NodePath.layer, NodeTerminal.layer)

// Help lists the commands' own options; --help and --version are named in the description.
const Config = CliConfig.layer({ showBuiltIns: false })

const Logging = Layer.merge(
  Logger.replace(Logger.defaultLogger, Logger.withConsoleError(Logger.logfmtLogger)),
  Logger.minimumLogLevel(Failure.logLevel(process.env.TASKMETA_LOG_LEVEL))
)

// `taskmeta export | head` closes the pipe early: stop quietly, as Unix tools do.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0)
  throw error
})

// @effect/cli's interactive wizard waits on stdin forever when it is closed; taskmeta has none.
if (process.argv.slice(2).includes("--wizard")) {
  process.stderr.write(`${Terminal.usageLine("Received unknown argument: '--wizard'")}\n`)
  process.exit(Failure.ExitCode.usage)
}

Cli.run(process.argv).pipe(
  Terminal.withTerminal,
  Effect.tapErrorCause(Failure.report(process.env.TASKMETA_DEBUG === "1")),
  Effect.provide(Layer.mergeAll(Platform, Logging, Config)),
  // Ctrl-C (SIGINT, SIGTERM) interrupts the command: exit 130, as shells report a SIGINT; import and copy
  // first finish their batches and print what they wrote.
  NodeRuntime.runMain({
    disableErrorReporting: true,
    disablePrettyLogger: true,
    teardown: (exit, onExit) => onExit(Exit.isSuccess(exit) ? 0 : Failure.exitCode(exit.cause))
  })
)
