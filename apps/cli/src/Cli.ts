/**
 * The `taskmeta` command: read and manage a result store chosen by URL.
 *
 * @since 0.1.0
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as FileSystem from "@effect/platform/FileSystem"
import * as NodeStream from "@effect/platform-node/NodeStream"
import * as Chunk from "effect/Chunk"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as Transfer from "@taskmeta/stores/Transfer"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as Inputs from "./Inputs.js"
import * as Bulk from "./internal/bulk.js"
import * as Progress from "./internal/progress.js"
import * as Output from "./Output.js"
import * as Serve from "./Serve.js"
import { version } from "./internal/version.js"

// ---------------------------------------------------------------------------
// errors
// ---------------------------------------------------------------------------

/**
 * A failure the CLI reports as one line (bad input, a missing record, a task
 * that finished badly).
 *
 * @since 0.1.0
 * @category errors
 */
export class CliError extends Schema.TaggedError<CliError>("@taskmeta/cli/CliError")("CliError", {
  message: Schema.String
}) {}

/**
 * A bad option or argument value (a duration, a time, a state, a range): the
 * command did not run. Exit status 2, as for the usage errors `@effect/cli`
 * finds itself.
 *
 * @since 0.1.0
 * @category errors
 */
export class UsageError extends Schema.TaggedError<UsageError>("@taskmeta/cli/UsageError")("UsageError", {
  message: Schema.String
}) {}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

/** How much of an input file `import` reads at once: one read is one batch of lines (up to 500). */
const READ_CHUNK = FileSystem.KiB(128)

const fail = (message: string) => Effect.fail(new CliError({ message }))

const usage = (message: string) => Effect.fail(new UsageError({ message }))

/** An option's value, or the usage error saying why it is not one. */
const orUsage = <A>(either: Either.Either<A, string>) => Either.match(either, { onLeft: usage, onRight: Effect.succeed })

// ---------------------------------------------------------------------------
// output
// ---------------------------------------------------------------------------

/** Writes to stdout and waits until the chunk is handed off (backpressure, ordering). */
const write = (text: string) =>
  Effect.async<void>((resume) => {
    process.stdout.write(text, () => resume(Effect.void))
  })

const writeLines = <E, R>(lines: Stream.Stream<string, E, R>) =>
  Stream.runForEachChunk(lines, (chunk) => write(Array.from(chunk, (l) => `${l}\n`).join("")))

/** How tables are laid out: times relative to now, and the terminal's width when stdout is one. */
const tableOptions = Effect.map(DateTime.now, (now) => ({
  now,
  width: process.stdout.isTTY ? process.stdout.columns : undefined
}))

/** Progress for people, on stderr so it never mixes with output. */
const progress = (text: string) => Effect.sync(() => process.stderr.write(`${text}\n`))

// ---------------------------------------------------------------------------
// backend selection
// ---------------------------------------------------------------------------

const backendOption = Options.text("backend").pipe(
  Options.withPseudoName("URL"),
  Options.map(Redacted.make),
  Options.withDescription(
    "Where the results are, as a Celery-style URL: db+sqlite:///results.sqlite (relative to the current " +
      "directory), db+sqlite:////var/lib/app/results.sqlite (absolute), db+postgresql://user:pass@host/db, " +
      "arangodb://user:pass@host:8529/db/collection or memory://. Before or after the command. " +
      "Default: $TASKMETA_BACKEND_URL, else Celery's $CELERY_RESULT_BACKEND, else db+sqlite:///results.sqlite"
  ),
  Options.optional
)

/** An optional text option with a pseudo name (`--since WHEN`) and a description that explains it. */
const optionalText = (name: string, pseudoName: string, description: string) =>
  Options.text(name).pipe(Options.withPseudoName(pseudoName), Options.withDescription(description), Options.optional)

const schemaOption = optionalText(
  "schema",
  "NAME",
  "PostgreSQL schema holding the tables, e.g. --schema celery. Before or after the command. " +
    "Default: the connection's search_path (usually public)"
)

const jsonOption = Options.boolean("json").pipe(
  Options.withDescription("Print JSON lines (one object per line, the shape `export` writes) instead of a table")
)

interface Where {
  readonly backend: Option.Option<Redacted.Redacted<string>>
  readonly schema: Option.Option<string>
}

