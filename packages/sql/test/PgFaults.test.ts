import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Pipeline from "@taskmeta/schema/Pipeline"
import { PipelineConformance } from "@taskmeta/testkit"
import * as PgBackend from "../src/PgBackend.js"
import * as PipelineMigrations from "../src/PipelineMigrations.js"
import * as SqlPipelineStore from "../src/SqlPipelineStore.js"
import { dropSchema, pgQuery, pgUrl, suffix } from "./helpers.js"
import { dropTables } from "./pipelineSupport.js"

const schema = `tm_faults_${suffix()}`
const app = `tm_faults_${suffix()}`
afterAll(() => dropSchema(schema))

/** Terminates this file's connections every 200 ms until interrupted; `kills` counts them. */
const killEvery200ms = Effect.gen(function*() {
  let kills = 0
  const fiber = yield* Effect.promise(() =>
    pgQuery(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
      [`${app}%`]
    )
  ).pipe(
    Effect.tap((r) => Effect.sync(() => (kills += r.rows[0].n))),
    Effect.repeat(Schedule.spaced("200 millis")),
    Effect.fork
  )
  return { fiber, kills: Effect.sync(() => kills) }
})

/** The backend the kills hit: its connections carry `app`; retries outlast them. */
const Killable = PgBackend.layer({
  url: pgUrl,
  tables: { schema },
  applicationName: app,
  poolSize: 8,
  resultExtended: true,
  retry: { maxRetries: 30, baseSleep: Duration.millis(5), maxSleep: Duration.millis(250) }
})

describe("PostgreSQL with connections terminated every 200 ms", () => {
  it.live("a stream of stores keeps every record exactly once", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const killer = yield* killEvery200ms
      const count = 4000
      const started = Date.now()
      const outcomes = yield* Effect.forEach(
        Array.from({ length: count }, (_, i) => i),
        (i) =>
          Effect.zipRight(
            // Pace every write so the stream lasts at least 4,000 × 20 ms / 32 = 2.5 s,
            // however fast the stores are: a dozen kills land inside it.
            Effect.sleep("20 millis"),
            backend.store(`rec-${i}`, { i, big: 2n ** 70n }, "SUCCESS", { args: [i], kwargs: { i } })
          ),
        { concurrency: 32 }
      )
      yield* Fiber.interrupt(killer.fiber)
      const kills = yield* killer.kills
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThan(2000)
      expect(kills).toBeGreaterThan(5)
      expect(outcomes.every((o) => o._tag === "Stored")).toBe(true)

      const rows = yield* Effect.promise(() =>
        pgQuery(`SELECT task_id, count(*)::int AS n FROM "${schema}".celery_taskmeta GROUP BY task_id`)
      )
      expect(rows.rows.length).toBe(count)
      expect(rows.rows.every((r) => r.n === 1)).toBe(true)
      const records = yield* backend.getMany(Array.from({ length: count }, (_, i) => `rec-${i}`))
      records.forEach((record, i) => {
        expect(record.status).toBe("SUCCESS")
        expect(record.result).toEqual({ i, big: 2n ** 70n })
        expect(record.args).toEqual([i])
      })
    }).pipe(Effect.provide(Killable), Logger.withMinimumLogLevel(LogLevel.Error)), 120_000)
})

