/**
 * What `ArangoScan` sends over the wire (the exact AQL, bind variables and
 * cursor options), how it pages through a cursor and how it reads the
 * answers — against the loopback FakeArango, which emulates the statements in
 * JavaScript. Not a real ArangoDB: it says nothing about how a server plans
 * or runs this AQL.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as ArangoBackend from "../src/ArangoBackend.js"
import type * as ArangoConfig from "../src/ArangoConfig.js"
import * as ArangoDocument from "../src/ArangoDocument.js"
import * as ArangoScan from "../src/ArangoScan.js"
import { ArangoFailure } from "../src/internal/classify.js"
import { FakeArango } from "./support/FakeArango.js"

let fake: FakeArango

beforeEach(async () => {
  fake = new FakeArango({ celery: ["celery", "taskmeta_pipeline_executions"] })
  await fake.start()
})
afterEach(async () => {
  await fake.stop()
})

const withScan = <A, E>(
  body: (scan: ArangoScan.ArangoScan) => Effect.Effect<A, E>,
  options: ArangoScan.Options = {},
  config: ArangoConfig.Input = {}
) =>
  Effect.scoped(
    Effect.flatMap(ArangoScan.make({ url: `arangodb://127.0.0.1:${fake.port}`, ...config }, options), body)
  )

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const put = (key: string, task: unknown) => fake.collection().set(key, { _key: key, task })

/** A task document as taskmeta and Celery ≥ 5.3.4 write it (JSON text). */
const task = (id: string, status: string, dateDone: string | null, extra: Record<string, unknown> = {}) =>
  put(ArangoDocument.taskKey(id), JSON.stringify({ status, result: null, traceback: null, children: [], date_done: dateDone, ...extra, task_id: id }))

const META = "(IS_STRING(doc.task) ? JSON_PARSE(doc.task) : doc.task)"
const DONE = "LET done = meta.status IN @ready && IS_STRING(meta.date_done) ? DATE_TIMESTAMP(meta.date_done) : null"
const READY = ["SUCCESS", "FAILURE", "REVOKED"]
const cursorBodies = () => fake.requests.filter((r) => r.path === "/_db/celery/_api/cursor").map((r) => r.body)

