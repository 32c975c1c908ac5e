/**
 * The cleanup row of `pnpm bench`: one writer's store latency while the
 * expiry sweep (`ResultBackend.cleanup`, what `Expiry` runs) deletes
 * 200,000 expired rows, against the same writer's latency with no sweep
 * running.
 *
 * Per engine (PostgreSQL in a fresh schema, SQLite in a fresh file): the
 * backend is the bench's (`SqlBackend.layer` over `PgBackend.layerClient` /
 * `SqliteBackend.layerClient`, the layers `PgBackend.layer` and
 * `SqliteBackend.layer` compose), and the writer and the sweep share it,
 * as `layerWithExpiry` does. The expired rows are copies of one record
 * stored through the backend, inserted by `INSERT … SELECT` through the
 * same client, their `date_done` spread over one day ending an hour before
 * the expiry line. Then the table is settled as a day-old one would be:
 * PostgreSQL `VACUUM (ANALYZE)` (autovacuum's work; it is off on this
 * server) and a `CHECKPOINT` (the sweep then writes full-page images, as it
 * does on pages last written before the latest checkpoint), SQLite's WAL
 * checkpointed. Then the writer, warmed up, stores IDLE_STORES records one
 * at a time (the idle figure), and stores again one at a time from the
 * sweep's start to its end (the during figure). Run once, not per round.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "@taskmeta/sql/PgBackend"
import * as SqlBackend from "@taskmeta/sql/SqlBackend"
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import { parallel, percentile, result } from "./harness.js"

/** Expired rows the sweep deletes. */
export const EXPIRED_ROWS = 200_000
/** Rows per fill statement. */
const FILL_CHUNK = 50_000
/** Stores before the idle measurement (a fresh pool, a fresh connection). */
const WARM_STORES = 1000
/** Stores of the idle measurement. */
const IDLE_STORES = 3000
/** The writer stores during the sweep for at most this long. */
const MAX_DURING_MS = 30_000

/** One engine's figures (as written to bench-results.json). */
export interface CleanupLatency {
  readonly backend: "postgres" | "sqlite"
  /** Expired rows filled in before the sweep. */
  readonly expired_rows: number
  /** What the sweep reported deleting. */
  readonly rows_deleted: number
  readonly cleanup_batch_size: number
  /** The sweep's time slice per DELETE in ms (the engine's default), or null when batches are all cleanup_batch_size. */
  readonly cleanup_slice_ms: number | null
  readonly cleanup_s: number
  readonly idle_stores: number
  readonly idle_p50_ms: number
  readonly idle_p99_ms: number
  /** Stores the writer completed while the sweep ran. */
  readonly during_stores: number
  readonly during_p50_ms: number
  readonly during_p99_ms: number
  readonly during_max_ms: number
  /** during_p99_ms / idle_p99_ms */
  readonly ratio: number
}

const ms = (x: number) => Number(x.toFixed(3))

/**
 * The measurement over the `ResultBackend` and the `SqlClient` in context
 * (the one the backend runs on). `table` is the tasks table as SQL text;
 * `fill(from, to, start, stepMicros, template)` inserts expired rows
 * [from, to) as copies of the row `template`.
 */
