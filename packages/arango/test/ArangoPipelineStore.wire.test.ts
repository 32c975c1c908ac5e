/**
 * What the ArangoDB pipeline store sends over the wire — the exact AQL, the
 * bind variables, the stream-transaction requests — and how it handles the
 * answers, against the loopback FakePipelineArango (not a real ArangoDB).
 */
import { inspect } from "node:util"
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import type * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import * as ArangoConfig from "../src/ArangoConfig.js"
import * as ArangoPipelineStore from "../src/ArangoPipelineStore.js"
import { ArangoFailure, classify } from "../src/internal/classify.js"
import * as Aql from "../src/internal/pipelineAql.js"
import type { Recorded } from "./support/FakeArango.js"
import { FakePipelineArango } from "./support/FakePipelineArango.js"

let fake: FakePipelineArango

beforeEach(async () => {
  fake = new FakePipelineArango()
  await fake.start()
})
afterEach(async () => {
  await fake.stop()
})

const fastRetry: RetryPolicy.Settings = {
  ...RetryPolicy.defaults,
  baseSleep: Duration.millis(1),
  maxSleep: Duration.millis(5)
}

const C = {
  executions: "taskmeta_pipeline_executions",
  pipelineResults: "taskmeta_pipeline_results",
  taskExecutions: "taskmeta_task_executions",
  taskResults: "taskmeta_task_results"
}

/** Builds the store (with `create: true`), forgets the setup requests, runs `body`. */
const withStore = <A, E>(
  body: (store: PipelineStore.Service) => Effect.Effect<A, E>,
  options: ArangoPipelineStore.Options = {},
  config: ArangoConfig.Input = {}
) =>
  Effect.scoped(
    ArangoPipelineStore.make(
      { url: `arangodb://127.0.0.1:${fake.port}/celery`, create: true, ...config },
      { retry: fastRetry, ...options }
    ).pipe(
      Effect.tap(() => Effect.sync(() => void fake.requests.splice(0))),
      Effect.flatMap(body),
      Logger.withMinimumLogLevel(LogLevel.Warning)
    )
  )

/** The requests as `METHOD path [trx]`, cursor requests named by their statement. */
const names = new Map<string, string>([
  [Aql.insertExecution, "insertExecution"],
  [Aql.insertMany, "insertMany"],
  [Aql.getOne, "getOne"],
  [Aql.listExecutions, "listExecutions"],
  [Aql.list(false), "list"],
  [Aql.list(true), "list+statuses"],
  [Aql.lock, "lock"],
  [Aql.updateAt, "updateAt"],
  [Aql.update, "update"],
  [Aql.advance, "advance"],
  [Aql.digest, "digest"],
  [Aql.cleanup, "cleanup"]
])
const describeRequest = (r: Recorded) => {
  const path = r.path.replace(/^\/_db\/celery/, "")
  const trx = r.headers["x-arango-trx-id"] === undefined ? "" : " [trx]"
  if (path === "/_api/cursor") return `${names.get(r.body.query) ?? "?"}${trx} ${r.body.bindVars["@collection"] ?? ""}`.trim()
  if (path === "/_api/transaction/begin") return "begin"
  if (path.startsWith("/_api/transaction/")) return r.method === "PUT" ? "commit" : r.method === "DELETE" ? "abort" : "?"
  return `${r.method} ${path}`
}
const trail = () => fake.requests.map(describeRequest)
const cursorBodies = () => fake.requests.filter((r) => r.path.endsWith("/_api/cursor")).map((r) => r.body)

const tiny = (runId: string): PipelineStore.BuildInput => ({
  runId,
  pipelineId: "p",
  inputData: { a: 1 },
  pipelineResults: [{ object: { item: 0 }, tasks: [{ taskName: "t", config: { step: 0 }, results: [{ object: "x" }] }] }]
})

const pendingStamps = { status: "PENDING", message: null, started: null, completed: null }