const where = { backend: backendOption, schema: schemaOption }

/**
 * The `taskmeta` command itself, holding the options every subcommand also
 * takes: `taskmeta --backend URL list` and `taskmeta list --backend URL` are
 * the same (the subcommand's own value wins when both are given).
 */
const root = Command.make("taskmeta", where)

/** A subcommand's `--backend` / `--schema`, else the ones given before it. */
const located = (o: Where) =>
  Effect.map(root, (globals): Where => ({
    backend: Option.orElse(o.backend, () => globals.backend),
    schema: Option.orElse(o.schema, () => globals.schema)
  }))

/**
 * Where relative SQLite paths resolve: the directory the command was started
 * from. Under `pnpm taskmeta`, pnpm runs the script in the workspace root and
 * passes the caller's directory as `INIT_CWD`.
 */
const baseDirectory = Effect.gen(function*() {
  const event = yield* Config.option(Config.string("npm_lifecycle_event"))
  const initCwd = yield* Config.option(Config.string("INIT_CWD"))
  if (Option.contains(event, "taskmeta") && Option.isSome(initCwd)) return initCwd.value
  return process.cwd()
})

const resolveUrl = (backend: Option.Option<Redacted.Redacted<string>>) =>
  Option.match(backend, {
    onNone: () => BackendUrl.config,
    onSome: (url) => BackendUrl.parse(url)
  })

type Extra = BackendOptions.Input & Pick<Stores.Options, "encoding">

const backendOptions = (o: Where, extra: Extra = {}) =>
  Effect.map(baseDirectory, (dir): Stores.Options => ({
    resultExtended: true,
    ...extra,
    baseDirectory: dir,
    tables: Option.match(o.schema, { onNone: () => undefined, onSome: (schema) => ({ schema }) })
  }))

const layerFor = (given: Where, extra: Extra = {}) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const o = yield* located(given)
      const url = yield* resolveUrl(o.backend)
      return Stores.layerFromUrl(url, yield* backendOptions(o, extra))
    })
  )

/**
 * What the read commands open: the task results only, read-only. Nothing is
 * created or migrated (no SQLite file, no schema, no table); a store that is
 * not there fails with a message naming what is missing.
 */
const readLayerFor = (given: Where) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const o = yield* located(given)
      const url = yield* resolveUrl(o.backend)
      return Stores.resultsLayerFromUrl(url, { ...(yield* backendOptions(o)), readOnly: true })
    })
  )

// ---------------------------------------------------------------------------
// get
// ---------------------------------------------------------------------------

const taskId = Args.text({ name: "task-id" }).pipe(Args.withDescription("The task's id"))

const get = Command.make("get", { ...where, json: jsonOption, taskId }, (o) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const record = yield* backend.get(o.taskId)
    if (o.json) return yield* write(`${Output.taskLine(record)}\n`)
    const exists = record.status !== TaskState.PENDING || (yield* backend.exists(o.taskId))
    yield* Console.log(Output.taskBlock(record))
    if (!exists) yield* progress(`(no record is stored for ${o.taskId}; unknown ids read as PENDING, as in Celery)`)
  }).pipe(Effect.provide(readLayerFor(o)))).pipe(
    Command.withDescription("Show one task's state, result and metadata (an unknown id reads as PENDING)")
  )

// ---------------------------------------------------------------------------
// group
// ---------------------------------------------------------------------------

const group = Command.make("group", {
  ...where,
  json: jsonOption,
  groupId: Args.text({ name: "group-id" }).pipe(Args.withDescription("The group's id"))
}, (o) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const found = yield* backend.restoreGroup(o.groupId)
    if (Option.isNone(found)) return yield* fail(`no group ${o.groupId} is stored`)
    const members = yield* backend.getMany(found.value.taskIds)
    if (o.json) {
      return yield* write([Output.groupLine(found.value), ...members.map(Output.taskLine)].map((l) => `${l}\n`).join(""))
    }
    const ready = members.filter((m) => TaskState.isReady(m.status)).length
    yield* Console.log(
      `group ${found.value.groupId}  saved ${Output.date(found.value.dateDone)}  ${plural(members.length, "task")}, ${ready} ready\n\n` +
        Output.taskTable(members, yield* tableOptions)
    )
  }).pipe(Effect.provide(readLayerFor(o)))).pipe(
    Command.withDescription("Show a group and its member tasks (--json: the group line, then one line per member)")
  )

