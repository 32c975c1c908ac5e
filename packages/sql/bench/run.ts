/**
 * `pnpm bench`: the SQL backends against the raw drivers (node-postgres,
 * better-sqlite3, mysql2) and the bare Effect SQL clients (`@effect/sql-pg`,
 * `@effect/sql-sqlite-node`, `@effect/sql-mysql2`) doing the same statements
 * in the same run, and PostgreSQL stores from several processes at once
 * (`multiprocess.ts`). Prints a table and the goals and writes
 * `bench-results.json` at the repository root. PostgreSQL from
 * TASKMETA_BENCH_PG_URL, MySQL / MariaDB from TASKMETA_BENCH_MYSQL_URL (the
 * server; a database is created per round and dropped); rounds from
 * TASKMETA_BENCH_ROUNDS (default 3, the median round is reported);
 * TASKMETA_BENCH_ENGINES (default `postgres,sqlite,mysql`) runs only some
 * engines (then nothing is written, and the once-per-run rows are skipped).
 * The packages are imported by name, so this measures their built `dist/`
 * (the `bench` script builds first), as users run them.
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import Sqlite from "better-sqlite3"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Mysql from "mysql2/promise"
import * as Pg from "pg"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as MysqlBackend from "@taskmeta/sql/MysqlBackend"
import * as PgBackend from "@taskmeta/sql/PgBackend"
import * as SqliteBackend from "@taskmeta/sql/SqliteBackend"
import { DEFAULT_PG_URL, parallel, percentile, result } from "./harness.js"
import * as Cleanup from "./cleanup.js"
import * as Hostile from "./hostile.js"
import { checkStored, storeFromProcesses } from "./multiprocess.js"

const PG_URL = process.env.TASKMETA_BENCH_PG_URL ?? DEFAULT_PG_URL
const MYSQL_URL = (process.env.TASKMETA_BENCH_MYSQL_URL ?? "mysql://root@127.0.0.1:3306").replace(/\/$/, "")
const ENGINES = new Set((process.env.TASKMETA_BENCH_ENGINES ?? "postgres,sqlite,mysql").split(",").map((e) => e.trim()))
const ALL_ENGINES = ["postgres", "sqlite", "mysql"].every((e) => ENGINES.has(e))
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const base = Math.random().toString(36).slice(2, 8)
// Ids are unique per round (a repeated SUCCESS would be ignored, which is other work).
let run = base
// The VM's speed swings between runs: every measurement is taken ROUNDS times,
// ours and the raw drivers' interleaved, and the median round is reported.
const ROUNDS = Math.max(1, Number(process.env.TASKMETA_BENCH_ROUNDS ?? "3"))

// The multi-process row: PROCESSES processes storing at PROCESS_CONCURRENCY
// each (together the single process's c=64), PROCESS_COUNT records each
// after PROCESS_WARM of warm-up.
const PROCESSES = 4
const PROCESS_CONCURRENCY = 16
const PROCESS_COUNT = 10_000
const PROCESS_WARM = 10_000

type Backend =
  | "postgres"
  | "sqlite"
  | "raw-postgres"
  | "raw-sqlite"
  | "effect-sql-postgres"
  | "effect-sql-sqlite"
  | "mysql"
  | "raw-mysql"
  | "effect-sql-mysql"

interface Row {
  backend: Backend
  operation: "store" | "get" | "getMany" | "wait" | "cleanup"
  concurrency: number
  /** Set on the multi-process row only: how many processes stored, each at `concurrency`. */
  processes?: number
  ops_s: number
  p50_ms: number
  p99_ms: number
}
type Key = Pick<Row, "backend" | "operation" | "concurrency" | "processes">
const sameKey = (a: Key, b: Key) =>
  a.backend === b.backend && a.operation === b.operation && a.concurrency === b.concurrency &&
  (a.processes ?? 1) === (b.processes ?? 1)
const label = (row: Key) =>
  `${row.backend.padEnd(19)} ${row.operation.padEnd(8)} c=${String(row.concurrency).padEnd(3)}${
    row.processes === undefined ? "        " : ` ×${row.processes} proc`
  }`

const samples: Array<Row> = []

// Printed for comparison, kept out of bench-results.json (see `encode`).
const bytesOnlySamples: Array<Row> = []
const recordInto = (into: Array<Row>, note: string) =>
(
  backend: Row["backend"],
  operation: Row["operation"],
  concurrency: number,
  count: number,
  seconds: number,
  latencies: Array<number>,
  processes?: number
) => {
  const row: Row = {
    backend,
    operation,
    concurrency,
    ...(processes === undefined ? {} : { processes }),
    ops_s: Math.round(count / seconds),
    p50_ms: Number(percentile(latencies, 0.5).toFixed(3)),
    p99_ms: Number(percentile(latencies, 0.99).toFixed(3))
  }
  into.push(row)
  console.log(
    `${label(row)} ${String(row.ops_s).padStart(8)} ops/s  p50 ${row.p50_ms.toFixed(3)} ms  p99 ${
      row.p99_ms.toFixed(3)
    } ms${note}`
  )
}
const record = recordInto(samples, "")
const bytesOnly = recordInto(bytesOnlySamples, "  (bytes only)")
// The warm-up runs are printed too (a cold process's figure), not written.
const warmUp = recordInto([], "  (warm-up, cold JIT)")

