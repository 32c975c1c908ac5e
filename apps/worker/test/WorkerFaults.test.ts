/**
 * "A storage failure never crashes a worker": the demo worker runs as a
 * process while its storage fails under it, and must keep its schedule, log
 * each failure on one line (no stack traces, no password), exit 0 at the end
 * of `--for`, and store results again once storage is back.
 *
 * - PostgreSQL: every connection of the worker (found by its own
 *   `application_name`) terminated again and again, then the task table
 *   renamed away for longer than a schedule period, then back.
 * - SQLite: the task table renamed away by another connection, then the file
 *   locked (`BEGIN EXCLUSIVE`) for longer than the worker's busy_timeout.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import { cli, lines, PG_URL, schemaName, tempDir, WORKER } from "../../cli/test/helpers.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const tsx = Path.join(root, "apps/worker/node_modules/.bin/tsx")
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

const pgSchema = schemaName("wfault")
const dir = tempDir("worker-faults")

/** Runs statements on a connection of the test's own (never one of the worker's). */
const withClient = <A>(url: string, f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) => {
  const parsed = Either.getOrThrow(BackendUrl.parse(url))
  if (parsed._tag !== "Sqlite" && parsed._tag !== "Postgres") throw new Error("a SQL URL is expected")
  return Effect.runPromise(Effect.flatMap(SqlClient.SqlClient, f).pipe(Effect.provide(Stores.clientLayer(parsed))))
}