// ---------------------------------------------------------------------------
// list
// ---------------------------------------------------------------------------

const HUMAN_LIMIT = 50

const list = Command.make("list", {
  ...where,
  json: jsonOption,
  state: Options.text("state").pipe(
    Options.withPseudoName("STATE"),
    Options.withDescription(
      "Only tasks in this state, e.g. --state FAILURE; repeat for several (--state FAILURE --state REVOKED). " +
        "Celery's states, or a custom state the store holds. Default: every state"
    ),
    Options.repeated
  ),
  name: optionalText("name", "TASK", "Only tasks with this name, e.g. --name proj.tasks.add. Default: every name"),
  since: optionalText(
    "since",
    "WHEN",
    "Only tasks done at or after this time: ISO-8601 (2026-05-01T12:00:00Z) or a duration ago (30m, 2h, 1d). " +
      "Default: no lower bound"
  ),
  until: optionalText(
    "until",
    "WHEN",
    "Only tasks done before this time, as for --since (e.g. --since 2d --until 1d). Default: now"
  ),
  worker: optionalText("worker", "NAME", "Only tasks run by this worker, e.g. --worker celery@host1. Default: every worker"),
  queue: optionalText("queue", "NAME", "Only tasks from this queue, e.g. --queue celery. Default: every queue"),
  limit: Options.integer("limit").pipe(
    Options.withPseudoName("N"),
    Options.withDescription(`At most N tasks, newest first. Default: ${HUMAN_LIMIT} for the table, all with --json`),
    Options.optional
  ),
  after: optionalText(
    "after",
    "CURSOR",
    "Continue a listing: the cursor the previous page ended with (printed on stderr as `--after …`), " +
      "e.g. --after 1042. Pages stay stable while new tasks arrive"
  )
}, (o) =>
  Effect.gen(function*() {
    const browser = yield* ResultBrowser.ResultBrowser
    const now = yield* DateTime.now
    const at = (text: Option.Option<string>) =>
      Option.match(text, { onNone: () => Effect.succeed(undefined), onSome: (t) => orUsage(Inputs.instant(t, now)) })
    if (Option.exists(o.limit, (n) => n < 0)) return yield* usage("--limit must be 0 or more")
    const since = yield* at(o.since)
    const until = yield* at(o.until)
    if (since !== undefined && until !== undefined && UtcTime.Order(since, until) >= 0) {
      return yield* usage(
        `--since ${Option.getOrThrow(o.since)} (${UtcTime.formatIso(since)}) is not before --until ${
          Option.getOrThrow(o.until)
        } (${UtcTime.formatIso(until)}): the range is empty`
      )
    }
    const states = o.state.map((s) => s.toUpperCase())
    const unknown = states.filter(TaskState.isCustom)
    if (unknown.length > 0) {
      // A custom state (Celery allows them) is fine when the store holds it.
      const seen = Object.keys((yield* browser.stats).byState)
      const missing = unknown.filter((s) => !seen.includes(s))
      if (missing.length > 0) {
        return yield* usage(
          `unknown state ${missing.join(", ")}: Celery's states are ${Array.from(TaskState.BUILT_IN).join(", ")}` +
            (seen.length > 0 ? `; this store holds ${seen.join(", ")}` : "; this store holds no tasks")
        )
      }
    }
    const filter: ResultBrowser.Filter = {
      states: states.length > 0 ? states : undefined,
      name: Option.getOrUndefined(o.name),
      worker: Option.getOrUndefined(o.worker),
      queue: Option.getOrUndefined(o.queue),
      since,
      until
    }
    // --json alone streams every task; a table, --limit or --after is a page, and the next page's
    // cursor goes to stderr.
    if (o.json && Option.isNone(o.after) && Option.isNone(o.limit)) {
      return yield* writeLines(Stream.map(browser.list(filter), Output.taskLine))
    }
    const limit = Option.getOrElse(o.limit, () => HUMAN_LIMIT)
    if (limit === 0) return yield* o.json ? Effect.void : Console.log("no tasks")
    const page = yield* browser.page({ ...filter, limit, after: Option.getOrUndefined(o.after) }).pipe(
      Effect.catchTag("InvalidQuery", (e) => usage(`--after ${Option.getOrElse(o.after, () => "")}: ${e.message}`))
    )
    if (o.json) yield* writeLines(Stream.fromIterable(page.records.map(Output.taskLine)))
    else if (page.records.length === 0) yield* Console.log("no tasks")
    else yield* Console.log(Output.taskTable(page.records, yield* tableOptions))
    if (page.next !== null) yield* progress(`(more: the same command with --after ${page.next})`)
  }).pipe(Effect.provide(readLayerFor(o)))).pipe(
    Command.withDescription("List tasks, newest first, filtered by state, name, worker, queue and time, a page at a time")
  )