// The raw drivers and the bare Effect SQL clients do the same work as the
// layers: each store serialises its result, each read parses the result it
// fetched (a result is a value, not bytes). The bytes-only variants (one
// buffer encoded once for every store, reads left as bytes) are printed as
// "bytes only" lines, not written to bench-results.json.
const encode = () => Buffer.from(JSON.stringify(result))
const resultBytes = encode()
const parseRow = (row: { result: Buffer } | undefined) => (row === undefined ? undefined : JSON.parse(row.result.toString()))

// ---------------------------------------------------------------------------
// the backends
// ---------------------------------------------------------------------------

/** Calls for ids [from, to), one at a time, each timed into `latencies`. */
type Slice = (from: number, to: number, latencies: Array<number>) => Effect.Effect<void, unknown>

/**
 * A raw driver's or a bare client's one-at-a-time store and read by id, for
 * `alternate`.
 */
interface One {
  readonly store: Slice
  /** Reads cycle through the ids stored by `store` (`stored` of them). */
  readonly get: Slice
}

// The c=1 measurements alternate between our layer, the raw driver and the
// bare Effect SQL client in slices of this many calls (who goes first
// rotates), so that the VM's speed drifting over seconds weighs on all alike.
const SLICE = 250

/** Runs the contenders over [0, total) slice by slice; each one's time and latencies. */
const alternate = (total: number, contenders: ReadonlyArray<Slice>) =>
  Effect.gen(function*() {
    const out = contenders.map(() => ({ secs: 0, lat: [] as Array<number> }))
    for (let from = 0, n = 0; from < total; from += SLICE, n++) {
      const to = Math.min(total, from + SLICE)
      for (let j = 0; j < contenders.length; j++) {
        const c = (n + j) % contenders.length
        const t0 = performance.now()
        yield* contenders[c](from, to, out[c].lat)
        out[c].secs += (performance.now() - t0) / 1000
      }
    }
    return out
  })

/** The c=1 loop over an Effect per call, as a `Slice`. */
const effectSlice = (op: (i: number) => Effect.Effect<unknown, unknown>): Slice => (from, to, latencies) =>
  Effect.asVoid(parallel(1, to - from, (k) => op(from + k), latencies))

const benchBackend = (
  name: "postgres" | "sqlite" | "mysql",
  /** get1: reads at concurrency 1, cycling through the store1 records (a short run is noisy). */
  sizes: { store1: number; store64: number; get1: number },
  makeRaw: Effect.Effect<One, never, Scope.Scope>,
  makeBare: Effect.Effect<One, unknown, Scope.Scope>
) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const raw = yield* makeRaw
    const bare = yield* makeBare
    const rawName = `raw-${name}` as const
    const bareName = `effect-sql-${name}` as const
    const id = (label: string, i: number) => `${run}-${label}-${i}`
    // Warm up (the JIT compiles what runs hot; V8 takes tens of thousands of
    // stores to settle): stores and reads at both concurrencies measured, as
    // the raw drivers are warmed up at theirs. The steady state is what a
    // long-running worker sees; the warm-up's own figure is printed as well.
    yield* parallel(1, 1000, (i) => backend.store(id("warm1", i), result, "SUCCESS"))
    const warmLat: Array<number> = []
    const warmSecs = yield* parallel(
      64,
      sizes.store64,
      (i) => backend.store(id("warm64", i), result, "SUCCESS"),
      warmLat
    )
    warmUp(name, "store", 64, sizes.store64, warmSecs, warmLat)
    yield* parallel(1, 1000, (i) => backend.get(id("warm1", i)))

    const [ours, theirs, client] = yield* alternate(sizes.store1, [
      effectSlice((i) => backend.store(id("s1", i), result, "SUCCESS")),
      raw.store,
      bare.store
    ])
    record(name, "store", 1, sizes.store1, ours.secs, ours.lat)
    record(rawName, "store", 1, sizes.store1, theirs.secs, theirs.lat)
    record(bareName, "store", 1, sizes.store1, client.secs, client.lat)

    let lat: Array<number> = []
    const cpu = process.cpuUsage()
    let secs = yield* parallel(64, sizes.store64, (i) => backend.store(id("s64", i), result, "SUCCESS"), lat)
    const used = process.cpuUsage(cpu)
    record(name, "store", 64, sizes.store64, secs, lat)
    console.log(`  node CPU ${((used.user + used.system) / sizes.store64).toFixed(0)} µs per record`)

    const [oursGet, theirsGet, clientGet] = yield* alternate(sizes.get1, [
      effectSlice((i) => backend.get(id("s1", i % sizes.store1))),
      raw.get,
      bare.get
    ])
    record(name, "get", 1, sizes.get1, oursGet.secs, oursGet.lat)
    record(rawName, "get", 1, sizes.get1, theirsGet.secs, theirsGet.lat)
    record(bareName, "get", 1, sizes.get1, clientGet.secs, clientGet.lat)

    lat = []
    const rounds = 30
    secs = yield* parallel(
      1,
      rounds,
      (r) => backend.getMany(Array.from({ length: 1000 }, (_, i) => id("s64", (r * 1000 + i) % sizes.store64))),
      lat
    )
    record(name, "getMany", 1, rounds * 1000, secs, lat)

    // 100 waits: enough for the p50, and short even when waiting falls back
    // to polling (~500 ms a wait).
    lat = []
    const waits = 100
    const t0 = performance.now()
    for (let i = 0; i < waits; i++) {
      const taskId = id("wait", i)
      const fiber = yield* Effect.fork(backend.waitFor(taskId, { timeout: "5 seconds" }))
      yield* Effect.sleep("3 millis")
      const start = performance.now()
      yield* backend.store(taskId, result, "SUCCESS")
      yield* Fiber.join(fiber)
      lat.push(performance.now() - start)
    }
    record(name, "wait", 1, waits, (performance.now() - t0) / 1000, lat)

    // cleanup: everything stored so far is expired one week from now
    const now = yield* Clock.currentTimeMillis
    const later: Clock.Clock = {
      ...Clock.make(),
      currentTimeMillis: Effect.succeed(now + 7 * 86_400_000),
      unsafeCurrentTimeMillis: () => now + 7 * 86_400_000,
      currentTimeNanos: Effect.succeed(BigInt(now + 7 * 86_400_000) * 1_000_000n),
      unsafeCurrentTimeNanos: () => BigInt(now + 7 * 86_400_000) * 1_000_000n
    }
    const c0 = performance.now()
    const report = yield* backend.cleanup().pipe(Effect.withClock(later))
    const cs = (performance.now() - c0) / 1000
    record(name, "cleanup", 1, report.tasks, cs, [cs * 1000 / Math.max(1, Math.ceil(report.tasks / 1000))])
  })