describe("the AQL and bind variables each operation sends", () => {
  it.effect("build: one stream transaction — execution insert-if-absent, one INSERT per kind, commit", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* TestClock.adjust(Duration.millis(1000))
        const outcome = yield* store.build(tiny("r1"))
        expect(outcome.created).toBe(true)
        expect(trail()).toEqual([
          "begin",
          `insertExecution [trx] ${C.executions}`,
          `insertMany [trx] ${C.pipelineResults}`,
          `insertMany [trx] ${C.taskExecutions}`,
          `insertMany [trx] ${C.taskResults}`,
          "commit"
        ])
        const begin = fake.requests[0]
        expect(begin.method).toBe("POST")
        expect(begin.body).toEqual({
          collections: { write: [C.executions, C.pipelineResults, C.taskExecutions, C.taskResults] },
          allowImplicit: false
        })
        const trxId = fake.transactionLog[0].id
        expect(fake.requests.slice(1, 5).every((r) => r.headers["x-arango-trx-id"] === trxId)).toBe(true)
        expect(fake.requests[5].path).toBe(`/_db/celery/_api/transaction/${trxId}`)
        expect(fake.transactionLog.map((t) => t.outcome)).toEqual(["committed"])

        const [insertExecution, prs, tes, trs] = cursorBodies()
        expect(insertExecution.query).toBe(
          "LET found = (FOR d IN @@collection FILTER d._key == @key LIMIT 1 RETURN true)\n" +
            "FILTER LENGTH(found) == 0\n" +
            "INSERT @doc INTO @@collection\n" +
            "RETURN true"
        )
        expect(insertExecution.options).toEqual({})
        expect(insertExecution.bindVars).toEqual({
          "@collection": C.executions,
          key: "r1",
          doc: {
            _key: "r1",
            runId: "r1",
            pipelineId: "p",
            inputData: "{\"a\":1}",
            created: 1000,
            ...pendingStamps,
            tally: { total: 1, final: 0, worst: null }
          }
        })
        const insertMany = "FOR doc IN @docs\nINSERT doc INTO @@collection"
        expect([prs.query, tes.query, trs.query]).toEqual([insertMany, insertMany, insertMany])
        expect(prs.bindVars).toEqual({
          "@collection": C.pipelineResults,
          docs: [{
            _key: "r1:0",
            id: "r1:0",
            runId: "r1",
            index: 0,
            object: "{\"item\":0}",
            ...pendingStamps,
            tally: { total: 1, final: 0, worst: null }
          }]
        })
        expect(tes.bindVars).toEqual({
          "@collection": C.taskExecutions,
          docs: [{
            _key: "r1:0:t0",
            id: "r1:0:t0",
            runId: "r1",
            pipelineResultId: "r1:0",
            index: 0,
            ordinal: 0,
            taskName: "t",
            config: "{\"step\":0}",
            ...pendingStamps,
            tally: { total: 1, final: 0, worst: null }
          }]
        })
        expect(trs.bindVars).toEqual({
          "@collection": C.taskResults,
          docs: [{
            _key: "r1:0:t0:0",
            id: "r1:0:t0:0",
            runId: "r1",
            taskExecutionId: "r1:0:t0",
            index: 0,
            ordinal: 0,
            object: "\"x\"",
            ...pendingStamps
          }]
        })
      })
    ))

  it.effect("build: JSON values travel as exact JSON text; keys are escaped, ids kept", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build({
          runId: "run/with space",
          pipelineId: "p",
          inputData: { big: 2n ** 70n, text: "ünï" },
          message: { why: "because" },
          status: "CONFIG_ERROR"
        })
        const [insertExecution] = cursorBodies()
        expect(insertExecution.bindVars.key).toBe("run%2Fwith%20space")
        expect(insertExecution.bindVars.doc).toMatchObject({
          _key: "run%2Fwith%20space",
          runId: "run/with space",
          inputData: "{\"big\":1180591620717411303424,\"text\":\"ünï\"}",
          status: "CONFIG_ERROR",
          message: "{\"why\":\"because\"}",
          completed: 0,
          tally: { total: 0, final: 0, worst: null }
        })
        // A run built final has no children: the execution alone.
        expect(trail()).toEqual(["begin", `insertExecution [trx] ${C.executions}`, "commit"])
        const read = Option.getOrThrow(yield* store.getExecution("run/with space"))
        expect(read.inputData).toEqual({ big: 2n ** 70n, text: "ünï" })
        expect(read.message).toEqual({ why: "because" })
      })
    ))

  it.effect("build: a big tree is inserted in chunks of INSERT_CHUNK_SIZE documents", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build({
          runId: "big",
          pipelineId: "p",
          pipelineResults: [{ tasks: [{ taskName: "t", results: Array.from({ length: 1201 }, () => ({})) }] }]
        })
        const trs = cursorBodies().filter((b) => b.bindVars["@collection"] === C.taskResults)
        expect(trs.map((b) => b.bindVars.docs.length)).toEqual([500, 500, 201])
        expect(trs[2].bindVars.docs[200].ordinal).toBe(1200)
        expect(fake.docs(C.taskResults).size).toBe(1201)
      })
    ))

  it.effect("build of a stored run: the insert returns nothing, no children are sent, created is false", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r2"))
        fake.requests.length = 0
        const again = yield* store.build(tiny("r2"))
        expect(again.created).toBe(false)
        expect(trail()).toEqual(["begin", `insertExecution [trx] ${C.executions}`, "commit"])
      })
    ))

  it.effect("build refused by another run's id: 1210 on a child insert aborts, is not retried, writes nothing", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build({ runId: "a", pipelineId: "p", pipelineResults: [{ id: "shared" }] })
        fake.requests.length = 0
        const error = yield* Effect.flip(store.build({ runId: "b", pipelineId: "p", pipelineResults: [{ id: "shared" }] }))
        expect(error._tag).toBe("PipelineBuildError")
        expect(trail()).toEqual([
          "begin",
          `insertExecution [trx] ${C.executions}`,
          `insertMany [trx] ${C.pipelineResults}`,
          "abort"
        ])
        const cause = (error as { cause: unknown }).cause as ArangoFailure
        expect([cause.errorNum, cause.transient]).toEqual([1210, false])
        expect(fake.docs(C.executions).has("b")).toBe(false)
      })
    ))

  it.effect("report RUNNING: a conditional UPDATE per level, inside one transaction", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r3"))
        yield* TestClock.adjust(Duration.millis(2500))
        fake.requests.length = 0
        const outcome = yield* store.report("TaskResult", "r3:0:t0:0", "RUNNING", { message: { pct: 5 } })
        expect(outcome.changes.map((c) => c.kind)).toEqual([
          "TaskResult",
          "TaskExecution",
          "PipelineResult",
          "PipelineExecution"
        ])
        expect(trail()).toEqual([
          "begin",
          `advance [trx] ${C.taskResults}`,
          `advance [trx] ${C.taskExecutions}`,
          `advance [trx] ${C.pipelineResults}`,
          `advance [trx] ${C.executions}`,
          "commit"
        ])
        const [tr, te, , pe] = cursorBodies()
        expect(tr.query).toBe(
          "FOR d IN @@collection\n" +
            "FILTER d._key == @key && d.status IN @from\n" +
            "UPDATE d WITH @patch IN @@collection\n" +
            "OPTIONS { ignoreRevs: false, mergeObjects: false }\n" +
            "RETURN { previous: OLD.status, rev: NEW._rev, runId: OLD.runId, " +
            "pipelineResultId: OLD.pipelineResultId, taskExecutionId: OLD.taskExecutionId }"
        )
        expect(tr.bindVars).toEqual({
          "@collection": C.taskResults,
          key: "r3:0:t0:0",
          from: ["PENDING"],
          patch: { status: "RUNNING", started: 2500, message: "{\"pct\":5}" }
        })
        expect(te.bindVars).toEqual({
          "@collection": C.taskExecutions,
          key: "r3:0:t0",
          from: ["PENDING"],
          patch: { status: "RUNNING", started: 2500 }
        })
        expect(pe.bindVars).toEqual({
          "@collection": C.executions,
          key: "r3",
          from: ["PENDING"],
          patch: { status: "RUNNING", started: 2500 }
        })
      })
    ))

  it.effect("report final: advance, then per parent a read of status, tally and _rev and an UPDATE at that _rev", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r4"))
        yield* TestClock.adjust(Duration.millis(4000))
        fake.requests.length = 0
        const outcome = yield* store.report("TaskResult", "r4:0:t0:0", "RUNTIME_ERROR")
        expect(outcome.changes.map((c) => [c.kind, c.from, c.to])).toEqual([
          ["TaskResult", "PENDING", "RUNTIME_ERROR"],
          ["TaskExecution", "PENDING", "RUNTIME_ERROR"],
          ["PipelineResult", "PENDING", "RUNTIME_ERROR"],
          ["PipelineExecution", "PENDING", "RUNTIME_ERROR"]
        ])
        expect(trail()).toEqual([
          "begin",
          `advance [trx] ${C.taskResults}`,
          `lock [trx] ${C.taskExecutions}`,
          `updateAt [trx] ${C.taskExecutions}`,
          `lock [trx] ${C.pipelineResults}`,
          `updateAt [trx] ${C.pipelineResults}`,
          `lock [trx] ${C.executions}`,
          `updateAt [trx] ${C.executions}`,
          "commit"
        ])
        const bodies = cursorBodies()
        expect(bodies[0].bindVars).toMatchObject({ from: ["PENDING", "RUNNING"], patch: { status: "RUNTIME_ERROR", completed: 4000 } })
        expect(bodies[1].query).toBe(
          "FOR d IN @@collection\n" +
            "FILTER d._key == @key\n" +
            "LIMIT 1\n" +
            "RETURN { status: d.status, tally: d.tally, rev: d._rev, runId: d.runId, " +
            "pipelineResultId: d.pipelineResultId, taskExecutionId: d.taskExecutionId }"
        )
        expect(bodies[1].bindVars).toEqual({ "@collection": C.taskExecutions, key: "r4:0:t0" })
        expect(bodies[2].query).toBe(
          "UPDATE { _key: @key, _rev: @rev } WITH @patch IN @@collection\n" +
            "OPTIONS { ignoreRevs: false, mergeObjects: false }"
        )
        const revBefore = bodies[2].bindVars.rev
        expect(typeof revBefore).toBe("string")
        expect(bodies[2].bindVars).toEqual({
          "@collection": C.taskExecutions,
          key: "r4:0:t0",
          rev: revBefore,
          patch: { status: "RUNTIME_ERROR", completed: 4000, tally: { total: 1, final: 1, worst: "RUNTIME_ERROR" } }
        })
        expect(fake.docs(C.taskExecutions).get("r4:0:t0")).toMatchObject({
          status: "RUNTIME_ERROR",
          completed: 4000,
          started: null,
          tally: { total: 1, final: 1, worst: "RUNTIME_ERROR" }
        })
      })
    ))

  it.effect("a refused report commits an empty transaction; an unknown record aborts with PipelineNotFound", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r5"))
        yield* store.report("TaskResult", "r5:0:t0:0", "DONE")
        fake.requests.length = 0
        const refused = yield* store.report("TaskResult", "r5:0:t0:0", "RUNNING")
        expect(refused).toMatchObject({ applied: false, status: "DONE", changes: [] })
        expect(trail()).toEqual(["begin", `advance [trx] ${C.taskResults}`, `lock [trx] ${C.taskResults}`, "commit"])
        fake.requests.length = 0
        const missing = yield* Effect.flip(store.report("TaskExecution", "nope", "DONE"))
        expect(missing._tag).toBe("PipelineNotFound")
        expect(trail()).toEqual([
          "begin",
          `advance [trx] ${C.taskExecutions}`,
          `lock [trx] ${C.taskExecutions}`,
          "abort"
        ])
      })
    ))

  it.effect("gets and lists: one query each, by key or by an indexed attribute, sorted", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r6"))
        fake.requests.length = 0
        const tr = Option.getOrThrow(yield* store.getTaskResult("r6:0:t0:0"))
        expect(tr).toEqual({
          id: "r6:0:t0:0",
          runId: "r6",
          taskExecutionId: "r6:0:t0",
          index: 0,
          object: "x",
          ...pendingStamps
        })
        yield* store.listExecutions("p")
        yield* store.listPipelineResults("r6")
        yield* store.listTaskExecutions({ pipelineResultId: "r6:0" })
        yield* store.listTaskResults({ runId: "r6" }, { status: ["RUNTIME_ERROR", "CANCELLED"] })
        const bodies = cursorBodies()
        expect(bodies.map((b) => b.query)).toEqual([
          "FOR d IN @@collection\nFILTER d._key == @key\nLIMIT 1\nRETURN d",
          "FOR d IN @@collection\nFILTER d.pipelineId == @pipelineId\nSORT d.created, d.runId\nRETURN d",
          "FOR d IN @@collection\nFILTER d.@field == @id\nSORT d.@order\nRETURN d",
          "FOR d IN @@collection\nFILTER d.@field == @id\nSORT d.@order\nRETURN d",
          "FOR d IN @@collection\nFILTER d.@field == @id\nFILTER d.status IN @statuses\nSORT d.@order\nRETURN d"
        ])
        expect(bodies.map((b) => b.bindVars)).toEqual([
          { "@collection": C.taskResults, key: "r6:0:t0:0" },
          { "@collection": C.executions, pipelineId: "p" },
          { "@collection": C.pipelineResults, field: "runId", id: "r6", order: "index" },
          { "@collection": C.taskExecutions, field: "pipelineResultId", id: "r6:0", order: "index" },
          {
            "@collection": C.taskResults,
            field: "runId",
            id: "r6",
            order: "ordinal",
            statuses: ["RUNTIME_ERROR", "CANCELLED"]
          }
        ])
        expect(trail().some((t) => t.includes("[trx]"))).toBe(false)
      })
    ))

  it.effect("digest: one query over the pipeline's executions", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("r7"))
        yield* store.report("TaskResult", "r7:0:t0:0", "RUNNING")
        yield* TestClock.adjust(Duration.millis(1500))
        yield* store.report("TaskResult", "r7:0:t0:0", "DONE")
        fake.requests.length = 0
        const digest = yield* store.digest("p")
        expect(digest).toEqual({
          pipelineId: "p",
          totalRuns: 1,
          successes: 1,
          failures: 0,
          lastRan: DateTime.unsafeMake(0),
          averageRuntimeMs: 1500
        })
        const [body] = cursorBodies()
        expect(body.query).toBe(Aql.digest)
        expect(body.query).toContain("LET timed = runs[* FILTER CURRENT.runtime != null].runtime")
        expect(body.bindVars).toEqual({
          "@collection": C.executions,
          pipelineId: "p",
          done: "DONE",
          failures: ["CONFIG_ERROR", "VALIDATION_ERROR", "RUNTIME_ERROR", "CANCELLED"]
        })
      })
    ))

  it.effect("cleanup: one query per batch over the four collections, bottom-up, until a batch comes back short", () =>
    withStore(
      (store) =>
        Effect.gen(function*() {
          for (const runId of ["c1", "c2", "c3"]) {
            yield* store.build({ runId, pipelineId: "p", status: "CANCELLED" })
          }
          yield* store.build(tiny("open"))
          yield* TestClock.adjust(Duration.millis(10_000))
          fake.requests.length = 0
          const removed = yield* store.cleanup(yield* DateTime.now)
          expect(removed).toEqual(["c1", "c2", "c3"])
          const bodies = cursorBodies()
          expect(bodies).toHaveLength(2)
          expect(bodies[0].query).toBe(
            "LET runs = (\n" +
              "  FOR e IN @@executions\n" +
              "    FILTER e.completed != null && e.completed < @before && e.status IN @finals\n" +
              "    SORT e.completed\n" +
              "    LIMIT @limit\n" +
              "    RETURN { key: e._key, runId: e.runId }\n" +
              ")\n" +
              "LET ids = runs[*].runId\n" +
              "LET tr = (FOR d IN @@taskResults FILTER d.runId IN ids REMOVE d IN @@taskResults)\n" +
              "LET te = (FOR d IN @@taskExecutions FILTER d.runId IN ids REMOVE d IN @@taskExecutions)\n" +
              "LET pr = (FOR d IN @@pipelineResults FILTER d.runId IN ids REMOVE d IN @@pipelineResults)\n" +
              "FOR run IN runs\n" +
              "  REMOVE { _key: run.key } IN @@executions\n" +
              "  RETURN OLD.runId"
          )
          expect(bodies[0].bindVars).toEqual({
            "@executions": C.executions,
            "@pipelineResults": C.pipelineResults,
            "@taskExecutions": C.taskExecutions,
            "@taskResults": C.taskResults,
            before: 10_000,
            finals: ["DONE", "CONFIG_ERROR", "VALIDATION_ERROR", "RUNTIME_ERROR", "CANCELLED"],
            limit: 2
          })
          expect(fake.docs(C.executions).has("open")).toBe(true)
        }),
      { cleanupBatchSize: 2 }
    ))
})