// ---------------------------------------------------------------------------
// wait
// ---------------------------------------------------------------------------

const wait = Command.make("wait", {
  ...where,
  json: jsonOption,
  timeout: Options.text("timeout").pipe(
    Options.withDescription("Give up after this long (30s, 5m, …); default: wait as long as it takes"),
    Options.optional
  ),
  taskId
}, (o) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const timeout = Option.isSome(o.timeout) ? yield* orUsage(Inputs.duration(o.timeout.value)) : undefined
    const record = yield* backend.waitFor(o.taskId, { timeout })
    yield* o.json ? write(`${Output.taskLine(record)}\n`) : Console.log(Output.taskBlock(record))
    if (record.status !== TaskState.SUCCESS) {
      const why = ExceptionInfo.isEncoded(record.result) ? `: ${ExceptionInfo.format(record.result)}` : ""
      return yield* fail(`task ${record.taskId} finished ${record.status}${why}`)
    }
  }).pipe(Effect.provide(readLayerFor(o)))).pipe(
    Command.withDescription(
      "Wait until a task is ready and show it; exits non-zero on a timeout or when it finished FAILURE or REVOKED"
    )
  )

// ---------------------------------------------------------------------------
// forget
// ---------------------------------------------------------------------------

const forget = Command.make("forget", { ...where, taskId }, (o) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const existed = yield* backend.exists(o.taskId)
    yield* backend.forget(o.taskId)
    yield* Console.log(existed ? `forgot ${o.taskId}` : `${o.taskId} was not stored; nothing to forget`)
  }).pipe(Effect.provide(layerFor(o)))).pipe(Command.withDescription("Delete one task's record"))

// ---------------------------------------------------------------------------
// cleanup
// ---------------------------------------------------------------------------

const expiresOption = Options.text("expires").pipe(
  Options.withDescription("Delete records done longer ago than this (default 1 day, as Celery's result_expires)"),
  Options.optional
)

const PROGRESS_FROM = 1000

const cleanup = Command.make("cleanup", {
  ...where,
  dryRun: Options.boolean("dry-run").pipe(Options.withDescription("Only count what would be deleted")),
  expires: expiresOption
}, (o) =>
  Effect.gen(function*() {
    const expires = Option.isSome(o.expires) ? yield* orUsage(Inputs.duration(o.expires.value)) : Duration.days(1)
    return yield* Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const browser = yield* ResultBrowser.ResultBrowser
      const due = yield* browser.countExpired
      const age = Duration.format(expires)
      if (o.dryRun) {
        return yield* Console.log(`would delete ${plural(due.tasks, "task")} and ${plural(due.groups, "group")} done more than ${age} ago`)
      }
      // On large runs, progress from a second count while the batches run (a bar on a terminal,
      // a few plain lines elsewhere).
      const total = due.tasks + due.groups
      const report = yield* Effect.scoped(Effect.gen(function*() {
        if (total >= PROGRESS_FROM) {
          const bar = yield* Progress.make({ label: "cleanup", total, stream: process.stderr })
          yield* browser.countExpired.pipe(
            Effect.flatMap((left) => bar.update({ done: Math.max(0, total - left.tasks - left.groups) })),
            Effect.catchAllCause((cause) => Effect.logDebug("progress count failed", cause)),
            Effect.delay("1 second"),
            Effect.forever,
            Effect.forkScoped
          )
        }
        return yield* backend.cleanup()
      }))
      yield* Console.log(`deleted ${plural(report.tasks, "task")} and ${plural(report.groups, "group")} done more than ${age} ago`)
    }).pipe(Effect.provide(layerFor(o, { resultExpires: expires })))
  })).pipe(Command.withDescription("Delete expired task and group records, in batches"))

