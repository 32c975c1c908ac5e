/**
 * The `taskmeta` CLI, driven as a process against a real SQLite file, a
 * real PostgreSQL database and a real MariaDB database. Each fixture prepares a database and says how to
 * point the CLI at it; a database written by Python Celery is one more
 * fixture of the same shape.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Failure from "../src/Failure.js"
import { cli, dropSchema, lines, MYSQL_URL, mysqlAdmin, PG_URL, schemaName, tempDir } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

const BIG = "123456789012345678901234567890"

const FAILURE_LINE = {
  kind: "task",
  task_id: "f1",
  status: "FAILURE",
  result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" },
  traceback: "Traceback (most recent call last):\n  File \"tasks.py\", line 3, in divide\nZeroDivisionError: division by zero\n",
  date_done: "2026-01-02T00:00:00.000Z",
  name: "divide_two_numbers",
  args: [16, 0],
  kwargs: { mode: "strict", note: "é ü 日本" },
  worker: "celery@host",
  retries: 0,
  queue: "celery"
}

/** The lines of an output, sorted (import and copy write in batches: the order of creation may change). */
const sortedLines = (text: string) => text.split("\n").filter((l) => l !== "").sort()

const INPUT = [
  `{"kind":"task","task_id":"s1","status":"SUCCESS","result":256,"traceback":null,"date_done":"2026-01-01T00:00:00.000Z","name":"multiply_two_numbers","args":[16,16],"kwargs":{},"worker":"celery@host","retries":0,"queue":"celery"}`,
  JSON.stringify(FAILURE_LINE),
  `{"kind":"task","task_id":"s2","status":"SUCCESS","result":${BIG},"traceback":null,"date_done":"2026-01-03T00:00:00.000Z","name":"multiply_two_numbers","args":[9007199254740993,1],"kwargs":{},"worker":"celery@host","retries":2,"queue":"math"}`,
  `{"kind":"task","task_id":"p1","status":"STARTED","result":{"pid":42,"hostname":"celery@host"},"traceback":null,"date_done":null,"name":"slow","args":[],"kwargs":{},"worker":"celery@host","retries":0,"queue":"celery"}`,
  `{"kind":"group","group_id":"g1","task_ids":["s1","f1"],"date_done":"2026-01-02T06:00:00.000Z"}`
].join("\n") + "\n"

interface Fixture {
  readonly label: string
  /** Arguments that point the CLI at the fixture's database. */
  readonly args: ReadonlyArray<string>
  readonly cleanup: () => Promise<void>
  /** What it needs from outside npm, if anything (skipped without it). */
  readonly needs?: "mariadb" | undefined
}

const dir = tempDir("cli")
const pgSchema = schemaName("cli")
const copySchema = schemaName("copy")


const mysqlDatabase = schemaName("cli")
if (has("mariadb")) await mysqlAdmin(`CREATE DATABASE \`${mysqlDatabase}\` CHARACTER SET utf8mb4`)

const fixtures: ReadonlyArray<Fixture> = [
  {
    label: "sqlite",
    args: ["--backend", `db+sqlite:///${Path.join(dir, "cli.sqlite")}`.replace("///", "////").replace("/////", "////")],
    cleanup: async () => {}
  },
  { label: "postgres", args: ["--backend", PG_URL, "--schema", pgSchema], cleanup: () => dropSchema(pgSchema) },
  {
    label: `mysql ${tag("mariadb")}`,
    args: ["--backend", `db+mysql+pymysql://${MYSQL_URL.replace(/^mysql:\/\//, "")}/${mysqlDatabase}`],
    cleanup: async () => {
      if (has("mariadb")) await mysqlAdmin(`DROP DATABASE IF EXISTS \`${mysqlDatabase}\``)
    },
    needs: "mariadb"
  }
]

afterAll(async () => {
  for (const f of fixtures) await f.cleanup()
  await dropSchema(copySchema)
  Fs.rmSync(dir, { recursive: true, force: true })
})

