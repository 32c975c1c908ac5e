/**
 * The dashboard server: `DashboardApi`'s handlers over the store's services,
 * the web UI (its assets built into this package), `/metrics` and the
 * OpenAPI document, behind one guard. `taskmeta serve` runs it; a program
 * serves it with any `HttpServer` layer:
 *
 * ```ts
 * DashboardServer.layer({ allowWrites: false }).pipe(
 *   Layer.provide(Stores.layerFromUrl(url)),
 *   Layer.provide(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: 5555 }))
 * )
 * ```
 *
 * Safe to leave running:
 *
 * - read-only unless `allowWrites`; a write (forget, cleanup) must come from
 *   the server's own pages (`Origin` / `Sec-Fetch-Site`) and send JSON;
 * - with `credentials`, every path asks for HTTP Basic credentials;
 * - with `hosts`, other Host headers are refused (DNS rebinding);
 * - a content security policy allows no inline script; the UI renders
 *   results and tracebacks as text;
 * - the backend's URL appears nowhere: responses name the store's kind;
 * - pages hold at most `DashboardApi.MAX_PAGE` records, a store query gets
 *   `queryTimeout`, and at most `maxStreams` event streams are open.
 *
 * @since 0.1.0
 */
import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import type * as HttpServer from "@effect/platform/HttpServer"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Ref from "effect/Ref"
import * as Stream from "effect/Stream"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import { redactUrl } from "@taskmeta/core/RedactUrl"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as Pipeline from "@taskmeta/schema/Pipeline"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as DashboardApi from "./DashboardApi.js"
import * as assets from "./internal/assets.js"
import * as Guard from "./internal/guard.js"
import * as Views from "./internal/views.js"
import * as Metrics from "./Metrics.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  /** Allow forget and cleanup. Default `false` (read-only). */
  readonly allowWrites?: boolean | undefined
  /** HTTP Basic credentials every request must carry; none: no authentication. */
  readonly credentials?: Guard.Credentials | undefined
  /** Host header names (without port) the server answers to; none: any. */
  readonly hosts?: ReadonlyArray<string> | undefined
  /** The longest a store query may take before the request answers 503. Default 10 s. */
  readonly queryTimeout?: Duration.DurationInput | undefined
  /** How often the event stream polls a store without push. Default 500 ms. */
  readonly pollInterval?: Duration.DurationInput | undefined
  /** Event streams open at once, at most. Default 64. */
  readonly maxStreams?: number | undefined
  /** How often an idle event stream sends a keep-alive comment. Default 15 s. */
  readonly keepAlive?: Duration.DurationInput | undefined
}

/**
 * The store services the server reads (what `Stores.layerFromUrl` gives).
 *
 * @since 0.1.0
 * @category models
 */
export type Services =
  | ResultBackend.ResultBackend
  | ResultBrowser.ResultBrowser
  | PipelineStore.PipelineStore
  | Pipelines.PipelineBrowser

// ---------------------------------------------------------------------------
// shared state
// ---------------------------------------------------------------------------

interface Shared {
  readonly options: {
    readonly allowWrites: boolean
    readonly maxStreams: number
    readonly queryTimeout: Duration.Duration
    readonly keepAlive: Duration.Duration
  }
  /** Every change, once, for all event streams (started by the first, stopped after the last). */
  readonly changes: Stream.Stream<TaskRecord.TaskRecord, ResultBrowser.BrowseError>
  readonly streams: Effect.Semaphore
  /** The oldest unfinished task this server has seen, and since when. */
  readonly oldest: Ref.Ref<{ readonly taskId: string; readonly since: number } | undefined>
}

class SharedState extends Context.Tag("@taskmeta/http/DashboardServer/Shared")<SharedState, Shared>() {}