// ---------------------------------------------------------------------------
// migrate
// ---------------------------------------------------------------------------

const migrate = Command.make("migrate", where, (given) =>
  Effect.gen(function*() {
    const o = yield* located(given)
    const url = yield* resolveUrl(o.backend)
    if (url._tag !== "Sqlite" && url._tag !== "Postgres" && url._tag !== "Mysql") {
      return yield* Console.log(`${BackendUrl.describe(url)} needs no migrations`)
    }
    const applied = yield* Stores.migrate(url, yield* backendOptions(o))
    yield* Console.log(
      applied.length === 0
        ? `${BackendUrl.describe(url)}: tables are up to date`
        : `${BackendUrl.describe(url)}: applied ${applied.join(", ")}`
    )
  })).pipe(Command.withDescription("Create or upgrade the SQL tables (Celery's, shared with Python workers)"))

// ---------------------------------------------------------------------------
// stats
// ---------------------------------------------------------------------------

const stats = Command.make("stats", { ...where, json: jsonOption }, (o) =>
  Effect.gen(function*() {
    const browser = yield* ResultBrowser.ResultBrowser
    const s = yield* browser.stats
    yield* o.json ? write(`${Output.statsLine(s)}\n`) : Console.log(Output.statsBlock(s))
  }).pipe(Effect.provide(readLayerFor(o)))).pipe(
    Command.withDescription("Count tasks by state and by name, with the failure rate (FAILURE / (SUCCESS + FAILURE + REVOKED))")
  )

// ---------------------------------------------------------------------------
// pipelines
// ---------------------------------------------------------------------------

const pipelineLayerFor = (given: Where) =>
  Layer.unwrapEffect(
    Effect.gen(function*() {
      const o = yield* located(given)
      const url = yield* resolveUrl(o.backend)
      return Pipelines.layerFromUrl(url, { ...(yield* backendOptions(o)), readOnly: true })
    })
  )

const pipelinesList = Command.make("list", {
  ...where,
  json: jsonOption,
  pipeline: Options.text("pipeline").pipe(
    Options.withDescription("Only runs of this pipeline (repeatable)"),
    Options.repeated
  )
}, (o) =>
  Effect.gen(function*() {
    const store = yield* PipelineStore.PipelineStore
    const browser = yield* Pipelines.PipelineBrowser
    const ids = o.pipeline.length > 0 ? o.pipeline : yield* browser.pipelineIds
    const runs = (yield* Effect.forEach(ids, (id) => store.listExecutions(id))).flat()
    if (o.json) return yield* writeLines(Stream.fromIterable(runs.map(Output.pipelineRunLine)))
    if (runs.length === 0) return yield* Console.log("no pipeline runs")
    yield* Console.log(Output.table(
      ["RUN ID", "PIPELINE", "STATUS", "CREATED", "STARTED", "COMPLETED"],
      runs.map((r) => [r.runId, r.pipelineId, r.status, Output.date(r.created), Output.date(r.started), Output.date(r.completed)])
    ))
  }).pipe(Effect.provide(pipelineLayerFor(o)))).pipe(Command.withDescription("List pipeline runs"))

const pipelinesShow = Command.make("show", {
  ...where,
  json: jsonOption,
  runId: Args.text({ name: "run-id" }).pipe(Args.withDescription("The run's id"))
}, (o) =>
  Effect.gen(function*() {
    const store = yield* PipelineStore.PipelineStore
    const execution = yield* store.getExecution(o.runId)
    if (Option.isNone(execution)) return yield* fail(`no pipeline run ${o.runId} is stored`)
    const tree: Output.PipelineTree = {
      execution: execution.value,
      pipelineResults: yield* store.listPipelineResults(o.runId),
      taskExecutions: yield* store.listTaskExecutions({ runId: o.runId }),
      taskResults: yield* store.listTaskResults({ runId: o.runId })
    }
    yield* o.json ? write(`${Output.pipelineTreeLine(tree)}\n`) : Console.log(Output.pipelineTree(tree))
  }).pipe(Effect.provide(pipelineLayerFor(o)))).pipe(Command.withDescription("Show one pipeline run as a tree"))

const pipelines = Command.make("pipelines").pipe(
  Command.withDescription("Pipeline runs: list, show <run-id>"),
  Command.withSubcommands([pipelinesList, pipelinesShow])
)

