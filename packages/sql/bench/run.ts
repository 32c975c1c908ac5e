/**
 * `pnpm bench`: the SQL backends against the raw drivers doing the same work
 * in the same run. Prints a table and writes `bench-results.json` at the
 * repository root. PostgreSQL from TASKMETA_BENCH_PG_URL; rounds from
 * TASKMETA_BENCH_ROUNDS (default 3, the median round is reported).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import Sqlite from "better-sqlite3"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import type * as Scope from "effect/Scope"
import * as Pg from "pg"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"

const PG_URL = process.env.TASKMETA_BENCH_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const base = Math.random().toString(36).slice(2, 8)
// Ids are unique per round (a repeated SUCCESS would be ignored, which is other work).
let run = base
// The VM's speed swings between runs: every measurement is taken ROUNDS times,
// ours and the raw drivers' interleaved, and the median round is reported.
const ROUNDS = Math.max(1, Number(process.env.TASKMETA_BENCH_ROUNDS ?? "3"))

interface Row {
  backend: "postgres" | "sqlite" | "raw-postgres" | "raw-sqlite"
  operation: "store" | "get" | "getMany" | "wait" | "cleanup"
  concurrency: number
  ops_s: number
  p50_ms: number
  p99_ms: number
}
const samples: Array<Row> = []

const pct = (xs: Array<number>, p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]
}
// Printed for comparison, kept out of bench-results.json (see `encode`).
const bytesOnlySamples: Array<Row> = []
const recordInto = (into: Array<Row>, note: string) =>
(
  backend: Row["backend"],
  operation: Row["operation"],
  concurrency: number,
  count: number,
  seconds: number,
  latencies: Array<number>
) => {
  const row: Row = {
    backend,
    operation,
    concurrency,
    ops_s: Math.round(count / seconds),
    p50_ms: Number(pct(latencies, 0.5).toFixed(3)),
    p99_ms: Number(pct(latencies, 0.99).toFixed(3))
  }
  into.push(row)
  console.log(
    `${backend.padEnd(13)} ${operation.padEnd(8)} c=${String(concurrency).padEnd(3)} ${
      String(row.ops_s).padStart(8)
    } ops/s  p50 ${row.p50_ms.toFixed(3)} ms  p99 ${row.p99_ms.toFixed(3)} ms${note}`
  )
}
const record = recordInto(samples, "")
const bytesOnly = recordInto(bytesOnlySamples, "  (bytes only)")
// The warm-up runs are printed too (a cold process's figure), not written.
const warmUp = recordInto([], "  (warm-up, cold JIT)")

const result = { value: 12345, items: ["a", "b", "c"], ok: true }
// The raw drivers do the same work as the layers: each store serialises its
// result, each read parses the result it fetched (a result is a value, not
// bytes). The bytes-only variants (one buffer encoded once for every store,
// reads left as bytes) are printed as "bytes only" lines, not written to
// bench-results.json.
const encode = () => Buffer.from(JSON.stringify(result))
const resultBytes = encode()
const parseRow = (row: { result: Buffer } | undefined) => (row === undefined ? undefined : JSON.parse(row.result.toString()))

// ---------------------------------------------------------------------------
// the backends
// ---------------------------------------------------------------------------

// Each worker is a plain generator loop, timing its own calls (the same
// measurement the raw drivers' loops make): the harness costs well under a
// microsecond per call, so what is measured is the layer.
const parallel = (
  concurrency: number,
  total: number,
  op: (i: number) => Effect.Effect<unknown, unknown>,
  latencies?: Array<number>
) =>
  Effect.gen(function*() {
    let next = 0
    const worker = Effect.gen(function*() {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now()
        yield* op(i)
        latencies?.push(performance.now() - s)
      }
    })
    const t0 = performance.now()
    if (concurrency === 1) yield* worker
    else yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
    return (performance.now() - t0) / 1000
  })

/**
 * The raw driver's one-at-a-time store and read by id, run for ids
 * [from, to) in a plain loop, each call timed.
 */
interface RawOne {
  readonly store: (from: number, to: number, latencies: Array<number>) => Effect.Effect<void>
  /** Reads cycle through the ids stored by `store` (`stored` of them). */
  readonly get: (from: number, to: number, latencies: Array<number>) => Effect.Effect<void>
}

