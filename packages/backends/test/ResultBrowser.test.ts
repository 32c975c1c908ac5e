import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Chunk from "effect/Chunk"
import * as Either from "effect/Either"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as ArangoPipelineStore from "@taskmeta/arango/ArangoPipelineStore"
import * as BackendUrl from "@taskmeta/backends/BackendUrl"
import * as Backends from "@taskmeta/backends/Backends"
import * as Pipelines from "@taskmeta/backends/Pipelines"
import * as ResultBrowser from "@taskmeta/backends/ResultBrowser"
import * as Transfer from "@taskmeta/backends/Transfer"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import { FakePipelineArango } from "../../arango/test/support/FakePipelineArango.js"

// ArangoDB: the loopback server that emulates the statements (not ArangoDB), with the
// result collection and the pipeline store's four collections already there.
const fakeArango = new FakePipelineArango({
  celery: ["celery", ...Object.values(Either.getOrThrow(ArangoPipelineStore.collectionNames()))]
})
await fakeArango.start()

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-browse-"))
const schema = `tm_browse_${Math.random().toString(36).slice(2, 8)}`
const PG = process.env.TASKMETA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

afterAll(async () => {
  await fakeArango.stop()
  Fs.rmSync(dir, { recursive: true, force: true })
  const url = Either.getOrThrow(BackendUrl.parse(PG))
  if (url._tag !== "Postgres") return
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
      Effect.provide(Backends.clientLayer(url))
    )
  )
})

const cases: ReadonlyArray<readonly [string, string, Backends.Options]> = [
  ["memory", "memory://", {}],
  ["sqlite", "db+sqlite:///browse.sqlite", { baseDirectory: dir }],
  ["postgres", PG, { tables: { schema } }],
  ["arango over FakeArango (emulated)", `arangodb://127.0.0.1:${fakeArango.port}/celery/celery`, {}]
]

const at = (iso: string) => DateTime.unsafeMake(iso)

const seed = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const restore = (record: Parameters<typeof Transfer.restoreTask>[1]) => Transfer.restoreTask(backend, record)
  const base = { traceback: null, kwargs: {}, worker: "w@h", retries: 0, queue: "celery" }
  yield* restore({ ...base, taskId: "s1", status: "SUCCESS", result: 256, dateDone: at("2026-01-01T00:00:00Z"), name: "multiply_two_numbers", args: [16, 16] })
  yield* restore({ ...base, taskId: "f1", status: "FAILURE", result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" }, traceback: "Traceback…", dateDone: at("2026-01-02T00:00:00Z"), name: "divide", args: [1, 0] })
  yield* restore({ ...base, taskId: "s2", status: "SUCCESS", result: 12345678901234567890n, dateDone: at("2026-01-03T00:00:00Z"), name: "multiply_two_numbers", args: [2, 3] })
  yield* restore({ ...base, taskId: "p1", status: "STARTED", result: { pid: 1 }, dateDone: null, name: "slow", args: [] })
  yield* Transfer.restoreGroup(backend, { groupId: "g1", taskIds: ["s1", "f1"], dateDone: at("2026-01-02T06:00:00Z") })
})