describe("PostgreSQL storeMany with connections terminated every 200 ms", () => {
  it.live("every batch lands whole, each record once, the writes of one id in order", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const killer = yield* killEvery200ms
      // 40 calls of 300 requests, paced 80 ms apart (at least 3.2 s: a dozen kills land inside),
      // four calls at a time. Each id is written STARTED, then SUCCESS, in one call.
      const calls = 40
      const outcomes = yield* Effect.forEach(
        Array.from({ length: calls }, (_, c) => c),
        (c) =>
          Effect.zipRight(
            Effect.sleep(Duration.millis(80 * (c % 4 === 0 ? 4 : 0))),
            backend.storeMany(Array.from({ length: 150 }, (_, k) => `many-${c}-${k}`).flatMap((taskId, k) => [
              { taskId, result: null, state: "STARTED" },
              { taskId, result: { c, k }, state: "SUCCESS", options: { args: [c, k] } }
            ]))
          ),
        { concurrency: 4 }
      )
      yield* Fiber.interrupt(killer.fiber)
      const kills = yield* killer.kills
      expect(kills).toBeGreaterThan(5)
      const flat = outcomes.flat()
      expect(flat).toHaveLength(calls * 300)
      const failed = flat.filter((o) => o._tag === "Left")
      expect(failed.map((o) => (o._tag === "Left" ? o.left.message : ""))).toEqual([])
      expect(flat.every((o) => o._tag === "Right" && o.right._tag === "Stored")).toBe(true)

      const rows = yield* Effect.promise(() =>
        pgQuery(
          `SELECT task_id, count(*)::int AS n FROM "${schema}".celery_taskmeta WHERE task_id LIKE 'many-%' GROUP BY task_id`
        )
      )
      expect(rows.rows.length).toBe(calls * 150)
      expect(rows.rows.every((r) => r.n === 1)).toBe(true)
      const ids = Array.from({ length: calls }, (_, c) => Array.from({ length: 150 }, (_, k) => [c, k] as const)).flat()
      const records = yield* backend.getMany(ids.map(([c, k]) => `many-${c}-${k}`))
      records.forEach((record, i) => {
        expect(record.status).toBe("SUCCESS")
        expect(record.result).toEqual({ c: ids[i][0], k: ids[i][1] })
      })
    }).pipe(Effect.provide(Killable), Logger.withMinimumLogLevel(LogLevel.Error)), 120_000)
})

describe("PostgreSQL pipeline store with its connection lost inside a report's transaction", () => {
  const prefix = `t_plfault_${suffix()}_`
  const Pg = PgClient.layer({ url: pgUrl, maxConnections: 4 })
  afterAll(() =>
    Effect.runPromise(
      dropTables(prefix).pipe(
        Effect.zipRight(Effect.flatMap(SqlClient.SqlClient, (sql) =>
          Effect.zipRight(
            sql.unsafe(`DROP FUNCTION IF EXISTS "${prefix}kill_once"() CASCADE`),
            sql.unsafe(`DROP SEQUENCE IF EXISTS "${prefix}kills"`)
          ))),
        Effect.provide(Pg)
      )
    ), 30_000)

  // @effect/sql turns a failed ROLLBACK (the connection is gone) into a defect: the store must fail
  // with the lost connection instead, so the retry policy runs the transaction again.
  it.live("the report is retried on a new connection and applies", () =>
    Effect.gen(function*() {
      const store = yield* PipelineStore.PipelineStore
      const sql = yield* SqlClient.SqlClient
      const runId = `fault-${suffix()}`
      yield* store.build(PipelineConformance.shape(runId, "faults", 1, 1, 1))
      const names = Either.getOrThrow(PipelineMigrations.tableNames(prefix))
      // The first update of a task result terminates its own session (a sequence is not rolled back).
      yield* sql.unsafe(`CREATE SEQUENCE "${prefix}kills"`)
      yield* sql.unsafe(
        `CREATE FUNCTION "${prefix}kill_once"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ` +
          `IF nextval('"${prefix}kills"') = 1 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF; ` +
          `RETURN NEW; END $$`
      )
      yield* sql.unsafe(
        `CREATE TRIGGER kill_once BEFORE UPDATE ON "${names.taskResults}" FOR EACH ROW EXECUTE FUNCTION "${prefix}kill_once"()`
      )
      const id = Pipeline.taskResultId(Pipeline.taskExecutionId(Pipeline.pipelineResultId(runId, 0), 0), 0)
      const outcome = yield* store.report("TaskResult", id, "DONE")
      expect(outcome.applied).toBe(true)
      const [{ n }] = yield* sql.unsafe<{ n: string }>(`SELECT last_value::text AS n FROM "${prefix}kills"`)
      expect(Number(n)).toBeGreaterThanOrEqual(2) // killed once, then run again
      expect(Option.map(yield* store.getTaskResult(id), (r) => r.status)).toEqual(Option.some("DONE"))
    }).pipe(
      Effect.provide(SqlPipelineStore.layer({ prefix }).pipe(Layer.provideMerge(Pg))),
      Logger.withMinimumLogLevel(LogLevel.Error)
    ), 60_000)
})
