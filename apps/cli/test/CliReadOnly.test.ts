/**
 * Reads never change a store (issue 16): `get`, `group`, `list`, `stats`,
 * `wait`, `export`, `pipelines list` and `pipelines show`, run as processes
 * against an empty PostgreSQL database (a fresh one), a schema that does not
 * exist and a SQLite path where no file is, each fail with one line naming
 * what is missing and a hint, exit non-zero and create nothing: no table,
 * sequence, function or schema in PostgreSQL, no file on disk. After
 * `migrate` the same commands read, and a populated store reads as before.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as Stores from "@taskmeta/stores/Stores"
import { cli, lines, PG_URL, type Run, tempDir } from "./helpers.js"

const dir = tempDir("cli-ro")
const database = `tm_ro_${Math.random().toString(36).slice(2, 10)}`
const DB_URL = (() => {
  const url = new URL(PG_URL)
  url.pathname = `/${database}`
  return url.toString()
})()

const pgLayer = (url: string) => {
  const parsed = Either.getOrThrow(BackendUrl.parse(url))
  if (parsed._tag !== "Postgres") throw new Error(`not a PostgreSQL URL: ${url}`)
  return Stores.clientLayer(parsed)
}

/** Runs statements through a client of the test's own (not the CLI's). */
const onDatabase = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
  Effect.runPromise(Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.provide(pgLayer(url))))

beforeAll(() => onDatabase(PG_URL, (sql) => sql.unsafe(`CREATE DATABASE "${database}"`)), 30_000)
afterAll(async () => {
  await onDatabase(PG_URL, (sql) => sql.unsafe(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`))
  Fs.rmSync(dir, { recursive: true, force: true })
}, 30_000)

/** What the fresh database holds outside the system catalogs: schemas, relations (tables, sequences, indexes, views), functions. */
const pgState = () =>
  onDatabase(DB_URL, (sql) =>
    Effect.all({
      schemas: Effect.map(
        sql<{ nspname: string }>`SELECT nspname FROM pg_namespace
          WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg_toast%' ORDER BY 1`,
        (rows) => rows.map((r) => r.nspname)
      ),
      relations: Effect.map(
        sql<{ name: string }>`SELECT n.nspname || '.' || c.relname AS name FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1`,
        (rows) => rows.map((r) => r.name)
      ),
      functions: Effect.map(
        sql<{ name: string }>`SELECT p.proname AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`,
        (rows) => rows.map((r) => r.name)
      ),
      tables: Effect.map(
        sql<{ n: number }>`SELECT count(*)::int AS n FROM information_schema.tables
          WHERE table_schema NOT IN ('pg_catalog', 'information_schema')`,
        (rows) => rows[0].n
      )
    }))

const EMPTY = { schemas: ["public"], relations: [], functions: [], tables: 0 }

/** Each read command, with the arguments it needs. */
const READS: ReadonlyArray<readonly [label: string, args: ReadonlyArray<string>, pipelines: boolean]> = [
  ["get", ["get", "t1"], false],
  ["group", ["group", "g1"], false],
  ["list", ["list"], false],
  ["stats", ["stats"], false],
  ["wait", ["wait", "t1", "--timeout", "1s"], false],
  ["export", ["export"], false],
  ["pipelines list", ["pipelines", "list"], true],
  ["pipelines show", ["pipelines", "show", "r1"], true]
]

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")

/** One line on stderr matching `message`, nothing on stdout, exit status 1. */
const expectOneLineFailure = (r: Run, message: RegExp) => {
  expect(r.code, r.stderr).toBe(1)
  expect(r.stdout).toBe("")
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1)
  expect(r.stderr.trim()).toMatch(message)
}

const RESULT_TABLES = "celery_taskmeta, celery_tasksetmeta"
const PIPELINE_TABLES = "taskmeta_pipeline_executions, taskmeta_pipeline_results, taskmeta_task_executions, taskmeta_task_results"
const MIGRATE_HINT = "\\(hint: `taskmeta migrate` with the same --backend and --schema creates them \\(reads never do\\)\\)"