// ---------------------------------------------------------------------------
// the statements (the layers' own: see `statements` in src/SqlBackend.ts)
// ---------------------------------------------------------------------------

const COLS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"
const SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"
// A stored SUCCESS is final (the layers' upsert rule).
const successIsFinal = (distinct: string, same: string) =>
  `WHERE t.status ${distinct} 'SUCCESS' OR (t.status = excluded.status AND t.date_done ${same} excluded.date_done ` +
  `AND t.result ${same} excluded.result)`
const PG_WHERE = successIsFinal("IS DISTINCT FROM", "IS NOT DISTINCT FROM")
const SQLITE_WHERE = successIsFinal("IS NOT", "IS")
// PostgreSQL's `date_done` is read as text, as the layer reads it.
const PG_SELECT_COLS = COLS.replace("date_done", "to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US') AS date_done")
const stamp = () => new Date().toISOString().replace("T", " ").replace("Z", "000")

// ---------------------------------------------------------------------------
// raw drivers
// ---------------------------------------------------------------------------

const pgStatements = (schema: string) => {
  const t = `"${schema}"."celery_taskmeta"`
  return {
    table: t,
    upsert: `INSERT INTO ${t} AS t (id, ${COLS}) VALUES (nextval('"${schema}".task_id_sequence'), ` +
      `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (task_id) DO UPDATE SET ${SET} ` +
      `${PG_WHERE} RETURNING t.task_id`,
    select: `SELECT ${PG_SELECT_COLS} FROM ${t} WHERE task_id = $1`
  }
}
const pgRow = (id: string, bytes?: Buffer) =>
  [id, "SUCCESS", bytes ?? encode(), stamp(), null, null, null, null, null, null, null]

/** node-postgres one call at a time (one pooled connection), warmed up, for `alternate`. */
const rawPostgresOne = (schema: string, stored: number): Effect.Effect<One, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { select, upsert } = pgStatements(schema)
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => new Pg.Pool({ connectionString: PG_URL, max: 1 })),
      (pool) => Effect.promise(() => pool.end())
    )
    const loop = (from: number, to: number, latencies: Array<number>, op: (i: number) => Promise<unknown>) =>
      Effect.promise(async () => {
        for (let i = from; i < to; i++) {
          const s = performance.now()
          await op(i)
          latencies.push(performance.now() - s)
        }
      })
    const store = (i: number) => pool.query(upsert, pgRow(`${run}-raw1-${i}`))
    const get = (i: number) => pool.query(select, [`${run}-raw1-${i}`]).then((r) => parseRow(r.rows[0]))
    yield* loop(-1000, 0, [], store)
    yield* loop(-1000, 0, [], get)
    return {
      store: (from, to, latencies) => loop(from, to, latencies, store),
      get: (from, to, latencies) => loop(from, to, latencies, (i) => get(i % stored))
    }
  })

