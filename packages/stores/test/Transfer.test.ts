/**
 * `Transfer.restore` and `Transfer.copy`: concurrent, batched restores that
 * end as a sequential restore would (entries for one record in stream
 * order), classify what they change, write nothing in a dry run, skip or
 * stop at bad input with the entry's position, stop on request at a batch
 * boundary, and carry pipeline runs. Against memory, a SQLite file and
 * PostgreSQL.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as PipelineRun from "@taskmeta/schema/PipelineRun"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as Stores from "@taskmeta/stores/Stores"
import * as Transfer from "@taskmeta/stores/Transfer"
import { dropPgSchema, PG } from "./helpers.js"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-transfer-"))
const schemas: Array<string> = []
const pgSchema = (label: string) => {
  const name = `tm_transfer_${label}_${Math.random().toString(36).slice(2, 8)}`
  schemas.push(name)
  return name
}
afterAll(async () => {
  for (const s of schemas) await dropPgSchema(s)
  Fs.rmSync(dir, { recursive: true, force: true })
})

let files = 0
const stores: ReadonlyArray<readonly [string, () => readonly [string, Stores.Options]]> = [
  ["memory", () => ["memory://", {}]],
  ["sqlite", () => [`db+sqlite:///t${++files}.sqlite`, { baseDirectory: dir }]],
  ["postgres", () => [PG, { tables: { schema: pgSchema("s") } }]]
]

const options: Stores.Options = { resultExtended: true }

/** A fresh store's services (a new file / schema each time). */
const open = (make: () => readonly [string, Stores.Options]) => {
  const [url, extra] = make()
  return Layer.build(Stores.layerFromUrl(url, { ...options, ...extra }))
}

const target = (context: Context.Context<Stores.Services>): Transfer.Target => ({
  backend: Context.get(context, ResultBackend.ResultBackend),
  pipelines: Context.get(context, PipelineStore.PipelineStore)
})

const source = (context: Context.Context<Stores.Services>): Transfer.Source => ({
  browser: Context.get(context, ResultBrowser.ResultBrowser),
  pipelines: { store: Context.get(context, PipelineStore.PipelineStore), browser: Context.get(context, Pipelines.PipelineBrowser) }
})

const at = (iso: string) => DateTime.unsafeMake(iso)

const task = (taskId: string, status: string, result: TaskRecord.TaskRecord["result"], date: string | null): TaskRecord.TaskRecord => ({
  taskId,
  status,
  result,
  traceback: null,
  dateDone: date === null ? null : at(date),
  name: "t",
  args: [1],
  kwargs: {},
  worker: "w",
  retries: 0,
  queue: "q"
})

const entriesOf = (items: ReadonlyArray<Transfer.Item>): Stream.Stream<Transfer.Entry> =>
  Stream.fromIterable(items.map((item, i) => ({ at: i + 1, item })))

const T = (record: TaskRecord.TaskRecord) => Transfer.Item.Task({ record })

const exported = (context: Context.Context<Stores.Services>) =>
  Effect.gen(function*() {
    const browser = Context.get(context, ResultBrowser.ResultBrowser)
    const tasks = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportTasks))
    const groups = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportGroups))
    return { tasks: [...tasks].sort((a, b) => a.taskId.localeCompare(b.taskId)), groups }
  })