const sharedLayer = (options: Options) =>
  Layer.scoped(
    SharedState,
    Effect.gen(function*() {
      const browser = yield* ResultBrowser.ResultBrowser
      const changes = yield* Stream.share(browser.changes({ pollInterval: options.pollInterval ?? Duration.millis(500) }), {
        capacity: 4096,
        strategy: "sliding",
        idleTimeToLive: Duration.seconds(5)
      })
      return {
        options: {
          allowWrites: options.allowWrites === true,
          maxStreams: Math.max(1, options.maxStreams ?? 64),
          queryTimeout: Duration.decode(options.queryTimeout ?? Duration.seconds(10)),
          keepAlive: Duration.decode(options.keepAlive ?? Duration.seconds(15))
        },
        changes,
        streams: yield* Effect.makeSemaphore(Math.max(1, options.maxStreams ?? 64)),
        oldest: yield* Ref.make<{ readonly taskId: string; readonly since: number } | undefined>(undefined)
      }
    })
  )

// ---------------------------------------------------------------------------
// error mapping
// ---------------------------------------------------------------------------

const unavailable = (error: { readonly message: string }) =>
  new DashboardApi.StoreUnavailable({ message: redactUrl(error.message) })

const badRequest = (error: { readonly message: string }) => new DashboardApi.BadRequest({ message: error.message })

/** A store read: bounded in time, its failures as the API's errors. */
const read = <A, E extends { readonly _tag: string; readonly message: string }, R>(self: Effect.Effect<A, E, R>) =>
  Effect.flatMap(SharedState, ({ options }) =>
    self.pipe(
      Effect.catchAll((error) =>
        Effect.fail(
          error._tag === "InvalidQuery" || error._tag === "InvalidInput" ? badRequest(error) : unavailable(error)
        )
      ),
      Effect.timeoutFail({
        duration: options.queryTimeout,
        onTimeout: () =>
          new DashboardApi.StoreUnavailable({
            message: `the store did not answer within ${Duration.format(options.queryTimeout)}`
          })
      })
    )
  )

/** An id the store refuses (where the endpoint has no 400): nothing is stored under it. */
const notFoundOnBadId = <A, E, R>(self: Effect.Effect<A, E | DashboardApi.BadRequest, R>) =>
  Effect.catchIf(
    self,
    (e): e is DashboardApi.BadRequest => e instanceof DashboardApi.BadRequest,
    (e) => Effect.fail(new DashboardApi.NotFound({ message: e.message }))
  )

/** A bad request where the endpoint has no 400 (the store refused what the schema let through). */
const unavailableOnBadRequest = <A, E, R>(self: Effect.Effect<A, E | DashboardApi.BadRequest, R>) =>
  Effect.catchIf(
    self,
    (e): e is DashboardApi.BadRequest => e instanceof DashboardApi.BadRequest,
    (e) => Effect.fail(new DashboardApi.StoreUnavailable({ message: e.message }))
  )

const writable = Effect.flatMap(SharedState, ({ options }) =>
  options.allowWrites
    ? Effect.void
    : Effect.fail(
      new DashboardApi.Forbidden({ message: "the server is read-only; start it with --allow-writes to forget or clean up" })
    ))

// ---------------------------------------------------------------------------
// handlers
// ---------------------------------------------------------------------------

const filterOf = (params: {
  readonly state?: ReadonlyArray<string> | undefined
  readonly name?: string | undefined
  readonly worker?: string | undefined
  readonly queue?: string | undefined
  readonly since?: DateTime.Utc | undefined
  readonly until?: DateTime.Utc | undefined
  readonly text?: string | undefined
}): ResultBrowser.Filter => ({
  states: params.state === undefined || params.state.length === 0 ? undefined : params.state.map((s) => s.toUpperCase()),
  name: params.name,
  worker: params.worker,
  queue: params.queue,
  since: params.since,
  until: params.until,
  text: params.text
})

const TasksLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "tasks", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const page = yield* read(browser.page({
          ...filterOf(urlParams),
          after: urlParams.after,
          limit: urlParams.limit ?? DashboardApi.DEFAULT_PAGE
        }))
        return { tasks: page.records.map(Views.task), next: page.next }
      }).pipe(Effect.withSpan("DashboardServer.tasks.list")))
    .handle("get", ({ path }) =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const browser = yield* ResultBrowser.ResultBrowser
        const stored = yield* read(browser.storedForm(path.taskId))
        if (stored === undefined) return yield* new DashboardApi.NotFound({ message: `no task ${path.taskId} is stored` })
        const record = yield* read(backend.get(path.taskId))
        return { task: Views.task(record), stored }
      }).pipe(notFoundOnBadId, Effect.withSpan("DashboardServer.tasks.get", { attributes: { taskId: path.taskId } })))
    .handle("forget", ({ path }) =>
      Effect.gen(function*() {
        yield* writable
        const backend = yield* ResultBackend.ResultBackend
        const existed = yield* read(backend.exists(path.taskId))
        yield* read(backend.forget(path.taskId))
        yield* Effect.logInfo("forgot a task").pipe(Effect.annotateLogs({ taskId: path.taskId }))
        return { taskId: path.taskId, existed }
      }).pipe(
        unavailableOnBadRequest,
        Effect.withSpan("DashboardServer.tasks.forget", { attributes: { taskId: path.taskId } })
      ))
)

const GroupsLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "groups", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const page = yield* read(browser.groups({ after: urlParams.after, limit: urlParams.limit ?? DashboardApi.DEFAULT_PAGE }))
        return { groups: page.records.map(Views.group), next: page.next }
      }).pipe(Effect.withSpan("DashboardServer.groups.list")))
    .handle("get", ({ path }) =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const found = yield* read(backend.restoreGroup(path.groupId))
        if (Option.isNone(found)) return yield* new DashboardApi.NotFound({ message: `no group ${path.groupId} is stored` })
        // Members in pages (a group may be large); one round trip each.
        const ids = found.value.taskIds
        const members: Array<TaskRecord.TaskRecord> = []
        for (let i = 0; i < ids.length; i += 500) members.push(...yield* read(backend.getMany(ids.slice(i, i + 500))))
        return { group: Views.group(found.value), members: members.map(Views.task) }
      }).pipe(notFoundOnBadId, Effect.withSpan("DashboardServer.groups.get", { attributes: { groupId: path.groupId } })))
)

const PipelinesLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "pipelines", (handlers) =>
  handlers
    .handle("list", ({ urlParams }) =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const pipelines = yield* Pipelines.PipelineBrowser
        const ids = urlParams.pipeline ?? (yield* read(pipelines.pipelineIds))
        const limit = urlParams.limit ?? DashboardApi.DEFAULT_PAGE
        const runs: Array<Pipeline.PipelineExecution> = []
        for (const id of ids) runs.push(...yield* read(store.listExecutions(id)))
        runs.sort(Views.byCreatedDesc)
        return { runs: runs.slice(0, limit).map(Views.run), truncated: runs.length > limit }
      }).pipe(
        unavailableOnBadRequest,
        Effect.withSpan("DashboardServer.pipelines.list")
      ))
    .handle("get", ({ path }) =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const execution = yield* read(store.getExecution(path.runId))
        if (Option.isNone(execution)) return yield* new DashboardApi.NotFound({ message: `no pipeline run ${path.runId} is stored` })
        return Views.runTree({
          execution: execution.value,
          pipelineResults: yield* read(store.listPipelineResults(path.runId)),
          taskExecutions: yield* read(store.listTaskExecutions({ runId: path.runId })),
          taskResults: yield* read(store.listTaskResults({ runId: path.runId }))
        })
      }).pipe(notFoundOnBadId, Effect.withSpan("DashboardServer.pipelines.get", { attributes: { runId: path.runId } })))
)

const StatsLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "stats", (handlers) =>
  handlers
    .handle("window", ({ urlParams }) =>
      Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const until = urlParams.until ?? (yield* DateTime.now)
        const since = urlParams.since ?? DateTime.subtractDuration(until, Duration.hours(1))
        const stats = yield* read(browser.window({ since, until, bucketSeconds: urlParams.bucket ?? 60, top: urlParams.top }))
        return stats
      }).pipe(Effect.withSpan("DashboardServer.stats.window")))
    .handle("summary", () =>
      Effect.gen(function*() {
        const browser = yield* ResultBrowser.ResultBrowser
        const { options } = yield* SharedState
        const [summary, due] = yield* read(Effect.all([browser.summary, browser.countExpired], { concurrency: 2 }))
        return {
          kind: browser.kind,
          tasks: Object.values(summary.byState).reduce((a, b) => a + b, 0),
          byState: summary.byState,
          oldestUnfinished: summary.oldestUnfinished === null
            ? null
            : { taskId: summary.oldestUnfinished.taskId, status: summary.oldestUnfinished.status },
          cleanupDue: due,
          writable: options.allowWrites
        }
      }).pipe(
        unavailableOnBadRequest,
        Effect.withSpan("DashboardServer.stats.summary")
      ))
)

const MaintenanceLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "maintenance", (handlers) =>
  handlers.handle("cleanup", ({ payload }) =>
    Effect.gen(function*() {
      const browser = yield* ResultBrowser.ResultBrowser
      if (payload.dryRun) {
        const due = yield* read(browser.countExpired)
        return { dryRun: true, tasks: due.tasks, groups: due.groups }
      }
      yield* writable
      const backend = yield* ResultBackend.ResultBackend
      // A sweep may take long on a large store: it is not bounded by the query timeout.
      const report = yield* backend.cleanup().pipe(Effect.mapError(unavailable))
      yield* Effect.logInfo("cleanup ran").pipe(Effect.annotateLogs({ tasks: report.tasks, groups: report.groups }))
      return { dryRun: false, tasks: report.tasks, groups: report.groups }
    }).pipe(
      unavailableOnBadRequest,
      Effect.withSpan("DashboardServer.cleanup", { attributes: { dryRun: payload.dryRun } })
    ))
)

const sse = (event: string, data: string) => `event: ${event}\ndata: ${data}\n\n`

const EventsLive = HttpApiBuilder.group(DashboardApi.DashboardApi, "events", (handlers) =>
  handlers.handle("stream", ({ urlParams }) =>
    Effect.gen(function*() {
      const { changes, options, streams } = yield* SharedState
      const permit = yield* streams.take(1).pipe(Effect.timeoutOption(0))
      if (Option.isNone(permit)) {
        return yield* new DashboardApi.StoreUnavailable({
          message: `too many event streams are open (at most ${options.maxStreams})`
        })
      }
      const filter = filterOf(urlParams)
      const events = changes.pipe(
        Stream.filter((record) => ResultBrowser.matches(filter, record)),
        Stream.map((record) => sse("task", JSON.stringify(Views.task(record)))),
        Stream.catchAll((error) =>
          Stream.make(sse("error", JSON.stringify({ _tag: "StoreUnavailable", message: redactUrl(error.message) })))
        )
      )
      const keepAlive = Stream.map(Stream.tick(options.keepAlive), () => ": keep-alive\n\n")
      const body = Stream.concat(
        Stream.make("retry: 2000\n: connected\n\n"),
        Stream.merge(events, keepAlive, { haltStrategy: "left" })
      ).pipe(Stream.ensuring(streams.release(1)), Stream.encodeText)
      return HttpServerResponse.stream(body, {
        contentType: "text/event-stream",
        headers: { "cache-control": "no-store", "x-accel-buffering": "no" }
      })
    }).pipe(Effect.withSpan("DashboardServer.events")))
)

// ---------------------------------------------------------------------------
// pages, assets, metrics
// ---------------------------------------------------------------------------

