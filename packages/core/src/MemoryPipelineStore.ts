/**
 * The in-memory `PipelineStore`: production semantics (advance rule, upward
 * propagation, digest, cleanup), time from `Clock`, so `TestClock` drives it.
 * Builds and reports run one at a time behind a semaphore and are
 * uninterruptible, so concurrent reports never lose a propagation. For tests
 * and single-process programs.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import { DriverError } from "./BackendError.js"
import type { Access, Advance, Insertion, ListQuery, Node, PipelineDriver, Tree, Update } from "./PipelineDriver.js"
import * as PipelineStore from "./PipelineStore.js"

interface Entry<A> {
  record: A
  tally: Pipeline.Tally | null
}

interface Run {
  readonly pipelineResults: Array<string>
  readonly taskExecutions: Array<string>
  readonly taskResults: Array<string>
}

const apply = <A extends Pipeline.Stamped>(record: A, update: Update | Advance): A => {
  const next: Pipeline.Stamped = {
    status: update.status ?? record.status,
    message: update.message === undefined ? record.message : update.message,
    started: update.status === Pipeline.RUNNING ? update.at : record.started,
    completed: update.status !== undefined && Pipeline.isFinal(update.status) ? update.at : record.completed
  }
  return { ...record, ...next }
}

const filtered = <A extends Pipeline.Stamped>(records: ReadonlyArray<A>, query: ListQuery): ReadonlyArray<A> =>
  query.statuses === undefined ? records : records.filter((r) => query.statuses!.includes(r.status))

/**
 * A driver keeping runs in maps owned by the returned driver.
 *
 * @since 0.1.0
 * @category constructors
 */
