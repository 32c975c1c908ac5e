/**
 * The conformance suite every `PipelineStore` implementation runs. A custom
 * storage is any layer that passes it.
 *
 * Call `suite(name, layer)` from a test file. The layer is built once and
 * shared by the tests; every test uses its own random run and pipeline ids,
 * so storage shared with other tests (or other runs of the suite) is fine.
 * Time is driven with `TestClock`; the concurrency tests run on the live
 * clock so that retries with real back-off can happen.
 *
 * What the suite pins down (the propagation rules of `PipelineStore`):
 *
 * - a report follows `Pipeline.canAdvance`; a refused report changes nothing;
 * - RUNNING stamps `started`, a final status stamps `completed`, from `Clock`;
 * - a child that leaves PENDING makes a PENDING parent RUNNING;
 * - a parent whose children are all final becomes DONE if all are DONE, else
 *   the most severe failure (CONFIG_ERROR > VALIDATION_ERROR > RUNTIME_ERROR >
 *   CANCELLED); this repeats up to the execution;
 * - a final parent never changes; reports never change children;
 * - concurrent reports never lose a propagation;
 * - `restore` stores a run exactly as it was read (`getRun`), tallies included,
 *   and never rewrites a stored run; `restoreMany` is `restore` of each run in
 *   turn, validated first; `getRuns` is `getRun` of each id.
 *
 * @since 0.1.0
 */
import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Random from "effect/Random"
import * as TestClock from "effect/TestClock"
import * as TestServices from "effect/TestServices"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import type * as PipelineRun from "@taskmeta/schema/PipelineRun"
import * as PipelineStore from "@taskmeta/core/PipelineStore"

/**
 * @since 0.1.0
 * @category models
 */
export interface SuiteOptions {
  /** Per-test timeout for the slower tests (default 60 s). */
  readonly timeout?: number | undefined
}

const Store = PipelineStore.PipelineStore

/**
 * The input for a run of `p` pipeline results × `t` tasks × `r` task results,
 * with derived ids.
 *
 * @since 0.1.0
 * @category fixtures
 */
export const shape = (runId: string, pipelineId: string, p: number, t: number, r: number): PipelineStore.BuildInput => ({
  runId,
  pipelineId,
  inputData: { p, t, r },
  pipelineResults: Array.from({ length: p }, (_, i) => ({
    object: { item: i },
    tasks: Array.from({ length: t }, (_, j) => ({
      taskName: `task-${j}`,
      config: { step: j },
      results: Array.from({ length: r }, (_, k) => ({ object: { item: i, part: k } }))
    }))
  }))
})

const millis = (d: DateTime.Utc | null) => (d === null ? null : DateTime.toEpochMillis(d))

const expectFailure = <A, E extends { readonly _tag: string }, R>(effect: Effect.Effect<A, E, R>, tag: string) =>
  Effect.gen(function*() {
    const error = yield* Effect.flip(effect)
    expect(error._tag).toBe(tag)
    return error
  })

/**
 * Registers the suite.
 *
 * @since 0.1.0
 * @category suites
 */