// ---------------------------------------------------------------------------
// export / import / copy
// ---------------------------------------------------------------------------

/**
 * The pipeline runs of a store, for export and copy. An ArangoDB database
 * whose pipeline collections were never created has no runs (the CLI never
 * creates them).
 */
const pipelineSource = (
  url: BackendUrl.BackendUrl,
  context: Context.Context<PipelineStore.PipelineStore | Pipelines.PipelineBrowser>
): Transfer.Source["pipelines"] => {
  const browser = Context.get(context, Pipelines.PipelineBrowser)
  return {
    store: Context.get(context, PipelineStore.PipelineStore),
    browser: url._tag !== "Arango" ? browser : {
      pipelineIds: browser.pipelineIds.pipe(
        Effect.catchIf(
          (e) => /\b1203\b|collection or view not found/i.test(e.message),
          (e) =>
            Effect.as(
              Effect.logWarning("no pipeline collections in the database: pipeline runs are left out").pipe(
                Effect.annotateLogs({ error: e.message })
              ),
              []
            )
        )
      )
    }
  }
}

/** A read-only open that failed because tables are missing (not the database, not the connection). */
const isMissingTables = (e: { readonly _tag: string; readonly cause?: unknown }) =>
  e._tag === "BackendOpenError" && (e.cause as { readonly _tag?: unknown } | undefined)?._tag === "MissingTables"

/**
 * What `serve` opens. With `--allow-writes`, the store as the writing
 * commands open it (created and migrated when needed). Without, read-only
 * as the read commands open it: nothing is created or migrated, and a store
 * that is not there fails with the same one-line message. Its task results
 * must be there; its pipeline runs are served when their tables are (a
 * Celery database without them serves none, with a warning).
 */
const serveLayerFor = (given: Where, extra: Extra & { readonly readOnly: boolean }) => {
  const { readOnly, ...rest } = extra
  if (!readOnly) return layerFor(given, rest)
  return Layer.unwrapEffect(
    Effect.gen(function*() {
      const o = yield* located(given)
      const url = yield* resolveUrl(o.backend)
      const options: Stores.Options = { ...(yield* backendOptions(o, rest)), readOnly: true }
      const pipelines = Pipelines.layerFromUrl(url, options).pipe(
        Layer.catchAll((e) =>
          isMissingTables(e)
            ? Layer.unwrapEffect(
              Effect.as(
                Effect.logWarning("no pipeline tables in the store: the dashboard shows no pipeline runs").pipe(
                  Effect.annotateLogs({ error: e.message })
                ),
                Pipelines.layerMemory()
              )
            )
            : Layer.fail(e)
        )
      )
      // The results first: when they are missing, that is the one error reported.
      return Layer.provideMerge(pipelines, Stores.resultsLayerFromUrl(url, options))
    })
  )
}

/** The store a command's options name, built in the current scope (one client for every service). */
const openStore = (given: Where, extra: Extra = {}) =>
  Effect.gen(function*() {
    const o = yield* located(given)
    const url = yield* resolveUrl(o.backend)
    const context = yield* Layer.build(Stores.layerFromUrl(url, yield* backendOptions(o, extra)))
    return { url, context }
  })

/**
 * A store opened to read from (`export`, `copy`'s source): read-only, so
 * nothing is created or migrated. Its pipeline runs come along when it has
 * the pipeline tables; a Celery database without them has no runs.
 */
const openSource = (url: BackendUrl.BackendUrl, options: Stores.Options) =>
  Effect.gen(function*() {
    const results = yield* Layer.build(Stores.resultsLayerFromUrl(url, { ...options, readOnly: true }))
    const pipelines = yield* Layer.build(Pipelines.layerFromUrl(url, { ...options, readOnly: true })).pipe(
      Effect.map(Option.some),
      Effect.catchIf(isMissingTables, () => Effect.succeedNone)
    )
    return {
      browser: Context.get(results, ResultBrowser.ResultBrowser),
      pipelines: Option.isSome(pipelines) ? pipelineSource(url, pipelines.value) : undefined
    } satisfies Transfer.Source
  })

const targetOf = (context: Context.Context<Stores.Services>): Transfer.Target => ({
  backend: Context.get(context, ResultBackend.ResultBackend),
  pipelines: Context.get(context, PipelineStore.PipelineStore)
})