// The c=1 measurements alternate between our layer and the raw driver in
// slices of this many calls (which one goes first alternates too), so that
// the VM's speed drifting over seconds weighs on both sides alike.
const SLICE = 250

const alternate = (
  total: number,
  ours: (i: number) => Effect.Effect<unknown, unknown>,
  raw: (from: number, to: number, latencies: Array<number>) => Effect.Effect<void>
) =>
  Effect.gen(function*() {
    const oursLat: Array<number> = []
    const rawLat: Array<number> = []
    let oursSecs = 0
    let rawSecs = 0
    for (let from = 0, n = 0; from < total; from += SLICE, n++) {
      const to = Math.min(total, from + SLICE)
      const runOurs = Effect.map(parallel(1, to - from, (k) => ours(from + k), oursLat), (secs) => {
        oursSecs += secs
      })
      const runRaw = Effect.suspend(() => {
        const t0 = performance.now()
        return Effect.map(raw(from, to, rawLat), () => {
          rawSecs += (performance.now() - t0) / 1000
        })
      })
      yield* n % 2 === 0 ? Effect.zipRight(runOurs, runRaw) : Effect.zipRight(runRaw, runOurs)
    }
    return { oursSecs, oursLat, rawSecs, rawLat }
  })

const benchBackend = (
  name: "postgres" | "sqlite",
  /** get1: reads at concurrency 1, cycling through the store1 records (a short run is noisy). */
  sizes: { store1: number; store64: number; get1: number },
  makeRaw: Effect.Effect<RawOne, never, Scope.Scope>
) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const raw = yield* makeRaw
    const rawName = name === "postgres" ? "raw-postgres" : "raw-sqlite"
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

    const stores = yield* alternate(sizes.store1, (i) => backend.store(id("s1", i), result, "SUCCESS"), raw.store)
    record(name, "store", 1, sizes.store1, stores.oursSecs, stores.oursLat)
    record(rawName, "store", 1, sizes.store1, stores.rawSecs, stores.rawLat)

    let lat: Array<number> = []
    let secs = yield* parallel(64, sizes.store64, (i) => backend.store(id("s64", i), result, "SUCCESS"), lat)
    record(name, "store", 64, sizes.store64, secs, lat)

    const gets = yield* alternate(sizes.get1, (i) => backend.get(id("s1", i % sizes.store1)), raw.get)
    record(name, "get", 1, sizes.get1, gets.oursSecs, gets.oursLat)
    record(rawName, "get", 1, sizes.get1, gets.rawSecs, gets.rawLat)

    lat = []
    const rounds = 30
    secs = yield* parallel(
      1,
      rounds,
      (r) => backend.getMany(Array.from({ length: 1000 }, (_, i) => id("s64", (r * 1000 + i) % sizes.store64))),
      lat
    )
    record(name, "getMany", 1, rounds * 1000, secs, lat)

    lat = []
    const waits = 200
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
// raw drivers
// ---------------------------------------------------------------------------

const COLS = "task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue"
const SET = "status = excluded.status, result = excluded.result, date_done = excluded.date_done, " +
  "traceback = excluded.traceback, name = excluded.name, args = excluded.args, kwargs = excluded.kwargs, " +
  "worker = excluded.worker, retries = excluded.retries, queue = excluded.queue"
const stamp = () => new Date().toISOString().replace("T", " ").replace("Z", "000")

const pgStatements = (schema: string) => {
  const t = `"${schema}"."celery_taskmeta"`
  return {
    table: t,
    upsert: `INSERT INTO ${t} AS t (id, ${COLS}) VALUES (nextval('"${schema}".task_id_sequence'), ` +
      `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (task_id) DO UPDATE SET ${SET} ` +
      `WHERE t.status IS DISTINCT FROM 'SUCCESS' RETURNING t.task_id`,
    select: `SELECT ${COLS} FROM ${t} WHERE task_id = $1`
  }
}
const pgRow = (id: string, bytes?: Buffer) =>
  [id, "SUCCESS", bytes ?? encode(), stamp(), null, null, null, null, null, null, null]

