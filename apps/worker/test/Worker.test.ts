/**
 * The demo worker, run as a process for a bounded time against a real
 * SQLite file and a real PostgreSQL database; what it stored is read back
 * with the `taskmeta` CLI and checked field by field.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Json from "@taskmeta/schema/Json"
import { cli, lines, PG_URL, run, schemaName, tempDir, WORKER } from "../../cli/test/helpers.js"
import * as Harness from "../../../packages/sql/test/celery/harness.js"
import { has, tag } from "../../../testenv/requirements.js"

const dir = tempDir("worker")
const pgSchema = schemaName("worker")
const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")

afterAll(async () => {
  Fs.rmSync(dir, { recursive: true, force: true })
  const url = Either.getOrThrow(BackendUrl.parse(PG_URL))
  if (url._tag !== "Postgres") return
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`)).pipe(
      Effect.provide(Stores.clientLayer(url)),
      Effect.asVoid
    )
  )
})

const fixtures: ReadonlyArray<readonly [string, ReadonlyArray<string>]> = [
  ["sqlite", ["--backend", "db+sqlite:///worker.sqlite"]],
  ["postgres", ["--backend", PG_URL, "--schema", pgSchema]]
]

for (const [label, at] of fixtures) {
  describe.sequential(`demo worker on ${label}`, () => {
    it("a bounded run stores every task kind with extended results, a group and a pipeline run", async () => {
      const worker = await run(WORKER, ["--for", "4s", ...at], { cwd: dir })
      expect(worker.code, worker.stderr + worker.stdout).toBe(0)

      const exported = lines((await cli(["export", ...at], { cwd: dir })).stdout)
      const tasks = exported.filter((l) => l.kind === "task")
      const byName = (name: string) => tasks.filter((t) => t.name === name)
      const worker_ = `taskmeta@${Os.hostname()}`

      // Nothing left half-done: every task the worker started, it finished.
      expect(tasks.filter((t) => t.status !== "SUCCESS" && t.status !== "FAILURE")).toEqual([])

      const multiply = byName("multiply_two_numbers").find((t) => t.result === 256)
      expect(multiply).toMatchObject({
        status: "SUCCESS", result: 256, traceback: null, args: [16, 16], kwargs: {}, worker: worker_, retries: 0, queue: "celery"
      })
      expect(String(multiply?.date_done)).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/)
      // The seed's schedule: the 5-second entry and the crontab entry both fired at start.
      expect(byName("multiply_two_numbers").filter((t) => t.result === 256).length).toBeGreaterThanOrEqual(2)
      expect(byName("sum_two_numbers").find((t) => t.result === 32)).toMatchObject({ status: "SUCCESS", args: [16, 16] })

      const [failed] = byName("divide_two_numbers")
      expect(failed).toMatchObject({
        status: "FAILURE",
        result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" },
        args: [16, 0]
      })
      expect(failed.traceback).toMatch(/^Traceback \(most recent call last\):\n[\s\S]*ZeroDivisionError: division by zero\n$/)

      expect(byName("fetch_and_sum")[0]).toMatchObject({ status: "SUCCESS", result: 32, retries: 2, traceback: null })

      const groups = exported.filter((l) => l.kind === "group")
      expect(groups.length).toBeGreaterThanOrEqual(1)
      const members = groups[0].task_ids as Array<string>
      expect(members).toHaveLength(3)
      expect(members.map((id) => tasks.find((t) => t.task_id === id)?.result)).toEqual([3, 7, 30])

      const runs = lines((await cli(["pipelines", "list", "--json", ...at], { cwd: dir })).stdout)
      expect(runs.length).toBeGreaterThanOrEqual(1)
      expect(runs[0]).toMatchObject({ kind: "pipeline_run", pipeline_id: "ingest_numbers", status: "RUNTIME_ERROR" })
      const [tree] = lines((await cli(["pipelines", "show", String(runs[0].run_id), "--json", ...at], { cwd: dir })).stdout)
      const results = tree.pipeline_results as Array<Record<string, unknown>>
      expect(results.map((r) => r.status)).toEqual(["DONE", "DONE", "RUNTIME_ERROR"])
      expect((results[2].task_executions as Array<Record<string, unknown>>).map((t) => [t.task_name, t.status])).toEqual([
        ["parse_rows", "DONE"],
        ["sum_rows", "RUNTIME_ERROR"]
      ])
      const human = await cli(["pipelines", "show", String(runs[0].run_id), ...at], { cwd: dir })
      expect(human.stdout).toContain("└─ [2] {\"file\":\"batch-3.csv\"}  RUNTIME_ERROR")
    }, 120_000)
  })
}

describe.runIf(has("celery"))(`demo worker in Celery-compatible mode ${tag("celery")}`, () => {
  it("--encoding pickle on SQLite: Python Celery reads every result and the group back as taskmeta does", async () => {
    const file = Path.join(dir, "celery-mode.sqlite")
    const url = `db+sqlite:///${file}` // an absolute path: db+sqlite:////…
    const worker = await run(WORKER, ["--encoding", "pickle", "--for", "4s", "--backend", url], { cwd: dir })
    expect(worker.code, worker.stderr + worker.stdout).toBe(0)
    expect(worker.stdout + worker.stderr).toContain("(Celery-compatible pickles)")

    const exported = (await cli(["export", "--backend", url], { cwd: dir })).stdout.split("\n").filter((l) => l !== "")
      .map((l) => Either.getOrThrow(Json.parse(l)) as Record<string, Json.Json>)
    const tasks = exported.filter((l) => l.kind === "task")
    const groups = exported.filter((l) => l.kind === "group")
    expect(tasks.length).toBeGreaterThanOrEqual(5)
    expect(groups.length).toBeGreaterThanOrEqual(1)
    const ids = tasks.map((t) => String(t.task_id))
    const groupIds = groups.map((g) => String(g.group_id))

    // On disk: pickles (protocol 2), as Celery writes its result column.
    const raw = await Effect.runPromise(Harness.raw(url, { tasks: ids }))
    for (const id of ids) {
      const bytes = Buffer.from(raw.tasks[id]!.result!, "base64")
      expect([id, bytes[0], bytes[1]]).toEqual([id, 0x80, 2])
    }

    // Celery's get_task_meta / restore_group read what taskmeta reads, field by field.
    const celery = await Effect.runPromise(Harness.read(url, { tasks: ids, groups: groupIds }))
    for (const t of tasks) {
      expect(Harness.celeryView(celery.tasks[String(t.task_id)])).toEqual({
        taskId: t.task_id,
        status: t.status,
        result: t.result,
        traceback: t.traceback,
        dateDone: t.date_done,
        name: t.name,
        args: t.args,
        kwargs: t.kwargs,
        worker: t.worker,
        retries: t.retries,
        queue: t.queue
      })
    }
    for (const g of groups) expect(celery.groups[String(g.group_id)]).toEqual(g.task_ids)
    // Python sees its own exception for the failing task.
    const failed = tasks.find((t) => t.name === "divide_two_numbers")!
    expect(celery.tasks[String(failed.task_id)].result).toEqual({
      $exception: { exc_type: "ZeroDivisionError", exc_module: "builtins", exc_message: { $tuple: ["division by zero"] } }
    })
  }, 120_000)
})

describe("demo worker shutdown", () => {
  it("stops cleanly on SIGTERM, finishing the tasks it started", async () => {
    const cwd = tempDir("worker-term")
    try {
      const tsx = Path.join(root, "apps/worker/node_modules/.bin/tsx")
      const child = spawn(tsx, ["--conditions=source", WORKER, "--backend", "db+sqlite:///term.sqlite"], { cwd, stdio: ["ignore", "pipe", "pipe"] })
      let output = ""
      child.stdout.on("data", (d) => (output += d))
      child.stderr.on("data", (d) => (output += d))
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
      for (let i = 0; i < 120 && !output.includes("succeeded"); i++) await new Promise((r) => setTimeout(r, 250))
      child.kill("SIGTERM")
      const code = await Promise.race([exited, new Promise<"hung">((r) => setTimeout(() => r("hung"), 15_000))])
      expect(code, output).toBe(0)
      expect(output).toContain("interrupted; stopped after finishing started tasks")
      const left = await cli(["list", "--json", "--state", "STARTED", "--state", "RETRY", "--backend", "db+sqlite:///term.sqlite"], { cwd })
      expect(lines(left.stdout)).toEqual([])
    } finally {
      Fs.rmSync(cwd, { recursive: true, force: true })
    }
  }, 60_000)

  it("rejects a bad --for with one line and a non-zero exit", async () => {
    const r = await run(WORKER, ["--for", "soon"], { cwd: dir })
    expect(r.code).not.toBe(0)
    expect(r.stdout + r.stderr).toContain("\"soon\" is not a duration")
  }, 60_000)
})
