/**
 * `arangodb://` URLs through `Backends.layerFromUrl` and `Pipelines.layerFromUrl`:
 * against the loopback FakeArango (which emulates the statements; it is not
 * ArangoDB), and against a real server when TASKMETA_TEST_ARANGO_URL is set.
 * The shared browser behaviour (order, filters, stats, export, count-expired)
 * runs for ArangoDB in `ResultBrowser.test.ts` too.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as ArangoBackend from "@taskmeta/arango/ArangoBackend"
import * as ArangoConfig from "@taskmeta/arango/ArangoConfig"
import * as ArangoPipelineStore from "@taskmeta/arango/ArangoPipelineStore"
import * as Backends from "@taskmeta/backends/Backends"
import * as Pipelines from "@taskmeta/backends/Pipelines"
import * as ResultBrowser from "@taskmeta/backends/ResultBrowser"
import * as Transfer from "@taskmeta/backends/Transfer"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import { FakePipelineArango } from "../../arango/test/support/FakePipelineArango.js"

const at = (iso: string) => DateTime.unsafeMake(iso)
const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

const seed = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const base = { traceback: null, kwargs: {}, worker: "w@h", retries: 0, queue: "celery" }
  yield* Transfer.restoreTask(backend, { ...base, taskId: "s1", status: "SUCCESS", result: 256, dateDone: at("2026-01-01T00:00:00Z"), name: "mul", args: [16, 16] })
  yield* Transfer.restoreTask(backend, { ...base, taskId: "f1", status: "FAILURE", result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" }, dateDone: at("2026-01-02T00:00:00Z"), name: "div", args: [1, 0] })
  yield* Transfer.restoreTask(backend, { ...base, taskId: "s2", status: "SUCCESS", result: 12345678901234567890n, dateDone: at("2026-01-03T00:00:00Z"), name: "mul", args: [2, 3] })
  yield* Transfer.restoreTask(backend, { ...base, taskId: "p1", status: "STARTED", result: { pid: 1 }, dateDone: null, name: "slow", args: [] })
  yield* Transfer.restoreGroup(backend, { groupId: "g1", taskIds: ["s1", "f1"], dateDone: at("2026-01-02T06:00:00Z") })
})

/** list, stats, export and count-expired over whatever store `Backends.layerFromUrl` gave. */
const browseAll = Effect.gen(function*() {
  yield* seed
  const browser = yield* ResultBrowser.ResultBrowser
  const ids = (filter: ResultBrowser.Filter) =>
    Effect.map(collect(browser.list(filter)), (records) => records.map((r) => r.taskId))
  expect(browser.kind).toBe("arango")
  expect(yield* ids({})).toEqual(["p1", "s2", "f1", "s1"])
  expect(yield* ids({ states: ["SUCCESS"], limit: 1 })).toEqual(["s2"])
  expect(yield* ids({ name: "mul", since: at("2026-01-01T12:00:00Z") })).toEqual(["s2"])
  const stats = yield* browser.stats
  expect([stats.tasks, stats.groups, stats.byState]).toEqual([4, 1, { SUCCESS: 2, FAILURE: 1, STARTED: 1 }])
  expect(stats.failureRate).toBeCloseTo(1 / 3)
  const tasks = yield* collect(browser.exportTasks)
  expect(tasks.map((r) => r.taskId)).toEqual(["s1", "f1", "s2", "p1"])
  expect(tasks[2].result).toBe(12345678901234567890n)
  const groups = yield* collect(browser.exportGroups)
  expect(groups.map((g) => [g.groupId, g.taskIds])).toEqual([["g1", ["s1", "f1"]]])
  yield* TestClock.setTime(DateTime.toEpochMillis(at("2026-01-03T12:00:00Z")))
  const due = yield* browser.countExpired
  expect(due).toEqual({ tasks: 2, groups: 1 })
  expect(yield* (yield* ResultBackend.ResultBackend).cleanup()).toEqual(due)
})