/** node-postgres one call at a time (one pooled connection), warmed up, for `alternate`. */
const rawPostgresOne = (schema: string, stored: number): Effect.Effect<RawOne, never, Scope.Scope> =>
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
    pool.query(`SELECT ${COLS} FROM ${t} WHERE task_id = ANY($1::varchar[])`, [
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
    `INSERT INTO celery_taskmeta AS t (${COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (task_id) DO UPDATE ` +
      `SET ${SET} WHERE t.status IS NOT 'SUCCESS' RETURNING task_id`
  )
  const select = db.prepare(`SELECT ${COLS} FROM celery_taskmeta WHERE task_id = ?`)
  const store = (label: string, bytes?: Buffer) => (i: number) =>
    upsert.all(`${run}-${label}-${i}`, "SUCCESS", bytes ?? encode(), stamp(), null, null, null, null, null, null, null)
  const get = (label: string) => (i: number) => parseRow(select.get(`${run}-${label}-${i}`) as { result: Buffer })
  return { db, select, store, get }
}

/** better-sqlite3 on its own connection to the same file, warmed up, for `alternate`. */
const rawSqliteOne = (file: string, stored: number): Effect.Effect<RawOne, never, Scope.Scope> =>
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

// ---------------------------------------------------------------------------

const dropSchema = (schema: string) =>
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: PG_URL })
    await client.connect()
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
    await client.end()
  })