/** node-postgres at concurrency 8, getMany, and the bytes-only runs. */
const rawPostgres = async (schema: string) => {
  const pool = new Pg.Pool({ connectionString: PG_URL, max: 8 })
  const { select, table: t, upsert } = pgStatements(schema)
  const go = async (label: string, concurrency: number, total: number, op: (i: number) => Promise<unknown>) => {
    const lat: Array<number> = []
    let next = 0
    const t0 = performance.now()
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now()
        await op(i)
        lat.push(performance.now() - s)
      }
    }))
    return { secs: (performance.now() - t0) / 1000, lat, label }
  }
  const store = (label: string, bytes?: Buffer) => (i: number) => pool.query(upsert, pgRow(`${run}-raw${label}-${i}`, bytes))
  await go("warm8", 8, 2000, store("warm8"))
  let r = await go("s8", 8, 8000, store("8"))
  record("raw-postgres", "store", 8, 8000, r.secs, r.lat)
  r = await go("gm", 1, 30, (k) =>
    pool.query(`SELECT ${PG_SELECT_COLS} FROM ${t} WHERE task_id = ANY($1::varchar[])`, [
      Array.from({ length: 1000 }, (_, i) => `${run}-raw8-${(k * 1000 + i) % 8000}`)
    ]).then((res) => res.rows.map(parseRow)))
  record("raw-postgres", "getMany", 1, 30_000, r.secs, r.lat)
  r = await go("b1", 1, 2000, store("b1", resultBytes))
  bytesOnly("raw-postgres", "store", 1, 2000, r.secs, r.lat)
  r = await go("b8", 8, 8000, store("b8", resultBytes))
  bytesOnly("raw-postgres", "store", 8, 8000, r.secs, r.lat)
  r = await go("bg", 1, 2000, (i) => pool.query(select, [`${run}-rawb1-${i}`]))
  bytesOnly("raw-postgres", "get", 1, 2000, r.secs, r.lat)
  await pool.end()
}

const openSqlite = (file: string) => {
  const db = new Sqlite(file)
  db.pragma("journal_mode = WAL")
  db.pragma("synchronous = NORMAL")
  const upsert = db.prepare(
    `INSERT INTO "celery_taskmeta" AS t (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE ` +
      `SET ${SET} ${SQLITE_WHERE} RETURNING task_id`
  )
  const select = db.prepare(`SELECT ${COLS} FROM "celery_taskmeta" WHERE task_id = ?`)
  const store = (label: string, bytes?: Buffer) => (i: number) =>
    upsert.all(`${run}-${label}-${i}`, "SUCCESS", bytes ?? encode(), stamp(), null, null, null, null, null, null, null)
  const get = (label: string) => (i: number) => parseRow(select.get(`${run}-${label}-${i}`) as { result: Buffer })
  return { db, select, store, get }
}

/** better-sqlite3 on its own connection to the same file, warmed up, for `alternate`. */
const rawSqliteOne = (file: string, stored: number): Effect.Effect<One, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { db, get, store } = openSqlite(file)
    yield* Effect.addFinalizer(() => Effect.sync(() => db.close()))
    const loop = (from: number, to: number, latencies: Array<number>, op: (i: number) => unknown) =>
      Effect.sync(() => {
        for (let i = from; i < to; i++) {
          const s = performance.now()
          op(i)
          latencies.push(performance.now() - s)
        }
      })
    yield* loop(-1000, 0, [], store("raw"))
    yield* loop(-1000, 0, [], get("raw"))
    return {
      store: (from, to, latencies) => loop(from, to, latencies, store("raw")),
      get: (from, to, latencies) => {
        const read = get("raw")
        return loop(from, to, latencies, (i) => read(i % stored))
      }
    }
  })

/** The bytes-only better-sqlite3 runs. */
const rawSqlite = (file: string) => {
  const { db, select, store } = openSqlite(file)
  const go = (total: number, op: (i: number) => unknown) => {
    const lat: Array<number> = []
    const t0 = performance.now()
    for (let i = 0; i < total; i++) {
      const s = performance.now()
      op(i)
      lat.push(performance.now() - s)
    }
    return { secs: (performance.now() - t0) / 1000, lat }
  }
  go(1000, store("rawbwarm", resultBytes))
  let r = go(5000, store("rawb", resultBytes))
  bytesOnly("raw-sqlite", "store", 1, 5000, r.secs, r.lat)
  r = go(5000, (i) => select.get(`${run}-rawb-${i}`))
  bytesOnly("raw-sqlite", "get", 1, 5000, r.secs, r.lat)
  db.close()
}

// MySQL / MariaDB: the layer's lone-row upsert (the SUCCESS rule in ON DUPLICATE KEY UPDATE,
// `status` assigned last, the LAST_INSERT_ID marker that reports the outcome) and its read.
const MYSQL_KEEP = "(NOT (CAST(status AS BINARY) <=> 'SUCCESS') OR (CAST(status AS BINARY) <=> " +
  "CAST(VALUES(status) AS BINARY) AND date_done <=> VALUES(date_done) AND result <=> VALUES(result)))"
const MYSQL_SET = `id = IF(LAST_INSERT_ID(IF(${MYSQL_KEEP}, 4503599627370496, 4503599627370497)) > 0, id, id), ` +
  ["traceback", "name", "args", "kwargs", "worker", "retries", "queue", "result", "date_done", "status"]
    .map((c) => `\`${c}\` = IF(${MYSQL_KEEP}, VALUES(\`${c}\`), \`${c}\`)`).join(", ")
