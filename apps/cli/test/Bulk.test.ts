/**
 * `import`, `copy` and `export` in bulk, driven as processes against real
 * SQLite files and the real PostgreSQL: Ctrl-C mid-import, --skip-invalid,
 * minimal lines, a re-run that changes nothing, duplicate ids in one
 * import, --dry-run, and pipeline runs through export → import and copy.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import { cli, lines, PG_URL, schemaName, spawnCli, tempDir } from "./helpers.js"

const dir = tempDir("bulk")
const schemas: Array<string> = []
const pg = (label: string) => {
  const schema = schemaName(label)
  schemas.push(schema)
  return ["--backend", PG_URL, "--schema", schema] as const
}
let files = 0
const sqlite = () => {
  const file = Path.join(dir, `bulk-${++files}.sqlite`)
  return { file, args: ["--backend", `db+sqlite:///${file}`] as const }
}

const sql = <A>(url: string, schema: string | undefined, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) => {
  const parsed = Either.getOrThrow(BackendUrl.parse(url))
  if (parsed._tag !== "Sqlite" && parsed._tag !== "Postgres") throw new Error("not SQL")
  return Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, f).pipe(
      Effect.provide(Stores.clientLayer(parsed, schema === undefined ? {} : { tables: { schema } }))
    )
  )
}

afterAll(async () => {
  for (const schema of schemas) {
    await sql(PG_URL, undefined, (s) => s.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`))
  }
  Fs.rmSync(dir, { recursive: true, force: true })
})

const taskLine = (id: string, status: string, result: unknown, dateDone: string | null) =>
  JSON.stringify({
    kind: "task",
    task_id: id,
    status,
    result,
    traceback: null,
    date_done: dateDone,
    name: "bulk.add",
    args: [1, 2],
    kwargs: {},
    worker: "w@host",
    retries: 0,
    queue: "celery"
  })

const many = (n: number, prefix = "t") =>
  Array.from({ length: n }, (_, i) => taskLine(`${prefix}-${i}`, "SUCCESS", { i }, "2026-01-01T00:00:00.000Z")).join("\n") + "\n"

describe("taskmeta import, bulk", () => {
  it("Ctrl-C mid-import stops at a batch boundary, prints what was imported, exits 130; every line it counts is stored", async () => {
    const { args, file } = sqlite()
    const url = `db+sqlite:///${file}`
    const child = spawnCli(["import", ...args], { cwd: dir })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => stdout += d)
    child.stderr.on("data", (d) => stderr += d)
    child.stdin.on("error", () => {}) // the CLI stops reading when it stops
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
    // 30,000 lines, and standard input stays open: the import cannot end by itself.
    child.stdin.write(many(30_000))
    // Wait on the store, not on the clock: some records are written.
    const stored = () =>
      sql(url, undefined, (s) => s<{ n: number }>`SELECT count(*) AS n FROM celery_taskmeta`).then(
        (rows) => Number(rows[0].n),
        () => 0
      )
    while ((await stored()) < 1000) await new Promise((r) => setTimeout(r, 100))
    child.kill("SIGINT")
    const code = await exited
    expect(code).toBe(130)
    expect(stderr).toBe("")
    const match = /^interrupted after line (\d+): imported (\d+) tasks, 0 groups and 0 pipeline runs \((\d+) new, 0 changed, 0 unchanged\)$/
      .exec(stdout.trim())
    expect(match, stdout).not.toBeNull()
    const through = Number(match![1])
    expect(Number(match![2])).toBe(through)
    expect(Number(match![3])).toBe(through)
    expect(through).toBeGreaterThanOrEqual(1000)
    expect(through).toBeLessThan(30_000)
    // Every line up to `through` is stored, and nothing after it.
    const ids = await sql(url, undefined, (s) => s<{ task_id: string }>`SELECT task_id FROM celery_taskmeta`)
    const have = new Set(ids.map((r) => r.task_id))
    for (let i = 0; i < through; i++) expect(have.has(`t-${i}`)).toBe(true)
    expect(have.size).toBe(through)
  }, 120_000)

  it("--skip-invalid reports each bad line's number and reason on stderr and imports the good ones", async () => {
    const { args } = sqlite()
    const input = Buffer.concat([
      Buffer.from([
        taskLine("ok-1", "SUCCESS", 1, "2026-01-01T00:00:00.000Z"),
        "{not json",
        JSON.stringify({ kind: "task", task_id: "no-status" }),
        taskLine("ok-2", "STARTED", null, null),
        JSON.stringify({ kind: "task", task_id: "nul", status: "FAILURE", traceback: "boom\u0000", date_done: "2026-01-01T00:00:00Z" }),
        ""
      ].join("\n")),
      Buffer.from([0xff, 0xfe, 0x0a]),
      Buffer.from(`${taskLine("ok-3", "RETRY", null, null)}\n`)
    ])
    const file = Path.join(dir, "skip.jsonl")
    Fs.writeFileSync(file, input)
    const r = await cli(["import", "--skip-invalid", file, ...args], { cwd: dir })
    expect(r.code, r.stderr).toBe(0)
    const reported = r.stderr.trim().split("\n")
    expect(reported).toHaveLength(4)
    expect(reported[0]).toMatch(/^taskmeta: skipped line 2: invalid JSON/)
    expect(reported[1]).toMatch(/^taskmeta: skipped line 3: not a task, group or pipeline run line \(.*status/)
    expect(reported).toContainEqual(expect.stringMatching(/^taskmeta: skipped line 5: invalid traceback for "nul": /))
    expect(reported).toContainEqual("taskmeta: skipped line 6: not valid UTF-8 text")
    expect(r.stdout.trim()).toBe(
      "imported 3 tasks, 0 groups and 0 pipeline runs (3 new, 0 changed, 0 unchanged); skipped 4 invalid lines"
    )
    const ids = lines((await cli(["export", ...args], { cwd: dir })).stdout).map((l) => l.task_id)
    expect(ids).toEqual(["ok-1", "ok-2", "ok-3"])
    // Without it, the first bad line stops the import, saying what was imported before it.
    const { args: other } = sqlite()
    const stopped = await cli(["import", file, ...other], { cwd: dir })
    expect(stopped.code).toBe(1)
    expect(stopped.stderr.trim()).toMatch(
      /^taskmeta: line 2: invalid JSON.*; stopped there, after 1 task, 0 groups and 0 pipeline runs \(1 new, 0 changed, 0 unchanged\)$/
    )
    expect(lines((await cli(["export", ...other], { cwd: dir })).stdout).map((l) => l.task_id)).toEqual(["ok-1"])
  }, 120_000)

  it("reads minimal lines: only kind, task_id and status (and a group's keys); the rest is null", async () => {
    const { args } = sqlite()
    const input = [
      JSON.stringify({ kind: "task", task_id: "m1", status: "STARTED" }),
      JSON.stringify({ kind: "task", task_id: "m2", status: "FAILURE", result: { exc_type: "E", exc_message: [], exc_module: "m" }, date_done: "2026-02-01T00:00:00Z" }),
      JSON.stringify({ kind: "group", group_id: "g", task_ids: ["m1", "m2"], date_done: "2026-02-02T00:00:00Z" })
    ].join("\n") + "\n"
    const r = await cli(["import", ...args], { cwd: dir, input })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe("imported 2 tasks, 1 group and 0 pipeline runs (3 new, 0 changed, 0 unchanged)")
    const [m1] = lines((await cli(["get", "m1", "--json", ...args], { cwd: dir })).stdout)
    expect(m1).toEqual({
      kind: "task", task_id: "m1", status: "STARTED", result: null, traceback: null, date_done: null,
      name: null, args: null, kwargs: null, worker: null, retries: null, queue: null
    })
    const [m2] = lines((await cli(["get", "m2", "--json", ...args], { cwd: dir })).stdout)
    expect(m2).toMatchObject({ status: "FAILURE", date_done: "2026-02-01T00:00:00.000Z", name: null, retries: null })
  }, 60_000)

  it("a re-run changes nothing: every record unchanged, the stored rows identical (PostgreSQL)", async () => {
    const at = pg("rerun")
    const input = many(1500, "rr") + [
      taskLine("rr-started", "STARTED", { pid: 1 }, null),
      JSON.stringify({ kind: "task", task_id: "rr-nodate", status: "FAILURE" }),
      JSON.stringify({ kind: "group", group_id: "rr-g", task_ids: ["rr-1", "rr-2"], date_done: "2026-02-02T00:00:00.000Z" })
    ].join("\n") + "\n"
    const first = await cli(["import", ...at], { cwd: dir, input })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout.trim()).toBe("imported 1502 tasks, 1 group and 0 pipeline runs (1503 new, 0 changed, 0 unchanged)")
    const rows = () =>
      sql(PG_URL, at[3], (s) =>
        s.unsafe(`SELECT id, task_id, status, result, date_done::text AS date_done, traceback, name, args, kwargs, worker, retries, queue
          FROM "${at[3]}".celery_taskmeta ORDER BY id`).pipe(Effect.map((r) => JSON.stringify(r))))
    const groups = () => sql(PG_URL, at[3], (s) => s.unsafe(`SELECT id, taskset_id, result, date_done::text FROM "${at[3]}".celery_tasksetmeta`))
    const before = [await rows(), JSON.stringify(await groups())]
    const again = await cli(["import", ...at], { cwd: dir, input })
    expect(again.code, again.stderr).toBe(0)
    // A READY line without a date matches the record it stamped the first time.
    expect(again.stdout.trim()).toBe("imported 1502 tasks, 1 group and 0 pipeline runs (0 new, 0 changed, 1503 unchanged)")
    expect([await rows(), JSON.stringify(await groups())]).toEqual(before)
  }, 120_000)

  it("duplicate ids in one concurrent import end as a sequential import would: the last line wins, a SUCCESS stays", async () => {
    const { args } = sqlite()
    const out: Array<string> = []
    const expected = new Map<string, { status: string; result: unknown }>()
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 600; i++) {
        const status = ["STARTED", "RETRY", "PROGRESS", "FAILURE", "RETRY"][round]
        out.push(taskLine(`dup-${i}`, status, { round }, status === "FAILURE" ? "2026-03-01T00:00:00.000Z" : null))
        expected.set(`dup-${i}`, { status, result: { round } })
      }
      // one id that turns SUCCESS in round 1 and keeps it
      out.push(taskLine("dup-success", round === 1 ? "SUCCESS" : "FAILURE", { round }, "2026-03-01T00:00:00.000Z"))
    }
    expected.set("dup-success", { status: "SUCCESS", result: { round: 1 } })
    const r = await cli(["import", ...args], { cwd: dir, input: out.join("\n") + "\n" })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout).toMatch(/^imported 3005 tasks, 0 groups and 0 pipeline runs \(601 new, \d+ changed, 0 unchanged, 3 left as they were/)
    const stored = lines((await cli(["export", ...args], { cwd: dir })).stdout)
    expect(stored).toHaveLength(expected.size)
    for (const line of stored) {
      expect({ status: line.status, result: line.result }).toEqual(expected.get(line.task_id as string))
    }
  }, 120_000)

  it("--dry-run counts new, changed and unchanged and writes nothing, on import and copy", async () => {
    const { args } = sqlite()
    await cli(["import", ...args], { cwd: dir, input: many(10, "dry") })
    const before = (await cli(["export", ...args], { cwd: dir })).stdout
    const input = many(10, "dry").split("\n").slice(0, 8).join("\n") + "\n" +
      taskLine("dry-8", "FAILURE", 1, "2026-01-01T00:00:00.000Z") + "\n" + // a stored SUCCESS: kept
      taskLine("dry-new", "STARTED", null, null) + "\n"
    const r = await cli(["import", "--dry-run", ...args], { cwd: dir, input })
    expect(r.code, r.stderr).toBe(0)
    expect(r.stdout.trim()).toBe(
      "would import 10 tasks, 0 groups and 0 pipeline runs (1 new, 0 changed, 8 unchanged, 1 left as they were: a stored SUCCESS is final, a stored pipeline run is never rewritten) (dry run: nothing was written)"
    )
    expect((await cli(["export", ...args], { cwd: dir })).stdout).toBe(before)
    const { args: empty } = sqlite()
    const copy = await cli(["copy", "--dry-run", "--from", args[1], "--to", empty[1]], { cwd: dir })
    expect(copy.code, copy.stderr).toBe(0)
    expect(copy.stdout.trim()).toMatch(/^would copy 10 tasks, 0 groups and 0 pipeline runs \(10 new, 0 changed, 0 unchanged\) from .* \(dry run: nothing was written\)$/)
    expect((await cli(["export", ...empty], { cwd: dir })).stdout).toBe("")
  }, 120_000)
})

describe("pipeline runs in export, import and copy", () => {
  it("round-trip through export → import (SQLite → PostgreSQL) and copy (PostgreSQL → SQLite), exactly, idempotently", async () => {
    const src = sqlite()
    // Runs built and reported through the library, as a worker does.
    await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const context = yield* Layer.build(Stores.layerFromUrl(src.args[1], { resultExtended: true }))
      const store = Context.get(context, PipelineStore.PipelineStore)
      for (const [runId, pipelineId] of [["run-1", "ingest"], ["run-2", "ingest"], ["run-3", "report"]] as const) {
        yield* store.build({
          runId,
          pipelineId,
          inputData: { files: 2, big: 2n ** 70n },
          pipelineResults: [
            { object: { file: "a.csv" }, tasks: [{ taskName: "parse", config: { sep: "," }, results: [{ object: 1 }, { object: 2 }] }] },
            { object: { file: "b.csv" }, tasks: [{ taskName: "parse", results: [{ object: 3 }] }] }
          ]
        })
      }
      yield* store.report("TaskResult", "run-1:0:t0:0", "DONE", { message: { rows: 1 } })
      yield* store.report("TaskResult", "run-1:0:t0:1", "RUNTIME_ERROR", { message: "bad row" })
      yield* store.report("PipelineResult", "run-2:1", "CANCELLED")
      yield* PipelineStore.recordConfigError({ runId: "run-4", pipelineId: "report", message: "no config" }).pipe(
        Effect.provideService(PipelineStore.PipelineStore, store)
      )
    })))
    await cli(["import", ...src.args], { cwd: dir, input: many(5, "p") })
    const show = async (at: ReadonlyArray<string>) => {
      const out: Array<string> = []
      for (const runId of ["run-1", "run-2", "run-3", "run-4"]) {
        const r = await cli(["pipelines", "show", runId, "--json", ...at], { cwd: dir })
        expect(r.code, r.stderr).toBe(0)
        out.push(r.stdout)
      }
      return out
    }
    const original = await show(src.args)
    expect(lines(original[0])[0]).toMatchObject({ status: "RUNNING" })

    const exported = await cli(["export", ...src.args], { cwd: dir })
    expect(exported.code, exported.stderr).toBe(0)
    const runLines = lines(exported.stdout).filter((l) => l.kind === "pipeline_run")
    expect(runLines.map((l) => l.run_id)).toEqual(["run-1", "run-2", "run-3", "run-4"])
    // the same line as pipelines show --json
    expect(exported.stdout.split("\n").filter((l) => l.includes(`"kind":"pipeline_run"`)).map((l) => `${l}\n`)).toEqual(original)

    const target = pg("pipes")
    const imported = await cli(["import", ...target], { cwd: dir, input: exported.stdout })
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout.trim()).toBe("imported 5 tasks, 0 groups and 4 pipeline runs (9 new, 0 changed, 0 unchanged)")
    expect(await show(target)).toEqual(original)
    const again = await cli(["import", ...target], { cwd: dir, input: exported.stdout })
    expect(again.stdout.trim()).toBe("imported 5 tasks, 0 groups and 4 pipeline runs (0 new, 0 changed, 9 unchanged)")

    const back = sqlite()
    const copied = await cli(["copy", "--from", PG_URL, "--to", back.args[1], "--schema", target[3]], { cwd: dir })
    expect(copied.code, copied.stderr).toBe(0)
    expect(copied.stdout.trim()).toMatch(/^copied 5 tasks, 0 groups and 4 pipeline runs \(9 new, 0 changed, 0 unchanged\) from postgresql:/)
    expect(await show(back.args)).toEqual(original)
    expect((await cli(["export", ...back.args], { cwd: dir })).stdout).toBe(exported.stdout)
  }, 180_000)
})