for (const [label, make] of stores) {
  describe(`Transfer on ${label}`, () => {
    it.live("entries for the same id end as a sequential restore leaves them, across batches in flight", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const backend = Context.get(context, ResultBackend.ResultBackend)
        // Many ids, each written several times; batches of 7 with 6 in flight put the same id in
        // several batches under way at once, and twice in one batch.
        const items: Array<Transfer.Item> = []
        const expected = new Map<string, TaskRecord.TaskRecord>()
        for (let round = 0; round < 4; round++) {
          for (let i = 0; i < 30; i++) {
            const id = `dup-${i}`
            // id 0..9: the last line wins (RETRY, STARTED, FAILURE …); 10..19: a SUCCESS in round 1 is final;
            // 20..29: the same id twice in a row.
            const status = i >= 10 && i < 20 && round === 1 ? "SUCCESS" : ["STARTED", "RETRY", "FAILURE", "PROGRESS"][round]
            const date = status === "SUCCESS" || status === "FAILURE" ? `2026-01-0${round + 1}T00:00:00.000Z` : null
            const record = task(id, status, { round, i }, date)
            items.push(T(record))
            if (i >= 20) items.push(T({ ...record, result: { round, i, again: true } }))
            const before = expected.get(id)
            if (before === undefined || before.status !== "SUCCESS") {
              expected.set(id, i >= 20 ? { ...record, result: { round, i, again: true } } : record)
            }
          }
        }
        const report = yield* Transfer.restore(entriesOf(items), target(context), { batchSize: 7, concurrency: 6 })
        const stored = yield* backend.getMany(Array.from(expected.keys()))
        for (const record of stored) expect(record).toEqual(expected.get(record.taskId))
        expect(report.tasks.new).toBe(30)
        // ids 10..19: rounds 2 and 3 meet a stored SUCCESS
        expect(report.tasks.kept).toBe(20)
        expect(report.tasks.new + report.tasks.changed + report.tasks.kept + report.tasks.unchanged).toBe(items.length)
        expect(report.through).toBe(items.length)
        expect(report.stopped).toBe(false)
      })), 60_000)

    it.live("a second restore of the same entries writes nothing and reports every record unchanged", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const items: Array<Transfer.Item> = [
          ...Array.from({ length: 40 }, (_, i) => T(task(`same-${i}`, i % 3 === 0 ? "STARTED" : "SUCCESS", i, i % 3 === 0 ? null : "2026-02-01T00:00:00.000Z"))),
          Transfer.Item.Group({ group: { groupId: "g-same", taskIds: ["same-1", "same-2"], dateDone: at("2026-02-02T00:00:00.000Z") } })
        ]
        const first = yield* Transfer.restore(entriesOf(items), target(context), { batchSize: 16 })
        expect(first.tasks).toEqual({ new: 40, changed: 0, unchanged: 0, kept: 0 })
        expect(first.groups).toEqual({ new: 1, changed: 0, unchanged: 0, kept: 0 })
        const before = yield* exported(context)
        const second = yield* Transfer.restore(entriesOf(items), target(context), { batchSize: 16 })
        expect(second.tasks).toEqual({ new: 0, changed: 0, unchanged: 40, kept: 0 })
        expect(second.groups).toEqual({ new: 0, changed: 0, unchanged: 1, kept: 0 })
        expect(Transfer.written(second)).toBe(0)
        expect(yield* exported(context)).toEqual(before)
      })), 60_000)

    it.live("a dry run counts new, changed, unchanged and kept, duplicates included, and writes nothing", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const backend = Context.get(context, ResultBackend.ResultBackend)
        yield* Transfer.restore(
          entriesOf([
            T(task("d-same", "SUCCESS", 1, "2026-01-01T00:00:00.000Z")),
            T(task("d-changed", "STARTED", 1, null)),
            T(task("d-final", "SUCCESS", 1, "2026-01-01T00:00:00.000Z"))
          ]),
          target(context)
        )
        const before = yield* exported(context)
        const report = yield* Transfer.restore(
          entriesOf([
            T(task("d-same", "SUCCESS", 1, "2026-01-01T00:00:00.000Z")),
            T(task("d-changed", "FAILURE", 2, "2026-01-02T00:00:00.000Z")),
            T(task("d-final", "FAILURE", 2, "2026-01-02T00:00:00.000Z")),
            T(task("d-new", "STARTED", 1, null)),
            // the same new id again, identical, then different: a sequential restore writes it once, then changes it
            T(task("d-new", "STARTED", 1, null)),
            T(task("d-new", "RETRY", 2, null))
          ]),
          target(context),
          { dryRun: true, batchSize: 2, concurrency: 3 }
        )
        expect(report.dryRun).toBe(true)
        expect(report.tasks).toEqual({ new: 1, changed: 2, unchanged: 2, kept: 1 })
        expect(yield* exported(context)).toEqual(before)
        expect(Option.isNone((yield* backend.findMany(["d-new"]))[0])).toBe(true)
      })), 60_000)

    it.live("bad input stops the restore at its entry after the batches under way, or is skipped with onInvalid", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const backend = Context.get(context, ResultBackend.ResultBackend)
        const good = Array.from({ length: 20 }, (_, i) => T(task(`ok-${i}`, "STARTED", i, null)))
        // A traceback with NUL is valid JSON, but no store keeps it: the backend refuses it.
        const bad = T({ ...task("bad", "FAILURE", null, "2026-01-01T00:00:00.000Z"), traceback: "boom\u0000" })
        const items = [...good.slice(0, 10), bad, ...good.slice(10)]
        const error = yield* Effect.flip(Transfer.restore(entriesOf(items), target(context), { batchSize: 4, concurrency: 1 }))
        expect(error._tag).toBe("TransferError")
        expect(error.at).toBe(11)
        expect(error.message).toMatch(/invalid traceback/)
        expect(error.report.through).toBe(11)
        // with one batch at a time, every entry before the bad one is written, nothing after its batch
        const firstTen = yield* backend.findMany(good.slice(0, 10).map((g) => (g as { record: TaskRecord.TaskRecord }).record.taskId))
        expect(firstTen.every(Option.isSome)).toBe(true)
        expect(error.report.tasks.new).toBeGreaterThanOrEqual(10)
        expect(Option.isNone((yield* backend.findMany(["ok-19"]))[0])).toBe(true)

        const skipped: Array<readonly [number, string]> = []
        const report = yield* Transfer.restore(entriesOf(items), target(context), {
          batchSize: 4,
          onInvalid: (position, e) => Effect.sync(() => void skipped.push([position, e.message]))
        })
        expect(skipped).toHaveLength(1)
        expect(skipped[0][0]).toBe(11)
        expect(skipped[0][1]).toMatch(/invalid traceback/)
        expect(report.invalid).toBe(1)
        const all = yield* backend.findMany(good.map((g) => (g as { record: TaskRecord.TaskRecord }).record.taskId))
        expect(all.every(Option.isSome)).toBe(true)
      })), 60_000)

    it.live("a bad group among good ones in one batch is its own entry's error; the others are saved with their dates", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const backend = Context.get(context, ResultBackend.ResultBackend)
        const G = (groupId: string, taskIds: ReadonlyArray<string>, date: string) =>
          Transfer.Item.Group({ group: { groupId, taskIds, dateDone: at(date) } })
        const items = [
          G("grp-a", ["m1", "m2"], "2026-02-01T00:00:00.000Z"),
          G("grp-bad", ["m1", ""], "2026-02-02T00:00:00.000Z"),
          G("grp-c", ["m3"], "2026-02-03T00:00:00.000Z")
        ]
        const skipped: Array<number> = []
        const report = yield* Transfer.restore(entriesOf(items), target(context), {
          onInvalid: (position) => Effect.sync(() => void skipped.push(position))
        })
        expect(skipped).toEqual([2])
        expect(report.invalid).toBe(1)
        expect(report.groups.new).toBe(2)
        const [a, bad, c] = yield* backend.findGroups(["grp-a", "grp-bad", "grp-c"])
        expect(Option.map(a, (g) => g.taskIds)).toEqual(Option.some(["m1", "m2"]))
        expect(Option.map(a, (g) => DateTime.toEpochMillis(g.dateDone))).toEqual(Option.some(Date.UTC(2026, 1, 1)))
        expect(Option.isNone(bad)).toBe(true)
        expect(Option.map(c, (g) => DateTime.toEpochMillis(g.dateDone))).toEqual(Option.some(Date.UTC(2026, 1, 3)))
        // A second restore reads them back as unchanged.
        const again = yield* Transfer.restore(entriesOf([items[0], items[2]]), target(context))
        expect(again.groups.unchanged).toBe(2)
      })), 60_000)

    it.live("a bad pipeline run among good ones in one batch is its own entry's error; the others are restored", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const pipelines = Context.get(context, PipelineStore.PipelineStore)
        const line = (runId: string) => ({
          kind: "pipeline_run",
          run_id: runId,
          pipeline_id: "transfer_test",
          input_data: { runId },
          created: "2026-03-01T00:00:00.000Z",
          status: "DONE",
          message: null,
          started: "2026-03-01T00:00:01.000Z",
          completed: "2026-03-01T00:00:05.000Z",
          pipeline_results: []
        })
        const run = (runId: string) => Schema.decodeUnknownSync(PipelineRun.RunLine)(line(runId))
        const bad = run("run-bad")
        const items = [
          Transfer.Item.Run({ run: run("run-a") }),
          Transfer.Item.Run({ run: { ...bad, execution: { ...bad.execution, status: "BOGUS" as "DONE" } } }),
          Transfer.Item.Run({ run: run("run-c") })
        ]
        const skipped: Array<number> = []
        const report = yield* Transfer.restore(entriesOf(items), target(context), {
          onInvalid: (position) => Effect.sync(() => void skipped.push(position))
        })
        expect(skipped).toEqual([2])
        expect(report.invalid).toBe(1)
        expect(report.runs.new).toBe(2)
        const [a, missing, c] = yield* pipelines.getRuns(["run-a", "run-bad", "run-c"])
        expect(Option.map(a, (r) => r.execution.status)).toEqual(Option.some("DONE"))
        expect(Option.isNone(missing)).toBe(true)
        expect(Option.map(c, (r) => r.execution.inputData)).toEqual(Option.some({ runId: "run-c" }))
        const again = yield* Transfer.restore(entriesOf([items[0], items[2]]), target(context))
        expect(again.runs.unchanged).toBe(2)
      })), 60_000)

    it.live("stop ends the restore at a batch boundary; every entry up to `through` is stored", () =>
      Effect.scoped(Effect.gen(function*() {
        const context = yield* open(make)
        const backend = Context.get(context, ResultBackend.ResultBackend)
        const stop = yield* Deferred.make<void>()
        let batches = 0
        const items = Array.from({ length: 5000 }, (_, i) => T(task(`stop-${i}`, "STARTED", i, null)))
        const report = yield* Transfer.restore(entriesOf(items), target(context), {
          batchSize: 50,
          concurrency: 2,
          stop: Deferred.await(stop),
          onProgress: () => (++batches === 3 ? Deferred.succeed(stop, undefined) : Effect.void)
        })
        expect(report.stopped).toBe(true)
        expect(report.through).toBeGreaterThanOrEqual(150)
        expect(report.through).toBeLessThan(items.length)
        expect(report.tasks.new).toBe(report.through)
        const ids = Array.from({ length: report.through }, (_, i) => `stop-${i}`)
        expect((yield* backend.findMany(ids)).every(Option.isSome)).toBe(true)
        expect(Option.isNone((yield* backend.findMany([`stop-${report.through}`]))[0])).toBe(true)
      })), 60_000)
  })
}