const MYSQL_UPSERT = `INSERT INTO \`celery_taskmeta\` (id, ${COLS}) VALUES (NEXTVAL(task_id_sequence), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ` +
  `ON DUPLICATE KEY UPDATE ${MYSQL_SET}`
const MYSQL_SELECT_COLS = COLS.replace("date_done", "DATE_FORMAT(date_done, '%Y-%m-%d %H:%i:%s.%f') AS date_done")
const mysqlUrl = (database: string) => `${MYSQL_URL}/${database}`

/** mysql2 one call at a time (one pooled connection, prepared statements), warmed up, for `alternate`. */
const rawMysqlOne = (database: string, stored: number): Effect.Effect<One, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pool = yield* Effect.acquireRelease(
      Effect.sync(() => Mysql.createPool({ uri: mysqlUrl(database), connectionLimit: 1 })),
      (pool) => Effect.promise(() => pool.end())
    )
    const loop = (from: number, to: number, latencies: Array<number>, op: (i: number) => Promise<unknown>) =>
      Effect.promise(async () => {
        for (let i = from; i < to; i++) {
          const s = performance.now()
          await op(i)
          latencies.push(performance.now() - s)
        }
      })
    const select = `SELECT ${MYSQL_SELECT_COLS} FROM \`celery_taskmeta\` WHERE task_id = ?`
    const store = (i: number) => pool.execute(MYSQL_UPSERT, pgRow(`${run}-raw1-${i}`))
    const get = (i: number) =>
      pool.execute(select, [`${run}-raw1-${i}`]).then(([rows]) => parseRow((rows as Array<{ result: Buffer }>)[0]))
    yield* loop(-1000, 0, [], store)
    yield* loop(-1000, 0, [], get)
    return {
      store: (from, to, latencies) => loop(from, to, latencies, store),
      get: (from, to, latencies) => loop(from, to, latencies, (i) => get(i % stored))
    }
  })

/** mysql2 at concurrency 8 (single-row upserts, 8 connections) and getMany. */
const rawMysql = async (database: string) => {
  const pool = Mysql.createPool({ uri: mysqlUrl(database), connectionLimit: 8 })
  const go = async (concurrency: number, total: number, op: (i: number) => Promise<unknown>) => {
    const lat: Array<number> = []
    let next = 0
    const t0 = performance.now()
    await Promise.all(Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now()
        await op(i)
        lat.push(performance.now() - s)
      }
    }))
    return { secs: (performance.now() - t0) / 1000, lat }
  }
  const store = (label: string) => (i: number) => pool.execute(MYSQL_UPSERT, pgRow(`${run}-raw${label}-${i}`))
  await go(8, 2000, store("warm8"))
  let r = await go(8, 8000, store("8"))
  record("raw-mysql", "store", 8, 8000, r.secs, r.lat)
  r = await go(1, 30, (k) =>
    pool.query(`SELECT ${MYSQL_SELECT_COLS} FROM \`celery_taskmeta\` WHERE task_id IN (?)`, [
      Array.from({ length: 1000 }, (_, i) => `${run}-raw8-${(k * 1000 + i) % 8000}`)
    ]).then(([rows]) => (rows as Array<{ result: Buffer }>).map(parseRow)))
  record("raw-mysql", "getMany", 1, 30_000, r.secs, r.lat)
  await pool.end()
}

const mysqlAdmin = (statement: string) =>
  Effect.promise(async () => {
    const conn = await Mysql.createConnection({ uri: MYSQL_URL })
    await conn.query(statement)
    await conn.end()
  })

// ---------------------------------------------------------------------------
// the bare Effect SQL clients: the raw drivers' statements as `sql` templates
// ---------------------------------------------------------------------------

/** A bare client's store and read, warmed up as the raw drivers are, for `alternate`. */
const bareOne = (
  prefix: string,
  stored: number,
  store: (id: string) => Effect.Effect<unknown, unknown>,
  get: (id: string) => Effect.Effect<unknown, unknown>
): Effect.Effect<One, unknown> =>
  Effect.gen(function*() {
    const id = (i: number) => `${run}-${prefix}-${i}`
    yield* parallel(1, 1000, (i) => store(id(i - 1000)))
    yield* parallel(1, 1000, (i) => get(id(i - 1000)))
    return {
      store: effectSlice((i) => store(id(i))),
      get: effectSlice((i) => get(id(i % stored)))
    }
  })

/** `@effect/sql-pg`'s `PgClient`, one connection, on its own pool. */
const effectSqlPostgresOne = (schema: string, stored: number): Effect.Effect<One, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* PgClient.make({ url: Redacted.make(PG_URL), maxConnections: 1 })
    const table = sql.literal(`"${schema}"."celery_taskmeta"`)
    const nextId = sql.literal(`nextval('"${schema}".task_id_sequence')`)
    const cols = sql.literal(COLS)
    const set = sql.literal(SET)
    const where = sql.literal(PG_WHERE)
    const selectCols = sql.literal(PG_SELECT_COLS)
    return yield* bareOne(
      "esql1",
      stored,
      (id) =>
        sql`INSERT INTO ${table} AS t (id, ${cols}) VALUES (${nextId}, ${id}, ${"SUCCESS"}, ${encode()}, ${stamp()}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}) ON CONFLICT (task_id) DO UPDATE SET ${set} ${where} RETURNING t.task_id`,
      (id) =>
        Effect.map(
          sql<{ result: Buffer }>`SELECT ${selectCols} FROM ${table} WHERE task_id = ${id}`,
          (rows) => parseRow(rows[0])
        )
    )
  }).pipe(Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make))