describe.sequential("read commands on an empty PostgreSQL database", () => {
  const described = escape(DB_URL)
  for (const [label, args, pipelines] of READS) {
    it(`${label}: names the missing tables, exits 1, creates nothing`, async () => {
      const r = await cli([...args, "--backend", DB_URL], { cwd: dir })
      const tables = pipelines ? PIPELINE_TABLES : RESULT_TABLES
      expectOneLineFailure(
        r,
        new RegExp(`^taskmeta: cannot open ${described}: missing tables ${tables} in schema "public" ${MIGRATE_HINT}$`)
      )
      expect(await pgState()).toEqual(EMPTY)
    }, 60_000)
  }
})

describe.sequential("read commands with --schema naming a schema that does not exist", () => {
  for (const [label, args] of READS) {
    it(`${label}: says the schema does not exist, exits 1, creates no schema`, async () => {
      const r = await cli([...args, "--backend", DB_URL, "--schema", "typo"], { cwd: dir })
      expectOneLineFailure(
        r,
        /^taskmeta: cannot open postgresql:\/\/\S+: schema "typo" does not exist \(hint: check --schema; `taskmeta migrate` with this --schema creates the schema and its tables\)$/
      )
      expect(await pgState()).toEqual(EMPTY)
    }, 60_000)
  }
})

describe.sequential("read commands on a SQLite path where no file is", () => {
  const file = Path.join(dir, "typo.sqlite")
  const nested = Path.join(dir, "no-such-dir", "typo.sqlite")
  for (const [label, args] of READS) {
    it(`${label}: names the path, exits 1, creates no file`, async () => {
      const r = await cli([...args, "--backend", "db+sqlite:///typo.sqlite"], { cwd: dir })
      expectOneLineFailure(
        r,
        new RegExp(
          `^taskmeta: cannot open sqlite typo\\.sqlite: no SQLite database at ${escape(file)} ` +
            `\\(a read-only open never creates one\\) \\(hint: check the path; .*\\)$`
        )
      )
      const deeper = await cli([...args, "--backend", `db+sqlite:///${nested}`], { cwd: dir })
      expectOneLineFailure(deeper, new RegExp(`no SQLite database at ${escape(nested)} `))
      expect(Fs.readdirSync(dir)).toEqual([])
    }, 60_000)
  }

  it("copy reads its source the same way: a missing source file is not created", async () => {
    const r = await cli(["copy", "--from", "db+sqlite:///typo.sqlite", "--to", "memory://"], { cwd: dir })
    expectOneLineFailure(r, /^taskmeta: cannot open sqlite typo\.sqlite: no SQLite database at /)
    expect(Fs.readdirSync(dir)).toEqual([])
  }, 60_000)

  it("after migrate, the reads work on the new file", async () => {
    const backend = ["--backend", "db+sqlite:///typo.sqlite"]
    const migrated = await cli(["migrate", ...backend], { cwd: dir })
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout.trim()).toBe("sqlite typo.sqlite: applied 1_celery_tables, 2_date_done_indexes, pipelines_1_pipeline_tables")
    const list = await cli(["list", ...backend], { cwd: dir })
    expect(list.stdout.trim()).toBe("no tasks")
    const runs = await cli(["pipelines", "list", ...backend], { cwd: dir })
    expect(runs.stdout.trim()).toBe("no pipeline runs")
    expect(Fs.existsSync(file)).toBe(true)
  }, 60_000)
})

const INPUT = [
  `{"kind":"task","task_id":"t1","status":"SUCCESS","result":256,"traceback":null,"date_done":"2026-01-01T00:00:00.000Z","name":"multiply_two_numbers","args":[16,16],"kwargs":{},"worker":"celery@host","retries":0,"queue":"celery"}`,
  `{"kind":"group","group_id":"g1","task_ids":["t1"],"date_done":"2026-01-01T06:00:00.000Z"}`
].join("\n") + "\n"