const asset = (body: string, contentType: string) =>
  Effect.succeed(HttpServerResponse.text(body, { contentType, headers: { "cache-control": "no-cache" } }))

const metrics = Effect.gen(function*() {
  const browser = yield* ResultBrowser.ResultBrowser
  const { oldest } = yield* SharedState
  const start = yield* Clock.currentTimeMillis
  const [summary, due] = yield* read(Effect.all([browser.summary, browser.countExpired], { concurrency: 2 }))
  const now = yield* Clock.currentTimeMillis
  let age: number | null = null
  const unfinished = summary.oldestUnfinished
  if (unfinished === null) {
    yield* Ref.set(oldest, undefined)
  } else if (unfinished.stamped !== null) {
    age = Math.max(0, (now - DateTime.toEpochMillis(unfinished.stamped)) / 1000)
  } else {
    const seen = yield* Ref.updateAndGet(oldest, (current) =>
      current?.taskId === unfinished.taskId ? current : { taskId: unfinished.taskId, since: now })
    age = Math.max(0, (now - seen!.since) / 1000)
  }
  const text = Metrics.render({
    byState: summary.byState,
    oldestUnfinishedAge: age,
    cleanupDue: due,
    scrapeSeconds: (now - start) / 1000
  })
  return HttpServerResponse.text(text, { contentType: Metrics.contentType })
}).pipe(
  Effect.catchAll((error) => Effect.succeed(Guard.errorResponse(503, error._tag, error.message))),
  Effect.withSpan("DashboardServer.metrics")
)

const PagesLive = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function*() {
    const context = yield* Effect.context<Services | SharedState>()
    yield* router.get("/", asset(assets.indexHtml, "text/html; charset=utf-8"))
    yield* router.get("/assets/app.js", asset(assets.appJs, "text/javascript; charset=utf-8"))
    yield* router.get("/assets/app.css", asset(assets.appCss, "text/css; charset=utf-8"))
    yield* router.get("/assets/icon.svg", asset(assets.iconSvg, "image/svg+xml"))
    yield* router.get("/metrics", Effect.provide(metrics, context))
  })
)

// ---------------------------------------------------------------------------
// layer
// ---------------------------------------------------------------------------

/**
 * The API's handlers (`HttpApi.Api`), for a program that serves it its own way.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerApi = (options: Options = {}) =>
  HttpApiBuilder.api(DashboardApi.DashboardApi).pipe(
    Layer.provide([TasksLive, GroupsLive, PipelinesLive, StatsLive, MaintenanceLive, EventsLive]),
    Layer.provideMerge(sharedLayer(options))
  )

/**
 * Serves the dashboard on the `HttpServer` in context (with the platform
 * services `NodeHttpServer.layer` also provides), over the store's services
 * in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<never, never, Services | HttpServer.HttpServer | HttpRouter.HttpRouter.DefaultServices> => {
  const hosts = options.hosts === undefined ? undefined : new Set(options.hosts.map((h) => h.toLowerCase()))
  return HttpApiBuilder.serve(Guard.make({ credentials: options.credentials, hosts })).pipe(
    Layer.provide(PagesLive),
    Layer.provide(HttpApiBuilder.middlewareOpenApi({ path: "/api/openapi.json" })),
    Layer.provide(layerApi(options)),
    // Ids may be 155 characters (Celery's column), percent-encoded up to three times that.
    Layer.provide(HttpRouter.setRouterConfig({ maxParamLength: 1024 }))
  )
}

/**
 * The Host names a server bound to `host` answers to when it is a loopback
 * address (DNS rebinding protection); `undefined` (any) otherwise.
 *
 * @since 0.1.0
 * @category security
 */
export const hostsFor = (host: string): ReadonlyArray<string> | undefined =>
  Guard.isLoopback(host) ? ["127.0.0.1", "localhost", "[::1]", ...(host.includes(":") ? [`[${host}]`] : [host])] : undefined
