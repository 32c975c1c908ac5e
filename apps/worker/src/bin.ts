#!/usr/bin/env node
/**
 * The demo worker's entry point:
 * `node apps/worker/dist/bin.js [--backend URL] [--encoding json|pickle] [--for 12s] [--expires 1d] [--sweep-every 1h]`
 * after `pnpm build` (`pnpm worker …` runs it from source).
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import * as ValidationError from "@effect/cli/ValidationError"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as Option from "effect/Option"
import * as Stores from "@taskmeta/stores/Stores"
import * as Telemetry from "@taskmeta/http/Telemetry"
import * as Inputs from "./Inputs.js"
import * as Worker from "./Worker.js"

const durationOption = (name: string, description: string) =>
  Options.text(name).pipe(
    Options.withDescription(description),
    Options.mapEffect((text) =>
      Either.mapLeft(Inputs.duration(text), (message) => ValidationError.invalidValue(HelpDoc.p(message)))
    ),
    Options.optional
  )

const command = Command.make("taskmeta-worker", {
  backend: Options.redacted("backend").pipe(
    Options.withDescription("Backend URL (default: $TASKMETA_BACKEND_URL, else db+sqlite:///results.sqlite)"),
    Options.optional
  ),
  schema: Options.text("schema").pipe(Options.withDescription("PostgreSQL schema for the tables"), Options.optional),
  encoding: Options.choice("encoding", Stores.encodings).pipe(
    Options.withDescription(
      "How SQL results are written: json (default) or pickle (Celery-compatible: Python Celery reads them back). " +
        "Default: $TASKMETA_ENCODING, else json"
    ),
    Options.withFallbackConfig(Stores.encodingConfig)
  ),
  runFor: durationOption("for", "Stop after this long (e.g. 12s); default: until SIGINT/SIGTERM"),
  expires: durationOption("expires", "Keep READY results this long (default 1 day; 0 = forever)"),
  sweepEvery: durationOption("sweep-every", "Sweep expired results this often (default daily at 04:00 UTC)")
}, (o) =>
  Worker.run({
    backend: o.backend,
    schema: o.schema,
    encoding: o.encoding,
    runFor: o.runFor,
    expires: Option.getOrElse(o.expires, () => Duration.days(1)),
    sweepEvery: o.sweepEvery,
    baseDirectory: process.cwd()
  })).pipe(Command.withDescription("The taskmeta demo worker: Celery beat's example tasks, stored by URL"))

/** A failure is one log line (the cause's message), never a stack trace; usage errors are already printed. */
const reportFailure = (cause: Cause.Cause<unknown>) =>
  Option.match(Cause.failureOption(cause), {
    onNone: () => Cause.isInterruptedOnly(cause) ? Effect.void : Effect.logError(`worker failed: ${Cause.squash(cause)}`),
    onSome: (error) =>
      ValidationError.isValidationError(error)
        ? Effect.void
        : Effect.logError(`worker failed: ${error instanceof Error ? error.message : String(error)}`)
  })

/**
 * The pretty logger, except that a logged cause made only of failures (a
 * storage error a schedule or the expiry sweep survived) is appended to the
 * message as one line, its cause chain, instead of stack traces per error.
 * Defects (bugs) keep their stack traces.
 */
const logger = Logger.mapInputOptions(Logger.prettyLoggerDefault, (options) => {
  const failures = Cause.failures(options.cause)
  if (Chunk.isEmpty(failures) || Cause.isDie(options.cause) || Cause.isInterrupted(options.cause)) return options
  const chain = Array.from(failures, Stores.causeChain).join("; ")
  const [first, ...rest] = Array.isArray(options.message) ? options.message : [options.message]
  const message = typeof first === "string" ? [`${first}: ${chain}`, ...rest] : [first, ...rest, chain]
  return { ...options, message, cause: Cause.empty }
})

// OpenTelemetry traces (ResultBackend.store, PipelineStore.report, sql.execute, …) when
// OTEL_EXPORTER_OTLP_ENDPOINT is set; nothing otherwise.
const Tracing = Telemetry.layerFromEnv("taskmeta-worker", "0.1.0")

Command.run(command, { name: "taskmeta-worker", version: "0.1.0" })(process.argv).pipe(
  Effect.tapErrorCause(reportFailure),
  Effect.provide(Layer.mergeAll(NodeContext.layer, Logger.replace(Logger.defaultLogger, logger), Tracing)),
  NodeRuntime.runMain({ disableErrorReporting: true, disablePrettyLogger: true })
)