const exportCommand = Command.make("export", where, (o) =>
  Effect.scoped(Effect.gen(function*() {
    const w = yield* located(o)
    const url = yield* resolveUrl(w.backend)
    const source = yield* openSource(url, yield* backendOptions(w))
    // Output to a terminal shows no progress (it would mix with the lines); to a file or a pipe it does.
    const silent = process.stdout.isTTY === true
    const total = silent ? undefined : yield* Transfer.count(source)
    const progress = yield* Progress.make({ label: "export", total, stream: process.stderr, silent })
    let done = 0
    const print = <A, E>(records: Stream.Stream<A, E>, line: (a: A) => string) =>
      Stream.runForEachChunk(records, (chunk) =>
        Effect.zipRight(
          write(Array.from(chunk, (r) => `${line(r)}\n`).join("")),
          Effect.suspend(() => progress.update({ done: done += chunk.length }))
        ))
    yield* print(source.browser.exportTasks, Output.taskLine)
    yield* print(source.browser.exportGroups, Output.groupLine)
    if (source.pipelines !== undefined) {
      yield* print(Transfer.pipelineRuns(source.pipelines.store, source.pipelines.browser), Output.pipelineTreeLine)
    }
  }))).pipe(
    Command.withDescription(
      "Print every task, then every group, then every pipeline run, as JSON lines (the format import reads)"
    )
  )

/** `--encoding` (alias `--codec`), else `TASKMETA_ENCODING`, else json. */
const encodingOption = Options.choice("encoding", Stores.encodings).pipe(
  Options.withAlias("codec"),
  Options.withDescription(
    "How a SQL target writes the result column: json (taskmeta's default) or pickle (Celery-compatible: what " +
      "Python Celery writes and reads back). Reading decodes both whatever this says. Default: $TASKMETA_ENCODING, else json"
  ),
  Options.withFallbackConfig(Stores.encodingConfig)
)

const dryRunOption = (what: string) =>
  Options.boolean("dry-run").pipe(
    Options.withDescription(`Only read and count what ${what} would change (new, changed, unchanged); write nothing`)
  )

const importCommand = Command.make("import", {
  ...where,
  encoding: encodingOption,
  dryRun: dryRunOption("the import"),
  skipInvalid: Options.boolean("skip-invalid").pipe(
    Options.withDescription(
      "Skip lines that are not valid records (each reported on stderr with its number and reason) instead of stopping at the first"
    )
  ),
  file: Args.file({ name: "file", exists: "yes" }).pipe(
    Args.withDescription("JSON lines to read (default: standard input)"),
    Args.optional
  )
}, (o) =>
  Bulk.stoppable((stop) =>
    Effect.scoped(Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      // A file's size is known; standard input's is not (the count and the rate are shown).
      const size = Option.isSome(o.file) ? Number((yield* fs.stat(o.file.value)).size) : undefined
      const bytes = Option.match(o.file, { onNone: () => NodeStream.stdin, onSome: (path) => fs.stream(path, { chunkSize: READ_CHUNK }) })
      const { context } = yield* openStore(o, { encoding: o.encoding })
      const progress = yield* Progress.make({ label: "import", total: size, bytes: true, stream: process.stderr })
      let skipped = 0
      let position = 0
      const onSkip = (bad: Bulk.BadLine) =>
        Effect.suspend(() => {
          skipped++
          return progress.log(`taskmeta: skipped ${bad.message}`)
        })
      const entries = Bulk.entries(bytes, o.skipInvalid ? onSkip : undefined).pipe(
        Stream.mapChunks((chunk) => {
          if (Chunk.isNonEmpty(chunk)) position = Chunk.lastNonEmpty(chunk).end
          return chunk
        })
      )
      const report = yield* Transfer.restore(entries, targetOf(context), {
        dryRun: o.dryRun,
        stop,
        onProgress: (r) => progress.update({ done: Transfer.handled(r), position }),
        // Counted in the report's `invalid` (the lines skipped before the store are counted in `skipped`).
        onInvalid: o.skipInvalid
          ? (at, error) => progress.log(`taskmeta: skipped ${new Bulk.BadLine({ line: at, reason: error.message }).message}`)
          : undefined
      }).pipe(
        Effect.catchTag("TransferError", (e) => {
          const what = e.cause instanceof Bulk.BadLine ? e.cause.message : `line ${e.at}: ${e.message}`
          const before = Transfer.written(e.report) + e.report.tasks.unchanged + e.report.groups.unchanged
          return fail(
            before === 0 && Transfer.handled(e.report) === 0
              ? what
              : `${what}; stopped there, after ${Bulk.counts(e.report)}${o.dryRun ? " (dry run: nothing was written)" : ""}`
          )
        })
      )
      yield* progress.finish
      yield* Console.log(Bulk.summary("imported", { ...report, invalid: report.invalid + skipped }))
    }))
  )).pipe(
    Command.withDescription(
      "Read task, group and pipeline run JSON lines (export's format) into the backend, concurrently in batches; " +
        "idempotent. Ctrl-C stops at a batch boundary and says what was imported"
    )
  )