describe("the AQL, bind variables and cursor options of each scan", () => {
  it.effect("list without filters: one streaming cursor, newest first, [key, task] pairs", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        yield* collect(scan.listTasks())
        expect(cursorBodies()).toEqual([{
          query: "FOR doc IN @@collection\n" +
            "  FILTER STARTS_WITH(doc._key, @prefix)\n" +
            `  LET meta = ${META}\n` +
            `  ${DONE}\n` +
            "  SORT done == null DESC, done DESC, doc._key DESC\n" +
            "  RETURN [doc._key, doc.task]",
          bindVars: { "@collection": "celery", prefix: "celery-task-meta-", ready: READY },
          batchSize: 500,
          ttl: 120,
          options: { stream: true }
        }])
      })
    ))

  it.effect("list with every filter: one fixed FILTER line and one bind variable each", () =>
    withScan(
      (scan) =>
        Effect.gen(function*() {
          fake.databases.get("celery")!.set("results", new Map())
          yield* collect(scan.listTasks({
            states: ["SUCCESS", "FAILURE"],
            name: "tasks.add",
            since: DateTime.unsafeMake("2026-01-01T00:00:00Z"),
            until: DateTime.unsafeMake("2026-01-02T00:00:00Z"),
            limit: 20.7
          }))
          expect(cursorBodies()).toEqual([{
            query: "FOR doc IN @@collection\n" +
              "  FILTER STARTS_WITH(doc._key, @prefix)\n" +
              `  LET meta = ${META}\n` +
              `  ${DONE}\n` +
              "  FILTER meta.status IN @states\n" +
              "  FILTER meta.name == @name\n" +
              "  FILTER done != null && done >= @since\n" +
              "  FILTER done != null && done < @until\n" +
              "  SORT done == null DESC, done DESC, doc._key DESC\n" +
              "  LIMIT @limit\n" +
              "  RETURN [doc._key, doc.task]",
            bindVars: {
              "@collection": "results",
              prefix: "app_celery-task-meta-",
              ready: READY,
              states: ["SUCCESS", "FAILURE"],
              name: "tasks.add",
              since: Date.UTC(2026, 0, 1),
              until: Date.UTC(2026, 0, 2),
              limit: 20
            },
            batchSize: 50,
            ttl: 30,
            options: { stream: true }
          }])
        }),
      { batchSize: 50, cursorTtl: "30 seconds" },
      { collection: "results", keyPrefix: "app" }
    ))

  it.effect("an empty state list is no filter; a name alone adds only its line", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        yield* collect(scan.listTasks({ states: [], name: "n" }))
        const [body] = cursorBodies()
        expect(body.query).not.toContain("@states")
        expect(body.query).toContain("  FILTER meta.name == @name\n")
        expect(Object.keys(body.bindVars).sort()).toEqual(["@collection", "name", "prefix", "ready"])
      })
    ))

  it.effect("export: every task oldest first (the list's exact reverse), then every group by date_done", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        yield* collect(scan.exportTasks)
        yield* collect(scan.exportGroups)
        expect(cursorBodies().map((b) => [b.query, b.bindVars, b.options])).toEqual([
          [
            "FOR doc IN @@collection\n" +
            "  FILTER STARTS_WITH(doc._key, @prefix)\n" +
            `  LET meta = ${META}\n` +
            `  ${DONE}\n` +
            "  SORT done == null, done, doc._key\n" +
            "  RETURN [doc._key, doc.task]",
            { "@collection": "celery", prefix: "celery-task-meta-", ready: READY },
            { stream: true }
          ],
          [
            "FOR doc IN @@collection\n" +
            "  FILTER STARTS_WITH(doc._key, @prefix)\n" +
            `  LET meta = ${META}\n` +
            "  LET done = IS_OBJECT(meta) && IS_STRING(meta.date_done) ? DATE_TIMESTAMP(meta.date_done) : null\n" +
            "  SORT done, doc._key\n" +
            "  RETURN [doc._key, doc.task]",
            { "@collection": "celery", prefix: "celery-taskset-meta-" },
            { stream: true }
          ]
        ])
      })
    ))

  it.effect("counts: tasks per (status, name) and the groups, in one query", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        task("a", "SUCCESS", "2026-01-01T00:00:00", { name: "add" })
        task("b", "SUCCESS", "2026-01-01T00:00:00", { name: "add" })
        task("c", "FAILURE", "2026-01-01T00:00:00", { name: "div" })
        task("d", "STARTED", null)
        put("celery-task-meta-broken", "not json")
        put("celery-taskset-meta-g", JSON.stringify({ result: [["g", null], []] }))
        const counts = yield* scan.counts
        expect(cursorBodies()).toEqual([{
          query: "LET tasks = (\n" +
            "  FOR doc IN @@collection\n" +
            "    FILTER STARTS_WITH(doc._key, @taskPrefix)\n" +
            `    LET meta = ${META}\n` +
            "    FILTER IS_OBJECT(meta) && IS_STRING(meta.status) && meta.status != \"\"\n" +
            "    COLLECT status = meta.status, name = (IS_STRING(meta.name) ? meta.name : null) WITH COUNT INTO n\n" +
            "    RETURN { status: status, name: name, n: n }\n" +
            ")\n" +
            "LET groups = (\n" +
            "  FOR doc IN @@collection\n" +
            "    FILTER STARTS_WITH(doc._key, @groupPrefix)\n" +
            "    COLLECT WITH COUNT INTO n\n" +
            "    RETURN n\n" +
            ")\n" +
            "RETURN { tasks: tasks, groups: FIRST(groups) }",
          bindVars: { "@collection": "celery", taskPrefix: "celery-task-meta-", groupPrefix: "celery-taskset-meta-" },
          options: {}
        }])
        expect(counts).toEqual({
          tasks: [
            { status: "SUCCESS", name: "add", count: 2 },
            { status: "FAILURE", name: "div", count: 1 },
            { status: "STARTED", name: null, count: 1 }
          ],
          groups: 1
        })
      })
    ))

  it.effect("countExpired: cleanup's own filter, counted, rule by rule, then the groups", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        yield* TestClock.setTime(10 * 86_400_000)
        const now = 10 * 86_400_000
        task("old-ok", "SUCCESS", "1970-01-02T00:00:00")
        task("old-fail", "FAILURE", "1970-01-02T00:00:00")
        task("new-fail", "FAILURE", "1970-01-09T12:00:00+00:00")
        task("old-started", "STARTED", "1970-01-01T00:00:00")
        put("celery-taskset-meta-g-old", JSON.stringify({ result: [["g-old", null], []], date_done: "1970-01-01T00:00:00" }))
        put("celery-taskset-meta-g-celery", JSON.stringify({ result: [["g-celery", null], []] }))
        const options = BackendOptions.make({ expiresByState: { FAILURE: "7 days" } })
        expect(yield* scan.countExpired(options)).toEqual({ tasks: 2, groups: 1 })
        const taskFilter = "FOR doc IN @@collection\n" +
          "  FILTER STARTS_WITH(doc._key, @prefix)\n" +
          `  LET meta = ${META}\n` +
          "  FILTER IS_OBJECT(meta) && meta.status IN @states && IS_STRING(meta.date_done)\n" +
          "  LET done = DATE_TIMESTAMP(meta.date_done)\n" +
          "  FILTER done != null && done < @before\n"
        const groupFilter = taskFilter.replace("meta.status IN @states && ", "")
        const count = "  COLLECT WITH COUNT INTO n\n  RETURN n"
        expect(cursorBodies().map((b) => [b.query, b.bindVars])).toEqual([
          [taskFilter + count, { "@collection": "celery", prefix: "celery-task-meta-", states: ["FAILURE"], before: now - 7 * 86_400_000 }],
          [taskFilter + count, { "@collection": "celery", prefix: "celery-task-meta-", states: ["SUCCESS", "REVOKED"], before: now - 86_400_000 }],
          [groupFilter + count, { "@collection": "celery", prefix: "celery-taskset-meta-", before: now - 86_400_000 }]
        ])
        // the same filter the cleanup runs, line for line
        const cleanup = yield* Effect.scoped(Effect.flatMap(
          ArangoBackend.make({ url: `arangodb://127.0.0.1:${fake.port}` }, { expiresByState: { FAILURE: "7 days" } }),
          (backend) => backend.cleanup()
        ))
        expect(cleanup).toEqual({ tasks: 2, groups: 1 })
        const cleanupQuery = fake.queries.find((q) => q.query.startsWith("LET removed"))!.query
        expect(cleanupQuery).toContain(taskFilter.split("\n").map((l) => (l === "" ? l : `  ${l}`)).join("\n"))
      })
    ))

  it.effect("a rule that can delete no READY state sends no query; resultExpires null counts no groups", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        const options = BackendOptions.make({ resultExpires: null, expiresByState: { STARTED: "1 day" } })
        expect(yield* scan.countExpired(options)).toEqual({ tasks: 0, groups: 0 })
        expect(cursorBodies()).toEqual([])
      })
    ))

  it.effect("pipelineIds: the distinct ids of an executions collection, sorted", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        const executions = fake.collection("celery", "taskmeta_pipeline_executions") as unknown as Map<string, object>
        executions.set("r1", { _key: "r1", pipelineId: "ingest" })
        executions.set("r2", { _key: "r2", pipelineId: "export" })
        executions.set("r3", { _key: "r3", pipelineId: "ingest" })
        expect(yield* scan.pipelineIds("taskmeta_pipeline_executions")).toEqual(["export", "ingest"])
        expect(cursorBodies()).toEqual([{
          query: "FOR d IN @@collection\n  FILTER IS_STRING(d.pipelineId)\n  COLLECT pipelineId = d.pipelineId\n  RETURN pipelineId",
          bindVars: { "@collection": "taskmeta_pipeline_executions" },
          options: {}
        }])
      })
    ))
})

