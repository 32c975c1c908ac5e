/**
 * The dashboard's HTTP API, every endpoint, against a SQLite file and the
 * real PostgreSQL: the server runs in-process on a free loopback port over
 * `Stores.layerFromUrl`, and the tests speak plain HTTP to it (any header,
 * Host and Origin included). Bad parameters, authentication, refused
 * writes, the security headers and the secrets that must never show are
 * checked on both stores.
 */
import { afterAll, describe, expect, layer } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as path from "node:path"
import {
  dropPgSchema,
  get,
  listen,
  logLines,
  PASSWORD,
  pgUrlWithPassword,
  Port,
  removeDir,
  send,
  serve,
  seed,
  suffix,
  tempDir
} from "./support.js"
import type * as DashboardServer from "../src/DashboardServer.js"
import * as Stores from "@taskmeta/stores/Stores"

const dir = tempDir("api")
const run = suffix()
const schemas = ["read", "write", "auth"].map((s) => `tm_http_${s}_${run}`)
afterAll(async () => {
  removeDir(dir)
  for (const schema of schemas) await dropPgSchema(schema)
})

const stores: ReadonlyArray<{
  readonly name: string
  readonly url: (n: number) => string
  readonly options: (n: number) => Stores.Options
}> = [
  { name: "sqlite", url: (n) => `db+sqlite:///${path.join(dir, `api-${n}.sqlite`)}`, options: () => ({}) },
  { name: "postgres", url: () => pgUrlWithPassword(), options: (n) => ({ tables: { schema: schemas[n] } }) }
]

const seeded = (url: string, options: DashboardServer.Options, storeOptions: Stores.Options) =>
  Layer.tap(serve(url, options, storeOptions), (context) => Effect.provide(seed, context))

const ids = (body: { readonly tasks: ReadonlyArray<{ readonly taskId: string }> }) => body.tasks.map((t) => t.taskId)

const iso = (ms: number) => new Date(ms).toISOString()

/** Nothing like a stack trace: no "at f (file:line:col)" frames, no file paths of the server. */
const noStack = (text: string) => {
  expect(text).not.toMatch(/\n\s+at [^\n]+:\d+:\d+/)
  expect(text).not.toMatch(/node_modules|\/src\/[A-Za-z]+\.ts/)
}

const options = { excludeTestServices: true, timeout: 60_000 } as const