export const makeDriver: Effect.Effect<PipelineDriver> = Effect.gen(function*() {
  const executions = new Map<string, Entry<Pipeline.PipelineExecution>>()
  const pipelineResults = new Map<string, Entry<Pipeline.PipelineResult>>()
  const taskExecutions = new Map<string, Entry<Pipeline.TaskExecution>>()
  const taskResults = new Map<string, Entry<Pipeline.TaskResult>>()
  const runs = new Map<string, Run>()
  const tasksOf = new Map<string, Array<string>>()
  const resultsOf = new Map<string, Array<string>>()
  const lock = yield* Effect.makeSemaphore(1)
  const exclusive = <A, E>(effect: Effect.Effect<A, E>) => Effect.uninterruptible(lock.withPermits(1)(effect))

  const table = (kind: Pipeline.Kind): Map<string, Entry<Pipeline.Stamped>> => {
    switch (kind) {
      case "PipelineExecution":
        return executions
      case "PipelineResult":
        return pipelineResults
      case "TaskExecution":
        return taskExecutions
      case "TaskResult":
        return taskResults
    }
  }

  const parentOf = (kind: Pipeline.Kind, record: Pipeline.Stamped): string | null => {
    switch (kind) {
      case "PipelineExecution":
        return null
      case "PipelineResult":
        return (record as Pipeline.PipelineResult).runId
      case "TaskExecution":
        return (record as Pipeline.TaskExecution).pipelineResultId
      case "TaskResult":
        return (record as Pipeline.TaskResult).taskExecutionId
    }
  }

  const access: Access = {
    lock: (kind, id) =>
      Effect.sync(() => {
        const entry = table(kind).get(id)
        if (entry === undefined) return undefined
        return { status: entry.record.status, parentId: parentOf(kind, entry.record), tally: entry.tally } satisfies Node
      }),
    update: (kind, id, update) =>
      Effect.sync(() => {
        const entry = table(kind).get(id)
        if (entry === undefined) return
        entry.record = apply(entry.record, update)
        if (update.tally !== undefined) entry.tally = update.tally
      }),
    advance: (kind, id, advance) =>
      Effect.sync(() => {
        const entry = table(kind).get(id)
        if (entry === undefined || !advance.from.includes(entry.record.status)) return undefined
        const previous = entry.record.status
        entry.record = apply(entry.record, advance)
        return { previous, parentId: parentOf(kind, entry.record) }
      })
  }

  const records = <A>(map: Map<string, Entry<A>>, ids: ReadonlyArray<string> | undefined): Array<A> =>
    ids === undefined ? [] : ids.map((id) => map.get(id)!.record)

  const remove = (runId: string) => {
    const run = runs.get(runId)
    if (run !== undefined) {
      for (const id of run.taskResults) taskResults.delete(id)
      for (const id of run.taskExecutions) {
        taskExecutions.delete(id)
        resultsOf.delete(id)
      }
      for (const id of run.pipelineResults) {
        pipelineResults.delete(id)
        tasksOf.delete(id)
      }
    }
    runs.delete(runId)
    executions.delete(runId)
  }

  const write = ({ tallies, tree }: Insertion) => {
    executions.set(tree.execution.runId, { record: tree.execution, tally: tallies.execution })
    tree.pipelineResults.forEach((record, i) => {
      pipelineResults.set(record.id, { record, tally: tallies.pipelineResults[i] })
      tasksOf.set(record.id, [])
    })
    tree.taskExecutions.forEach((record, i) => {
      taskExecutions.set(record.id, { record, tally: tallies.taskExecutions[i] })
      tasksOf.get(record.pipelineResultId)!.push(record.id)
      resultsOf.set(record.id, [])
    })
    for (const record of tree.taskResults) {
      taskResults.set(record.id, { record, tally: null })
      resultsOf.get(record.taskExecutionId)!.push(record.id)
    }
    runs.set(tree.execution.runId, {
      pipelineResults: tree.pipelineResults.map((r) => r.id),
      taskExecutions: tree.taskExecutions.map((r) => r.id),
      taskResults: tree.taskResults.map((r) => r.id)
    })
  }

  // Every run not stored yet, all or nothing: a caller-given id may collide with another run's records
  // (stored, or earlier in the same call), and then nothing is written.
  const insertMany = (batch: ReadonlyArray<Insertion>): Effect.Effect<ReadonlyArray<boolean>, DriverError> =>
    exclusive(Effect.sync(() => {
      const fresh = batch.map(({ tree }) => !executions.has(tree.execution.runId))
      const taken = { pr: new Set<string>(), te: new Set<string>(), tr: new Set<string>() }
      const clash = (map: Map<string, unknown>, seen: Set<string>, id: string) => {
        if (map.has(id) || seen.has(id)) return true
        seen.add(id)
        return false
      }
      for (const [n, { tree }] of batch.entries()) {
        if (!fresh[n]) continue
        if (
          tree.pipelineResults.some((r) => clash(pipelineResults, taken.pr, r.id)) ||
          tree.taskExecutions.some((r) => clash(taskExecutions, taken.te, r.id)) ||
          tree.taskResults.some((r) => clash(taskResults, taken.tr, r.id))
        ) return "clash" as const
      }
      batch.forEach((run, n) => {
        if (fresh[n]) write(run)
      })
      return fresh
    })).pipe(
      Effect.flatMap((outcome) =>
        outcome === "clash"
          ? Effect.fail(
            new DriverError({
              operation: "insert",
              cause: new Error("a record id of the run is already used by another run")
            })
          )
          : Effect.succeed(outcome)
      )
    )

  const getRun = (runId: string): Tree | undefined => {
    const execution = executions.get(runId)?.record
    const run = runs.get(runId)
    if (execution === undefined || run === undefined) return undefined
    return {
      execution,
      pipelineResults: records(pipelineResults, run.pipelineResults),
      taskExecutions: records(taskExecutions, run.taskExecutions),
      taskResults: records(taskResults, run.taskResults)
    }
  }

  return {
    kind: "memory",
    insert: (tree, tallies) => Effect.map(insertMany([{ tree, tallies }]), ([created]) => created),
    insertMany,
    atomically: (f) => exclusive(f(access)),
    getExecution: (runId) => Effect.sync(() => executions.get(runId)?.record),
    getRuns: (runIds) => Effect.sync(() => runIds.map(getRun)),
    getPipelineResult: (id) => Effect.sync(() => pipelineResults.get(id)?.record),
    getTaskExecution: (id) => Effect.sync(() => taskExecutions.get(id)?.record),
    getTaskResult: (id) => Effect.sync(() => taskResults.get(id)?.record),
    listExecutions: (pipelineId) =>
      Effect.sync(() =>
        Array.from(executions.values(), (e) => e.record)
          .filter((e) => e.pipelineId === pipelineId)
          .sort((a, b) =>
            DateTime.Order(a.created, b.created) || (a.runId < b.runId ? -1 : a.runId > b.runId ? 1 : 0)
          )
      ),
    listPipelineResults: (query) =>
      Effect.sync(() => filtered(records(pipelineResults, runs.get(query.id)?.pipelineResults), query)),
    listTaskExecutions: (query) =>
      Effect.sync(() =>
        filtered(
          records(taskExecutions, query.by === "run" ? runs.get(query.id)?.taskExecutions : tasksOf.get(query.id)),
          query
        )
      ),
    listTaskResults: (query) =>
      Effect.sync(() =>
        filtered(
          records(taskResults, query.by === "run" ? runs.get(query.id)?.taskResults : resultsOf.get(query.id)),
          query
        )
      ),
    digest: (pipelineId) =>
      Effect.sync(() => {
        let totalRuns = 0
        let successes = 0
        let failures = 0
        let lastRan: DateTime.Utc | null = null
        let runtime = 0
        let timed = 0
        for (const { record } of executions.values()) {
          if (record.pipelineId !== pipelineId) continue
          totalRuns++
          if (record.status === Pipeline.DONE) successes++
          else if (Pipeline.isFailed(record.status)) failures++
          const ran = record.started ?? record.created
          if (lastRan === null || DateTime.greaterThan(ran, lastRan)) lastRan = ran
          if (record.started !== null && record.completed !== null) {
            runtime += DateTime.toEpochMillis(record.completed) - DateTime.toEpochMillis(record.started)
            timed++
          }
        }
        return {
          pipelineId,
          totalRuns,
          successes,
          failures,
          lastRan,
          averageRuntimeMs: timed === 0 ? null : runtime / timed
        } satisfies Pipeline.Digest
      }),
    cleanup: (before, limit) =>
      exclusive(Effect.sync(() => {
        const removed: Array<string> = []
        for (const [runId, { record }] of executions) {
          if (removed.length >= limit) break
          if (
            Pipeline.isFinal(record.status) && record.completed !== null &&
            DateTime.lessThan(record.completed, before)
          ) {
            removed.push(runId)
          }
        }
        removed.forEach(remove)
        return removed
      })),
    isTransient: () => false
  } satisfies PipelineDriver
})

/**
 * Builds the service with fresh, empty storage.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (options: PipelineStore.Options = {}): Effect.Effect<PipelineStore.Service> =>
  Effect.flatMap(makeDriver, (driver) => PipelineStore.make(driver, options))

/**
 * A layer with fresh, empty storage.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: PipelineStore.Options = {}): Layer.Layer<PipelineStore.PipelineStore> =>
  Layer.effect(PipelineStore.PipelineStore, make(options))