describe.sequential("after migrate, on the PostgreSQL database", () => {
  const at = ["--backend", DB_URL]
  const run = (...args: Array<string>) => cli([...args, ...at], { cwd: dir })

  it("migrate creates the tables; every read then answers for an empty store and changes nothing", async () => {
    const migrated = await run("migrate")
    expect(migrated.code, migrated.stderr).toBe(0)
    expect(migrated.stdout).toMatch(/applied 1_celery_tables, .*7_ready_notify_always, pipelines_1_pipeline_tables$/m)
    const before = await pgState()
    expect(before.relations).toContain("public.celery_taskmeta")
    expect(before.relations).toContain("public.taskmeta_pipeline_executions")
    const outcomes = new Map<string, Run>()
    for (const [label, args] of READS) outcomes.set(label, await run(...args))
    const out = (label: string) => outcomes.get(label)!
    expect(out("get").code).toBe(0)
    expect(out("get").stdout).toMatch(/PENDING/)
    expect(out("group").stderr.trim()).toBe("taskmeta: no group g1 is stored")
    expect(out("list").stdout.trim()).toBe("no tasks")
    expect(out("stats").code).toBe(0)
    expect(out("wait").stderr.trim()).toBe("taskmeta: timed out after 1000 ms waiting for task t1 to be ready")
    expect(out("export")).toEqual({ code: 0, stdout: "", stderr: "" })
    expect(out("pipelines list").stdout.trim()).toBe("no pipeline runs")
    expect(out("pipelines show").stderr.trim()).toBe("taskmeta: no pipeline run r1 is stored")
    expect(await pgState()).toEqual(before)
  }, 120_000)

  it("a populated store reads as before: tasks, groups, waits, exports and pipeline runs", async () => {
    const imported = await cli(["import", ...at], { cwd: dir, input: INPUT })
    expect(imported.stdout.trim(), imported.stderr).toBe("imported 1 task, 1 group and 0 pipeline runs (2 new, 0 changed, 0 unchanged)")
    await Effect.runPromise(
      Effect.flatMap(PipelineStore.PipelineStore, (store) =>
        store.build({ runId: "r1", pipelineId: "ingest", pipelineResults: [{ object: 1, tasks: [{ taskName: "parse" }] }] })).pipe(
          Effect.provide(Pipelines.layerFromUrl(DB_URL))
        )
    )
    const before = await pgState()
    expect(lines((await run("get", "t1", "--json")).stdout)[0]).toMatchObject({ task_id: "t1", status: "SUCCESS", result: 256 })
    expect(lines((await run("group", "g1", "--json")).stdout).map((l) => l.kind)).toEqual(["group", "task"])
    expect(lines((await run("list", "--json")).stdout).map((l) => l.task_id)).toEqual(["t1"])
    expect(lines((await run("stats", "--json")).stdout)[0]).toMatchObject({ tasks: 1, groups: 1 })
    const waited = await run("wait", "t1", "--timeout", "5s", "--json")
    expect(waited.code, waited.stderr).toBe(0)
    // the task and the group as imported, then the pipeline run
    const exported = (await run("export")).stdout
    expect(exported.slice(0, INPUT.length)).toBe(INPUT)
    expect(lines(exported.slice(INPUT.length)).map((l) => [l.kind, l.run_id])).toEqual([["pipeline_run", "r1"]])
    expect(lines((await run("pipelines", "list", "--json")).stdout).map((l) => [l.run_id, l.pipeline_id])).toEqual([["r1", "ingest"]])
    const tree = lines((await run("pipelines", "show", "r1", "--json")).stdout)[0]
    expect(tree).toMatchObject({ run_id: "r1", status: "PENDING" })
    expect(await pgState()).toEqual(before)
  }, 120_000)
})