const measure = (
  name: CleanupLatency["backend"],
  run: string,
  table: string,
  fill: (
    sql: SqlClient.SqlClient,
    from: number,
    to: number,
    start: DateTime.Utc,
    stepMicros: number,
    template: string
  ) => Effect.Effect<unknown, unknown>,
  settle: (sql: SqlClient.SqlClient) => Effect.Effect<unknown, unknown>
) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const sql = yield* SqlClient.SqlClient
    const t = sql.literal(table)
    const id = (label: string, i: number) => `${run}-cl-${label}-${i}`

    // The expired rows: copies of a stored record, `date_done` one day wide
    // and ending an hour before the expiry line (`resultExpires` = 1 day).
    const template = id("template", 0)
    yield* backend.store(template, result, "SUCCESS")
    const now = yield* Clock.currentTimeMillis
    const start = DateTime.unsafeMake(now - 49 * 3_600_000)
    const stepMicros = Math.floor(86_400_000_000 / EXPIRED_ROWS)
    const f0 = performance.now()
    for (let from = 0; from < EXPIRED_ROWS; from += FILL_CHUNK) {
      yield* fill(sql, from, Math.min(EXPIRED_ROWS, from + FILL_CHUNK), start, stepMicros, template)
    }
    yield* sql`DELETE FROM ${t} WHERE task_id = ${template}`
    yield* settle(sql)
    const fillSecs = (performance.now() - f0) / 1000

    yield* parallel(1, WARM_STORES, (i) => backend.store(id("warm", i), result, "SUCCESS"))
    const idle: Array<number> = []
    yield* parallel(1, IDLE_STORES, (i) => backend.store(id("idle", i), result, "SUCCESS"), idle)

    // The sweep in its own fiber; the writer stores until it has ended (the
    // store in flight then is counted: it overlapped the sweep).
    const during: Array<number> = []
    let running = true
    const c0 = performance.now()
    const sweep = yield* backend.cleanup().pipe(
      Effect.map((report) => ({ report, secs: (performance.now() - c0) / 1000 })),
      Effect.ensuring(Effect.sync(() => {
        running = false
      })),
      Effect.fork
    )
    // Bounded: on a single SQLite connection a writer that never waits could
    // keep the sweep from ever getting the connection.
    for (let i = 0; running && performance.now() - c0 < MAX_DURING_MS; i++) {
      const s = performance.now()
      yield* backend.store(id("during", i), result, "SUCCESS")
      during.push(performance.now() - s)
    }
    const cut = running
    const { report, secs } = yield* Fiber.join(sweep)
    if (cut) console.log(`  ${name}: the writer stopped after ${MAX_DURING_MS / 1000} s, before the sweep ended`)

    // Nothing expired is left, and the writer's records are all there.
    const [left] = yield* sql<{ expired: number; kept: number }>`SELECT
      (SELECT count(*) FROM ${t} WHERE task_id LIKE ${`${run}-cl-x-%`}) AS expired,
      (SELECT count(*) FROM ${t} WHERE task_id LIKE ${`${run}-cl-during-%`}) AS kept`
    if (Number(left.expired) !== 0 || Number(left.kept) !== during.length) {
      return yield* Effect.dieMessage(
        `${name} cleanup row: ${left.expired} expired rows left (expected 0), ${left.kept} of the writer's ` +
          `${during.length} records present`
      )
    }

    const idleP99 = percentile(idle, 0.99)
    const duringP99 = percentile(during, 0.99)
    const figures: CleanupLatency = {
      backend: name,
      expired_rows: EXPIRED_ROWS,
      rows_deleted: report.tasks,
      cleanup_batch_size: backend.options.cleanupBatchSize,
      cleanup_slice_ms: name === "sqlite" ? SqlBackend.SQLITE_CLEANUP_SLICE : SqlBackend.PG_CLEANUP_SLICE,
      cleanup_s: ms(secs),
      idle_stores: idle.length,
      idle_p50_ms: ms(percentile(idle, 0.5)),
      idle_p99_ms: ms(idleP99),
      during_stores: during.length,
      during_p50_ms: ms(percentile(during, 0.5)),
      during_p99_ms: ms(duringP99),
      during_max_ms: ms(during.reduce((a, b) => Math.max(a, b), 0)),
      ratio: Number((duringP99 / idleP99).toFixed(2))
    }
    console.log(
      `${name.padEnd(8)} store c=1 during cleanup: p99 ${figures.during_p99_ms.toFixed(3)} ms (p50 ${
        figures.during_p50_ms.toFixed(3)
      }, max ${figures.during_max_ms.toFixed(1)}, ${figures.during_stores} stores) against idle p99 ${
        figures.idle_p99_ms.toFixed(3)
      } ms (p50 ${figures.idle_p50_ms.toFixed(3)}): ${figures.ratio}×; cleanup deleted ${figures.rows_deleted} rows ` +
        `in ${figures.cleanup_s.toFixed(2)} s (${
          figures.cleanup_slice_ms === null
            ? `batches of ${figures.cleanup_batch_size}`
            : `batches sized to ${figures.cleanup_slice_ms} ms, at most ${figures.cleanup_batch_size}`
        }); fill ${fillSecs.toFixed(1)} s`
    )
    return figures
  })

