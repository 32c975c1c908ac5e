/**
 * `pnpm --filter @taskmeta/http run bench` (and the end of `pnpm bench`):
 * the dashboard API on PostgreSQL holding 1,000,000 task records.
 *
 * The records are made in the database by one `INSERT … SELECT
 * generate_series` into Celery's table (in a schema of their own, created
 * by taskmeta's migrations, dropped at the end): 85 % SUCCESS, 10 % FAILURE
 * (with an error envelope and a traceback), 2 % STARTED, 1 % RETRY, 2 %
 * REVOKED, 20 task names, 8 workers, finished over the last 7 days, newest
 * last. The server runs in this process on a loopback port; latency is
 * measured from the client (a keep-alive connection, so it is the server's
 * answer time plus loopback), RUNS times after WARM warm-ups, median
 * reported:
 *
 * - the first page of the task table filtered by state and name (50 rows),
 * - the next page by its cursor,
 * - one task,
 * - stats over 24 hours (1-minute buckets),
 * - SSE: from `ResultBackend.store` of a record to its event at a connected
 *   client (pushed by LISTEN/NOTIFY), p50 and p90 of SSE_COUNT stores.
 *
 * Goals: pages ≤ 100 ms, stats ≤ 1 s, SSE p50 ≤ 50 ms. PostgreSQL from
 * TASKMETA_BENCH_PG_URL (default the local `test` database); the packages
 * are imported by name, so this measures their built `dist/`.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as DashboardServer from "@taskmeta/http/DashboardServer"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Either from "effect/Either"
import * as http from "node:http"

const PG_URL = process.env.TASKMETA_BENCH_PG_URL ?? process.env.TASKMETA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
const ROWS = Number(process.env.TASKMETA_BENCH_HTTP_ROWS ?? "1000000")
const RUNS = 30
const WARM = 5
const SSE_COUNT = 60
const SCHEMA = `tm_bench_http_${process.pid}`

const log = (text: string) => process.stdout.write(`${text}\n`)

const median = (xs: ReadonlyArray<number>) => percentile(xs, 0.5)
const percentile = (xs: ReadonlyArray<number>, p: number) => {
  const sorted = [...xs].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })

const get = (port: number, path: string): Promise<{ status: number; body: string }> =>
  new Promise((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, agent }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    }).on("error", reject)
  })

/** Median and p90 of RUNS requests after WARM warm-ups, in milliseconds; each must answer 200. */
const time = async (port: number, path: () => string) => {
  const samples: Array<number> = []
  for (let i = 0; i < WARM + RUNS; i++) {
    const url = path()
    const start = performance.now()
    const reply = await get(port, url)
    const took = performance.now() - start
    if (reply.status !== 200) throw new Error(`${url}: ${reply.status} ${reply.body.slice(0, 300)}`)
    if (i >= WARM) samples.push(took)
  }
  return { median: median(samples), p90: percentile(samples, 0.9) }
}

const fill = (rows: number) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const t = `"${SCHEMA}".celery_taskmeta`
    // The READY-notify triggers would announce a million ids nobody waits for.
    yield* sql.unsafe(`ALTER TABLE ${t} DISABLE TRIGGER USER`)
    yield* sql.unsafe(
      `INSERT INTO ${t} (id, task_id, status, result, date_done, traceback, name, args, kwargs, worker, retries, queue)
       SELECT nextval('"${SCHEMA}".task_id_sequence'), 'bench-' || g,
         s.status,
         CASE WHEN s.status IN ('FAILURE', 'RETRY', 'REVOKED')
           THEN convert_to('{"exc_type":"ValueError","exc_message":["bad input ' || g || '"],"exc_module":"builtins"}', 'UTF8')
           WHEN s.status = 'STARTED' THEN convert_to('{"pid":' || (g % 30000) || ',"hostname":"worker' || (g % 8) || '@host"}', 'UTF8')
           ELSE convert_to((g * 2)::text, 'UTF8') END,
         CASE WHEN s.status IN ('SUCCESS', 'FAILURE', 'REVOKED')
           THEN (now() AT TIME ZONE 'utc') - (${rows} - g) * interval '${(7 * 86400) / rows} seconds' END,
         CASE WHEN s.status = 'FAILURE' THEN 'Traceback (most recent call last):\n  File "tasks.py", line 12, in run\nValueError: bad input ' || g END,
         'task_' || (g % 20),
         convert_to('[' || g || ', 2]', 'UTF8'), convert_to('{}', 'UTF8'),
         'worker' || (g % 8) || '@host', 0, 'celery'
       FROM generate_series(1, ${rows}) AS g,
         LATERAL (SELECT CASE WHEN g % 100 < 85 THEN 'SUCCESS' WHEN g % 100 < 95 THEN 'FAILURE'
           WHEN g % 100 < 97 THEN 'STARTED' WHEN g % 100 < 98 THEN 'RETRY' ELSE 'REVOKED' END AS status) AS s`
    )
    yield* sql.unsafe(`ALTER TABLE ${t} ENABLE TRIGGER USER`)
    yield* sql.unsafe(`ANALYZE ${t}`)
  })