describe("setup, names and credentials", () => {
  it.effect("create: true creates the database, the four collections and eight persistent indexes, idempotently", () =>
    Effect.gen(function*() {
      const input = { url: `arangodb://127.0.0.1:${fake.port}/pipes`, create: true }
      yield* Effect.scoped(ArangoPipelineStore.make(input, { prefix: "ci_" }))
      const posts = fake.requests.filter((r) => r.method === "POST")
      expect(posts.map((r) => [r.path, r.body.name])).toEqual([
        ["/_db/_system/_api/database", "pipes"],
        ["/_db/pipes/_api/collection", "ci_pipeline_executions"],
        ["/_db/pipes/_api/collection", "ci_pipeline_results"],
        ["/_db/pipes/_api/collection", "ci_task_executions"],
        ["/_db/pipes/_api/collection", "ci_task_results"],
        ...ArangoPipelineStore.INDEXES.map((i) => ["/_db/pipes/_api/index", i.name])
      ])
      expect(fake.indexes).toEqual([
        { collection: "ci_pipeline_executions", body: { type: "persistent", name: "taskmeta_pipeline_created", fields: ["pipelineId", "created"] } },
        { collection: "ci_pipeline_executions", body: { type: "persistent", name: "taskmeta_completed", fields: ["completed"] } },
        { collection: "ci_pipeline_results", body: { type: "persistent", name: "taskmeta_run_index", fields: ["runId", "index"] } },
        { collection: "ci_task_executions", body: { type: "persistent", name: "taskmeta_run_ordinal", fields: ["runId", "ordinal"] } },
        { collection: "ci_task_executions", body: { type: "persistent", name: "taskmeta_parent_index", fields: ["pipelineResultId", "index"] } },
        { collection: "ci_task_results", body: { type: "persistent", name: "taskmeta_run_ordinal", fields: ["runId", "ordinal"] } },
        { collection: "ci_task_results", body: { type: "persistent", name: "taskmeta_parent_index", fields: ["taskExecutionId", "index"] } },
        { collection: "ci_task_results", body: { type: "persistent", name: "taskmeta_run_status", fields: ["runId", "status"] } }
      ])
      fake.requests.length = 0
      yield* Effect.scoped(ArangoPipelineStore.make(input, { prefix: "ci_" }))
      // A second start creates no database or collection again (the index requests are idempotent ensures).
      expect(fake.requests.filter((r) => r.method === "POST" && !r.path.endsWith("/_api/index"))).toEqual([])
    }))

  it.effect("without create nothing is created, and a missing collection fails the read (1203, not retried)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(Effect.flatMap(
          ArangoPipelineStore.make({ url: `arangodb://127.0.0.1:${fake.port}/celery` }, { retry: fastRetry }),
          (store) => store.getExecution("r")
        ))
      )
      expect(error._tag).toBe("PipelineReadError")
      const cause = (error as { cause: unknown }).cause as ArangoFailure
      expect([cause.errorNum, cause.transient]).toEqual([1203, false])
      expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual(["POST /_db/celery/_api/cursor"])
    }))

  it("collection names: prefix, overrides, validation", () => {
    expect(ArangoPipelineStore.collectionNames()).toEqual(Either.right(C))
    expect(ArangoPipelineStore.collectionNames({ prefix: "x_", collections: { taskResults: "trs" } })).toEqual(
      Either.right({
        executions: "x_pipeline_executions",
        pipelineResults: "x_pipeline_results",
        taskExecutions: "x_task_executions",
        taskResults: "trs"
      })
    )
    const bad = ArangoPipelineStore.collectionNames({ prefix: "_system" })
    expect(Either.isLeft(bad) && bad.left.field).toBe("collections.executions")
    const same = ArangoPipelineStore.collectionNames({ collections: { executions: "a", pipelineResults: "a" } })
    expect(Either.isLeft(same) && same.left.reason).toBe("must be four different collections")
  })

  it.effect("a bad collection name fails the layer with ArangoConfigError before any request", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.scoped(ArangoPipelineStore.make({ port: fake.port }, { collections: { taskResults: "bad name" } }))
      )
      expect(error._tag).toBe("ArangoConfigError")
      expect(fake.requests).toEqual([])
    }))

  it.effect("Basic auth goes on every transaction request; no credential in errors", () =>
    Effect.gen(function*() {
      const secret = "pa55-w0rd-pp"
      fake.faults.push({ kind: "pass" }, { kind: "arango", status: 400, errorNum: 1501, errorMessage: "AQL: syntax error" })
      const error = yield* Effect.flip(
        Effect.scoped(Effect.flatMap(
          ArangoPipelineStore.make({ url: `arangodb://u:${secret}@127.0.0.1:${fake.port}/celery` }, { retry: fastRetry }),
          (store) => store.report("TaskResult", "x", "DONE")
        ))
      )
      expect(error._tag).toBe("PipelineReportError")
      const basic = `Basic ${Buffer.from(`u:${secret}`).toString("base64")}`
      expect(fake.requests.map((r) => r.headers.authorization)).toEqual([basic, basic, basic])
      for (const shown of [String(error), JSON.stringify(error), inspect(error, { depth: 20 })]) {
        expect(shown).not.toContain(secret)
        expect(shown).not.toContain(basic.slice(6))
      }
    }))
})