/** `@effect/sql-sqlite-node`'s `SqliteClient` on its own connection to the same file. */
const effectSqlSqliteOne = (file: string, stored: number): Effect.Effect<One, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    // WAL is the client's default; `synchronous` as the raw driver and the layer set it.
    const sql = yield* SqliteClient.make({ filename: file })
    yield* sql`PRAGMA synchronous = NORMAL`
    const table = sql.literal(`"celery_taskmeta"`)
    const cols = sql.literal(COLS)
    const set = sql.literal(SET)
    const where = sql.literal(SQLITE_WHERE)
    return yield* bareOne(
      "esql1",
      stored,
      (id) =>
        sql`INSERT INTO ${table} AS t (${cols}) VALUES (${id}, ${"SUCCESS"}, ${encode()}, ${stamp()}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}) ON CONFLICT (task_id) DO UPDATE SET ${set} ${where} RETURNING task_id`,
      (id) =>
        Effect.map(
          sql<{ result: Buffer }>`SELECT ${cols} FROM ${table} WHERE task_id = ${id}`,
          (rows) => parseRow(rows[0])
        )
    )
  }).pipe(Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make))

/** `@effect/sql-mysql2`'s `MysqlClient`, one connection, on its own pool. */
const effectSqlMysqlOne = (database: string, stored: number): Effect.Effect<One, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const sql = yield* MysqlClient.make({ url: Redacted.make(mysqlUrl(database)), maxConnections: 1 })
    const upsert = sql.literal(MYSQL_UPSERT.slice(0, MYSQL_UPSERT.indexOf("VALUES")))
    const set = sql.literal(MYSQL_SET)
    const selectCols = sql.literal(MYSQL_SELECT_COLS)
    return yield* bareOne(
      "esql1",
      stored,
      (id) =>
        sql`${upsert}VALUES (NEXTVAL(task_id_sequence), ${id}, ${"SUCCESS"}, ${encode()}, ${stamp()}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}, ${null}) ON DUPLICATE KEY UPDATE ${set}`
          .raw,
      (id) =>
        Effect.map(
          sql<{ result: Buffer }>`SELECT ${selectCols} FROM \`celery_taskmeta\` WHERE task_id = ${id}`,
          (rows) => parseRow(rows[0])
        )
    )
  }).pipe(Effect.provideServiceEffect(Reactivity.Reactivity, Reactivity.make))

// ---------------------------------------------------------------------------

const dropSchema = (schema: string) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: PG_URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })

const options = { resultExpires: "1 day", pollInterval: "200 millis" } as const

/**
 * PROCESSES processes storing into one fresh schema (migrated first, so
 * that no process waits on another's migration), then every record checked.
 */
const benchProcesses = (schema: string) =>
  Effect.gen(function*() {
    const mp = {
      url: PG_URL,
      schema,
      run,
      processes: PROCESSES,
      concurrency: PROCESS_CONCURRENCY,
      count: PROCESS_COUNT,
      warm: PROCESS_WARM,
      poolSize: 10
    }
    yield* Effect.scoped(
      Layer.build(PgBackend.layer({ ...options, url: Redacted.make(PG_URL), tables: { schema }, poolSize: 1 }))
    )
    const outcome = yield* storeFromProcesses(mp)
    yield* checkStored(mp)
    const total = PROCESSES * PROCESS_COUNT
    record("postgres", "store", PROCESS_CONCURRENCY, total, outcome.secs, outcome.latencies, PROCESSES)
    console.log(
      `  each process from its own start: ${
        outcome.perProcess.map((p) => `${Math.round(p.count / p.secs)}`).join(", ")
      } records/s, node CPU ${
        outcome.perProcess.map((p) => (p.cpuSecs * 1e6 / p.count).toFixed(0)).join(", ")
      } µs per record; all ${total} records present once`
    )
  }).pipe(Effect.ensuring(dropSchema(schema)))