for (const fixture of fixtures) {
  describe.runIf(fixture.needs === undefined || has(fixture.needs)).sequential(`taskmeta CLI on ${fixture.label}`, () => {
    const at = fixture.args
    const run = (...args: Array<string>) => cli([...args, ...at], { cwd: dir })

    it("imports JSON lines from a file, and again from stdin without changing anything", async () => {
      Fs.writeFileSync(Path.join(dir, "in.jsonl"), INPUT)
      const first = await cli(["import", ...at, Path.join(dir, "in.jsonl")], { cwd: dir })
      expect(first.stderr).toBe("")
      expect(first.code).toBe(0)
      expect(first.stdout.trim()).toBe("imported 4 tasks, 1 group and 0 pipeline runs (5 new, 0 changed, 0 unchanged)")
      const before = await run("export")
      const again = await cli(["import", ...at], { cwd: dir, input: INPUT })
      expect(again.code).toBe(0)
      // Every record is already there as it is: nothing is written.
      expect(again.stdout.trim()).toBe("imported 4 tasks, 1 group and 0 pipeline runs (0 new, 0 changed, 5 unchanged)")
      expect((await run("export")).stdout).toBe(before.stdout)
    }, 60_000)

    it("import refuses a line that is not UTF-8 text, naming it, and keeps what came before (issue 14, finding 8)", async () => {
      const file = Path.join(dir, `bad-utf8-${fixture.label}.jsonl`)
      const [first] = INPUT.split("\n")
      const second = Buffer.from(first.replace(/"task_id":"[^"]*"/, `"task_id":"utf8-XX"`), "utf8")
      const at2 = second.indexOf("XX")
      second[at2] = 0xff // a byte that never appears in UTF-8
      second[at2 + 1] = 0x41
      Fs.writeFileSync(file, Buffer.concat([Buffer.from(`${first}\n`), second, Buffer.from("\n")]))
      const r = await cli(["import", ...at, file], { cwd: dir })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/^taskmeta: line 2: not valid UTF-8 text; stopped there, after 1 task, 0 groups and 0 pipeline runs \((1 new|0 new, 0 changed, 1 unchanged)/)
      const exported = await run("export")
      expect(exported.stdout).not.toContain("utf8-")
      expect(exported.stdout).not.toContain("\ufffd")
    }, 60_000)

    it("get --json prints the task line field by field", async () => {
      const r = await run("get", "f1", "--json")
      expect(r.code).toBe(0)
      const [line] = lines(r.stdout)
      expect(Object.keys(line)).toEqual([
        "kind", "task_id", "status", "result", "traceback", "date_done", "name", "args", "kwargs", "worker", "retries", "queue"
      ])
      expect(line).toEqual(FAILURE_LINE)
      const big = await run("get", "s2", "--json")
      expect(big.stdout).toContain(`"result":${BIG},`)
      expect(big.stdout).toContain(`"args":[9007199254740993,1]`)
      expect(lines(big.stdout)[0]).toMatchObject({ status: "SUCCESS", retries: 2, queue: "math", date_done: "2026-01-03T00:00:00.000Z" })
    }, 60_000)

    it("get of an unknown id prints a PENDING record with nulls, as Celery", async () => {
      const r = await run("get", "no-such-task", "--json")
      expect(r.code).toBe(0)
      expect(lines(r.stdout)).toEqual([{
        kind: "task", task_id: "no-such-task", status: "PENDING", result: null, traceback: null, date_done: null,
        name: null, args: null, kwargs: null, worker: null, retries: null, queue: null
      }])
    }, 60_000)

    it("list --json filters by state, name, time and limit, newest first", async () => {
      const ids = async (...args: Array<string>) => lines((await run("list", "--json", ...args)).stdout).map((l) => l.task_id)
      // Newest first by creation: import writes a batch at once, and PostgreSQL creates the rows of one
      // statement in id order, so the creation order is export's (oldest first), not the file's.
      const created = lines((await run("export")).stdout).filter((l) => l.kind === "task").map((l) => l.task_id)
      const newest = [...created].reverse()
      expect(await ids()).toEqual(newest)
      expect(await ids("--state", "SUCCESS", "--state", "STARTED")).toEqual(newest.filter((id) => id !== "f1"))
      expect(await ids("--name", "multiply_two_numbers", "--limit", "1")).toEqual(newest.filter((id) => id === "s1" || id === "s2").slice(0, 1))
      expect(await ids("--since", "2026-01-02", "--until", "2026-01-03T00:00:00Z")).toEqual(["f1"])
      const table = await run("list")
      expect(table.stdout.split("\n")[0]).toMatch(/^TASK ID\s+STATUS\s+NAME\s+DATE DONE\s+RESULT$/)
      expect(table.stdout).toContain("ZeroDivisionError: division by zero")
    }, 60_000)

    it("group --json prints the group line, then its members", async () => {
      const r = await run("group", "g1", "--json")
      expect(r.code).toBe(0)
      const [group, ...members] = lines(r.stdout)
      expect(group).toEqual({ kind: "group", group_id: "g1", task_ids: ["s1", "f1"], date_done: "2026-01-02T06:00:00.000Z" })
      expect(members.map((m) => [m.task_id, m.status])).toEqual([["s1", "SUCCESS"], ["f1", "FAILURE"]])
      const missing = await run("group", "nope")
      expect(missing.code).not.toBe(0)
      expect(missing.stderr.trim()).toBe("taskmeta: no group nope is stored")
    }, 60_000)

    it("stats --json counts by state and name with the failure rate", async () => {
      const r = await run("stats", "--json")
      expect(r.code).toBe(0)
      expect(lines(r.stdout)).toEqual([{
        kind: "stats",
        tasks: 4,
        groups: 1,
        by_state: { SUCCESS: 2, FAILURE: 1, STARTED: 1 },
        failure_rate: 1 / 3,
        by_name: [
          { name: "multiply_two_numbers", total: 2, by_state: { SUCCESS: 2 }, failure_rate: 0 },
          { name: "divide_two_numbers", total: 1, by_state: { FAILURE: 1 }, failure_rate: 1 },
          { name: "slow", total: 1, by_state: { STARTED: 1 }, failure_rate: null }
        ]
      }])
    }, 60_000)

    it("export prints every task then every group, in import's format", async () => {
      const r = await run("export")
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      // The same lines, tasks then groups; tasks in creation order (on PostgreSQL, id order within a batch).
      expect(sortedLines(r.stdout)).toEqual(sortedLines(INPUT))
      expect(lines(r.stdout).map((l) => l.kind)).toEqual(["task", "task", "task", "task", "group"])
    }, 60_000)

    it("wait returns a ready task, fails on FAILURE and on a timeout with one line", async () => {
      const ok = await run("wait", "s1", "--json")
      expect(ok.code).toBe(0)
      expect(lines(ok.stdout)[0]).toMatchObject({ task_id: "s1", status: "SUCCESS", result: 256 })
      const failed = await run("wait", "f1")
      expect(failed.code).toBe(1)
      expect(failed.stderr.trim()).toBe("taskmeta: task f1 finished FAILURE: ZeroDivisionError: division by zero")
      const slow = await run("wait", "p1", "--timeout", "1s")
      expect(slow.code).toBe(3)
      expect(slow.stderr.trim()).toBe("taskmeta: timed out after 1000 ms waiting for task p1 to be ready")
    }, 60_000)

    it("migrate reports the tables up to date", async () => {
      const r = await run("migrate")
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/tables are up to date/)
    }, 60_000)

    it("forget deletes one record", async () => {
      const r = await run("forget", "p1")
      expect(r.stdout.trim()).toBe("forgot p1")
      expect(lines((await run("get", "p1", "--json")).stdout)[0].status).toBe("PENDING")
      expect((await run("forget", "p1")).stdout.trim()).toBe("p1 was not stored; nothing to forget")
    }, 60_000)

    it("cleanup --dry-run counts, cleanup deletes what is older than --expires", async () => {
      const dry = await run("cleanup", "--dry-run", "--expires", "100000d")
      expect(dry.stdout.trim()).toBe("would delete 0 tasks and 0 groups done more than 100000d ago")
      const count = await run("cleanup", "--dry-run")
      expect(count.stdout.trim()).toBe("would delete 3 tasks and 1 group done more than 1d ago")
      const done = await run("cleanup")
      expect(done.code).toBe(0)
      expect(done.stdout.trim()).toBe("deleted 3 tasks and 1 group done more than 1d ago")
      expect(lines((await run("list", "--json")).stdout)).toEqual([])
    }, 60_000)
  })
}