describe("cursor batches", () => {
  const seedFive = () => {
    for (let i = 1; i <= 5; i++) task(`t${i}`, "SUCCESS", `2026-01-0${i}T00:00:00`)
  }

  it.effect("reads batchSize documents per round trip, following nextBatchId, and ends with the cursor drained", () =>
    withScan(
      (scan) =>
        Effect.gen(function*() {
          seedFive()
          const ids = (yield* collect(scan.listTasks())).map((r) => r.taskId)
          expect(ids).toEqual(["t5", "t4", "t3", "t2", "t1"])
          const paths = fake.requests.map((r) => `${r.method} ${r.path}`)
          const id = /cursor\/(\d+)\//.exec(paths[1])![1]
          expect(paths).toEqual([
            "POST /_db/celery/_api/cursor",
            `POST /_db/celery/_api/cursor/${id}/2`,
            `POST /_db/celery/_api/cursor/${id}/3`
          ])
          expect(fake.cursors.size).toBe(0)
          expect(fake.killedCursors).toEqual([])
        }),
      { batchSize: 2 }
    ))

  it.effect("a stream stopped early deletes its cursor on the server, and fetches no further batch", () =>
    withScan(
      (scan) =>
        Effect.gen(function*() {
          seedFive()
          const first = yield* collect(Stream.take(scan.exportTasks, 1))
          expect(first.map((r) => r.taskId)).toEqual(["t1"])
          const paths = fake.requests.map((r) => `${r.method} ${r.path}`)
          expect(paths).toEqual(["POST /_db/celery/_api/cursor", expect.stringMatching(/^DELETE \/_db\/celery\/_api\/cursor\/\d+$/)])
          expect(fake.killedCursors).toHaveLength(1)
          expect(fake.cursors.size).toBe(0)
        }),
      { batchSize: 2 }
    ))

  it.effect("a failure fetching a later batch fails the stream with an ArangoFailure (after the rows before it)", () =>
    withScan(
      (scan) =>
        Effect.gen(function*() {
          seedFive()
          fake.faults.push({ kind: "pass" }, { kind: "arango", status: 404, errorNum: 1600, errorMessage: "cursor not found" })
          const seen: Array<string> = []
          const exit = yield* Effect.exit(Stream.runForEach(scan.listTasks(), (r) => Effect.sync(() => seen.push(r.taskId))))
          expect(seen).toEqual(["t5", "t4"])
          expect(Exit.isFailure(exit)).toBe(true)
          if (Exit.isFailure(exit)) {
            const error = Option.getOrUndefined(Cause.failureOption(exit.cause))
            expect(error?.operation).toBe("arango.browse.listTasks")
            expect(error?.cause).toBeInstanceOf(ArangoFailure)
            expect((error?.cause as ArangoFailure).errorNum).toBe(1600)
          }
        }),
      { batchSize: 2 }
    ))
})