const main = Effect.gen(function*() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-bench-"))
  const options = { resultExpires: "1 day", pollInterval: "200 millis" } as const
  console.log(`PostgreSQL (${PG_URL.replace(/:[^:@/]*@/, ":***@")}), SQLite in ${dir}, ${os.cpus().length} CPUs\n`)
  // Every round starts from empty tables (a fresh schema, a fresh file), so
  // that the rounds measure the same thing.
  for (let round = 1; round <= ROUNDS; round++) {
    run = `${base}r${round}`
    const schema = `tm_bench_${base}_r${round}`
    const file = path.join(dir, `bench-r${round}.sqlite`)
    console.log(`round ${round} of ${ROUNDS}`)
    yield* Effect.gen(function*() {
      yield* benchBackend("postgres", { store1: 2000, store64: 30_000, get1: 2000 }, rawPostgresOne(schema, 2000)).pipe(
        Effect.scoped,
        Effect.provide(PgBackend.layer({ ...options, url: Redacted.make(PG_URL), tables: { schema }, poolSize: 10 }))
      )
      yield* Effect.promise(() => rawPostgres(schema))
    }).pipe(Effect.ensuring(dropSchema(schema)))
    yield* benchBackend("sqlite", { store1: 5000, store64: 30_000, get1: 20_000 }, rawSqliteOne(file, 5000)).pipe(
      Effect.scoped,
      Effect.provide(SqliteBackend.layer({ ...options, filename: file }))
    )
    yield* Effect.sync(() => rawSqlite(file))
    console.log("")
  }
  fs.rmSync(dir, { recursive: true, force: true })
  // The median round of each measurement.
  const results: Array<Row> = []
  for (const sample of samples) {
    if (results.some((r) => r.backend === sample.backend && r.operation === sample.operation && r.concurrency === sample.concurrency)) continue
    const same = samples
      .filter((r) => r.backend === sample.backend && r.operation === sample.operation && r.concurrency === sample.concurrency)
      .sort((a, b) => a.ops_s - b.ops_s)
    results.push(same[Math.floor((same.length - 1) / 2)])
  }
  console.log(`median of ${ROUNDS} round(s):`)
  for (const row of results) {
    console.log(
      `${row.backend.padEnd(13)} ${row.operation.padEnd(8)} c=${String(row.concurrency).padEnd(3)} ${
        String(row.ops_s).padStart(8)
      } ops/s  p50 ${row.p50_ms.toFixed(3)} ms  p99 ${row.p99_ms.toFixed(3)} ms`
    )
  }
  fs.writeFileSync(path.join(ROOT, "bench-results.json"), JSON.stringify({ results }, null, 2) + "\n")

  const find = (b: Row["backend"], o: Row["operation"], c: number) =>
    results.find((r) => r.backend === b && r.operation === o && r.concurrency === c)?.ops_s ?? 0
  // The same ratio against the bytes-only raw run (median round).
  const bytesOnlyRatio = (ours: number, b: Row["backend"], o: Row["operation"], c: number) => {
    const same = bytesOnlySamples.filter((r) => r.backend === b && r.operation === o && r.concurrency === c)
      .sort((x, y) => x.ops_s - y.ops_s)
    const median = same[Math.floor((same.length - 1) / 2)]?.ops_s
    return median === undefined ? "" : `; against bytes only ${(ours / median).toFixed(2)}×`
  }
  // Each round's own ratio: the medians above may come from different rounds.
  const perRound = (b: Row["backend"], raw: Row["backend"], o: Row["operation"], c: number, rawC: number) => {
    const ours = samples.filter((r) => r.backend === b && r.operation === o && r.concurrency === c)
    const theirs = samples.filter((r) => r.backend === raw && r.operation === o && r.concurrency === rawC)
    return ours.map((r, k) => (r.ops_s / (theirs[k]?.ops_s ?? Number.NaN)).toFixed(2)).join(", ")
  }
  const ratio = (b: "postgres" | "sqlite", o: Row["operation"], c: number, rawC: number) => {
    const raw = b === "postgres" ? "raw-postgres" : "raw-sqlite"
    return `${(find(b, o, c) / find(raw, o, rawC)).toFixed(2)}×${bytesOnlyRatio(find(b, o, c), raw, o, rawC)}; ` +
      `rounds ${perRound(b, raw, o, c, rawC)}`
  }
  // Each round's own figure, for the goals on one measurement.
  const rounds = (b: Row["backend"], o: Row["operation"], c: number, key: "ops_s" | "p50_ms" = "ops_s") =>
    `rounds ${samples.filter((r) => r.backend === b && r.operation === o && r.concurrency === c).map((r) => r[key]).join(", ")}`
  const goals: Array<[string, boolean, string]> = [
    ["pg store c64 ≥ 3× raw c8", find("postgres", "store", 64) >= 3 * find("raw-postgres", "store", 8),
      ratio("postgres", "store", 64, 8)],
    ["pg store c64 ≥ 16,000/s", find("postgres", "store", 64) >= 16_000, `${find("postgres", "store", 64)}; ${rounds("postgres", "store", 64)}`],
    ["pg store c1 ≥ 0.8× raw", find("postgres", "store", 1) >= 0.8 * find("raw-postgres", "store", 1),
      ratio("postgres", "store", 1, 1)],
    ["pg get c1 ≥ 0.8× raw", find("postgres", "get", 1) >= 0.8 * find("raw-postgres", "get", 1),
      ratio("postgres", "get", 1, 1)],
    ["sqlite store c1 ≥ 0.8× raw", find("sqlite", "store", 1) >= 0.8 * find("raw-sqlite", "store", 1),
      ratio("sqlite", "store", 1, 1)],
    ["sqlite get c1 ≥ 0.8× raw", find("sqlite", "get", 1) >= 0.8 * find("raw-sqlite", "get", 1),
      ratio("sqlite", "get", 1, 1)],
    ["pg getMany ≥ 50,000 rec/s", find("postgres", "getMany", 1) >= 50_000, `${find("postgres", "getMany", 1)}; ${rounds("postgres", "getMany", 1)}`],
    ["sqlite getMany ≥ 50,000 rec/s", find("sqlite", "getMany", 1) >= 50_000, `${find("sqlite", "getMany", 1)}; ${rounds("sqlite", "getMany", 1)}`],
    ["pg wait p50 ≤ 5 ms", (results.find((r) => r.backend === "postgres" && r.operation === "wait")?.p50_ms ?? 99) <= 5,
      `${results.find((r) => r.backend === "postgres" && r.operation === "wait")?.p50_ms} ms; ${rounds("postgres", "wait", 1, "p50_ms")}`],
    ["sqlite store c64 ≥ 20,000/s", find("sqlite", "store", 64) >= 20_000, `${find("sqlite", "store", 64)}; ${rounds("sqlite", "store", 64)}`]
  ]
  console.log("\ngoals:")
  for (const [label, ok, value] of goals) console.log(`  ${ok ? "met    " : "NOT MET"}  ${label}  (${value})`)
  console.log(`\nwrote ${path.join(ROOT, "bench-results.json")}`)
})

Effect.runPromise(main.pipe(Effect.provide(Layer.empty))).catch((e) => {
  console.error(e)
  process.exit(1)
})