for (const store of stores) {
  describe(`${store.name}`, () => {
    layer(seeded(store.url(0), {}, store.options(0)), options)("read-only server", (it) => {
      it.effect("lists tasks newest first, filtered by state, name, worker, queue, text and time, a page at a time", () =>
        Effect.gen(function*() {
          const all = yield* get("/api/tasks")
          expect(all.status).toBe(200)
          expect(ids(all.json)).toEqual(["t-other", "t-started", "t-failure", "t-success"])
          expect(all.json.next).toBeNull()
          expect(ids((yield* get("/api/tasks?state=FAILURE")).json)).toEqual(["t-failure"])
          expect(ids((yield* get("/api/tasks?state=success")).json)).toEqual(["t-other", "t-success"])
          expect(ids((yield* get("/api/tasks?state=SUCCESS&state=STARTED")).json)).toEqual(["t-other", "t-started", "t-success"])
          expect(ids((yield* get("/api/tasks?name=multiply_two_numbers")).json)).toEqual(["t-other", "t-success"])
          expect(ids((yield* get("/api/tasks?worker=w2%40host")).json)).toEqual(["t-other"])
          expect(ids((yield* get("/api/tasks?queue=priority")).json)).toEqual(["t-other"])
          expect(ids((yield* get("/api/tasks?queue=celery&name=slow")).json)).toEqual(["t-started"])
          expect(ids((yield* get("/api/tasks?text=division%20by%20zero")).json)).toEqual(["t-failure"])
          expect(ids((yield* get("/api/tasks?text=most%20recent%20call")).json)).toEqual(["t-failure"])
          expect(ids((yield* get("/api/tasks?text=no-such-text")).json)).toEqual([])
          const hourAgo = iso(Date.now() - 3_600_000)
          expect(ids((yield* get(`/api/tasks?since=${hourAgo}`)).json)).toEqual(["t-other", "t-failure", "t-success"])
          expect(ids((yield* get(`/api/tasks?until=${hourAgo}`)).json)).toEqual([])
          // Keyset pages: each cursor continues where the last page ended.
          const seen: Array<string> = []
          let next: string | null = null
          for (let n = 0; n < 10; n++) {
            const page: { json: { tasks: Array<{ taskId: string }>; next: string | null } } = yield* get(
              `/api/tasks?limit=1${next === null ? "" : `&after=${encodeURIComponent(next)}`}`
            )
            expect(page.json.tasks.length).toBeLessThanOrEqual(1)
            seen.push(...ids(page.json))
            next = page.json.next
            if (next === null) break
          }
          expect(seen).toEqual(["t-other", "t-started", "t-failure", "t-success"])
          const two = yield* get("/api/tasks?limit=2&state=SUCCESS")
          expect(ids(two.json)).toEqual(["t-other", "t-success"])
          // The integer beyond 2^53 keeps every digit.
          expect(two.json.tasks[0].result).toBe("12345678901234567890")
        }))

      it.effect("one task: the record, how its result is stored; an unknown id is a 404", () =>
        Effect.gen(function*() {
          const found = yield* get("/api/tasks/t-failure")
          expect(found.status).toBe(200)
          expect(found.json.task.status).toBe("FAILURE")
          expect(found.json.task.traceback).toContain("ZeroDivisionError: division by zero")
          expect(JSON.parse(found.json.task.result)).toEqual({
            exc_type: "ZeroDivisionError",
            exc_message: ["division by zero"],
            exc_module: "builtins"
          })
          expect(found.json.task.args).toBe("[16,0]")
          expect(found.json.task.kwargs).toBe("{}")
          expect(found.json.task.worker).toBe("w1@host")
          // to the microsecond the store stamped (`seed` pins it at …457)
          expect(found.json.task.dateDone).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}457Z$/)
          expect(found.json.stored.encoding).toBe("json")
          expect(found.json.stored.bytes).toBeGreaterThan(20)
          const missing = yield* get("/api/tasks/never-stored")
          expect(missing.status).toBe(404)
          expect(missing.json._tag).toBe("NotFound")
          // The longest id Celery's column holds is addressable (155 characters, percent-encoded).
          const long = yield* get(`/api/tasks/${encodeURIComponent("é".repeat(155))}`)
          expect(long.status).toBe(404)
          expect(long.json._tag).toBe("NotFound")
        }))

      it.effect("a result Celery pickled is decoded safely and marked as a pickle", () =>
        Effect.gen(function*() {
          // Written by another writer in Celery's format (protocol 2 pickles).
          yield* Effect.flatMap(ResultBackend.ResultBackend, (celery) =>
            celery.store("t-pickled", { answer: 42, items: [1, 2] }, "SUCCESS", { name: "from_celery" })).pipe(
              Effect.provide(Stores.backendLayerFromUrl(store.url(0), { ...store.options(0), encoding: "pickle", resultExtended: true }))
            )
          const found = yield* get("/api/tasks/t-pickled")
          expect(found.status).toBe(200)
          expect(found.json.stored.encoding).toBe("pickle")
          expect(JSON.parse(found.json.task.result)).toEqual({ answer: 42, items: [1, 2] })
          expect((yield* get("/api/tasks/t-success")).json.stored.encoding).toBe("json")
          const backend = yield* ResultBackend.ResultBackend
          yield* backend.forget("t-pickled")
        }))

      it.effect("a group with its members, in order; an unknown group is a 404", () =>
        Effect.gen(function*() {
          const list = yield* get("/api/groups")
          expect(list.status).toBe(200)
          expect(list.json.groups.map((g: { groupId: string }) => g.groupId)).toEqual(["g-1"])
          const one = yield* get("/api/groups/g-1")
          expect(one.status).toBe(200)
          expect(one.json.group.taskIds).toEqual(["t-success", "t-failure"])
          expect(one.json.members.map((m: { taskId: string; status: string }) => [m.taskId, m.status])).toEqual([
            ["t-success", "SUCCESS"],
            ["t-failure", "FAILURE"]
          ])
          const missing = yield* get("/api/groups/g-none")
          expect(missing.status).toBe(404)
          expect(missing.json._tag).toBe("NotFound")
        }))

      it.effect("pipeline runs, and one run as a tree", () =>
        Effect.gen(function*() {
          const runs = yield* get("/api/pipelines/runs")
          expect(runs.status).toBe(200)
          expect(runs.json.runs.map((r: { runId: string; status: string }) => [r.runId, r.status])).toEqual([
            ["run-1", "RUNTIME_ERROR"]
          ])
          expect((yield* get("/api/pipelines/runs?pipeline=ingest")).json.runs.length).toBe(1)
          expect((yield* get("/api/pipelines/runs?pipeline=other")).json.runs).toEqual([])
          const tree = yield* get("/api/pipelines/runs/run-1")
          expect(tree.status).toBe(200)
          expect(tree.json.run.inputData).toBe("{\"files\":1}")
          const [pr] = tree.json.pipelineResults
          expect(pr.object).toBe("\"a.csv\"")
          expect(pr.tasks[0].taskName).toBe("parse")
          expect(pr.tasks[0].results.map((r: { status: string; message: string }) => [r.status, r.message])).toEqual([
            ["DONE", "null"],
            ["RUNTIME_ERROR", "\"bad row\""]
          ])
          const missing = yield* get("/api/pipelines/runs/run-none")
          expect(missing.status).toBe(404)
        }))

      it.effect("stats over a window: per minute by state, failure rate, most failing names; and the summary", () =>
        Effect.gen(function*() {
          const now = Date.now()
          const stats = yield* get(`/api/stats?since=${iso(now - 3_600_000)}&until=${iso(now + 60_000)}&bucket=60`)
          expect(stats.status).toBe(200)
          expect(stats.json.byState).toEqual({ SUCCESS: 2, FAILURE: 1 })
          expect(stats.json.failureRate).toBeCloseTo(1 / 3)
          expect(stats.json.buckets.length).toBeGreaterThanOrEqual(61)
          const counted = stats.json.buckets.reduce(
            (sum: number, b: { byState: Record<string, number> }) => sum + Object.values(b.byState).reduce((a, c) => a + c, 0),
            0
          )
          expect(counted).toBe(3)
          expect(stats.json.topFailing).toEqual([{ name: "divide_two_numbers", failures: 1, total: 1 }])
          const defaults = yield* get("/api/stats")
          expect(defaults.status).toBe(200)
          expect(defaults.json.bucketSeconds).toBe(60)
          const summary = yield* get("/api/summary")
          expect(summary.status).toBe(200)
          expect(summary.json.kind).toBe(store.name)
          expect(summary.json.tasks).toBe(4)
          expect(summary.json.byState).toEqual({ SUCCESS: 2, FAILURE: 1, STARTED: 1 })
          expect(summary.json.oldestUnfinished).toEqual({ taskId: "t-started", status: "STARTED" })
          expect(summary.json.cleanupDue).toEqual({ tasks: 0, groups: 0 })
          expect(summary.json.writable).toBe(false)
        }))

      it.effect("bad parameters answer 400 with a JSON error, never a stack trace", () =>
        Effect.gen(function*() {
          const now = Date.now()
          const bad = [
            "/api/tasks?limit=abc",
            "/api/tasks?limit=0",
            "/api/tasks?limit=100000",
            "/api/tasks?since=yesterday",
            "/api/tasks?after=not-a-cursor",
            "/api/tasks?text=",
            "/api/tasks?state=",
            `/api/tasks/${"x".repeat(156)}`,
            "/api/groups?limit=-1",
            "/api/groups?after=%27%3B%20DROP%20TABLE",
            "/api/pipelines/runs?limit=x",
            "/api/stats?bucket=0",
            "/api/stats?bucket=abc",
            `/api/stats?since=${iso(now)}&until=${iso(now - 60_000)}`,
            `/api/stats?since=${iso(now - 7 * 86_400_000)}&until=${iso(now)}&bucket=1`
          ]
          for (const url of bad) {
            const reply = yield* get(url)
            expect({ url, status: reply.status }).toEqual({ url, status: 400 })
            expect(reply.headers["content-type"]).toContain("application/json")
            expect(["HttpApiDecodeError", "BadRequest"]).toContain(reply.json._tag)
            expect(typeof reply.json.message).toBe("string")
            noStack(reply.text)
          }
          const body = yield* send("POST", "/api/cleanup", { dryRun: "yes" })
          expect(body.status).toBe(400)
          expect(body.json._tag).toBe("HttpApiDecodeError")
          noStack(body.text)
          const notJson = yield* send("POST", "/api/cleanup", undefined, { "content-type": "application/json" })
          expect(notJson.status).toBe(400)
          noStack(notJson.text)
        }))

      it.effect("without --allow-writes, forget and cleanup are refused (a dry run is fine)", () =>
        Effect.gen(function*() {
          const forget = yield* send("DELETE", "/api/tasks/t-success")
          expect(forget.status).toBe(403)
          expect(forget.json._tag).toBe("Forbidden")
          expect((yield* get("/api/tasks/t-success")).status).toBe(200)
          const cleanup = yield* send("POST", "/api/cleanup", { dryRun: false })
          expect(cleanup.status).toBe(403)
          const dry = yield* send("POST", "/api/cleanup", {})
          expect(dry.status).toBe(200)
          expect(dry.json).toEqual({ dryRun: true, tasks: 0, groups: 0 })
        }))

      it.effect("the event stream sends records as they are stored, filtered like the list", () =>
        Effect.gen(function*() {
          const port = yield* Port
          const backend = yield* ResultBackend.ResultBackend
          const all = listen(port, "/api/events", (t) => t.taskId === "t-live")
          yield* Effect.promise(() => all.opened)
          // Filtered: the SUCCESS stored first must not come; the first FAILURE after it must.
          const failures = listen(port, "/api/events?state=FAILURE", (t) => t.taskId !== "t-failure")
          yield* Effect.promise(() => failures.opened)
          // Stored right after the streams opened: READY records written shortly before the feed's first poll
          // are still found (it looks back two seconds), so this cannot race the feed's start.
          yield* backend.store("t-live", { ok: true }, "SUCCESS", { name: "live" })
          const event = yield* Effect.promise(() => all.event)
          expect(event.status).toBe("SUCCESS")
          expect(JSON.parse(event.result)).toEqual({ ok: true })
          expect(event.name).toBe("live")
          yield* backend.store("t-live-failed", { exc_type: "E", exc_message: [], exc_module: "m" }, "FAILURE")
          const failed = yield* Effect.promise(() => failures.event)
          expect(failed.taskId).toBe("t-live-failed")
          yield* backend.forget("t-live")
          yield* backend.forget("t-live-failed")
        }))

      it.effect("serves its OpenAPI document, the pages, and metrics in the Prometheus format", () =>
        Effect.gen(function*() {
          const spec = yield* get("/api/openapi.json")
          expect(spec.status).toBe(200)
          expect(Object.keys(spec.json.paths).sort()).toEqual([
            "/api/cleanup",
            "/api/events",
            "/api/groups",
            "/api/groups/{groupId}",
            "/api/pipelines/runs",
            "/api/pipelines/runs/{runId}",
            "/api/stats",
            "/api/summary",
            "/api/tasks",
            "/api/tasks/{taskId}"
          ])
          expect(spec.json.components.schemas.Task).toBeDefined()
          expect(spec.json.paths["/api/tasks"].get.responses["400"]).toBeDefined()
          const page = yield* get("/")
          expect(page.status).toBe(200)
          expect(page.headers["content-type"]).toContain("text/html")
          // No inline script: every <script> loads a file.
          expect(page.text.match(/<script\b[^>]*>/g)).toEqual(["<script type=\"module\" src=\"/assets/app.js\">"])
          expect(page.text).not.toMatch(/<script\b[^>]*>[^<\s]/)
          const js = yield* get("/assets/app.js")
          expect(js.status).toBe(200)
          expect(js.headers["content-type"]).toContain("javascript")
          expect((yield* get("/assets/app.css")).status).toBe(200)
          const metrics = yield* get("/metrics")
          expect(metrics.status).toBe(200)
          expect(metrics.headers["content-type"]).toBe("text/plain; version=0.0.4; charset=utf-8")
          expect(metrics.text).toContain("# TYPE taskmeta_tasks gauge")
          const { byState } = (yield* get("/api/summary")).json
          expect(byState.SUCCESS).toBeGreaterThanOrEqual(2)
          expect(metrics.text).toContain(`taskmeta_tasks{state="SUCCESS"} ${byState.SUCCESS}\n`)
          expect(metrics.text).toContain(`taskmeta_tasks{state="FAILURE"} ${byState.FAILURE}\n`)
          expect(metrics.text).toContain("taskmeta_tasks_started 1\n")
          expect(metrics.text).toContain("taskmeta_tasks_pending 0")
          expect(metrics.text).toMatch(/\ntaskmeta_oldest_unfinished_task_age_seconds \d+(\.\d+)?\n/)
          expect(metrics.text).toContain("taskmeta_cleanup_due{kind=\"task\"} 0")
          const missing = yield* get("/no/such/page")
          expect(missing.status).toBe(404)
          expect(missing.json._tag).toBe("NotFound")
        }))

      it.effect("every answer carries the security headers; another Host is refused", () =>
        Effect.gen(function*() {
          for (const url of ["/", "/api/summary", "/api/tasks?limit=x", "/metrics", "/nope"]) {
            const reply = yield* get(url)
            const csp = String(reply.headers["content-security-policy"])
            expect(csp).toContain("script-src 'self'")
            expect(csp).toContain("default-src 'none'")
            expect(csp).not.toContain("unsafe-inline")
            expect(reply.headers["x-content-type-options"]).toBe("nosniff")
            expect(reply.headers["x-frame-options"]).toBe("DENY")
          }
          const rebound = yield* get("/api/summary", { host: "attacker.example:5555" })
          expect(rebound.status).toBe(403)
          expect((yield* get("/api/summary", { host: "localhost:1234" })).status).toBe(200)
        }))

      it.effect("the backend URL and its password appear in no response and no log line", () =>
        Effect.gen(function*() {
          const url = store.url(0)
          const replies = yield* Effect.forEach(
            ["/", "/assets/app.js", "/api/summary", "/api/tasks", "/api/stats", "/api/openapi.json", "/metrics", "/api/tasks/t-failure"],
            (u) => get(u)
          )
          for (const reply of replies) {
            expect(reply.text).not.toContain(PASSWORD)
            expect(reply.text).not.toContain(url)
            expect(reply.text).not.toContain(dir)
            expect(JSON.stringify(reply.headers)).not.toContain(PASSWORD)
          }
          expect(logLines.join("\n")).not.toContain(PASSWORD)
        }))
    })

    layer(
      seeded(store.url(1), { allowWrites: true }, { ...store.options(1), resultExpires: Duration.millis(1) }),
      options
    )("with --allow-writes", (it) => {
      it.effect("forget works from the server's own pages and is refused cross-origin", () =>
        Effect.gen(function*() {
          const port = yield* Port
          const own = { origin: `http://127.0.0.1:${port}`, "sec-fetch-site": "same-origin" }
          const cross = yield* send("DELETE", "/api/tasks/t-success", undefined, { origin: "http://attacker.example" })
          expect(cross.status).toBe(403)
          expect(cross.json._tag).toBe("Forbidden")
          const crossSite = yield* send("DELETE", "/api/tasks/t-success", undefined, { "sec-fetch-site": "cross-site" })
          expect(crossSite.status).toBe(403)
          const nullOrigin = yield* send("DELETE", "/api/tasks/t-success", undefined, { origin: "null" })
          expect(nullOrigin.status).toBe(403)
          expect((yield* get("/api/tasks/t-success")).status).toBe(200)
          const forgot = yield* send("DELETE", "/api/tasks/t-success", undefined, own)
          expect(forgot.status).toBe(200)
          expect(forgot.json).toEqual({ taskId: "t-success", existed: true })
          expect((yield* get("/api/tasks/t-success")).status).toBe(404)
          const again = yield* send("DELETE", "/api/tasks/t-success", undefined, own)
          expect(again.json).toEqual({ taskId: "t-success", existed: false })
          expect((yield* get("/api/summary")).json.writable).toBe(true)
        }))

      it.effect("cleanup: a dry run counts, then the cleanup deletes exactly that; a form post is refused", () =>
        Effect.gen(function*() {
          const port = yield* Port
          const own = { origin: `http://127.0.0.1:${port}` }
          const form = yield* send("POST", "/api/cleanup", undefined, { ...own, "content-type": "text/plain" })
          expect(form.status).toBe(403)
          const cross = yield* send("POST", "/api/cleanup", { dryRun: false }, { origin: "http://attacker.example" })
          expect(cross.status).toBe(403)
          yield* Effect.sleep("20 millis")
          const dry = yield* send("POST", "/api/cleanup", { dryRun: true }, own)
          expect(dry.status).toBe(200)
          expect(dry.json.dryRun).toBe(true)
          expect(dry.json.tasks).toBeGreaterThanOrEqual(2)
          expect(dry.json.groups).toBe(1)
          const done = yield* send("POST", "/api/cleanup", { dryRun: false }, own)
          expect(done.status).toBe(200)
          expect(done.json).toEqual({ dryRun: false, tasks: dry.json.tasks, groups: dry.json.groups })
          expect((yield* send("POST", "/api/cleanup", {}, own)).json).toEqual({ dryRun: true, tasks: 0, groups: 0 })
          expect((yield* get("/api/tasks/t-started")).status).toBe(200)
        }))
    })

    layer(
      seeded(store.url(2), { credentials: { username: "ops", password: Redacted.make("s3cret:pass") } }, store.options(2)),
      options
    )("with credentials", (it) => {
      it.effect("every path answers 401 without them, with a Basic challenge; with them, it answers", () =>
        Effect.gen(function*() {
          const basic = (user: string, password: string) => ({
            authorization: `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`
          })
          for (const url of ["/", "/api/summary", "/api/tasks", "/api/events", "/metrics", "/api/openapi.json"]) {
            const none = yield* get(url)
            expect({ url, status: none.status }).toEqual({ url, status: 401 })
            expect(none.headers["www-authenticate"]).toContain("Basic")
            expect(none.json._tag).toBe("Unauthorized")
          }
          expect((yield* get("/api/summary", basic("ops", "wrong"))).status).toBe(401)
          expect((yield* get("/api/summary", basic("other", "s3cret:pass"))).status).toBe(401)
          expect((yield* get("/api/summary", { authorization: "Bearer s3cret:pass" })).status).toBe(401)
          const ok = yield* get("/api/summary", basic("ops", "s3cret:pass"))
          expect(ok.status).toBe(200)
          expect(ok.json.tasks).toBe(4)
          expect((yield* send("DELETE", "/api/tasks/t-success")).status).toBe(401)
        }))
    })
  })
}