describe("taskmeta CLI across backends and on bad input", () => {
  it("copy moves every task and group from SQLite to PostgreSQL exactly", async () => {
    const src = `db+sqlite:////${Path.join(dir, "copy.sqlite").replace(/^\//, "")}`
    expect((await cli(["import", "--backend", src], { cwd: dir, input: INPUT })).code).toBe(0)
    const copied = await cli(["copy", "--from", src, "--to", PG_URL, "--schema", copySchema], { cwd: dir })
    expect(copied.stderr).toBe("")
    expect(copied.stdout.trim()).toMatch(/^copied 4 tasks, 1 group and 0 pipeline runs \(5 new, 0 changed, 0 unchanged\) from sqlite .*copy\.sqlite to postgresql:/)
    const exported = await cli(["export", "--backend", PG_URL, "--schema", copySchema], { cwd: dir })
    expect(sortedLines(exported.stdout)).toEqual(sortedLines(INPUT))
  }, 60_000)

  it("import --codec pickle writes Celery's pickled result column, and reads it back unchanged", async () => {
    const file = Path.join(dir, "pickle.sqlite")
    const url = `db+sqlite:////${file.replace(/^\//, "")}`
    const imported = await cli(["import", "--codec", "pickle", "--backend", url], { cwd: dir, input: INPUT })
    expect(imported.code, imported.stderr).toBe(0)
    const parsed = Either.getOrThrow(BackendUrl.parse(url))
    if (parsed._tag !== "Sqlite") throw new Error("not sqlite")
    const rows = await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        sql.unsafe<{ task_id: string; result: Uint8Array }>("SELECT task_id, result FROM celery_taskmeta ORDER BY id")).pipe(
          Effect.provide(Stores.clientLayer(parsed))
        )
    )
    expect(rows.map((r) => [r.task_id, r.result[0]])).toEqual([["s1", 0x80], ["f1", 0x80], ["s2", 0x80], ["p1", 0x80]])
    expect((await cli(["export", "--backend", url], { cwd: dir })).stdout).toBe(INPUT)
  }, 60_000)

  it("a memo bomb and a 100,000-deep JSON row read as typed descriptions; list, get and export print every row (issue 14, findings 2, 3)", async () => {
    const file = Path.join(dir, "hostile.sqlite")
    const url = `db+sqlite:////${file.replace(/^\//, "")}`
    expect((await cli(["import", "--backend", url], { cwd: dir, input: INPUT })).code).toBe(0)
    // a 1 MB string in the memo, referenced 3,000 times (BINUNICODE, BINPUT 0, POP, EMPTY_LIST, MARK, BINGET 0 …, APPENDS, STOP)
    const head = Buffer.from([0x80, 2, 0x58, 0, 0, 0, 0])
    head.writeUInt32LE(1 << 20, 3)
    const bomb = Buffer.concat([
      head,
      Buffer.alloc(1 << 20, "a"),
      Buffer.from([0x71, 0, 0x30, 0x5d, 0x28]),
      Buffer.alloc(6000, Buffer.from([0x68, 0])),
      Buffer.from([0x65, 0x2e])
    ])
    const deep = Buffer.from("[".repeat(100_000) + "]".repeat(100_000))
    const parsed = Either.getOrThrow(BackendUrl.parse(url))
    if (parsed._tag !== "Sqlite") throw new Error("not sqlite")
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) =>
        Effect.forEach([["bomb", bomb], ["deep", deep]] as const, ([id, bytes]) =>
          sql`INSERT INTO celery_taskmeta (task_id, status, result, date_done) VALUES (${id}, 'SUCCESS', ${bytes}, '2026-01-05 00:00:00.000000')`)).pipe(
          Effect.provide(Stores.clientLayer(parsed))
        )
    )
    const expectations = { bomb: { limit: "size", reason: "decoded value larger than 16777216 bytes", size: bomb.length }, deep: { limit: "depth", reason: "nesting deeper than 512", size: deep.length } }
    for (const command of [["list", "--json"], ["export"]]) {
      const r = await cli([...command, "--backend", url], { cwd: dir })
      expect(r.code, r.stderr).toBe(0)
      const printed = lines(r.stdout).filter((l) => l.kind === "task")
      expect(printed.map((l) => l.task_id).sort()).toEqual(["bomb", "deep", "f1", "p1", "s1", "s2"])
      for (const [id, expected] of Object.entries(expectations)) {
        expect(printed.find((l) => l.task_id === id)!.result).toEqual({ __pickle__: "undecodable", column: "result", format: id === "bomb" ? "pickle" : "json", ...expected })
      }
      expect(printed.find((l) => l.task_id === "s1")!.result).toBe(256)
    }
    const one = await cli(["get", "deep", "--json", "--backend", url], { cwd: dir })
    expect(one.code, one.stderr).toBe(0)
    expect(lines(one.stdout)[0].result).toMatchObject({ limit: "depth" })
    // import of such a line: the line's number and the reason, typed, not a stack overflow
    const line = INPUT.split("\n")[0].replace(/"result":[^,]*,/, `"result":${deep.toString()},`)
    const imported = await cli(["import", "--backend", url], { cwd: dir, input: `${line}\n` })
    expect(imported.code).toBe(1)
    expect(imported.stderr).toMatch(/^taskmeta: line 1: invalid JSON: nesting deeper than 512 at position \d+/)
    expect(imported.stderr).not.toContain("internal error")
  }, 120_000)

  it("uses results.sqlite in the working directory by default, and TASKMETA_BACKEND_URL when set", async () => {
    const cwd = tempDir("cli-default")
    try {
      const r = await cli(["import"], { cwd, input: INPUT })
      expect(r.code).toBe(0)
      expect(Fs.existsSync(Path.join(cwd, "results.sqlite"))).toBe(true)
      const viaEnv = await cli(["get", "s1", "--json"], {
        cwd: dir,
        env: { TASKMETA_BACKEND_URL: `sqlite:///${Path.relative(dir, Path.join(cwd, "results.sqlite"))}` }
      })
      expect(lines(viaEnv.stdout)[0]).toMatchObject({ task_id: "s1", status: "SUCCESS", result: 256 })
    } finally {
      Fs.rmSync(cwd, { recursive: true, force: true })
    }
  }, 60_000)

  it("reports errors as one line and a non-zero exit, never a stack trace or a password", async () => {
    // with the documented exit status: 2 usage, 4 unreachable, 1 failed
    const cases: ReadonlyArray<readonly [ReadonlyArray<string>, RegExp, number]> = [
      [["list", "--backend", "redis://app:hunter2@localhost/0"], /^taskmeta: invalid backend URL redis:\/\/app:\*\*\*@localhost\/0: unsupported scheme "redis"/, 2],
      [["stats", "--backend", "postgresql://app:hunter2@127.0.0.1:1/db"], /^taskmeta: cannot open postgresql:\/\/app:\*\*\*@127\.0\.0\.1:1\/db: .*ECONNREFUSED/, 4],
      [["stats", "--backend", "db+postgresql://app@127.0.0.1:1/db?password=hunter2"], /^taskmeta: cannot open db\+postgresql:\/\/app@127\.0\.0\.1:1\/db\?password=\*\*\*: .*ECONNREFUSED/, 4],
      [["list", "--backend", "memory://", "--since", "yesterday-ish"], /^taskmeta: "yesterday-ish" is not a date or a duration/, 2],
      [["import", "--backend", "memory://"], /^taskmeta: line 2: /, 1]
    ]
    for (const [args, message, code] of cases) {
      const r = await cli(args, { cwd: dir, input: `${INPUT.split("\n")[0]}\n{"kind":"task"}\n` })
      expect([args.join(" "), r.code]).toEqual([args.join(" "), code])
      expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1)
      expect(r.stderr).toMatch(message)
      expect(r.stdout + r.stderr).not.toContain("hunter2")
      expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/)
    }
    // a driver code comes with a hint (issue 14: code, message, a hint)
    const refused = await cli(["stats", "--backend", "postgresql://app@127.0.0.1:1/db"], { cwd: dir })
    expect(refused.stderr).toMatch(/ECONNREFUSED.*\(hint: is the database server running, and are the URL's host and port right\?\)$/m)
    // (root ignores file modes, so SQLITE_READONLY is shown on the message alone)
    expect(Failure.hint("cannot forget: Failed to execute statement: attempt to write a readonly database (SQLITE_READONLY)")).toEqual(
      Option.some("the SQLite file or its directory is read-only for this user")
    )
    expect(Failure.hint("line 2: not a task or group line")).toEqual(Option.none())
    const env = await cli(["list"], { cwd: dir, env: { TASKMETA_BACKEND_URL: "postgresql://app:hunter2@127.0.0.1:1/db" } })
    expect(env.code).toBe(4)
    expect(env.stderr).not.toContain("hunter2")
  }, 60_000)
})

describe("taskmeta --version", () => {
  it("prints the version in the CLI's package.json, and nothing else", async () => {
    const { version } = JSON.parse(Fs.readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }
    const run = await cli(["--version"], { cwd: dir })
    expect({ ...run, stdout: run.stdout.trim() }).toEqual({ code: 0, stdout: version, stderr: "" })
  })
})
