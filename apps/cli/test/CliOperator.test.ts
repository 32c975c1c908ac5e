/**
 * What an operator relies on beyond the commands themselves (issue 16):
 * global options before or after the command, Celery's own
 * CELERY_RESULT_BACKEND, usage errors and exit statuses, no colour in pipes,
 * refused states and time ranges, the failure rate, relative times.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import * as Fs from "node:fs"
import { spawnSync } from "node:child_process"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { cli, lines, tempDir } from "./helpers.js"

const dir = tempDir("cli-operator")
const file = Path.join(dir, "ops.sqlite")
const url = `db+sqlite:///${file}`
afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))

const task = (task_id: string, status: string, date_done: string | null, result: unknown = null, worker = "w1", queue = "celery") =>
  JSON.stringify({
    kind: "task",
    task_id,
    status,
    result,
    traceback: null,
    date_done,
    name: "ops.add",
    args: [1, 2],
    kwargs: {},
    worker,
    retries: 0,
    queue
  })

beforeAll(async () => {
  const input = [
    task("ok-1", "SUCCESS", "2026-01-01T00:00:00.000Z", 3),
    task("bad-1", "FAILURE", "2026-01-01T00:01:00.000Z", { exc_type: "ValueError", exc_message: ["no"], exc_module: "builtins" }),
    task("gone-1", "REVOKED", "2026-01-01T00:02:00.000Z", { exc_type: "TaskRevokedError", exc_message: ["revoked"], exc_module: "celery.exceptions" }),
    task("run-1", "STARTED", null, { pid: 1 }, "w2", "slow")
  ].join("\n") + "\n"
  const imported = await cli(["import", "--backend", url], { cwd: dir, input })
  expect(imported.code).toBe(0)
}, 120_000)

const stderrLines = (text: string) => text.split("\n").filter((l) => l !== "")

describe("global options", () => {
  it("--backend and --schema work before the command as after it", async () => {
    const before = await cli(["--backend", url, "list", "--json"], { cwd: dir })
    const after = await cli(["list", "--json", "--backend", url], { cwd: dir })
    expect(before.code).toBe(0)
    expect(after.code).toBe(0)
    expect(lines(before.stdout).map((l) => l.task_id)).toEqual(lines(after.stdout).map((l) => l.task_id))
    expect(lines(before.stdout)).toHaveLength(4)
  }, 60_000)

  it("the command's own --backend wins over one given before it", async () => {
    const r = await cli(["--backend", "memory://", "list", "--json", "--backend", url], { cwd: dir })
    expect(r.code).toBe(0)
    expect(lines(r.stdout)).toHaveLength(4)
  }, 60_000)

  it("without --backend or TASKMETA_BACKEND_URL, Celery's CELERY_RESULT_BACKEND is used", async () => {
    const r = await cli(["stats", "--json"], { cwd: dir, env: { CELERY_RESULT_BACKEND: url } })
    expect(r.code).toBe(0)
    expect(lines(r.stdout)[0].tasks).toBe(4)
    const own = await cli(["stats", "--json"], { cwd: dir, env: { CELERY_RESULT_BACKEND: "memory://", TASKMETA_BACKEND_URL: url } })
    expect(lines(own.stdout)[0].tasks).toBe(4)
  }, 60_000)
})

describe("list filters and pages", () => {
  it("--worker and --queue keep only the matching tasks", async () => {
    const w2 = await cli(["list", "--json", "--worker", "w2", "--backend", url], { cwd: dir })
    expect(lines(w2.stdout).map((l) => l.task_id)).toEqual(["run-1"])
    const celery = await cli(["list", "--json", "--queue", "celery", "--backend", url], { cwd: dir })
    expect(lines(celery.stdout).map((l) => l.task_id).sort()).toEqual(["bad-1", "gone-1", "ok-1"])
    const none = await cli(["list", "--json", "--queue", "celery", "--worker", "w2", "--backend", url], { cwd: dir })
    expect(lines(none.stdout)).toEqual([])
  }, 60_000)

  it("a page at a time: each page names the cursor of the next, and the pages cover the listing once", async () => {
    const all = lines((await cli(["list", "--json", "--backend", url], { cwd: dir })).stdout).map((l) => l.task_id)
    const seen: Array<unknown> = []
    let after: string | undefined
    for (let n = 0; n < 10; n++) {
      const r = await cli(["list", "--json", "--limit", "3", ...(after === undefined ? [] : ["--after", after]), "--backend", url], { cwd: dir })
      expect(r.code).toBe(0)
      seen.push(...lines(r.stdout).map((l) => l.task_id))
      const more = /--after (\S+)\)/.exec(r.stderr)
      if (more === null) break
      after = more[1]
    }
    expect(seen).toEqual(all)
    const bad = await cli(["list", "--after", "not-a-cursor", "--backend", url], { cwd: dir })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toMatch(/^taskmeta: --after not-a-cursor: /)
  }, 60_000)
})

describe("usage errors and exit statuses", () => {
  it("an unknown option: one taskmeta: line with a hint, exit 2", async () => {
    const r = await cli(["list", "--bogus", "--backend", url], { cwd: dir })
    expect(r.code).toBe(2)
    const err = stderrLines(r.stderr)
    expect(err[0]).toBe("taskmeta: Received unknown argument: '--bogus'")
    expect(err[1]).toContain("hint: `taskmeta --help`")
    expect(r.stdout).toBe("")
  }, 60_000)

  it("--wizard is refused at once with stdin closed, exit 2", async () => {
    const r = await cli(["--wizard"], { cwd: dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("taskmeta: Received unknown argument: '--wizard'")
  }, 60_000)

  it("an unknown state is refused with Celery's states and those the store holds, exit 2", async () => {
    const r = await cli(["list", "--state", "SUCESS", "--backend", url], { cwd: dir })
    expect(r.code).toBe(2)
    expect(r.stderr).toContain("taskmeta: unknown state SUCESS")
    expect(r.stderr).toContain("this store holds SUCCESS, FAILURE, REVOKED, STARTED")
  }, 60_000)

  it("a state is matched whatever its case", async () => {
    const r = await cli(["list", "--state", "started", "--json", "--backend", url], { cwd: dir })
    expect(r.code).toBe(0)
    expect(lines(r.stdout).map((l) => l.task_id)).toEqual(["run-1"])
  }, 60_000)

  it("an empty or inverted time range is refused, exit 2", async () => {
    const inverted = await cli(["list", "--since", "1h", "--until", "2d", "--backend", url], { cwd: dir })
    expect(inverted.code).toBe(2)
    expect(inverted.stderr).toContain("is not before --until 2d")
    const empty = await cli(["list", "--since", "2026-01-01T00:00:00Z", "--until", "2026-01-01T00:00:00Z", "--backend", url], { cwd: dir })
    expect(empty.code).toBe(2)
  }, 60_000)

  it("a bad duration is a usage error, exit 2", async () => {
    const r = await cli(["wait", "ok-1", "--timeout", "soon", "--backend", url], { cwd: dir })
    expect(r.code).toBe(2)
    expect(stderrLines(r.stderr)[0]).toMatch(/^taskmeta: /)
  }, 60_000)

  it("wait: 0 for SUCCESS, 1 for FAILURE and REVOKED, 3 on a timeout", async () => {
    expect((await cli(["wait", "ok-1", "--backend", url], { cwd: dir })).code).toBe(0)
    expect((await cli(["wait", "bad-1", "--backend", url], { cwd: dir })).code).toBe(1)
    expect((await cli(["wait", "gone-1", "--backend", url], { cwd: dir })).code).toBe(1)
    const timeout = await cli(["wait", "run-1", "--timeout", "300ms", "--backend", url], { cwd: dir })
    expect(timeout.code).toBe(3)
    expect(timeout.stderr).toContain("timed out")
  }, 60_000)

  it("a store that cannot be reached: exit 4", async () => {
    const r = await cli(["list", "--backend", "db+postgresql://postgres@127.0.0.1:1/test"], { cwd: dir })
    expect(r.code).toBe(4)
    expect(r.stderr).toContain("ECONNREFUSED")
  }, 60_000)
})

describe("pnpm taskmeta inside the repository", () => {
  it("prints nothing but the command's own output (--json stays one JSON line)", () => {
    const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
    const r = spawnSync("pnpm", ["taskmeta", "--backend", "memory://", "stats", "--json"], { cwd: root, encoding: "utf8" })
    expect(r.status).toBe(0)
    expect(r.stdout).toBe(`{"kind":"stats","tasks":0,"groups":0,"by_state":{},"failure_rate":null,"by_name":[]}\n`)
  }, 60_000)
})

describe("output for people", () => {
  it("help in a pipe carries no ANSI colour, and no generic type sentences", async () => {
    const r = await cli(["list", "--help"], { cwd: dir, env: { NO_COLOR: "" } })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("--since WHEN")
    expect(r.stdout).not.toMatch(/\u001b\[/)
    expect(r.stdout).not.toContain("A user-defined piece of text")
    expect(r.stdout).not.toContain("--wizard")
  }, 60_000)

  it("the failure rate counts REVOKED among the finished", async () => {
    const r = await cli(["stats", "--backend", url], { cwd: dir })
    expect(r.code).toBe(0)
    expect(r.stdout).toContain("(1 of 3 finished)")
    const json = lines((await cli(["stats", "--json", "--backend", url], { cwd: dir })).stdout)[0]
    expect(json.failure_rate).toBeCloseTo(1 / 3)
  }, 60_000)

  it("the table shows how long ago each task finished", async () => {
    const r = await cli(["list", "--backend", url], { cwd: dir })
    expect(r.code).toBe(0)
    expect(r.stdout).toMatch(/2026-01-01 00:02:00Z \(\d+d ago\)/)
  }, 60_000)
})