describe("transactions, conflicts and retries", () => {
  it.live("a write-write conflict (1200) inside a report aborts the transaction and retries the whole report", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("w1"))
        fake.requests.length = 0
        // begin passes, the first advance conflicts
        fake.faults.push({ kind: "pass" }, { kind: "arango", status: 409, errorNum: 1200, errorMessage: "write-write conflict" })
        const outcome = yield* store.report("TaskResult", "w1:0:t0:0", "DONE")
        expect(outcome.applied).toBe(true)
        expect(outcome.changes).toHaveLength(4)
        expect(trail().slice(0, 4)).toEqual(["begin", `advance [trx] ${C.taskResults}`, "abort", "begin"])
        expect(trail().at(-1)).toBe("commit")
        expect(fake.transactionLog.slice(-2).map((t) => t.outcome)).toEqual(["aborted", "committed"])
        expect(fake.docs(C.executions).get("w1")?.status).toBe("DONE")
      })
    ))

  it.live("a parent changed between this report's read and its UPDATE: _rev conflict, retried, counted once", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build({
          runId: "w2",
          pipelineId: "p",
          pipelineResults: [{ tasks: [{ taskName: "t", results: [{}, {}] }] }]
        })
        yield* store.report("TaskResult", "w2:0:t0:1", "RUNNING")
        // The first UPDATE of the task execution finds that another report (the sibling's DONE) committed
        // after this transaction read the task execution: its tally and _rev changed.
        let staged = false
        fake.beforeStatement = (query, vars) => {
          if (query !== Aql.updateAt || staged) return
          staged = true
          fake.docs(C.taskResults).set("w2:0:t0:1", { ...fake.docs(C.taskResults).get("w2:0:t0:1")!, status: "DONE" })
          fake.commitElsewhere(C.taskExecutions, vars.key, (doc) => ({ ...doc, tally: { ...doc.tally, final: 1 } }))
        }
        fake.requests.length = 0
        const outcome = yield* store.report("TaskResult", "w2:0:t0:0", "DONE")
        expect(trail()).toEqual([
          "begin",
          `advance [trx] ${C.taskResults}`,
          `lock [trx] ${C.taskExecutions}`,
          `updateAt [trx] ${C.taskExecutions}`,
          "abort",
          "begin",
          `advance [trx] ${C.taskResults}`,
          `lock [trx] ${C.taskExecutions}`,
          `updateAt [trx] ${C.taskExecutions}`,
          `lock [trx] ${C.pipelineResults}`,
          `updateAt [trx] ${C.pipelineResults}`,
          `lock [trx] ${C.executions}`,
          `updateAt [trx] ${C.executions}`,
          "commit"
        ])
        const [first, second] = cursorBodies().filter((b) => b.query === Aql.updateAt)
        expect(first.bindVars.rev).not.toBe(second.bindVars.rev)
        // The retry counted on top of the other report's count: both children final, the parent DONE.
        expect(second.bindVars.patch.tally).toEqual({ total: 2, final: 2, worst: null })
        expect(outcome.changes.map((c) => c.kind)).toEqual([
          "TaskResult",
          "TaskExecution",
          "PipelineResult",
          "PipelineExecution"
        ])
        expect(fake.docs(C.executions).get("w2")?.status).toBe("DONE")
      })
    ))

  it.live("1200 on every attempt: the policy's retries, then PipelineReportError with a transient ArangoFailure", () =>
    withStore(
      (store) =>
        Effect.gen(function*() {
          yield* store.build(tiny("w3"))
          fake.requests.length = 0
          for (let i = 0; i < 3; i++) {
            fake.faults.push({ kind: "pass" }, { kind: "arango", status: 409, errorNum: 1200, errorMessage: "write-write conflict" })
            fake.faults.push({ kind: "pass" })
          }
          const error = yield* Effect.flip(store.report("TaskResult", "w3:0:t0:0", "DONE"))
          expect(error._tag).toBe("PipelineReportError")
          const cause = (error as { cause: unknown }).cause as ArangoFailure
          expect([cause.errorNum, cause.status, cause.transient]).toEqual([1200, 409, true])
          // 1 attempt + 2 retries, each begun and aborted
          expect(trail().filter((t) => t === "begin")).toHaveLength(3)
          expect(trail().filter((t) => t === "abort")).toHaveLength(3)
          expect(fake.transactions.size).toBe(0)
          expect(fake.docs(C.taskResults).get("w3:0:t0:0")?.status).toBe("PENDING")
        }),
      { retry: { ...fastRetry, maxRetries: 2 } }
    ))

  it.live("a lost stream transaction (1655) is retried; an AQL error (1501) is not", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("w4"))
        fake.requests.length = 0
        fake.faults.push({ kind: "pass" }, { kind: "arango", status: 404, errorNum: 1655, errorMessage: "transaction not found" })
        expect((yield* store.report("TaskResult", "w4:0:t0:0", "RUNNING")).applied).toBe(true)
        expect(trail().filter((t) => t === "begin")).toHaveLength(2)
        fake.requests.length = 0
        fake.faults.push({ kind: "pass" }, { kind: "arango", status: 400, errorNum: 1501, errorMessage: "AQL: syntax error" })
        const error = yield* Effect.flip(store.report("TaskResult", "w4:0:t0:0", "DONE"))
        expect(error._tag).toBe("PipelineReportError")
        expect(trail()).toEqual(["begin", `advance [trx] ${C.taskResults}`, "abort"])
      })
    ))

  it.live("a failed commit is retried as a whole; the transaction is aborted first", () =>
    withStore((store) =>
      Effect.gen(function*() {
        yield* store.build(tiny("w5"))
        fake.requests.length = 0
        // begin, advance ×4 (RUNNING climbs to the top), then the commit answers 503
        fake.faults.push(...Array.from({ length: 5 }, () => ({ kind: "pass" as const })))
        fake.faults.push({ kind: "status", status: 503, body: "Service Unavailable" })
        expect((yield* store.report("TaskResult", "w5:0:t0:0", "RUNNING")).changes).toHaveLength(4)
        expect(trail()).toEqual([
          "begin",
          `advance [trx] ${C.taskResults}`,
          `advance [trx] ${C.taskExecutions}`,
          `advance [trx] ${C.pipelineResults}`,
          `advance [trx] ${C.executions}`,
          "commit",
          "abort",
          "begin",
          `advance [trx] ${C.taskResults}`,
          `advance [trx] ${C.taskExecutions}`,
          `advance [trx] ${C.pipelineResults}`,
          `advance [trx] ${C.executions}`,
          "commit"
        ])
      })
    ))

  it.live("two builds of one run racing on the execution key: 1210 there is retried and finds the run", () =>
    withStore((store) =>
      Effect.gen(function*() {
        fake.faults.push({ kind: "pass" }, {
          kind: "arango",
          status: 409,
          errorNum: 1210,
          errorMessage: "unique constraint violated"
        })
        const outcome = yield* store.build(tiny("w6"))
        expect(outcome.created).toBe(true)
        expect(trail().slice(0, 4)).toEqual(["begin", `insertExecution [trx] ${C.executions}`, "abort", "begin"])
        const outcomes = yield* Effect.forEach([1, 2, 3], () => store.build(tiny("w7")), { concurrency: "unbounded" })
        expect(outcomes.filter((o) => o.created)).toHaveLength(1)
        expect(fake.transactions.size).toBe(0)
      })
    ))

  it("classification: 1210 is transient only for the execution insert; 1655 only for pipeline operations", async () => {
    const { ArangoError } = await import("arangojs/errors")
    const error = (errorNum: number) => new ArangoError({ errorNum, code: 409, errorMessage: "x" })
    expect(classify(error(1210), "pipeline.insert.insertExecution").transient).toBe(true)
    expect(classify(error(1210), "pipeline.insert.insertMany").transient).toBe(false)
    expect(classify(error(1655), "pipeline.report.advance").transient).toBe(true)
    expect(classify(error(1655), "getMany").transient).toBe(false)
    expect(classify(error(1200), "pipeline.report.updateAt").transient).toBe(true)
  })
})

describe("decoding", () => {
  it.effect("a document that is not a pipeline record fails the read, not transient", () =>
    withStore((store) =>
      Effect.gen(function*() {
        fake.docs(C.taskResults).set("bad", { _key: "bad", id: "bad", status: "WHATEVER" })
        const error = yield* Effect.flip(store.getTaskResult("bad"))
        expect(error._tag).toBe("PipelineReadError")
        const cause = (error as { cause: unknown }).cause as ArangoFailure
        expect(cause.kind).toBe("unexpected")
        expect(cause.transient).toBe(false)
        expect(cursorBodies()).toHaveLength(1)
      })
    ))

  it.effect("the configured collection name of the result backend is not used by the store", () =>
    withStore(
      (store) =>
        Effect.gen(function*() {
          yield* store.getExecution("r")
          expect(cursorBodies()[0].bindVars["@collection"]).toBe(C.executions)
        }),
      {},
      { collection: "celery" }
    ))
})

// A compile-time check that the layer's error channel is the documented one.
const _layer: ReturnType<typeof ArangoPipelineStore.layer> = ArangoPipelineStore.layer({})
void _layer
void ArangoConfig.defaults
