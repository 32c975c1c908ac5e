/**
 * Helpers for the SQL pipeline store tests (not a test file itself).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as DateTime from "effect/DateTime"
import { expect, type Vitest } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as TestServices from "effect/TestServices"
import * as Tracer from "effect/Tracer"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import { PipelineConformance } from "@taskmeta/testkit"

/** A unique, valid table prefix for one test file. */
export const uniquePrefix = (label: string): string =>
  `t_${label}_${Math.random().toString(36).slice(2, 8)}_`

/** Drops the pipeline tables of a prefix (children first). */
export const dropTables = (prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const names = PipelineMigrations.tableNames(prefix)
    if (names._tag === "Left") return
    const t = names.right
    for (const table of [t.taskResults, t.taskExecutions, t.pipelineResults, t.executions, t.migrations]) {
      yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    }
  })

/**
 * Runs `effect` and returns the SQL texts of the statements it executed
 * (read from the `db.query.text` span attribute @effect/sql sets).
 */
export const captureStatements = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tracerWith((base) => {
    const texts: Array<string> = []
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        const span = base.span(name, parent, context, links, startTime, kind, options)
        const attribute = span.attribute.bind(span)
        return Object.assign(span, {
          attribute: (key: string, value: unknown) => {
            if (key === "db.query.text") texts.push(String(value))
            attribute(key, value)
          }
        })
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    return Effect.withTracer(effect, tracer).pipe(Effect.map((value) => [value, texts] as const))
  })

/**
 * `count` runs of 2 pipeline results × 2 tasks × 2 task results (1 + 2 + 4 + 8 records), restored with
 * one `restoreMany` and read back with one `getRuns`; the SQL texts of both calls.
 */
export const restoreManyRuns = (count: number) =>
  Effect.gen(function*() {
    const store = yield* PipelineStore.PipelineStore
    const now = yield* DateTime.now
    const tag = Math.random().toString(36).slice(2, 8)
    const runs = Array.from({ length: count }, (_, n) => {
      const input = PipelineConformance.shape(`many-${tag}-${n}`, `many-${tag}`, 2, 2, 2)
      return Either.getOrThrow(PipelineStore.prepareTree({ ...input, message: { n } }, now)).tree
    })
    const [outcomes, writes] = yield* captureStatements(store.restoreMany(runs))
    const [read, reads] = yield* captureStatements(store.getRuns(runs.map((run) => run.execution.runId)))
    return { runs, outcomes, writes, read, reads }
  })

/**
 * `restoreManyRuns(count)` checked statement by statement: every run created;
 * `inserts` INSERTs into the executions, results, task executions and task
 * results tables (in that order), `writeSelects` SELECTs among the writes;
 * four SELECTs to read them back, each run read as written; a second
 * `restoreMany` keeps every run with `againInserts` INSERTs.
 */
export const expectRestoreMany = (
  count: number,
  prefix: string,
  expected: {
    readonly inserts: readonly [number, number, number, number]
    readonly writeSelects: number
    readonly againInserts: number
  }
) =>
  Effect.gen(function*() {
    const { outcomes, read, reads, runs, writes } = yield* restoreManyRuns(count)
    expect(outcomes.every((o) => o.created)).toBe(true)
    const inserts = statementsOf(writes, "INSERT")
    const into = (table: string) => inserts.filter((text) => text.includes(`${prefix}${table}`)).length
    expect([into("pipeline_executions"), into("pipeline_results"), into("task_executions"), into("task_results")])
      .toEqual(expected.inserts)
    expect(statementsOf(writes, "SELECT")).toHaveLength(expected.writeSelects)
    expect(statementsOf(reads, "SELECT")).toHaveLength(4)
    expect(read).toHaveLength(runs.length)
    for (const [n, run] of runs.entries()) expect(Option.getOrThrow(read[n])).toEqual(run)
    // Again: every run is kept.
    const store = yield* PipelineStore.PipelineStore
    const [again, rewrites] = yield* captureStatements(store.restoreMany(runs))
    expect(again.some((o) => o.created)).toBe(false)
    expect(statementsOf(rewrites, "INSERT")).toHaveLength(expected.againInserts)
  })

/** The statements of `texts` that start with `verb`. */
export const statementsOf = (texts: ReadonlyArray<string>, verb: "SELECT" | "INSERT") =>
  texts.filter((text) => text.trimStart().toUpperCase().startsWith(verb))

/**
 * What the PostgreSQL and MySQL pipeline-store suites both check, on the
 * tables under `prefix`: a tree larger than one INSERT can carry, six
 * migrators at once (on fresh tables), and migrations rerun on existing ones.
 */
export const serverPipelineCases = (
  it: Vitest.MethodsNonLive<PipelineStore.PipelineStore | SqlClient.SqlClient>,
  prefix: string
) => {
  it.effect("builds and reports a tree larger than one insert statement can carry", () =>
    Effect.gen(function*() {
      const store = yield* PipelineStore.PipelineStore
      const runId = `big-${Math.random().toString(36).slice(2)}`
      // 10,000 task results × 7 parameters > 65,535.
      const outcome = yield* store.build(PipelineConformance.shape(runId, "big", 1000, 5, 2))
      expect(outcome.created).toBe(true)
      expect(yield* store.listTaskResults({ runId })).toHaveLength(10_000)
      expect(yield* store.listTaskExecutions({ runId })).toHaveLength(5000)
      const last = outcome.tree.taskResults[outcome.tree.taskResults.length - 1]
      expect(Option.getOrThrow(yield* store.getTaskResult(last.id)).object).toEqual({ item: 999, part: 1 })
    }), { timeout: 60_000 })

  it.effect("migrations are versioned, idempotent and safe when several start at once", () =>
    TestServices.provideLive(Effect.gen(function*() {
      const fresh = uniquePrefix("plmig")
      const names = Either.getOrThrow(PipelineMigrations.tableNames(fresh))
      const results = yield* Effect.forEach([1, 2, 3, 4, 5, 6], () => PipelineMigrations.run(names), {
        concurrency: "unbounded"
      }).pipe(Effect.ensuring(Effect.orDie(dropTables(fresh))))
      expect(results.filter((applied) => applied.length > 0)).toEqual([[PipelineMigrations.LATEST_VERSION]])
    })), { timeout: 60_000 })

  it.effect("rerunning the migrations on existing tables applies nothing", () =>
    Effect.gen(function*() {
      const names = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
      expect(yield* PipelineMigrations.run(names)).toEqual([])
    }))
}
