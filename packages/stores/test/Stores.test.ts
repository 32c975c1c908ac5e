/**
 * `Stores.layerFromUrl` and `Pipelines.layerFromUrl` for each kind of URL:
 * the browser each gives reads the store its backend writes, `Transfer`
 * restores records as they were (and twice changes nothing), and pipeline
 * ids are listed. ArangoDB runs against the loopback FakeArango (which
 * emulates the statements; it is not ArangoDB), and against a real server
 * when TASKMETA_TEST_ARANGO_URL is set. What each browser does on its own is
 * `ResultBrowserConformance`, run where each lives (core, sql, arango).
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ArangoBackend from "@taskmeta/arango/ArangoBackend"
import * as ArangoConfig from "@taskmeta/arango/ArangoConfig"
import * as ArangoPipelineStore from "@taskmeta/arango/ArangoPipelineStore"
import * as Stores from "@taskmeta/stores/Stores"
import { dropPgSchema, MYSQL, mysqlAdmin, PG } from "./helpers.js"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as Transfer from "@taskmeta/stores/Transfer"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import { ResultBrowserConformance } from "@taskmeta/testkit"
import { FakePipelineArango } from "../../arango/test/support/FakePipelineArango.js"
import { has, tag } from "../../../testenv/requirements.js"

// ArangoDB: the loopback server that emulates the statements (not ArangoDB), with the
// result collection and the pipeline store's four collections already there.
const fakeArango = new FakePipelineArango({
  celery: ["celery", ...Object.values(Either.getOrThrow(ArangoPipelineStore.collectionNames()))]
})
await fakeArango.start()

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-browse-"))
const schema = `tm_browse_${Math.random().toString(36).slice(2, 8)}`
const database = `tm_stores_${Math.random().toString(36).slice(2, 8)}`
if (has("mariadb")) await mysqlAdmin(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`)
afterAll(async () => {
  await fakeArango.stop()
  Fs.rmSync(dir, { recursive: true, force: true })
  await dropPgSchema(schema)
  if (has("mariadb")) await mysqlAdmin(`DROP DATABASE IF EXISTS \`${database}\``)
})

const cases: ReadonlyArray<readonly [string, string, string, Stores.Options]> = [
  ["memory", "memory", "memory://", {}],
  ["sqlite", "sqlite", "db+sqlite:///browse.sqlite", { baseDirectory: dir }],
  ["postgres", "postgres", PG, { tables: { schema } }],
  [`mysql (MariaDB) ${tag("mariadb")}`, "mysql", `db+mysql+pymysql://${MYSQL.replace(/^mysql:\/\//, "").replace(/\/$/, "")}/${database}`, {}],
  ["arango over FakeArango (emulated)", "arango", `arangodb://127.0.0.1:${fakeArango.port}/celery/celery`, {}]
]

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

/** The suite's records, restored through `Transfer` into the `ResultBackend` in context. */
const restore = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  for (const record of ResultBrowserConformance.tasks) yield* Transfer.restoreTask(backend, record)
  for (const group of ResultBrowserConformance.groups) yield* Transfer.restoreGroup(backend, group)
})

for (const [label, kind, url, options] of cases) {
  describe.runIf(kind !== "mysql" || has("mariadb"))(`Stores.layerFromUrl (${label})`, () => {
    const layer = Stores.layerFromUrl(url, { ...ResultBrowserConformance.options, ...options })

    it.effect("the browser reads back what Transfer restored through the backend, exactly as it was", () =>
      Effect.gen(function*() {
        yield* restore
        const browser = yield* ResultBrowser.ResultBrowser
        expect(browser.kind).toBe(kind)
        expect(yield* collect(browser.exportTasks)).toEqual(ResultBrowserConformance.tasks)
        expect(yield* collect(browser.exportGroups)).toEqual(ResultBrowserConformance.groups)
      }).pipe(Effect.provide(layer)))

    it.effect("restoring the same records twice changes nothing (import is idempotent)", () =>
      Effect.gen(function*() {
        yield* restore
        const browser = yield* ResultBrowser.ResultBrowser
        const before = yield* collect(browser.exportTasks)
        yield* restore
        expect(yield* collect(browser.exportTasks)).toEqual(before)
      }).pipe(Effect.provide(layer)))

    it.effect("Pipelines.layerFromUrl lists pipeline ids of stored runs", () =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const runId = `r-${Math.random().toString(36).slice(2)}`
        yield* store.build({ runId, pipelineId: `p_${kind}`, pipelineResults: [{ object: 1, tasks: [{ taskName: "t" }] }] })
        const ids = yield* (yield* Pipelines.PipelineBrowser).pipelineIds
        expect(ids).toContain(`p_${kind}`)
        expect((yield* store.listExecutions(`p_${kind}`)).map((e) => e.runId)).toContain(runId)
      }).pipe(Effect.provide(Pipelines.layerFromUrl(url, options))))
  })
}