const dropSchema = Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`))

const main = async () => {
  const url = Either.getOrThrow(BackendUrl.parse(PG_URL))
  if (url._tag !== "Postgres") throw new Error("the HTTP bench needs a PostgreSQL URL")
  const storeOptions: Stores.Options = { resultExtended: true, tables: { schema: SCHEMA } }
  const client = ManagedRuntime.make(Stores.clientLayer(url, storeOptions))
  const server = ManagedRuntime.make(
    DashboardServer.layer({ hosts: DashboardServer.hostsFor("127.0.0.1") }).pipe(
      Layer.provideMerge(Stores.layerFromUrl(url, storeOptions)),
      Layer.provideMerge(NodeHttpServer.layer(http.createServer, { host: "127.0.0.1", port: 0 }))
    )
  )
  try {
    log(`HTTP API on PostgreSQL, ${ROWS.toLocaleString("en")} task records (schema ${SCHEMA})`)
    // Building the store runs the migrations (the tables, indexes and triggers).
    const port = await server.runPromise(Effect.map(HttpServer.HttpServer, (s) => (s.address as HttpServer.TcpAddress).port))
    const backend = await server.runPromise(ResultBackend.ResultBackend)
    const filled = performance.now()
    await client.runPromise(fill(ROWS))
    log(`filled in ${((performance.now() - filled) / 1000).toFixed(1)} s (INSERT … SELECT generate_series, ANALYZE)`)

    const firstPath = "/api/tasks?state=FAILURE&name=task_7&limit=50"
    const first = JSON.parse((await get(port, firstPath)).body) as { tasks: Array<unknown>; next: string | null }
    if (first.tasks.length !== 50 || first.next === null) throw new Error(`the first page has ${first.tasks.length} rows`)
    const rows: Array<readonly [string, { median: number; p90: number }, number]> = []
    rows.push(["first page, state=FAILURE & name (50 rows)", await time(port, () => firstPath), 100])
    rows.push([
      "next page by cursor (50 rows)",
      await time(port, () => `${firstPath}&after=${encodeURIComponent(first.next!)}`),
      100
    ])
    rows.push(["one task", await time(port, () => `/api/tasks/bench-${Math.floor(ROWS / 2)}`), 100])
    // Worst cases, for information: what no index narrows walks the table.
    const worst: Array<readonly [string, { median: number; p90: number }]> = []
    const slow = async (path: string) => {
      const samples: Array<number> = []
      for (let i = 0; i < 5; i++) {
        const start = performance.now()
        const reply = await get(port, path)
        if (reply.status !== 200) throw new Error(`${path}: ${reply.status}`)
        samples.push(performance.now() - start)
      }
      return { median: median(samples), p90: Math.max(...samples) }
    }
    worst.push(["a filter nothing matches (state=REVOKED & name=task_7): walks every row", await slow("/api/tasks?state=REVOKED&name=task_7")])
    worst.push(["text in result or traceback (\"bad input 4242\"): walks every row", await slow("/api/tasks?text=bad%20input%204242")])
    worst.push(["summary (counts by state, cleanup due; what /metrics reads)", await slow("/api/summary")])
    rows.push([
      "stats over 24 h (1-minute buckets)",
      await time(port, () => {
        const until = new Date()
        return `/api/stats?since=${new Date(until.getTime() - 86_400_000).toISOString()}&until=${until.toISOString()}&bucket=60`
      }),
      1000
    ])

    // SSE: a client connected to the event stream; stores through the library, one at a time.
    const waiting = new Map<string, (at: number) => void>()
    const stream = http.get({ host: "127.0.0.1", port, path: "/api/events?state=SUCCESS" }, (res) => {
      let buffer = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        const at = performance.now()
        buffer += chunk
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const data = block.split("\n").find((l) => l.startsWith("data: "))
          if (data === undefined) continue
          const id = (JSON.parse(data.slice(6)) as { taskId: string }).taskId
          waiting.get(id)?.(at)
        }
      })
    })
    await new Promise((resolve) => setTimeout(resolve, 1500))
    const latencies: Array<number> = []
    for (let i = 0; i < SSE_COUNT + 5; i++) {
      const id = `sse-${process.pid}-${i}`
      const arrived = new Promise<number>((resolve, reject) => {
        waiting.set(id, resolve)
        setTimeout(() => reject(new Error(`no event for ${id} in 10 s`)), 10_000)
      })
      const start = performance.now()
      await server.runPromise(backend.store(id, i, "SUCCESS", { name: "sse_bench" }))
      const at = await arrived
      if (i >= 5) latencies.push(at - start)
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    stream.destroy()

    log("")
    log("| measurement | median ms | p90 ms | goal | met |")
    log("|---|---|---|---|---|")
    for (const [name, t, goal] of rows) {
      log(`| ${name} | ${t.median.toFixed(1)} | ${t.p90.toFixed(1)} | ≤ ${goal} ms | ${t.median <= goal ? "yes" : "no"} |`)
    }
    const p50 = median(latencies)
    for (const [name, t] of worst) log(`| ${name} | ${t.median.toFixed(1)} | ${t.p90.toFixed(1)} (max of 5) | — | — |`)
    log(`| SSE: store → event at a connected client (${SSE_COUNT} stores) | ${p50.toFixed(1)} (p50) | ${percentile(latencies, 0.9).toFixed(1)} | p50 ≤ 50 ms | ${p50 <= 50 ? "yes" : "no"} |`)
  } finally {
    agent.destroy()
    await server.dispose()
    await client.runPromise(dropSchema).catch((e) => log(`could not drop ${SCHEMA}: ${String(e)}`))
    await client.dispose()
  }
}

await main()