describe("reading what is stored", () => {
  it.effect("both forms, big integers exact, Celery's own keys, hashed keys, extended fields", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        const long = "L".repeat(300)
        // Celery ≥ 5.3.4: JSON text, with a big integer
        put("celery-task-meta-c1", "{\"status\": \"SUCCESS\", \"result\": 12345678901234567890, \"traceback\": null, " +
          "\"children\": [], \"date_done\": \"2026-01-03T00:00:00.000001+00:00\", \"name\": \"mul\", \"args\": [2, 3], " +
          "\"kwargs\": {}, \"worker\": \"w@h\", \"retries\": 0, \"queue\": \"celery\", \"task_id\": \"c1\"}")
        // older Celery: an object, naive UTC date
        put("celery-task-meta-c2", { status: "FAILURE", result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" }, traceback: "Traceback…", children: [], date_done: "2026-01-02T00:00:00", task_id: "c2" })
        // an id too long for a key: the hashed key, the id from task_id
        task(long, "REVOKED", "2026-01-01T00:00:00")
        // not a task: other prefixes are never read
        put("celery-taskset-meta-g", JSON.stringify({ result: [["g", null], []] }))
        put("something-else", "{}")
        const records = yield* collect(scan.exportTasks)
        expect(records.map((r) => [r.taskId, r.status, r.dateDone === null ? null : DateTime.formatIso(r.dateDone)])).toEqual([
          [long, "REVOKED", "2026-01-01T00:00:00.000Z"],
          ["c2", "FAILURE", "2026-01-02T00:00:00.000Z"],
          ["c1", "SUCCESS", "2026-01-03T00:00:00.000Z"]
        ])
        expect(records[2].result).toBe(12345678901234567890n)
        expect(records[2]).toMatchObject({ name: "mul", args: [2, 3], worker: "w@h", retries: 0, queue: "celery" })
        expect(records[1].traceback).toBe("Traceback…")
        const groups = yield* collect(scan.exportGroups)
        expect(groups.map((g) => [g.groupId, DateTime.toEpochMillis(g.dateDone)])).toEqual([["g", 0]])
      })
    ))

  it.effect("newest first: unfinished first, then date_done as instants (offsets too), ties by key; non-READY dates ignored", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        task("b-same", "SUCCESS", "2026-01-02T00:00:00")
        task("a-same", "FAILURE", "2026-01-02T00:00:00+00:00")
        task("offset", "SUCCESS", "2026-01-02T03:00:00+05:00") // 2026-01-01T22:00Z: older than the two above
        task("started", "STARTED", "2030-01-01T00:00:00") // a date on a non-READY record does not count
        task("pending", "PENDING", null)
        const ids = (filter?: ResultBrowser.Filter) =>
          Effect.map(collect(scan.listTasks(filter)), (rs) => rs.map((r) => r.taskId))
        expect(yield* ids()).toEqual(["started", "pending", "b-same", "a-same", "offset"])
        expect(yield* ids({ limit: 2 })).toEqual(["started", "pending"])
        expect(yield* ids({ since: DateTime.unsafeMake("2026-01-01T23:00:00Z") })).toEqual(["b-same", "a-same"])
        expect(yield* ids({ until: DateTime.unsafeMake("2026-01-02T00:00:00Z") })).toEqual(["offset"])
        expect(yield* ids({ states: ["FAILURE", "PENDING"] })).toEqual(["pending", "a-same"])
        expect((yield* collect(scan.exportTasks)).map((r) => r.taskId)).toEqual(["offset", "a-same", "b-same", "pending", "started"])
      })
    ))

  it.effect("a document that is not a Celery result fails the list, naming its key", () =>
    withScan((scan) =>
      Effect.gen(function*() {
        put("celery-task-meta-bad", "{\"result\": 1}")
        const error = yield* Effect.flip(collect(scan.listTasks()))
        expect(error.operation).toBe("arango.browse.listTasks")
        expect(error.message).toContain("document \"celery-task-meta-bad\" is not a Celery result: status is missing")
      })
    ))
})