// The other columns the layer writes, copied from the template row.
const COPIED = "status, result, traceback, name, args, kwargs, worker, retries, queue"
const FROM_TEMPLATE = COPIED.split(", ").map((c) => `t0.${c}`).join(", ")

export interface Options {
  readonly pgUrl: string
  /** A PostgreSQL schema that does not exist yet; dropped by the caller. */
  readonly schema: string
  /** A SQLite file that does not exist yet; removed by the caller. */
  readonly file: string
  /** The ids' prefix. */
  readonly run: string
  /** The backend options the other rows use (`resultExpires` must be 1 day). */
  readonly backend: SqlBackend.Options
}

/** The row on PostgreSQL (pool of 10, as the other rows), then on SQLite. */
export const benchCleanupLatency = (options: Options) =>
  Effect.gen(function*() {
    const pg = yield* measure(
      "postgres",
      options.run,
      `"${options.schema}"."celery_taskmeta"`,
      (sql, from, to, start, step, template) => {
        const t = sql.literal(`"${options.schema}"."celery_taskmeta"`)
        const nextval = sql.literal(`nextval('"${options.schema}".task_id_sequence')`)
        return sql`INSERT INTO ${t} (id, task_id, date_done, ${sql.literal(COPIED)})
          SELECT ${nextval}, ${sql.literal(`'${options.run}-cl-x-'`)} || g,
            ${sql.literal(`'${SqlBackend.formatTimestamp(start)}'::timestamp`)} + g * ${sql.literal(`interval '${step} microseconds'`)},
            ${sql.literal(FROM_TEMPLATE)}
          FROM generate_series(${sql.literal(String(from))}, ${sql.literal(String(to - 1))}) AS g, ${t} AS t0
          WHERE t0.task_id = ${template}`
      },
      (sql) =>
        Effect.zipRight(
          sql`VACUUM (ANALYZE) ${sql.literal(`"${options.schema}"."celery_taskmeta"`)}`,
          sql`CHECKPOINT`
        )
    ).pipe(
      Effect.provide(
        Layer.provideMerge(
          SqlBackend.layer({ ...options.backend, tables: { schema: options.schema } }),
          PgBackend.layerClient({ url: Redacted.make(options.pgUrl), tables: { schema: options.schema }, poolSize: 10 })
        )
      )
    )
    const sqlite = yield* measure(
      "sqlite",
      options.run,
      `"celery_taskmeta"`,
      (sql, from, to, start, step, template) =>
        sql`WITH RECURSIVE g(n) AS (SELECT ${sql.literal(String(from))} UNION ALL SELECT n + 1 FROM g WHERE n < ${
          sql.literal(String(to - 1))
        })
          INSERT INTO "celery_taskmeta" (task_id, date_done, ${sql.literal(COPIED)})
          SELECT ${sql.literal(`'${options.run}-cl-x-'`)} || n,
            strftime('%Y-%m-%d %H:%M:%f', ${sql.literal(String(DateTime.toEpochMillis(start) / 1000))} + n * ${
          sql.literal(String(step / 1e6))
        }, 'unixepoch') || '000',
            ${sql.literal(FROM_TEMPLATE)}
          FROM g, "celery_taskmeta" AS t0 WHERE t0.task_id = ${template}`,
      (sql) => sql`PRAGMA wal_checkpoint(TRUNCATE)`
    ).pipe(
      Effect.provide(
        Layer.provideMerge(
          SqlBackend.layer({ ...options.backend, tables: undefined }),
          SqliteBackend.layerClient({ filename: options.file })
        )
      )
    )
    return [pg, sqlite] as const
  })

/** The goal line of one engine's figures, as `run.ts` prints its goals. */
export const goal = (r: CleanupLatency): [string, boolean, string] => [
  `${r.backend === "postgres" ? "pg" : "sqlite"} writer p99 during cleanup ≤ 3× idle p99`,
  r.ratio <= 3,
  `${r.ratio}×: p99 ${r.during_p99_ms} ms during (${r.during_stores} stores) against ${r.idle_p99_ms} ms idle; ` +
  `cleanup deleted ${r.rows_deleted} rows in ${r.cleanup_s} s`
]