const copy = Command.make("copy", {
  from: Options.redacted("from").pipe(Options.withDescription("Source backend URL")),
  to: Options.redacted("to").pipe(Options.withDescription("Target backend URL")),
  schema: schemaOption,
  fromSchema: optionalText(
    "from-schema",
    "NAME",
    "The source's PostgreSQL schema (or MySQL database), when it differs from the target's. Default: --schema"
  ),
  toSchema: optionalText(
    "to-schema",
    "NAME",
    "The target's PostgreSQL schema (or MySQL database), when it differs from the source's. Default: --schema"
  ),
  encoding: encodingOption,
  dryRun: dryRunOption("the copy")
}, (o) =>
  Bulk.stoppable((stop) =>
    Effect.scoped(Effect.gen(function*() {
      const shared = yield* located({ backend: Option.none(), schema: o.schema })
      const sideOptions = (own: Option.Option<string>) =>
        backendOptions({ ...shared, schema: Option.orElse(own, () => shared.schema) })
      const from = yield* BackendUrl.parse(o.from)
      const to = yield* BackendUrl.parse(o.to)
      const source = yield* openSource(from, yield* sideOptions(o.fromSchema))
      const target = targetOf(
        yield* Layer.build(Stores.layerFromUrl(to, { ...(yield* sideOptions(o.toSchema)), encoding: o.encoding }))
      )
      const total = yield* Transfer.count(source)
      const progress = yield* Progress.make({ label: "copy", total, stream: process.stderr })
      const where = ` from ${BackendUrl.describe(from)} to ${BackendUrl.describe(to)}`
      const report = yield* Transfer.copy(source, target, {
        dryRun: o.dryRun,
        stop,
        onProgress: (r) => progress.update({ done: Transfer.handled(r) })
      }).pipe(
        Effect.catchTag("TransferError", (e) =>
          fail(`${e.message}; stopped after ${Bulk.counts(e.report)}${where}${o.dryRun ? " (dry run: nothing was written)" : ""}`))
      )
      yield* progress.finish
      yield* Console.log(Bulk.summary("copied", report, where))
    }))
  )).pipe(
    Command.withDescription(
      "Copy every task, group and pipeline run from one backend to another, concurrently in batches; idempotent. " +
        "Ctrl-C stops at a batch boundary and says what was copied"
    )
  )

// ---------------------------------------------------------------------------
// root
// ---------------------------------------------------------------------------

/**
 * @since 0.1.0
 * @category commands
 */
export const command = root.pipe(
  Command.withDescription(
    "Read and manage task results stored by taskmeta or Celery (SQLite, PostgreSQL, ArangoDB). " +
      "`taskmeta <command> --help` shows a command's options; `taskmeta --version` prints the version. " +
      "Exit status: 0 done, 1 failed (wait: the task finished FAILURE or REVOKED), 2 usage, 3 timeout, " +
      "4 store unreachable, 130 interrupted."
  ),
  Command.withSubcommands([
    get,
    group,
    list,
    wait,
    forget,
    cleanup,
    migrate,
    stats,
    pipelines,
    exportCommand,
    importCommand,
    copy,
    Serve.command({ where, layerFor: serveLayerFor })
  ])
)

/**
 * Runs the command on `argv` (the whole `process.argv`).
 *
 * @since 0.1.0
 * @category run
 */
export const run = Command.run(command, { name: "taskmeta", version })