afterAll(async () => {
  Fs.rmSync(dir, { recursive: true, force: true })
  await withClient(PG_URL, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`))
})

/** The worker as a process: its output so far, whether it is still running, and its exit. */
const startWorker = (args: ReadonlyArray<string>, cwd: string) => {
  const started = Date.now()
  const child = spawn(tsx, ["--conditions=source", WORKER, ...args], { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } })
  let output = ""
  child.stdout.on("data", (d) => (output += d))
  child.stderr.on("data", (d) => (output += d))
  const exited = new Promise<{ code: number | null; elapsed: number }>((resolve) =>
    child.on("exit", (code) => resolve({ code, elapsed: Date.now() - started }))
  )
  return {
    output: () => output,
    running: () => child.exitCode === null && child.signalCode === null,
    exited,
    waitFor: async (text: string) => {
      for (let i = 0; i < 240 && !output.includes(text); i++) await sleep(250)
      expect(output, output).toContain(text)
    },
    kill: () => child.kill("SIGKILL")
  }
}

/** Each failure is one line (the message and its cause chain), never a stack trace. */
const expectOneLineFailures = (output: string, secret?: string) => {
  expect(output, output).not.toMatch(/^\s+at /m)
  expect(output).not.toContain("[cause]")
  if (secret !== undefined) expect(output).not.toContain(secret)
}

/**
 * Failures logged more than a second after `since` (the pretty logger stamps
 * lines with the local time of day): none once storage is back.
 */
const failuresAfter = (output: string, since: number) => {
  const midnight = new Date(since).setHours(0, 0, 0, 0)
  return output.split("\n").filter((line) => {
    const m = /^\[(\d\d):(\d\d):(\d\d)\.(\d{3})\] (ERROR|WARN) .*failed/.exec(line)
    if (m === null) return false
    return midnight + ((Number(m[1]) * 60 + Number(m[2])) * 60 + Number(m[3])) * 1000 + Number(m[4]) > since + 1000
  })
}

/** SUCCESS records of the 5-second schedule the worker stored after `since`. */
const storedSince = async (at: ReadonlyArray<string>, cwd: string, since: number) => {
  const exported = await cli(["export", ...at], { cwd })
  expect(exported.code, exported.stderr).toBe(0)
  return lines(exported.stdout).filter((l) =>
    l.kind === "task" && l.status === "SUCCESS" && l.name === "multiply_two_numbers" && l.result === 256 &&
    Date.parse(String(l.date_done)) > since
  )
}

describe.concurrent("a storage failure never crashes the demo worker", () => {
  it("PostgreSQL: connections terminated over and over, then the task table gone for 6 s", async () => {
    const app = pgSchema // the worker's application_name: only its connections are terminated
    const url = new URL(PG_URL)
    if (url.password === "") url.password = "hunter2-unused" // trust auth ignores it; it must never be printed
    url.searchParams.set("application_name", app)
    const at = ["--backend", url.toString(), "--schema", pgSchema]
    const worker = startWorker(["--for", "18s", "--sweep-every", "2s", ...at], dir)
    try {
      await worker.waitFor("ready:")
      await worker.waitFor("succeeded")

      let killed = 0
      for (const end = Date.now() + 3000; Date.now() < end;) {
        killed += await withClient(PG_URL, (sql) =>
          sql.unsafe<{ n: number }>(
            "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1",
            [app]
          ).pipe(Effect.map((rows) => rows[0].n))
        )
        await sleep(250)
      }
      expect(killed).toBeGreaterThan(3)
      expect(worker.running(), worker.output()).toBe(true)

      const table = `"${pgSchema}".celery_taskmeta`
      await withClient(PG_URL, (sql) => sql.unsafe(`ALTER TABLE ${table} RENAME TO celery_taskmeta_away`))
      await sleep(6000) // longer than the 5-second schedule's period: at least one run fails
      await withClient(PG_URL, (sql) => sql.unsafe(`ALTER TABLE "${pgSchema}".celery_taskmeta_away RENAME TO celery_taskmeta`))
      const back = Date.now()
      expect(worker.running(), worker.output()).toBe(true)

      const { code, elapsed } = await worker.exited
      const output = worker.output()
      expect(code, output).toBe(0)
      expect(elapsed).toBeGreaterThanOrEqual(18_000)
      expect(output).toContain("ran for 18s; stopped after finishing started tasks")
      // Logged, one line each: the run that failed, and the sweep that failed.
      expect(output).toMatch(
        /ERROR .*: schedule add-every-5-seconds failed; next run as scheduled: could not store \w+ for task [\w-]+: .*relation ".*celery_taskmeta" does not exist \(42P01\)\n/
      )
      expect(output).toMatch(/WARN .*: expiry sweep failed; will try again at the next tick: .*relation ".*celery_taskmeta" does not exist/)
      expectOneLineFailures(output, url.password)
      expect(failuresAfter(output, back)).toEqual([])

      expect((await storedSince(at, dir, back)).length).toBeGreaterThanOrEqual(1)
    } finally {
      worker.kill()
    }
  }, 120_000)

  it("SQLite: the task table gone for 6 s, then the file locked past busy_timeout", async () => {
    const file = Path.join(dir, "faults.sqlite")
    const url = `db+sqlite:///${file}` // absolute: db+sqlite:////…
    const at = ["--backend", url]
    const worker = startWorker(["--for", "22s", "--sweep-every", "2s", ...at], dir)
    try {
      await worker.waitFor("ready:")
      await worker.waitFor("succeeded")

      await withClient(url, (sql) => sql.unsafe("ALTER TABLE celery_taskmeta RENAME TO celery_taskmeta_away"))
      await sleep(6000)
      await withClient(url, (sql) => sql.unsafe("ALTER TABLE celery_taskmeta_away RENAME TO celery_taskmeta"))
      expect(worker.running(), worker.output()).toBe(true)

      // Another process holds the write lock for 7 s, more than the worker's 5 s busy_timeout:
      // its writes meet SQLITE_BUSY, are retried, and go through once the lock is gone.
      await withClient(url, (sql) =>
        Effect.acquireUseRelease(
          sql.unsafe("BEGIN EXCLUSIVE"),
          () => Effect.sleep("7 seconds"),
          () => Effect.orDie(sql.unsafe("COMMIT"))
        ))
      const back = Date.now()
      expect(worker.running(), worker.output()).toBe(true)

      const { code, elapsed } = await worker.exited
      const output = worker.output()
      expect(code, output).toBe(0)
      expect(elapsed).toBeGreaterThanOrEqual(22_000)
      expect(output).toContain("ran for 22s; stopped after finishing started tasks")
      expect(output).toMatch(
        /ERROR .*: schedule add-every-5-seconds failed; next run as scheduled: could not store \w+ for task [\w-]+: .*no such table: celery_taskmeta \(SQLITE_ERROR\)\n/
      )
      expect(output).toMatch(/WARN .*: expiry sweep failed; will try again at the next tick: .*no such table/)
      expectOneLineFailures(output)
      expect(failuresAfter(output, back)).toEqual([])

      expect((await storedSince(at, dir, back)).length).toBeGreaterThanOrEqual(1)
    } finally {
      worker.kill()
    }
  }, 120_000)
})