describe("Transfer.copy", () => {
  for (const [from, to] of [["sqlite", "postgres"], ["postgres", "sqlite"], ["memory", "sqlite"]] as const) {
    it.live(`copies tasks, groups and pipeline runs from ${from} to ${to} exactly, and a second copy changes nothing`, () =>
      Effect.scoped(Effect.gen(function*() {
        const src = yield* open(stores.find(([l]) => l === from)![1])
        const dst = yield* open(stores.find(([l]) => l === to)![1])
        const store = Context.get(src, PipelineStore.PipelineStore)
        yield* Transfer.restore(
          entriesOf([
            ...Array.from({ length: 25 }, (_, i) => T(task(`c-${i}`, i % 2 ? "SUCCESS" : "FAILURE", { i }, "2026-03-01T00:00:00.000Z"))),
            Transfer.Item.Group({ group: { groupId: "c-g", taskIds: ["c-1", "c-2"], dateDone: at("2026-03-02T00:00:00.000Z") } })
          ]),
          target(src)
        )
        const runIds = ["run-a", "run-b", "run-c"]
        for (const runId of runIds) {
          yield* store.build({
            runId,
            pipelineId: runId === "run-c" ? "other" : "ingest",
            inputData: { runId },
            pipelineResults: [{ object: 1, tasks: [{ taskName: "parse", results: [{ object: "x" }, { object: "y" }] }] }, { object: 2 }]
          })
        }
        yield* store.report("TaskResult", "run-a:0:t0:0", "DONE", { message: "ok" })
        yield* store.report("TaskResult", "run-a:0:t0:1", "RUNTIME_ERROR", { message: "bad" })
        yield* store.report("PipelineResult", "run-b:1", "CANCELLED")
        const first = yield* Transfer.copy(source(src), target(dst), { batchSize: 8 })
        expect(first.tasks.new).toBe(25)
        expect(first.groups.new).toBe(1)
        expect(first.runs.new).toBe(3)
        expect(yield* Transfer.count(source(src))).toBe(29)
        expect((yield* exported(dst))).toEqual(yield* exported(src))
        const dstStore = Context.get(dst, PipelineStore.PipelineStore)
        for (const runId of runIds) {
          expect(yield* dstStore.getRun(runId)).toEqual(yield* store.getRun(runId))
        }
        const again = yield* Transfer.copy(source(src), target(dst))
        expect(Transfer.written(again)).toBe(0)
        expect(again.runs.unchanged).toBe(3)
        expect(again.tasks.unchanged).toBe(25)
      })), 120_000)
  }
})