export const suite = <E>(
  name: string,
  layer: Layer.Layer<PipelineStore.PipelineStore, E>,
  suiteOptions: SuiteOptions = {}
): void => {
  const timeout = suiteOptions.timeout ?? 60_000
  const session = Math.random().toString(36).slice(2, 8)
  let counter = 0
  const uid = (label: string) => `${session}-${label}-${++counter}`

  const ids = (runId: string) => ({
    pr: (i: number) => Pipeline.pipelineResultId(runId, i),
    te: (i: number, j: number) => Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, i), j),
    tr: (i: number, j: number, k: number) =>
      Pipeline.taskResultId(Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, i), j), k)
  })

  const statusOf = (kind: Pipeline.Kind, id: string) =>
    Effect.gen(function*() {
      const store = yield* Store
      const found = kind === "PipelineExecution"
        ? yield* store.getExecution(id)
        : kind === "PipelineResult"
        ? yield* store.getPipelineResult(id)
        : kind === "TaskExecution"
        ? yield* store.getTaskExecution(id)
        : yield* store.getTaskResult(id)
      return Option.getOrThrow(Option.map(found as Option.Option<Pipeline.Stamped>, (r) => r.status))
    })

  describe(`${name}: PipelineStore conformance`, () => {
    it.layer(layer, { timeout })("building runs", (it) => {
      it.effect("builds a whole tree with derived ids, every record PENDING, JSON kept exactly", () =>
        Effect.gen(function*() {
          const store = yield* Store
          yield* TestClock.adjust(Duration.minutes(3))
          const now = yield* DateTime.now
          const runId = uid("run")
          const input = {
            ...shape(runId, uid("pipe"), 2, 3, 2),
            inputData: { big: 2n ** 70n, text: "ünïcødé ✓", list: [1, 2.5, null, true], nested: { a: { b: [] } } }
          }
          const outcome = yield* store.build(input)
          expect(outcome.created).toBe(true)
          expect(outcome.tree.pipelineResults).toHaveLength(2)
          expect(outcome.tree.taskExecutions).toHaveLength(6)
          expect(outcome.tree.taskResults).toHaveLength(12)

          const execution = Option.getOrThrow(yield* store.getExecution(runId))
          expect(execution).toEqual({
            runId,
            pipelineId: input.pipelineId,
            inputData: input.inputData,
            created: now,
            status: "PENDING",
            message: null,
            started: null,
            completed: null
          })
          const id = ids(runId)
          const pr = Option.getOrThrow(yield* store.getPipelineResult(id.pr(1)))
          expect(pr).toEqual({
            id: id.pr(1),
            runId,
            index: 1,
            object: { item: 1 },
            status: "PENDING",
            message: null,
            started: null,
            completed: null
          })
          const te = Option.getOrThrow(yield* store.getTaskExecution(id.te(1, 2)))
          expect(te).toMatchObject({
            id: id.te(1, 2),
            runId,
            pipelineResultId: id.pr(1),
            index: 2,
            taskName: "task-2",
            config: { step: 2 },
            status: "PENDING"
          })
          const tr = Option.getOrThrow(yield* store.getTaskResult(id.tr(1, 2, 1)))
          expect(tr).toEqual({
            id: id.tr(1, 2, 1),
            runId,
            taskExecutionId: id.te(1, 2),
            index: 1,
            object: { item: 1, part: 1 },
            status: "PENDING",
            message: null,
            started: null,
            completed: null
          })
          expect(outcome.tree.taskResults.find((r) => r.id === tr.id)).toEqual(tr)
        }))

      it.effect("building the same run again writes nothing and says so", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("again")
          const input = shape(runId, uid("pipe"), 2, 2, 2)
          expect((yield* store.build(input)).created).toBe(true)
          yield* store.report("TaskResult", ids(runId).tr(0, 0, 0), "RUNNING")
          const second = yield* store.build(input)
          expect(second.created).toBe(false)
          expect(second.tree.taskResults.map((r) => r.id)).toEqual(
            (yield* store.listTaskResults({ runId })).map((r) => r.id)
          )
          expect(yield* store.listTaskResults({ runId })).toHaveLength(8)
          expect(yield* statusOf("TaskResult", ids(runId).tr(0, 0, 0))).toBe("RUNNING")
        }))

      it.effect("keeps caller-given ids", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("given")
          const [pr, te, tr] = [uid("pr"), uid("te"), uid("tr")]
          const outcome = yield* store.build({
            runId,
            pipelineId: uid("pipe"),
            pipelineResults: [{ id: pr, tasks: [{ id: te, taskName: "t", results: [{ id: tr, object: "x" }, {}] }] }]
          })
          expect(outcome.tree.taskResults.map((r) => r.id)).toEqual([tr, Pipeline.taskResultId(te, 1)])
          expect(Option.getOrThrow(yield* store.getTaskResult(tr))).toMatchObject({
            taskExecutionId: te,
            object: "x"
          })
          expect(Option.getOrThrow(yield* store.getTaskExecution(te)).pipelineResultId).toBe(pr)
        }))

      it.effect("refuses an id another run uses, writing nothing of the new run", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const shared = uid("shared")
          const first = uid("first")
          yield* store.build({
            runId: first,
            pipelineId: uid("pipe"),
            pipelineResults: [{ tasks: [{ taskName: "t", results: [{ id: shared }] }] }]
          })
          const second = uid("second")
          yield* expectFailure(
            store.build({
              runId: second,
              pipelineId: uid("pipe"),
              pipelineResults: [{ tasks: [{ taskName: "t", results: [{}, { id: shared }] }] }]
            }),
            "PipelineBuildError"
          )
          expect(Option.isNone(yield* store.getExecution(second))).toBe(true)
          expect(yield* store.listPipelineResults(second)).toEqual([])
          expect(Option.getOrThrow(yield* store.getTaskResult(shared)).runId).toBe(first)
        }))

      it.effect("builds only the execution to record a config error", () =>
        Effect.gen(function*() {
          const store = yield* Store
          yield* TestClock.adjust(Duration.seconds(7))
          const now = yield* DateTime.now
          const runId = uid("config")
          const outcome = yield* PipelineStore.recordConfigError({
            runId,
            pipelineId: uid("pipe"),
            inputData: { x: 1 },
            message: { error: "missing setting FOO" }
          }).pipe(Effect.provideService(Store, store))
          expect(outcome.created).toBe(true)
          const execution = Option.getOrThrow(yield* store.getExecution(runId))
          expect(execution.status).toBe("CONFIG_ERROR")
          expect(execution.message).toEqual({ error: "missing setting FOO" })
          expect(millis(execution.completed)).toBe(DateTime.toEpochMillis(now))
          expect(execution.started).toBeNull()
          expect(yield* store.listPipelineResults(runId)).toEqual([])
          // A plain build without pipeline results is a PENDING execution alone.
          const bare = uid("bare")
          yield* store.build({ runId: bare, pipelineId: uid("pipe") })
          expect(yield* statusOf("PipelineExecution", bare)).toBe("PENDING")
        }))

      it.effect("rejects invalid input before writing anything", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const pipelineId = uid("pipe")
          yield* expectFailure(store.build({ runId: "", pipelineId }), "InvalidInput")
          yield* expectFailure(store.build({ runId: "x".repeat(156), pipelineId }), "InvalidInput")
          const runId = uid("bad")
          yield* expectFailure(store.build({ runId, pipelineId, inputData: { f: () => 1 } }), "InvalidInput")
          yield* expectFailure(store.build({ runId, pipelineId, inputData: Number.NaN }), "InvalidInput")
          yield* expectFailure(
            store.build({ runId, pipelineId, status: "BOGUS" as Pipeline.Status }),
            "InvalidInput"
          )
          yield* expectFailure(
            store.build({ runId, pipelineId, status: "CONFIG_ERROR", pipelineResults: [{}] }),
            "InvalidInput"
          )
          yield* expectFailure(
            store.build({ runId, pipelineId, pipelineResults: [{ tasks: [{ taskName: "" }] }] }),
            "InvalidInput"
          )
          yield* expectFailure(
            store.build({ runId, pipelineId, pipelineResults: [{ id: "dup" }, { id: "dup" }] }),
            "InvalidInput"
          )
          yield* expectFailure(
            store.build({ runId, pipelineId, pipelineResults: [{ object: new Date(0) }] }),
            "InvalidInput"
          )
          expect(Option.isNone(yield* store.getExecution(runId))).toBe(true)
          yield* expectFailure(store.getTaskResult(""), "InvalidInput")
          yield* expectFailure(store.listTaskResults({ runId }, { status: [] }), "InvalidInput")
          yield* expectFailure(store.report("TaskResult", "x", "LATER" as Pipeline.Status), "InvalidInput")
          yield* expectFailure(store.report("Nope" as Pipeline.Kind, "x", "DONE"), "InvalidInput")
        }))
    })

    it.layer(layer, { timeout })("restoring runs", (it) => {
      /** The run under another run id: every id that starts with the old run id starts with the new one. */
      const renamed = (run: PipelineRun.PipelineRun, runId: string): PipelineRun.PipelineRun => {
        const from = run.execution.runId
        const id = (old: string) => (old.startsWith(from) ? runId + old.slice(from.length) : old)
        return {
          execution: { ...run.execution, runId },
          pipelineResults: run.pipelineResults.map((r) => ({ ...r, id: id(r.id), runId })),
          taskExecutions: run.taskExecutions.map((r) => ({
            ...r,
            id: id(r.id),
            runId,
            pipelineResultId: id(r.pipelineResultId)
          })),
          taskResults: run.taskResults.map((r) => ({ ...r, id: id(r.id), runId, taskExecutionId: id(r.taskExecutionId) }))
        }
      }

      /** A 2 × 2 × 2 run half way: one object done, one task failed, one task result running, the rest pending. */
      const halfWay = (runId: string) =>
        Effect.gen(function*() {
          const store = yield* Store
          yield* store.build({ ...shape(runId, uid("restore"), 2, 2, 2), message: { note: "built" } })
          const id = ids(runId)
          yield* TestClock.adjust(Duration.seconds(1))
          for (const [j, k] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
            yield* store.report("TaskResult", id.tr(0, j, k), "DONE", { message: { part: k } })
            yield* TestClock.adjust(Duration.millis(7))
          }
          yield* store.report("TaskResult", id.tr(1, 0, 0), "RUNTIME_ERROR", { message: "bad row" })
          yield* store.report("TaskResult", id.tr(1, 0, 1), "RUNNING")
          return Option.getOrThrow(yield* store.getRun(runId))
        })

      it.effect("restores a run exactly as it was read, and its tallies carry on as the original's", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const original = yield* halfWay(uid("orig"))
          expect(original.execution.status).toBe("RUNNING")
          expect(original.pipelineResults.map((r) => r.status)).toEqual(["DONE", "RUNNING"])
          const copyId = uid("copy")
          const outcome = yield* store.restore(renamed(original, copyId))
          expect(outcome.created).toBe(true)
          const restored = Option.getOrThrow(yield* store.getRun(copyId))
          expect(restored).toEqual(renamed(original, copyId))
          expect(Option.getOrThrow(yield* store.getExecution(copyId))).toEqual(restored.execution)
          expect(yield* store.listTaskResults({ runId: copyId }, { status: "RUNTIME_ERROR" })).toEqual(
            restored.taskResults.filter((r) => r.status === "RUNTIME_ERROR")
          )
          // The rest of the run, reported on both: the restored tallies propagate exactly as the original's.
          for (const runId of [original.execution.runId, copyId]) {
            const id = ids(runId)
            yield* store.report("TaskResult", id.tr(1, 0, 1), "DONE")
            expect(yield* statusOf("TaskExecution", id.te(1, 0))).toBe("RUNTIME_ERROR")
            yield* store.report("TaskResult", id.tr(1, 1, 0), "DONE")
            expect(yield* statusOf("PipelineResult", id.pr(1))).toBe("RUNNING")
            yield* store.report("TaskResult", id.tr(1, 1, 1), "CANCELLED")
            expect(yield* statusOf("TaskExecution", id.te(1, 1))).toBe("CANCELLED")
            expect(yield* statusOf("PipelineResult", id.pr(1))).toBe("RUNTIME_ERROR")
            expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNTIME_ERROR")
          }
        }))

      it.effect("restoring a stored run writes nothing and answers created: false", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const original = yield* halfWay(uid("twice"))
          const runId = original.execution.runId
          const changed = {
            ...original,
            execution: { ...original.execution, status: "CANCELLED" as const, message: "other" }
          }
          expect((yield* store.restore(changed)).created).toBe(false)
          expect((yield* store.restore(original)).created).toBe(false)
          expect(Option.getOrThrow(yield* store.getRun(runId))).toEqual(original)
        }))

      it.effect("a run whose structure is broken is InvalidInput, and nothing is written", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const original = yield* halfWay(uid("broken"))
          const runId = uid("broken-copy")
          const copy = renamed(original, runId)
          const orphan = {
            ...copy,
            taskResults: copy.taskResults.map((r, i) => (i === 3 ? { ...r, taskExecutionId: "nowhere" } : r))
          }
          const wrongIndex = {
            ...copy,
            pipelineResults: copy.pipelineResults.map((r, i) => (i === 1 ? { ...r, index: 5 } : r))
          }
          const badStatus = { ...copy, execution: { ...copy.execution, status: "FINISHED" } } as unknown as PipelineRun.PipelineRun
          for (const bad of [orphan, wrongIndex, badStatus]) {
            const error = yield* expectFailure(store.restore(bad), "InvalidInput")
            expect(error.message).not.toBe("")
          }
          expect(Option.isNone(yield* store.getRun(runId))).toBe(true)
        }))
      /** Every instant of a run (created, started, completed of each record), as ISO text. */
      const instants = (run: PipelineRun.PipelineRun) =>
        [run.execution, ...run.pipelineResults, ...run.taskExecutions, ...run.taskResults].flatMap((r) =>
          [("created" in r ? r.created : null), r.started, r.completed].map((t) => t === null ? null : DateTime.formatIso(t))
        )

      /** Two half-way runs and a run that failed before it had a tree, as stored. */
      const sources = Effect.gen(function*() {
        const store = yield* Store
        const a = yield* halfWay(uid("many-a"))
        const b = yield* halfWay(uid("many-b"))
        const configId = uid("many-c")
        yield* TestClock.adjust(Duration.millis(3))
        yield* PipelineStore.recordConfigError({ runId: configId, pipelineId: uid("pipe"), message: "no config" }).pipe(
          Effect.provideService(Store, store)
        )
        return [a, b, Option.getOrThrow(yield* store.getRun(configId))] as const
      })

      it.effect("restoreMany restores several runs exactly as restoring each in turn does", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const originals = yield* sources
          const batch = originals.map((run) => renamed(run, uid("batch")))
          const single = originals.map((run) => renamed(run, uid("single")))
          const outcomes = yield* store.restoreMany(batch)
          expect(outcomes.map((o) => o.created)).toEqual([true, true, true])
          expect(outcomes.map((o) => o.tree)).toEqual(batch)
          for (const run of single) expect((yield* store.restore(run)).created).toBe(true)
          const read = yield* store.getRuns(batch.map((run) => run.execution.runId))
          for (const [n, run] of batch.entries()) {
            const stored = Option.getOrThrow(read[n])
            expect(stored).toEqual(run)
            expect(instants(stored)).toEqual(instants(originals[n]))
            const one = Option.getOrThrow(yield* store.getRun(single[n].execution.runId))
            expect(renamed(stored, single[n].execution.runId)).toEqual(one)
            expect(instants(stored)).toEqual(instants(one))
          }
          // The tallies came along: finishing the batch copy of `a` propagates as on the original.
          const copyId = batch[0].execution.runId
          const id = ids(copyId)
          for (const tr of [id.tr(1, 0, 1), id.tr(1, 1, 0), id.tr(1, 1, 1)]) yield* store.report("TaskResult", tr, "DONE")
          expect(yield* statusOf("PipelineExecution", copyId)).toBe("RUNTIME_ERROR")
        }))

      it.effect("restoreMany keeps a stored run as it is, and restores a run id repeated in the call once", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const original = yield* halfWay(uid("kept"))
          const changed = {
            ...original,
            execution: { ...original.execution, status: "CANCELLED" as const, message: "other" }
          }
          const [, source] = yield* sources
          const fresh = renamed(source, uid("fresh"))
          const freshChanged = { ...fresh, execution: { ...fresh.execution, message: "second copy" } }
          const outcomes = yield* store.restoreMany([changed, fresh, freshChanged, fresh, original])
          expect(outcomes.map((o) => o.created)).toEqual([false, true, false, false, false])
          expect(outcomes[2].tree).toEqual(freshChanged)
          const [kept, restored] = yield* store.getRuns([original.execution.runId, fresh.execution.runId])
          expect(Option.getOrThrow(kept)).toEqual(original)
          expect(Option.getOrThrow(restored)).toEqual(fresh)
          expect(instants(Option.getOrThrow(kept))).toEqual(instants(original))
          // A second call restores nothing.
          expect((yield* store.restoreMany([fresh, original])).map((o) => o.created)).toEqual([false, false])
        }))

      it.effect("restoreMany validates every run first: an invalid one is InvalidInput naming it, nothing written", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const [a, b] = yield* sources
          const good = renamed(a, uid("good"))
          const badId = uid("bad")
          const bad = renamed(b, badId)
          const orphan = {
            ...bad,
            taskResults: bad.taskResults.map((r, i) => (i === 2 ? { ...r, taskExecutionId: "nowhere" } : r))
          }
          const error = yield* expectFailure(store.restoreMany([good, orphan]), "InvalidInput")
          expect(error).toMatchObject({ field: "runs[1].run", id: badId })
          const badStatus = { ...bad, execution: { ...bad.execution, status: "FINISHED" } } as unknown as PipelineRun.PipelineRun
          const statusError = yield* expectFailure(store.restoreMany([good, good, badStatus]), "InvalidInput")
          expect(statusError).toMatchObject({ id: badId })
          expect((statusError as { readonly field: string }).field).toMatch(/^runs\[2\]\.execution/)
          const noId = { ...bad, execution: { ...bad.execution, runId: "" } }
          const idError = yield* expectFailure(store.restoreMany([noId]), "InvalidInput")
          expect((idError as { readonly field: string }).field).toMatch(/^runs\[0\]\./)
          const read = yield* store.getRuns([good.execution.runId, badId])
          expect(read.every(Option.isNone)).toBe(true)
        }))

      it.effect("restoreMany refuses a run using another run's record ids, writing nothing of that run", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const [a] = yield* sources
          const thief = uid("thief")
          // The task results keep `a`'s ids: they belong to `a` already.
          const copy = renamed(a, thief)
          const clash = {
            ...copy,
            taskResults: copy.taskResults.map((r, i) => (i === 0 ? { ...r, id: a.taskResults[0].id } : r))
          }
          yield* expectFailure(store.restoreMany([clash]), "PipelineBuildError")
          expect(Option.isNone(yield* store.getExecution(thief))).toBe(true)
          expect(Option.getOrThrow(yield* store.getRun(a.execution.runId))).toEqual(a)
        }))

      it.effect("restoreMany and getRuns of nothing are nothing", () =>
        Effect.gen(function*() {
          const store = yield* Store
          expect(yield* store.restoreMany([])).toEqual([])
          expect(yield* store.getRuns([])).toEqual([])
        }))
    })

    it.layer(layer, { timeout })("reading", (it) => {
      it.effect("reads unknown ids as nothing", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const id = uid("unknown")
          expect(Option.isNone(yield* store.getExecution(id))).toBe(true)
          expect(Option.isNone(yield* store.getPipelineResult(id))).toBe(true)
          expect(Option.isNone(yield* store.getTaskExecution(id))).toBe(true)
          expect(Option.isNone(yield* store.getTaskResult(id))).toBe(true)
          expect(yield* store.listPipelineResults(id)).toEqual([])
          expect(yield* store.listTaskExecutions({ pipelineResultId: id })).toEqual([])
          expect(yield* store.listTaskResults({ taskExecutionId: id })).toEqual([])
          expect(yield* store.listExecutions(id)).toEqual([])
        }))

      it.effect("getRuns reads whole runs aligned with the ids: nothing for an unknown one, a repeated id at each place", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const [r1, r2, r3, unknown] = [uid("many"), uid("many"), uid("many"), uid("unknown")]
          yield* store.build(shape(r1, uid("pipe"), 2, 2, 2))
          yield* store.report("TaskResult", ids(r1).tr(1, 0, 1), "RUNNING")
          yield* PipelineStore.recordConfigError({ runId: r2, pipelineId: uid("pipe") }).pipe(
            Effect.provideService(Store, store)
          )
          yield* store.build(shape(r3, uid("pipe"), 1, 3, 1))
          const runIds = [r1, unknown, r3, r1, r2, unknown]
          const read = yield* store.getRuns(runIds)
          expect(read).toHaveLength(runIds.length)
          for (const [n, runId] of runIds.entries()) expect(read[n]).toEqual(yield* store.getRun(runId))
          expect(read.map(Option.isSome)).toEqual([true, false, true, true, true, false])
          expect(Option.getOrThrow(read[0]).taskResults).toHaveLength(8)
          expect(Option.getOrThrow(read[4]).pipelineResults).toEqual([])
          const error = yield* expectFailure(store.getRuns([r1, ""]), "InvalidInput")
          expect(error).toMatchObject({ field: "runIds[1]" })
        }))

      it.effect("lists by run and by parent, in tree order, optionally by status", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("list")
          yield* store.build(shape(runId, uid("pipe"), 12, 3, 11))
          const id = ids(runId)
          const prs = yield* store.listPipelineResults(runId)
          expect(prs.map((r) => r.index)).toEqual(Array.from({ length: 12 }, (_, i) => i))
          const tes = yield* store.listTaskExecutions({ runId })
          expect(tes).toHaveLength(36)
          expect(tes.map((r) => r.id)).toEqual(
            Array.from({ length: 12 }, (_, i) => Array.from({ length: 3 }, (_, j) => id.te(i, j))).flat()
          )
          expect((yield* store.listTaskExecutions({ pipelineResultId: id.pr(10) })).map((r) => r.taskName)).toEqual([
            "task-0",
            "task-1",
            "task-2"
          ])
          const trs = yield* store.listTaskResults({ runId })
          expect(trs).toHaveLength(12 * 3 * 11)
          expect(trs[0].id).toBe(id.tr(0, 0, 0))
          expect(trs[trs.length - 1].id).toBe(id.tr(11, 2, 10))
          const ofOne = yield* store.listTaskResults({ taskExecutionId: id.te(11, 1) })
          expect(ofOne.map((r) => r.index)).toEqual(Array.from({ length: 11 }, (_, k) => k))

          yield* store.report("TaskResult", id.tr(3, 1, 10), "RUNTIME_ERROR")
          yield* store.report("TaskResult", id.tr(0, 2, 0), "VALIDATION_ERROR")
          yield* store.report("TaskResult", id.tr(7, 0, 4), "DONE")
          yield* store.report("TaskResult", id.tr(9, 0, 4), "RUNNING")
          const failed = yield* store.listTaskResults({ runId }, { status: [...Pipeline.FAILURES] })
          expect(failed.map((r) => r.id)).toEqual([id.tr(0, 2, 0), id.tr(3, 1, 10)])
          const running = yield* store.listTaskResults({ runId }, { status: "RUNNING" })
          expect(running.map((r) => r.id)).toEqual([id.tr(9, 0, 4)])
          const ofParent = yield* store.listTaskResults({ taskExecutionId: id.te(3, 1) }, { status: "PENDING" })
          expect(ofParent).toHaveLength(10)
          const runningTes = yield* store.listTaskExecutions({ runId }, { status: "RUNNING" })
          expect(runningTes.map((r) => r.id)).toEqual([id.te(0, 2), id.te(3, 1), id.te(7, 0), id.te(9, 0)])
          const runningPrs = yield* store.listPipelineResults(runId, { status: ["RUNNING", "DONE"] })
          expect(runningPrs.map((r) => r.index)).toEqual([0, 3, 7, 9])
        }))

      it.effect("lists a pipeline's runs oldest first", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const pipelineId = uid("pipe")
          const runs = [uid("a"), uid("b"), uid("c")]
          for (const runId of runs) {
            yield* store.build({ runId, pipelineId })
            yield* TestClock.adjust(Duration.seconds(1))
          }
          yield* store.build({ runId: uid("other"), pipelineId: uid("pipe") })
          expect((yield* store.listExecutions(pipelineId)).map((e) => e.runId)).toEqual(runs)
        }))
    })

    it.layer(layer, { timeout })("status reports", (it) => {
      it.effect("RUNNING stamps started and moves every PENDING ancestor to RUNNING", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("running")
          yield* store.build(shape(runId, uid("pipe"), 2, 2, 2))
          yield* TestClock.adjust(Duration.seconds(42))
          const now = yield* DateTime.now
          const id = ids(runId)
          const outcome = yield* store.report("TaskResult", id.tr(1, 0, 1), "RUNNING", { message: "picked up" })
          expect(outcome.applied).toBe(true)
          expect(outcome.status).toBe("RUNNING")
          expect(outcome.changes).toEqual([
            { kind: "TaskResult", id: id.tr(1, 0, 1), from: "PENDING", to: "RUNNING" },
            { kind: "TaskExecution", id: id.te(1, 0), from: "PENDING", to: "RUNNING" },
            { kind: "PipelineResult", id: id.pr(1), from: "PENDING", to: "RUNNING" },
            { kind: "PipelineExecution", id: runId, from: "PENDING", to: "RUNNING" }
          ])
          const tr = Option.getOrThrow(yield* store.getTaskResult(id.tr(1, 0, 1)))
          expect(tr.message).toBe("picked up")
          expect(millis(tr.started)).toBe(DateTime.toEpochMillis(now))
          expect(tr.completed).toBeNull()
          const execution = Option.getOrThrow(yield* store.getExecution(runId))
          expect(execution.status).toBe("RUNNING")
          expect(millis(execution.started)).toBe(DateTime.toEpochMillis(now))
          expect(execution.message).toBeNull()
          // Siblings and cousins stay PENDING.
          expect(yield* statusOf("TaskResult", id.tr(1, 0, 0))).toBe("PENDING")
          expect(yield* statusOf("TaskExecution", id.te(1, 1))).toBe("PENDING")
          expect(yield* statusOf("PipelineResult", id.pr(0))).toBe("PENDING")
          // A second RUNNING child changes only itself.
          yield* TestClock.adjust(Duration.seconds(1))
          const second = yield* store.report("TaskResult", id.tr(1, 0, 0), "RUNNING")
          expect(second.changes).toEqual([{ kind: "TaskResult", id: id.tr(1, 0, 0), from: "PENDING", to: "RUNNING" }])
          expect(millis(Option.getOrThrow(yield* store.getExecution(runId)).started)).toBe(DateTime.toEpochMillis(now))
        }))

      it.effect("follows the advance rule and tells when a report was refused", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("advance")
          yield* store.build(shape(runId, uid("pipe"), 1, 1, 4))
          const id = ids(runId)
          const [a, b, c, d] = [0, 1, 2, 3].map((k) => id.tr(0, 0, k))
          expect((yield* store.report("TaskResult", a, "PENDING")).applied).toBe(false)
          expect((yield* store.report("TaskResult", a, "RUNNING")).applied).toBe(true)
          const again = yield* store.report("TaskResult", a, "RUNNING", { message: "again" })
          expect(again).toMatchObject({ applied: false, status: "RUNNING", changes: [] })
          expect(Option.getOrThrow(yield* store.getTaskResult(a)).message).toBeNull()
          expect((yield* store.report("TaskResult", a, "PENDING")).applied).toBe(false)
          expect((yield* store.report("TaskResult", a, "DONE", { message: { rows: 3 } })).applied).toBe(true)
          for (const status of Pipeline.STATUSES) {
            const refused = yield* store.report("TaskResult", a, status, { message: "late" })
            expect(refused).toMatchObject({ applied: false, status: "DONE", changes: [] })
          }
          const done = Option.getOrThrow(yield* store.getTaskResult(a))
          expect(done.status).toBe("DONE")
          expect(done.message).toEqual({ rows: 3 })
          // PENDING → final directly: completed stamped, started stays null.
          yield* store.report("TaskResult", b, "CANCELLED")
          const cancelled = Option.getOrThrow(yield* store.getTaskResult(b))
          expect(cancelled.started).toBeNull()
          expect(cancelled.completed).not.toBeNull()
          // RUNNING → any failure.
          yield* store.report("TaskResult", c, "RUNNING")
          expect((yield* store.report("TaskResult", c, "VALIDATION_ERROR")).applied).toBe(true)
          expect((yield* store.report("TaskResult", d, "RUNTIME_ERROR")).applied).toBe(true)
          expect((yield* store.report("TaskResult", d, "DONE")).applied).toBe(false)
        }))

      it.effect("a final status stamps completed; all children DONE make every ancestor DONE", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("done")
          yield* store.build(shape(runId, uid("pipe"), 2, 2, 2))
          const id = ids(runId)
          const start = yield* DateTime.now
          yield* store.report("TaskResult", id.tr(0, 0, 0), "RUNNING")
          let last = start
          for (let i = 0; i < 2; i++) {
            for (let j = 0; j < 2; j++) {
              for (let k = 0; k < 2; k++) {
                yield* TestClock.adjust(Duration.seconds(1))
                last = yield* DateTime.now
                const outcome = yield* store.report("TaskResult", id.tr(i, j, k), "DONE")
                const lastOfTask = k === 1
                const lastOfObject = lastOfTask && j === 1
                const lastOfRun = lastOfObject && i === 1
                expect(outcome.changes.map((c) => c.kind)).toEqual(
                  [
                    "TaskResult",
                    ...(lastOfTask || (i + j + k > 0 && k === 0) ? ["TaskExecution"] : []),
                    ...(lastOfObject || (i === 1 && j === 0 && k === 0) ? ["PipelineResult"] : []),
                    ...(lastOfRun ? ["PipelineExecution"] : [])
                  ]
                )
              }
              expect(yield* statusOf("TaskExecution", id.te(i, j))).toBe("DONE")
            }
            expect(yield* statusOf("PipelineResult", id.pr(i))).toBe("DONE")
            if (i === 0) expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNNING")
          }
          const execution = Option.getOrThrow(yield* store.getExecution(runId))
          expect(execution.status).toBe("DONE")
          expect(millis(execution.started)).toBe(DateTime.toEpochMillis(start))
          expect(millis(execution.completed)).toBe(DateTime.toEpochMillis(last))
          const te = Option.getOrThrow(yield* store.getTaskExecution(id.te(1, 1)))
          expect(millis(te.completed)).toBe(DateTime.toEpochMillis(last))
        }))

      it.effect("a parent with a failed child finishes with the most severe failure", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const cases: ReadonlyArray<readonly [ReadonlyArray<Pipeline.Status>, Pipeline.Status]> = [
            [["DONE", "DONE", "DONE"], "DONE"],
            [["DONE", "CANCELLED", "DONE"], "CANCELLED"],
            [["CANCELLED", "RUNTIME_ERROR", "DONE"], "RUNTIME_ERROR"],
            [["RUNTIME_ERROR", "VALIDATION_ERROR", "CANCELLED"], "VALIDATION_ERROR"],
            [["VALIDATION_ERROR", "CONFIG_ERROR", "RUNTIME_ERROR"], "CONFIG_ERROR"],
            [["CONFIG_ERROR", "DONE", "CANCELLED"], "CONFIG_ERROR"]
          ]
          for (const [children, expected] of cases) {
            const runId = uid("worst")
            yield* store.build(shape(runId, uid("pipe"), 1, 1, 3))
            const id = ids(runId)
            for (let k = 0; k < 3; k++) {
              yield* store.report("TaskResult", id.tr(0, 0, k), children[k])
              if (k < 2) expect(yield* statusOf("TaskExecution", id.te(0, 0))).toBe("RUNNING")
            }
            expect(yield* statusOf("TaskExecution", id.te(0, 0))).toBe(expected)
            expect(yield* statusOf("PipelineResult", id.pr(0))).toBe(expected)
            expect(yield* statusOf("PipelineExecution", runId)).toBe(expected)
          }
        }))

      it.effect("a failure waits for the siblings: the parent stays RUNNING until all are final", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("wait")
          yield* store.build(shape(runId, uid("pipe"), 2, 2, 1))
          const id = ids(runId)
          yield* store.report("TaskResult", id.tr(0, 0, 0), "RUNTIME_ERROR")
          expect(yield* statusOf("TaskExecution", id.te(0, 0))).toBe("RUNTIME_ERROR")
          expect(yield* statusOf("PipelineResult", id.pr(0))).toBe("RUNNING")
          expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNNING")
          yield* store.report("TaskResult", id.tr(0, 1, 0), "DONE")
          expect(yield* statusOf("PipelineResult", id.pr(0))).toBe("RUNTIME_ERROR")
          expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNNING")
          yield* store.report("TaskResult", id.tr(1, 0, 0), "DONE")
          yield* store.report("TaskResult", id.tr(1, 1, 0), "DONE")
          expect(yield* statusOf("PipelineResult", id.pr(1))).toBe("DONE")
          expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNTIME_ERROR")
        }))

      it.effect("a report on a parent propagates up, never down; a final parent keeps its status", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("parent")
          yield* store.build(shape(runId, uid("pipe"), 2, 1, 2))
          const id = ids(runId)
          const cancel = yield* store.report("TaskExecution", id.te(0, 0), "CANCELLED", { message: "stop" })
          expect(cancel.changes.map((c) => [c.kind, c.to])).toEqual([
            ["TaskExecution", "CANCELLED"],
            ["PipelineResult", "CANCELLED"],
            ["PipelineExecution", "RUNNING"]
          ])
          expect(yield* statusOf("TaskResult", id.tr(0, 0, 0))).toBe("PENDING")
          // Children still take reports; the final parent does not move.
          const late = yield* store.report("TaskResult", id.tr(0, 0, 0), "DONE")
          expect(late.applied).toBe(true)
          expect(late.changes.map((c) => c.kind)).toEqual(["TaskResult"])
          yield* store.report("TaskResult", id.tr(0, 0, 1), "DONE")
          expect(yield* statusOf("TaskExecution", id.te(0, 0))).toBe("CANCELLED")
          expect(Option.getOrThrow(yield* store.getTaskExecution(id.te(0, 0))).message).toBe("stop")
          // The run finishes once the other object does.
          yield* store.report("TaskResult", id.tr(1, 0, 0), "DONE")
          yield* store.report("TaskResult", id.tr(1, 0, 1), "DONE")
          expect(yield* statusOf("PipelineExecution", runId)).toBe("CANCELLED")
          // The execution itself can be reported on directly.
          const other = uid("direct")
          yield* store.build(shape(other, uid("pipe"), 1, 1, 1))
          const direct = yield* store.report("PipelineExecution", other, "RUNNING")
          expect(direct.changes).toEqual([{ kind: "PipelineExecution", id: other, from: "PENDING", to: "RUNNING" }])
          yield* store.report("PipelineExecution", other, "CANCELLED")
          expect(yield* statusOf("TaskResult", ids(other).tr(0, 0, 0))).toBe("PENDING")
        }))

      it.effect("a report on an unknown record fails with PipelineNotFound", () =>
        Effect.gen(function*() {
          const store = yield* Store
          for (const kind of Pipeline.Kind.literals) {
            const error = yield* expectFailure(store.report(kind, uid("missing"), "RUNNING"), "PipelineNotFound")
            expect(error).toMatchObject({ kind })
          }
        }))
    })

    it.layer(layer, { timeout })("concurrency", (it) => {
      it.effect("concurrent final reports never lose a propagation", () =>
        TestServices.provideLive(Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("race")
          const [P, T, R] = [4, 3, 8]
          yield* store.build(shape(runId, uid("pipe"), P, T, R))
          const id = ids(runId)
          const all = Array.from(
            { length: P * T * R },
            (_, n) => [Math.floor(n / (T * R)), Math.floor(n / R) % T, n % R] as const
          )
          const shuffled = Array.from(yield* Random.shuffle(all))
          // One failure in object 2, everything else DONE.
          const outcomes = yield* Effect.forEach(
            shuffled,
            ([i, j, k]) =>
              store.report("TaskResult", id.tr(i, j, k), i === 2 && j === 1 && k === 5 ? "RUNTIME_ERROR" : "DONE"),
            { concurrency: "unbounded" }
          )
          expect(outcomes.every((o) => o.applied)).toBe(true)
          for (let i = 0; i < P; i++) {
            for (let j = 0; j < T; j++) {
              expect(yield* statusOf("TaskExecution", id.te(i, j))).toBe(i === 2 && j === 1 ? "RUNTIME_ERROR" : "DONE")
            }
            expect(yield* statusOf("PipelineResult", id.pr(i))).toBe(i === 2 ? "RUNTIME_ERROR" : "DONE")
          }
          expect(yield* statusOf("PipelineExecution", runId)).toBe("RUNTIME_ERROR")
          // Every record became final exactly once: one report reached the top.
          expect(outcomes.filter((o) => o.changes.some((c) => c.kind === "PipelineExecution" && c.to !== "RUNNING")))
            .toHaveLength(1)
          expect(outcomes.filter((o) => o.changes.some((c) => c.kind === "PipelineResult" && c.to !== "RUNNING")))
            .toHaveLength(P)
        })), { timeout })

      it.effect("concurrent RUNNING and final reports of the same records settle consistently", () =>
        TestServices.provideLive(Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("mixed")
          const [P, T, R] = [3, 2, 5]
          yield* store.build(shape(runId, uid("pipe"), P, T, R))
          const id = ids(runId)
          const reports = Array.from({ length: P * T * R }, (_, n) => {
            const tr = id.tr(Math.floor(n / (T * R)), Math.floor(n / R) % T, n % R)
            return [[tr, "RUNNING"], [tr, "DONE"], [tr, "DONE"]] as const
          }).flat()
          const shuffled = Array.from(yield* Random.shuffle(reports))
          const outcomes = yield* Effect.forEach(shuffled, ([tr, status]) => store.report("TaskResult", tr, status), {
            concurrency: "unbounded"
          })
          // Exactly one DONE per task result was applied.
          expect(outcomes.filter((o, n) => o.applied && shuffled[n][1] === "DONE")).toHaveLength(P * T * R)
          const trs = yield* store.listTaskResults({ runId })
          expect(trs.every((r) => r.status === "DONE" && r.completed !== null)).toBe(true)
          const execution = Option.getOrThrow(yield* store.getExecution(runId))
          expect(execution.status).toBe("DONE")
          expect(execution.completed).not.toBeNull()
          const tes = yield* store.listTaskExecutions({ runId })
          expect(tes.every((r) => r.status === "DONE")).toBe(true)
        })), { timeout })

      it.effect("concurrent builds of the same run create it once", () =>
        TestServices.provideLive(Effect.gen(function*() {
          const store = yield* Store
          const runId = uid("twice")
          const input = shape(runId, uid("pipe"), 3, 2, 2)
          const outcomes = yield* Effect.forEach([1, 2, 3, 4], () => store.build(input), { concurrency: "unbounded" })
          expect(outcomes.filter((o) => o.created)).toHaveLength(1)
          expect(yield* store.listTaskResults({ runId })).toHaveLength(12)
        })), { timeout })

      it.effect("concurrent restoreMany calls of overlapping runs create each run once", () =>
        TestServices.provideLive(Effect.gen(function*() {
          const store = yield* Store
          const now = yield* DateTime.now
          const pipelineId = uid("pipe")
          const runs = Array.from(
            { length: 12 },
            () => Either.getOrThrow(PipelineStore.prepareTree(shape(uid("overlap"), pipelineId, 2, 1, 2), now)).tree
          )
          // Four calls, each with eight of the twelve runs, in different orders.
          const batches = [0, 1, 2, 3].map((k) =>
            Array.from({ length: 8 }, (_, n) => runs[(k * 3 + (k % 2 === 0 ? n : 7 - n)) % runs.length])
          )
          const outcomes = yield* Effect.forEach(batches, (batch) => store.restoreMany(batch), {
            concurrency: "unbounded"
          })
          for (const run of runs) {
            const runId = run.execution.runId
            const created = outcomes.flatMap((batch) => batch.filter((o) => o.created && o.tree.execution.runId === runId))
            expect(created).toHaveLength(1)
          }
          const read = yield* store.getRuns(runs.map((run) => run.execution.runId))
          expect(read.map(Option.getOrThrow)).toEqual(runs)
        })), { timeout })
    })

    it.layer(layer, { timeout })("digest and cleanup", (it) => {
      it.effect("digests a pipeline's runs", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const pipelineId = uid("digest")
          const empty = yield* store.digest(pipelineId)
          expect(empty).toEqual({
            pipelineId,
            totalRuns: 0,
            successes: 0,
            failures: 0,
            lastRan: null,
            averageRuntimeMs: null
          })
          // Run a: 1 s, DONE. Run b: 3 s, failed. Run c: still running. Run d: config error, never ran.
          const [a, b, c, d] = [uid("a"), uid("b"), uid("c"), uid("d")]
          for (const runId of [a, b, c]) yield* store.build(shape(runId, pipelineId, 1, 1, 1))
          yield* store.report("TaskResult", ids(a).tr(0, 0, 0), "RUNNING")
          yield* TestClock.adjust(Duration.seconds(1))
          yield* store.report("TaskResult", ids(a).tr(0, 0, 0), "DONE")
          yield* store.report("TaskResult", ids(b).tr(0, 0, 0), "RUNNING")
          yield* TestClock.adjust(Duration.seconds(3))
          yield* store.report("TaskResult", ids(b).tr(0, 0, 0), "VALIDATION_ERROR")
          yield* TestClock.adjust(Duration.seconds(1))
          yield* store.report("TaskResult", ids(c).tr(0, 0, 0), "RUNNING")
          yield* TestClock.adjust(Duration.seconds(10))
          yield* PipelineStore.recordConfigError({ runId: d, pipelineId }).pipe(Effect.provideService(Store, store))
          const dCreated = yield* DateTime.now
          yield* store.build(shape(uid("other"), uid("other-pipe"), 1, 1, 1))

          const digest = yield* store.digest(pipelineId)
          expect(digest.pipelineId).toBe(pipelineId)
          expect(digest.totalRuns).toBe(4)
          expect(digest.successes).toBe(1)
          expect(digest.failures).toBe(2)
          expect(millis(digest.lastRan)).toBe(DateTime.toEpochMillis(dCreated))
          expect(digest.averageRuntimeMs).not.toBeNull()
          expect(digest.averageRuntimeMs!).toBeCloseTo(2000, 3)
          yield* store.report("TaskResult", ids(c).tr(0, 0, 0), "DONE")
          const after = yield* store.digest(pipelineId)
          expect(after.successes).toBe(2)
          expect(after.averageRuntimeMs!).toBeCloseTo((1000 + 3000 + 10_000) / 3, 3)
        }))

      it.effect("cleanup(before) removes final runs completed before the cutoff, whole trees, and returns their ids", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const pipelineId = uid("cleanup")
          const [old1, old2, open, fresh] = [uid("old1"), uid("old2"), uid("open"), uid("fresh")]
          for (const runId of [old1, old2, open, fresh]) yield* store.build(shape(runId, pipelineId, 2, 2, 2))
          const finish = (runId: string) =>
            Effect.forEach(
              [0, 1].flatMap((i) => [0, 1].flatMap((j) => [0, 1].map((k) => ids(runId).tr(i, j, k)))),
              (tr) => store.report("TaskResult", tr, "DONE"),
              { discard: true }
            )
          yield* finish(old1)
          yield* store.report("PipelineExecution", old2, "CANCELLED")
          yield* store.report("TaskResult", ids(open).tr(0, 0, 0), "RUNNING")
          yield* TestClock.adjust(Duration.hours(1))
          const cutoff = yield* DateTime.now
          yield* TestClock.adjust(Duration.hours(1))
          yield* finish(fresh)

          const removed = yield* store.cleanup(cutoff)
          expect(removed).toContain(old1)
          expect(removed).toContain(old2)
          expect(removed).not.toContain(open)
          expect(removed).not.toContain(fresh)
          expect(new Set(removed).size).toBe(removed.length)
          for (const runId of [old1, old2]) {
            expect(Option.isNone(yield* store.getExecution(runId))).toBe(true)
            expect(yield* store.listPipelineResults(runId)).toEqual([])
            expect(yield* store.listTaskExecutions({ runId })).toEqual([])
            expect(yield* store.listTaskResults({ runId })).toEqual([])
            expect(Option.isNone(yield* store.getTaskResult(ids(runId).tr(1, 1, 1)))).toBe(true)
            expect(Option.isNone(yield* store.getPipelineResult(ids(runId).pr(0)))).toBe(true)
          }
          for (const runId of [open, fresh]) {
            expect(Option.isSome(yield* store.getExecution(runId))).toBe(true)
            expect(yield* store.listTaskResults({ runId })).toHaveLength(8)
          }
          expect((yield* store.listExecutions(pipelineId)).map((e) => e.runId).sort()).toEqual([open, fresh].sort())
          const again = yield* store.cleanup(cutoff)
          expect(again).not.toContain(old1)
          // A removed run id can be built again.
          expect((yield* store.build(shape(old1, pipelineId, 1, 1, 1))).created).toBe(true)
        }))

      it.effect("cleanup works in batches beyond the batch size", () =>
        Effect.gen(function*() {
          const store = yield* Store
          const pipelineId = uid("batches")
          const runs = Array.from({ length: 130 }, () => uid("batch"))
          for (const runId of runs) yield* PipelineStore.recordConfigError({ runId, pipelineId }).pipe(
            Effect.provideService(Store, store)
          )
          yield* TestClock.adjust(Duration.millis(1))
          const removed = yield* store.cleanup(yield* DateTime.now)
          for (const runId of runs) expect(removed).toContain(runId)
          expect((yield* store.digest(pipelineId)).totalRuns).toBe(0)
        }), { timeout })
    })
  })
}