describe("arangodb:// over the loopback FakeArango (emulated statements, not ArangoDB)", () => {
  let fake: FakePipelineArango
  beforeEach(async () => {
    fake = new FakePipelineArango({ celery: ["celery"] })
    await fake.start()
  })
  afterEach(async () => {
    await fake.stop()
  })

  it.effect("Backends.layerFromUrl: list, stats, export and count-expired through the ArangoDB browser", () =>
    Effect.suspend(() =>
      browseAll.pipe(Effect.provide(Backends.layerFromUrl(`arangodb://127.0.0.1:${fake.port}/celery/celery`, { resultExtended: true })))
    ).pipe(Effect.tap(() => {
      // every read went through the scan statements with bind variables, none through a per-id lookup
      const reads = fake.queries.filter((q) => !q.query.startsWith("UPSERT") && !q.query.startsWith("LET removed"))
      for (const q of reads) expect(q.bindVars["@collection"]).toBe("celery")
      expect(reads.some((q) => q.query.includes("FILTER doc._key IN @keys"))).toBe(false)
    })))

  it.effect("a wrong collection fails the read with a BrowseError naming ArangoDB's error, password never shown", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        Effect.flatMap(ResultBrowser.ResultBrowser, (browser) => browser.stats).pipe(
          Effect.provide(Backends.layerFromUrl(`arangodb://root:hunter2@127.0.0.1:${fake.port}/celery/nope`))
        )
      )
      expect(error._tag).toBe("BrowseError")
      expect(error.message).toMatch(/^could not count tasks: .*errorNum 1203/)
      expect(error.message).not.toContain("hunter2")
    }))

  it.effect("Pipelines.layerFromUrl without create: nothing is created, and a missing collection fails the read", () =>
    Effect.gen(function*() {
      const url = `arangodb://127.0.0.1:${fake.port}/celery/celery`
      const error = yield* Effect.flip(
        Effect.flatMap(Pipelines.PipelineBrowser, (b) => b.pipelineIds).pipe(Effect.provide(Pipelines.layerFromUrl(url)))
      )
      expect(error.message).toMatch(/^could not list pipelines: .*errorNum 1203/)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/_api/collection"))).toEqual([])
      expect(fake.indexes).toEqual([])
    }))

  it.effect("Pipelines.layerFromUrl with create: true makes the four collections (with a prefix) and its indexes", () =>
    Effect.gen(function*() {
      const url = `arangodb://127.0.0.1:${fake.port}/celery/celery`
      yield* Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        yield* store.build({ runId: "r1", pipelineId: "ingest", pipelineResults: [{ object: 1, tasks: [{ taskName: "t" }] }] })
        yield* store.build({ runId: "r2", pipelineId: "export", pipelineResults: [] })
        expect(yield* (yield* Pipelines.PipelineBrowser).pipelineIds).toEqual(["export", "ingest"])
      }).pipe(Effect.provide(Pipelines.layerFromUrl(url, { create: true, prefix: "tm_" })))
      const names = Either.getOrThrow(ArangoPipelineStore.collectionNames({ prefix: "tm_" }))
      expect([...fake.databases.get("celery")!.keys()].sort()).toEqual(["celery", ...Object.values(names)].sort())
      expect(fake.indexes).toHaveLength(ArangoPipelineStore.INDEXES.length)
    }))
})

// ---------------------------------------------------------------------------
// a real server
// ---------------------------------------------------------------------------

const realUrl = process.env.TASKMETA_TEST_ARANGO_URL

/** The URL of `collection` in the database `base` names, with its credentials and TLS settings. */
const urlFor = (base: string, collection: string): string => {
  const config = Either.getOrThrow(ArangoConfig.make({ url: base }))
  const user = config.username === undefined ? undefined : encodeURIComponent(Redacted.value(config.username))
  const pass = config.password === undefined ? undefined : encodeURIComponent(Redacted.value(config.password))
  const auth = user === undefined && pass === undefined ? "" : `${user ?? "root"}${pass === undefined ? "" : `:${pass}`}@`
  const host = config.host.includes(":") ? `[${config.host}]` : config.host
  const query = config.httpProtocol === "https" ? `?httpProtocol=https${config.verify ? "" : "&verify=false"}` : ""
  return `arangodb://${auth}${host}:${config.port}/${config.database}/${collection}${query}`
}

describe.runIf(realUrl)("arangodb:// against a real ArangoDB (TASKMETA_TEST_ARANGO_URL)", () => {
  const suffix = Math.random().toString(36).slice(2, 10)
  const collection = `taskmeta_browse_${suffix}`
  const prefix = `taskmeta_browse_${suffix}_`
  const url = realUrl === undefined ? "" : urlFor(realUrl, collection)

  afterAll(async () => {
    const config = ArangoConfig.make({ url })
    if (Either.isLeft(config)) return
    const names = Either.getOrThrow(ArangoPipelineStore.collectionNames({ prefix }))
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const db = yield* ArangoBackend.acquireDatabase(config.right)
      for (const name of [collection, ...Object.values(names)]) {
        yield* Effect.promise(() => db.collection(name).drop().catch(() => undefined))
      }
    })))
  })

  it.effect("list, stats, export and count-expired over a fresh collection", () =>
    Effect.gen(function*() {
      // `Backends.layerFromUrl` never creates anything: make the collection first.
      yield* Layer.build(ArangoBackend.layer({ url, create: true })).pipe(Effect.scoped)
      yield* browseAll.pipe(Effect.provide(Backends.layerFromUrl(url, { resultExtended: true })))
    }), 60_000)

  it.effect("the pipeline store and its browser, collections created on request", () =>
    Effect.gen(function*() {
      const store = yield* PipelineStore.PipelineStore
      yield* store.build({ runId: `r-${suffix}`, pipelineId: "browse_real", pipelineResults: [{ object: 1, tasks: [{ taskName: "t" }] }] })
      expect(yield* (yield* Pipelines.PipelineBrowser).pipelineIds).toEqual(["browse_real"])
    }).pipe(Effect.provide(Pipelines.layerFromUrl(url, { create: true, prefix }))), 60_000)
})