for (const [label, url, options] of cases) {
  describe(`ResultBrowser (${label})`, () => {
    const layer = Backends.layerFromUrl(url, { resultExtended: true, ...options })

    it.effect("lists newest first, filters by state, name, time and limit", () =>
      Effect.gen(function*() {
        yield* seed
        const browser = yield* ResultBrowser.ResultBrowser
        const ids = (filter: ResultBrowser.Filter) =>
          Effect.map(Stream.runCollect(browser.list(filter)), (c) => Chunk.toReadonlyArray(c).map((r) => r.taskId))
        expect(yield* ids({})).toEqual(["p1", "s2", "f1", "s1"])
        expect(yield* ids({ states: ["SUCCESS"] })).toEqual(["s2", "s1"])
        expect(yield* ids({ states: ["FAILURE", "STARTED"] })).toEqual(["p1", "f1"])
        expect(yield* ids({ name: "multiply_two_numbers", limit: 1 })).toEqual(["s2"])
        expect(yield* ids({ since: at("2026-01-02T00:00:00Z") })).toEqual(["s2", "f1"])
        expect(yield* ids({ since: at("2026-01-01T00:00:00Z"), until: at("2026-01-02T00:00:00Z") })).toEqual(["s1"])
        expect(yield* ids({ limit: 0 })).toEqual([])
      }).pipe(Effect.provide(layer)))

    it.effect("counts by state and name, with the failure rate", () =>
      Effect.gen(function*() {
        yield* seed
        const stats = yield* (yield* ResultBrowser.ResultBrowser).stats
        expect(stats.tasks).toBe(4)
        expect(stats.groups).toBe(1)
        expect(stats.byState).toEqual({ SUCCESS: 2, FAILURE: 1, STARTED: 1 })
        expect(stats.failureRate).toBeCloseTo(1 / 3)
        expect(stats.byName[0]).toEqual({ name: "multiply_two_numbers", total: 2, byState: { SUCCESS: 2 }, failureRate: 0 })
      }).pipe(Effect.provide(layer)))

    it.effect("exports everything, oldest first, exactly as stored", () =>
      Effect.gen(function*() {
        yield* seed
        const browser = yield* ResultBrowser.ResultBrowser
        const tasks = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportTasks))
        expect(tasks.map((r) => r.taskId)).toEqual(["s1", "f1", "s2", "p1"])
        expect(tasks[2].result).toBe(12345678901234567890n)
        expect(DateTime.formatIso(tasks[1].dateDone!)).toBe("2026-01-02T00:00:00.000Z")
        expect(tasks[1].traceback).toBe("Traceback…")
        const groups = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportGroups))
        expect(groups.map((g) => [g.groupId, g.taskIds, DateTime.formatIso(g.dateDone)])).toEqual([
          ["g1", ["s1", "f1"], "2026-01-02T06:00:00.000Z"]
        ])
      }).pipe(Effect.provide(layer)))

    it.effect("counts what cleanup would delete, then cleanup deletes exactly that", () =>
      Effect.gen(function*() {
        yield* seed
        yield* TestClock.setTime(DateTime.toEpochMillis(at("2026-01-03T12:00:00Z")))
        const browser = yield* ResultBrowser.ResultBrowser
        const due = yield* browser.countExpired
        expect(due).toEqual({ tasks: 2, groups: 1 }) // s1, f1 and g1 are older than a day; p1 has no date
        const report = yield* (yield* ResultBackend.ResultBackend).cleanup()
        expect(report).toEqual(due)
        expect(yield* browser.countExpired).toEqual({ tasks: 0, groups: 0 })
      }).pipe(Effect.provide(layer)))

    it.effect("restoring the same records twice changes nothing (import is idempotent)", () =>
      Effect.gen(function*() {
        yield* seed
        const browser = yield* ResultBrowser.ResultBrowser
        const before = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportTasks))
        yield* seed
        const after = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportTasks))
        expect(after).toEqual(before)
      }).pipe(Effect.provide(layer)))

    it.effect("lists pipeline ids of stored runs", () =>
      Effect.gen(function*() {
        const store = yield* PipelineStore.PipelineStore
        const runId = `r-${Math.random().toString(36).slice(2)}`
        yield* store.build({ runId, pipelineId: `p_${label}`, pipelineResults: [{ object: 1, tasks: [{ taskName: "t" }] }] })
        const ids = yield* (yield* Pipelines.PipelineBrowser).pipelineIds
        expect(ids).toContain(`p_${label}`)
        expect((yield* store.listExecutions(`p_${label}`)).map((e) => e.runId)).toContain(runId)
      }).pipe(Effect.provide(Pipelines.layerFromUrl(url, options))))
  })
}

describe("Backends.layerFromUrl", () => {
  it.effect("fails with one clear, password-free error when the database refuses", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Backends.layerFromUrl("postgresql://nobody:hunter2@127.0.0.1:1/x")).pipe(Effect.scoped))
      expect(error._tag).toBe("BackendOpenError")
      expect(error.message).toMatch(/^cannot open postgresql:\/\/nobody:\*\*\*@127\.0\.0\.1:1\/x: /)
      expect(error.message).toMatch(/ECONNREFUSED/)
      expect(error.message).not.toContain("hunter2")
    }))
})