const main = Effect.gen(function*() {
  const dir = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-bench-"))),
    (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
  )
  console.log(
    `PostgreSQL (${PG_URL.replace(/:[^:@/]*@/, ":***@")}), SQLite in ${dir}, MySQL (${
      MYSQL_URL.replace(/:[^:@/]*@/, ":***@")
    }), ${os.cpus().length} CPUs; engines ${[...ENGINES].join(", ")}\n`
  )
  // Every round starts from empty tables (a fresh schema, a fresh file), so
  // that the rounds measure the same thing.
  for (let round = 1; round <= ROUNDS; round++) {
    run = `${base}r${round}`
    const schema = `tm_bench_${base}_r${round}`
    const file = path.join(dir, `bench-r${round}.sqlite`)
    console.log(`round ${round} of ${ROUNDS}`)
    if (ENGINES.has("postgres")) {
      yield* Effect.gen(function*() {
        yield* benchBackend(
          "postgres",
          { store1: 2000, store64: 30_000, get1: 2000 },
          rawPostgresOne(schema, 2000),
          effectSqlPostgresOne(schema, 2000)
        ).pipe(
          Effect.scoped,
          Effect.provide(PgBackend.layer({ ...options, url: Redacted.make(PG_URL), tables: { schema }, poolSize: 10 }))
        )
        yield* Effect.promise(() => rawPostgres(schema))
      }).pipe(Effect.ensuring(dropSchema(schema)))
      yield* benchProcesses(`${schema}_mp`)
    }
    if (ENGINES.has("sqlite")) {
      yield* benchBackend(
        "sqlite",
        { store1: 5000, store64: 30_000, get1: 20_000 },
        rawSqliteOne(file, 5000),
        effectSqlSqliteOne(file, 5000)
      ).pipe(
        Effect.scoped,
        Effect.provide(SqliteBackend.layer({ ...options, filename: file }))
      )
      yield* Effect.sync(() => rawSqlite(file))
      yield* Effect.sync(() => {
        for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(file + suffix, { force: true })
      })
    }
    if (ENGINES.has("mysql")) {
      const database = `tm_bench_${base}_r${round}`
      yield* mysqlAdmin(`CREATE DATABASE \`${database}\` CHARACTER SET utf8mb4`)
      yield* Effect.gen(function*() {
        yield* benchBackend(
          "mysql",
          { store1: 2000, store64: 30_000, get1: 2000 },
          rawMysqlOne(database, 2000),
          effectSqlMysqlOne(database, 2000)
        ).pipe(
          Effect.scoped,
          Effect.provide(MysqlBackend.layer({ ...options, url: Redacted.make(mysqlUrl(database)), poolSize: 10 }))
        )
        yield* Effect.promise(() => rawMysql(database))
      }).pipe(Effect.ensuring(mysqlAdmin(`DROP DATABASE IF EXISTS \`${database}\``)))
    }
    console.log("")
  }
  // Once, not per round (200,000 rows filled and swept per engine).
  const cleanupFile = path.join(dir, "bench-cleanup.sqlite")
  const cleanupLatency = !ALL_ENGINES ? [] : yield* Cleanup.benchCleanupLatency({
    pgUrl: PG_URL,
    schema: `tm_bench_${base}_cleanup`,
    file: cleanupFile,
    run: `${base}cl`,
    backend: options
  }).pipe(Effect.ensuring(dropSchema(`tm_bench_${base}_cleanup`)))
  yield* Effect.sync(() => {
    for (const suffix of ["", "-wal", "-shm"]) fs.rmSync(cleanupFile + suffix, { force: true })
  })
  console.log("")
  // The median round of each measurement.
  const results: Array<Row> = []
  for (const sample of samples) {
    if (results.some((r) => sameKey(r, sample))) continue
    const same = samples.filter((r) => sameKey(r, sample)).sort((a, b) => a.ops_s - b.ops_s)
    results.push(same[Math.floor((same.length - 1) / 2)])
  }
  console.log(`median of ${ROUNDS} round(s):`)
  for (const row of results) {
    console.log(
      `${label(row)} ${String(row.ops_s).padStart(8)} ops/s  p50 ${row.p50_ms.toFixed(3)} ms  p99 ${
        row.p99_ms.toFixed(3)
      } ms`
    )
  }
  // Hostile rows: extreme and fuzzed, each read alone in a heap-capped child (issue 14).
  const hostile = ALL_ENGINES ? yield* Hostile.benchHostileRows({}) : undefined
  if (hostile !== undefined) {
    Hostile.print(hostile)
    fs.writeFileSync(path.join(ROOT, "bench-results.json"), JSON.stringify({ results, cleanupLatency, hostile }, null, 2) + "\n")
  }

  const key = (backend: Backend, operation: Row["operation"], concurrency: number, processes?: number): Key => ({
    backend,
    operation,
    concurrency,
    ...(processes === undefined ? {} : { processes })
  })
  const find = (k: Key, field: "ops_s" | "p50_ms" = "ops_s") => results.find((r) => sameKey(r, k))?.[field] ?? Number.NaN
  const roundsOf = (k: Key) => samples.filter((r) => sameKey(r, k))
  // Each round's own figure, for the goals on one measurement.
  const perRound = (k: Key, field: "ops_s" | "p50_ms" = "ops_s") => `rounds ${roundsOf(k).map((r) => r[field]).join(", ")}`
  // The same ratio against the bytes-only raw run (median round).
  const bytesOnlyRatio = (ours: number, theirs: Key) => {
    const same = bytesOnlySamples.filter((r) => sameKey(r, theirs)).sort((x, y) => x.ops_s - y.ops_s)
    const median = same[Math.floor((same.length - 1) / 2)]?.ops_s
    return median === undefined ? "" : `; against bytes only ${(ours / median).toFixed(2)}×`
  }
  // Each round's own ratio: the medians may come from different rounds.
  const ratioRounds = (ours: Key, theirs: Key) => {
    const them = roundsOf(theirs)
    return roundsOf(ours).map((r, k) => (r.ops_s / (them[k]?.ops_s ?? Number.NaN)).toFixed(2)).join(", ")
  }
  const atLeast = (name: string, k: Key, min: number): [string, boolean, string] => [
    name,
    find(k) >= min,
    `${find(k)}; ${perRound(k)}`
  ]
  const ratioAtLeast = (name: string, ours: Key, theirs: Key, factor: number): [string, boolean, string] => [
    name,
    find(ours) >= factor * find(theirs),
    `${(find(ours) / find(theirs)).toFixed(2)}×: ${find(ours)} against ${find(theirs)}${
      bytesOnlyRatio(find(ours), theirs)
    }; rounds ${ratioRounds(ours, theirs)}`
  ]
  const pgStore64 = key("postgres", "store", 64)
  const pgWait = key("postgres", "wait", 1)
  const allGoals: Array<[string, boolean, string]> = [
    atLeast("pg store c64 ≥ 16,000/s", pgStore64, 16_000),
    ratioAtLeast("pg store c64 ≥ 3× raw c8", pgStore64, key("raw-postgres", "store", 8), 3),
    ratioAtLeast(
      `pg store ${PROCESSES} processes × c${PROCESS_CONCURRENCY} ≥ 0.7× one process c64`,
      key("postgres", "store", PROCESS_CONCURRENCY, PROCESSES),
      pgStore64,
      0.7
    ),
    ratioAtLeast("pg store c1 ≥ 0.7× raw", key("postgres", "store", 1), key("raw-postgres", "store", 1), 0.7),
    ratioAtLeast("pg get c1 ≥ 0.7× raw", key("postgres", "get", 1), key("raw-postgres", "get", 1), 0.7),
    ratioAtLeast(
      "sqlite store c1 ≥ 0.8× effect-sql-sqlite",
      key("sqlite", "store", 1),
      key("effect-sql-sqlite", "store", 1),
      0.8
    ),
    ratioAtLeast(
      "sqlite get c1 ≥ 0.8× effect-sql-sqlite",
      key("sqlite", "get", 1),
      key("effect-sql-sqlite", "get", 1),
      0.8
    ),
    atLeast("sqlite store c64 ≥ 20,000/s", key("sqlite", "store", 64), 20_000),
    atLeast("pg getMany ≥ 50,000 rec/s", key("postgres", "getMany", 1), 50_000),
    atLeast("sqlite getMany ≥ 50,000 rec/s", key("sqlite", "getMany", 1), 50_000),
    ["pg wait p50 ≤ 5 ms", find(pgWait, "p50_ms") <= 5, `${find(pgWait, "p50_ms")} ms; ${perRound(pgWait, "p50_ms")}`],
    ratioAtLeast("mysql store c64 ≥ 3× raw c8", key("mysql", "store", 64), key("raw-mysql", "store", 8), 3),
    atLeast("mysql getMany ≥ 50,000 rec/s", key("mysql", "getMany", 1), 50_000),
    ...cleanupLatency.map(Cleanup.goal),
    ...(hostile === undefined ? [] : [Hostile.goal(hostile)])
  ]
  // The goals of the engines that ran (and the once-per-run ones, when they ran).
  const goals = allGoals.filter(([name]) =>
    !/^(pg|sqlite|mysql) /.test(name) || ENGINES.has(name.startsWith("pg") ? "postgres" : name.split(" ")[0])
  )
  console.log("\ngoals:")
  for (const [name, ok, value] of goals) console.log(`  ${ok ? "met    " : "NOT MET"}  ${name}  (${value})`)

  // Not goals: where the time goes at c=1. The per-call difference in µs is
  // what one layer adds over the other (medians; 1e6 / ops_s is µs per call).
  const compare = (ours: Key, theirs: Key) => {
    const extra = 1e6 / find(ours) - 1e6 / find(theirs)
    return `${ours.backend} ${ours.operation} against ${theirs.backend}: ${(find(ours) / find(theirs)).toFixed(2)}× ` +
      `(${extra >= 0 ? "+" : ""}${extra.toFixed(1)} µs per call; rounds ${ratioRounds(ours, theirs)})`
  }
  console.log("\nat c=1 (not goals):")
  for (const operation of ["store", "get"] as const) {
    for (const engine of ["postgres", "sqlite", "mysql"] as const) {
      if (!ENGINES.has(engine)) continue
      console.log(`  ${compare(key(`effect-sql-${engine}`, operation, 1), key(`raw-${engine}`, operation, 1))}`)
      console.log(`  ${compare(key(engine, operation, 1), key(`effect-sql-${engine}`, operation, 1))}`)
      console.log(`  ${compare(key(engine, operation, 1), key(`raw-${engine}`, operation, 1))}`)
    }
  }
  console.log(ALL_ENGINES ? `\nwrote ${path.join(ROOT, "bench-results.json")}` : "\nsome engines only: bench-results.json not written")
})

Effect.runPromise(Effect.scoped(main)).catch((e) => {
  console.error(e)
  process.exit(1)
})