describe("Stores.layerFromUrl", () => {
  it.live("fails with one clear, password-free error when the database refuses (after the startup retries)", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Stores.layerFromUrl("postgresql://nobody:hunter2@127.0.0.1:1/x")).pipe(Effect.scoped))
      expect(error._tag).toBe("BackendOpenError")
      expect(error.message).toMatch(/^cannot open postgresql:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/x: /)
      expect(error.message).toMatch(/ECONNREFUSED/)
      expect(error.message).not.toContain("hunter2")
    }))

  it.live.runIf(has("mariadb"))(`MySQL: a refused connection and a refused password fail with one clear, password-free error ${tag("mariadb")}`, () =>
    Effect.gen(function*() {
      const refused = yield* Effect.flip(Layer.build(Stores.layerFromUrl("db+mysql://nobody:hunter2@127.0.0.1:1/x")).pipe(Effect.scoped))
      expect(refused._tag).toBe("BackendOpenError")
      expect(refused.message).toMatch(/^cannot open db\+mysql:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/x: /)
      expect(refused.message).toMatch(/ECONNREFUSED/)
      expect(refused.message).not.toContain("hunter2")
      const server = MYSQL.replace(/^mysql:\/\/[^@]*@/, "").replace(/\/$/, "")
      const denied = yield* Effect.flip(Layer.build(Stores.layerFromUrl(`mysql://nobody:hunter2@${server}/x`)).pipe(Effect.scoped))
      expect(denied.message).toMatch(/Access denied/)
      expect(denied.message).not.toContain("hunter2")
    }))

  it.effect("an in-memory SQLite database is browsed through the backend's own connection", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      yield* backend.store("mem-1", 1, "SUCCESS")
      yield* backend.store("mem-2", null, "STARTED")
      const stats = yield* Effect.flatMap(ResultBrowser.ResultBrowser, (browser) => browser.stats)
      expect(stats.tasks).toBe(2)
      expect(stats.byState).toEqual({ SUCCESS: 1, STARTED: 1 })
    }).pipe(Effect.provide(Stores.layerFromUrl("db+sqlite:///:memory:"))))
})

describe("Pipelines.layerFromUrl over the loopback FakeArango (emulated statements, not ArangoDB)", () => {
  let fake: FakePipelineArango
  beforeEach(async () => {
    fake = new FakePipelineArango({ celery: ["celery"] })
    await fake.start()
  })
  afterEach(async () => {
    await fake.stop()
  })

  it.effect("without create: nothing is created, and a missing collection fails the read", () =>
    Effect.gen(function*() {
      const url = `arangodb://127.0.0.1:${fake.port}/celery/celery`
      const error = yield* Effect.flip(
        Effect.flatMap(Pipelines.PipelineBrowser, (b) => b.pipelineIds).pipe(Effect.provide(Pipelines.layerFromUrl(url)))
      )
      expect(error.message).toMatch(/^could not list pipelines: .*errorNum 1203/)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/_api/collection"))).toEqual([])
      expect(fake.indexes).toEqual([])
    }))

  it.effect("with create: true makes the four collections (with a prefix) and its indexes", () =>
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

describe.runIf(realUrl)(`arangodb:// against a real ArangoDB ${tag("arango")}`, () => {
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

  it.effect("Stores.layerFromUrl: the browser reads back what Transfer restored", () =>
    Effect.gen(function*() {
      // `Stores.layerFromUrl` never creates anything: make the collection first.
      yield* Layer.build(ArangoBackend.layer({ url, create: true })).pipe(Effect.scoped)
      yield* Effect.gen(function*() {
        yield* restore
        const browser = yield* ResultBrowser.ResultBrowser
        expect(yield* collect(browser.exportTasks)).toEqual(ResultBrowserConformance.tasks)
      }).pipe(Effect.provide(Stores.layerFromUrl(url, ResultBrowserConformance.options)))
    }), 60_000)

  it.effect("the pipeline store and its browser, collections created on request", () =>
    Effect.gen(function*() {
      const store = yield* PipelineStore.PipelineStore
      yield* store.build({ runId: `r-${suffix}`, pipelineId: "browse_real", pipelineResults: [{ object: 1, tasks: [{ taskName: "t" }] }] })
      expect(yield* (yield* Pipelines.PipelineBrowser).pipelineIds).toEqual(["browse_real"])
    }).pipe(Effect.provide(Pipelines.layerFromUrl(url, { create: true, prefix }))), 60_000)
})
