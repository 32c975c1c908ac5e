/**
 * The `taskmeta` CLI, driven as a process against databases a real Python
 * Celery 5.2 wrote (`celery_interop.py write`): one SQLite file and one
 * PostgreSQL schema. What the CLI prints (`export`, `get --json`,
 * `group --json`, `list --json`, `stats --json`) is checked field by field
 * against what Celery's own `get_task_meta` / `restore_group` read back, with
 * the mapping of `packages/sql/test/celery/harness.ts` (tuples and sets become
 * arrays, big integers keep every digit, exceptions become the
 * `{exc_type, exc_message, exc_module}` envelope, `date_done` is ISO-8601 UTC
 * to the microsecond Celery wrote, for READY states). `serve` shows the same.
 *
 * The other direction too: `import --codec pickle` and
 * `copy --encoding pickle` write rows Celery reads back equal.
 *
 * Celery's PostgreSQL URL carries a password (trust authentication ignores
 * it), which Celery pickles into its group row; the CLI gets the same URL. The
 * password must appear in no CLI output.
 *
 * Each CLI process costs seconds to start, so the checks are batched: one
 * `export` covers every task, a few `get --json` run side by side.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Path from "node:path"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Json from "@taskmeta/schema/Json"
import * as Harness from "../../../packages/sql/test/celery/harness.js"
import * as Crypto from "node:crypto"
import { cli as runCli, get as httpGet, PG_URL, pgSchema, type Run, schemaName, startServe, stopServe, tempDir } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

const SECRET = `Pw-${Math.random().toString(36).slice(2, 10)}-s3cr3t`

/** The server's URL with the password set (`postgresql://postgres:SECRET@127.0.0.1:5432/test`). */
const PG_WITH_PASSWORD = (() => {
  const url = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))
  url.password = SECRET
  return `postgresql:${url.href.slice("http:".length)}`
})()

/** Celery's SQLAlchemy URL for a schema. */
const celeryPg = (schema: string) => `db+${PG_WITH_PASSWORD}?options=-csearch_path%3D${schema}`
/** Celery's and taskmeta's URL for an absolute SQLite path (`db+sqlite:////tmp/…`). */
const sqliteUrl = (file: string) => `db+sqlite:///${file}`

const dir = tempDir("cli-celery")
const schemas: Array<string> = []

/** Everything any CLI run printed, for the password check at the end. */
const printed: Array<string> = []

const cli = async (args: ReadonlyArray<string>, input?: string): Promise<Run> => {
  const r = await runCli(args, input === undefined ? { cwd: dir } : { cwd: dir, input })
  printed.push(r.stdout, r.stderr)
  return r
}

const pgUrl = Either.getOrThrow(BackendUrl.parse(PG_URL))

const pgQuery = (text: string, values: ReadonlyArray<unknown> = [], schema?: string) =>
  pgUrl._tag !== "Postgres"
    ? Promise.reject(new Error(`${PG_URL} is not a PostgreSQL URL`))
    : Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text, values)).pipe(
        Effect.provide(Stores.clientLayer(pgUrl, schema === undefined ? {} : { tables: { schema } })),
        Effect.asVoid
      )
    )

const freshSchema = async (label: string) => {
  const schema = schemaName(label)
  schemas.push(schema)
  await pgQuery(`CREATE SCHEMA "${schema}"`)
  return schema
}

afterAll(async () => {
  for (const schema of schemas) await pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
  Fs.rmSync(dir, { recursive: true, force: true })
})

/**
 * What a read-only open must leave as it was: the SQLite file's bytes and the
 * files beside it, or the PostgreSQL schema (`pgSchema`).
 */
const snapshot = async (s: { readonly schema?: string | undefined; readonly celeryUrl: string }) => {
  if (s.schema === undefined) {
    const file = s.celeryUrl.replace(/^db\+sqlite:\/\//, "")
    const bytes = Crypto.createHash("sha256").update(Fs.readFileSync(file)).digest("hex")
    return { bytes, files: Fs.readdirSync(Path.dirname(file)).filter((f) => f.startsWith(Path.basename(file))).sort() }
  }
  return pgSchema(s.schema)
}

const harness = <A>(effect: Effect.Effect<A, Harness.HarnessError>) => Effect.runPromise(effect)

/** JSON lines, integers beyond 2^53 as `bigint`. */
const jsonLines = (stdout: string): Array<Record<string, Json.Json>> =>
  stdout.split("\n").filter((l) => l.trim() !== "").map((l) => Either.getOrThrow(Json.parse(l)) as Record<string, Json.Json>)

const TASK_KEYS = ["kind", "task_id", "status", "result", "traceback", "date_done", "name", "args", "kwargs", "worker", "retries", "queue"]

/** The task line the CLI should print for what Celery's `get_task_meta` read. */
const expectedLine = (meta: Harness.CeleryMeta) => {
  const v = Harness.celeryView(meta)
  return {
    kind: "task",
    task_id: v.taskId,
    status: v.status,
    result: v.result,
    traceback: v.traceback,
    date_done: v.dateDone,
    name: v.name,
    args: v.args,
    kwargs: v.kwargs,
    worker: v.worker,
    retries: v.retries,
    queue: v.queue
  }
}

/** ISO-8601 UTC as taskmeta prints it: three fraction digits, or six when there are microseconds. */
const ISO_MS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(\d{3})?Z$/

interface Written {
  readonly celery: Harness.CeleryOutput
  /** Labels in the order Celery wrote them. */
  readonly labels: ReadonlyArray<string>
  readonly id: (label: string) => string
  readonly groupId: string
  readonly members: ReadonlyArray<string>
  /** What Celery reads for the group member that never ran. */
  readonly neverRan: Harness.CeleryMeta
  /** `export`'s output, once the export test ran. */
  exported?: string
}

interface Fixture {
  readonly label: string
  readonly secret: boolean
  /** Creates the (empty) database, returns Celery's URL and the CLI's arguments for it. */
  readonly prepare: () => Promise<{ readonly celeryUrl: string; readonly args: ReadonlyArray<string>; readonly schema?: string }>
}

const fixtures: ReadonlyArray<Fixture> = [
  {
    label: "SQLite",
    secret: false,
    prepare: async () => {
      const file = Path.join(dir, "celery.sqlite")
      return { celeryUrl: sqliteUrl(file), args: ["--backend", sqliteUrl(file)] }
    }
  },
  {
    label: "PostgreSQL",
    secret: true,
    prepare: async () => {
      const schema = await freshSchema("celery")
      return { celeryUrl: celeryPg(schema), args: ["--backend", PG_WITH_PASSWORD, "--schema", schema], schema }
    }
  }
]

const state = new Map<string, Written & { readonly celeryUrl: string; readonly args: ReadonlyArray<string>; readonly schema?: string | undefined }>()

const TIMEOUT = 90_000

for (const fixture of fixtures) {
  describe.runIf(has("celery")).sequential(`taskmeta CLI on a ${fixture.label} database Python Celery wrote ${tag("celery")}`, () => {
    const get = () => {
      const s = state.get(fixture.label)
      if (s === undefined) throw new Error("Celery did not write the database")
      return s
    }
    const run = (...args: Array<string>) => cli([...args, ...get().args])

    beforeAll(async () => {
      const { args, celeryUrl, schema } = await fixture.prepare()
      const celery = await harness(Harness.write(celeryUrl))
      const labels = Object.keys(celery.tasks)
      const [[groupId, members]] = Object.entries(celery.groups)
      const neverRanId = members![2]
      const read = await harness(Harness.read(celeryUrl, { tasks: [neverRanId] }))
      state.set(fixture.label, {
        celery,
        labels,
        id: (label) => celery.tasks[label].task_id,
        groupId,
        members: members!,
        neverRan: read.tasks[neverRanId],
        celeryUrl,
        args,
        schema
      })
    }, TIMEOUT)

    it("export prints every task and the group as Celery's get_task_meta / restore_group read them", async () => {
      const s = get()
      const r = await run("export")
      expect(r.stderr).toBe("")
      expect(r.code).toBe(0)
      s.exported = r.stdout
      const out = jsonLines(r.stdout)
      const tasks = out.filter((l) => l.kind === "task")
      // every task, in the order Celery stored them, field by field
      expect(tasks.map((t) => t.task_id)).toEqual(s.labels.map(s.id))
      s.labels.forEach((label, i) => {
        expect(Object.keys(tasks[i])).toEqual(TASK_KEYS)
        expect([label, tasks[i]]).toEqual([label, expectedLine(s.celery.tasks[label])])
      })
      // the group: members in Celery's order, saved at a millisecond ISO date
      const groups = out.filter((l) => l.kind === "group")
      expect(groups).toEqual([{ kind: "group", group_id: s.groupId, task_ids: s.members, date_done: expect.stringMatching(ISO_MS) }])
      expect(out.map((l) => l.kind)).toEqual([...s.labels.map(() => "task"), "group"])

      // The mapping itself, spelled out for a few.
      const line = (label: string) => tasks[s.labels.indexOf(label)]
      expect(line("success-tuple").result).toEqual([1, "a", null])
      expect(line("success-set").result).toEqual([1, 2, 3])
      expect(line("success-bytes").result).toEqual({ __pickle__: "bytes", base64: "AAFieXRlc/8=" })
      expect(line("success-text").result).toBe("héllo ☃ 𝄞 日本")
      expect(line("failure")).toMatchObject({
        status: "FAILURE",
        result: { exc_type: "ValueError", exc_message: ["boom ☃", 42], exc_module: "builtins" },
        traceback: "Traceback (most recent call last):\n  File \"tasks.py\", line 3, in boom\nValueError: boom ☃",
        date_done: expect.stringMatching(ISO_MS)
      })
      expect(line("failure-custom").result).toEqual({ exc_type: "Boom", exc_message: ["custom"], exc_module: "__main__" })
      expect(line("revoked")).toMatchObject({
        result: { exc_type: "TaskRevokedError", exc_message: ["terminated"], exc_module: "celery.exceptions" },
        date_done: expect.stringMatching(ISO_MS)
      })
      for (const label of ["retry", "started", "progress"]) expect([label, line(label).date_done]).toEqual([label, null])
      expect(line("extended")).toMatchObject({
        name: "multiply_two_numbers", args: [16, 16], kwargs: { scale: 2, label: "ünï" }, worker: "celery@worker-1", retries: 2, queue: "celery"
      })
      // Big integers with every digit in the JSON text.
      expect(r.stdout).toContain(`"result":18446744073709551616,`)
      expect(r.stdout).toContain(`"result":-1180591620717411303424,`)
      expect(r.stdout).toContain(`"result":{"big":1000000000000000000000000000000},`)
      expect(r.stdout).toContain(`"result":[1208925819614629174706176,"ok"],`)
      expect(r.stdout).toContain(`"args":[1180591620717411303424,-18446744073709551616,0.1,`)
      expect(r.stdout).toContain(`"kwargs":{"big":-100000000000000000000,`)
    }, TIMEOUT)

    it("get --json prints single tasks as Celery reads them", async () => {
      const s = get()
      const labels = ["success-big", "failure", "extended-big", "retry"]
      const runs = await Promise.all(labels.map((label) => run("get", s.id(label), "--json")))
      labels.forEach((label, i) => {
        expect([label, runs[i].code, runs[i].stderr]).toEqual([label, 0, ""])
        const out = jsonLines(runs[i].stdout)
        expect(out).toHaveLength(1)
        expect(Object.keys(out[0])).toEqual(TASK_KEYS)
        expect([label, out[0]]).toEqual([label, expectedLine(s.celery.tasks[label])])
      })
      expect(runs[0].stdout).toContain(`"result":18446744073709551616,`)
      expect(jsonLines(runs[1].stdout)[0].date_done).toMatch(ISO_MS)
      expect(runs[2].stdout).toContain(`"worker":"celery@wörker","retries":0,"queue":"q-ü"}`)
    }, TIMEOUT)

    it("group --json prints the group, then its members in restore_group's order", async () => {
      const s = get()
      const r = await run("group", s.groupId, "--json")
      expect([r.code, r.stderr]).toEqual([0, ""])
      const [group, ...members] = jsonLines(r.stdout)
      expect(group).toEqual({ kind: "group", group_id: s.groupId, task_ids: s.members, date_done: expect.stringMatching(ISO_MS) })
      expect(members.map((m) => m.task_id)).toEqual(s.members)
      expect(members).toEqual([
        expectedLine(s.celery.tasks["success-int"]),
        expectedLine(s.celery.tasks["failure"]),
        expectedLine(s.neverRan)
      ])
      expect(members.map((m) => m.status)).toEqual(["SUCCESS", "FAILURE", "PENDING"])
    }, TIMEOUT)

    it("list --json lists every task newest first; stats --json counts them by state and name", async () => {
      const s = get()
      const [listed, stats] = await Promise.all([run("list", "--json"), run("stats", "--json")])
      expect([listed.code, listed.stderr, stats.code, stats.stderr]).toEqual([0, "", 0, ""])
      const newestFirst = [...s.labels].reverse()
      expect(jsonLines(listed.stdout)).toEqual(newestFirst.map((label) => expectedLine(s.celery.tasks[label])))

      const metas = s.labels.map((label) => s.celery.tasks[label])
      const count = (items: ReadonlyArray<Harness.CeleryMeta>) => {
        const out: Record<string, number> = {}
        for (const m of items) out[m.status] = (out[m.status] ?? 0) + 1
        return out
      }
      // FAILURE among the finished: SUCCESS, FAILURE and REVOKED
      const finished = (c: Record<string, number>) => (c.SUCCESS ?? 0) + (c.FAILURE ?? 0) + (c.REVOKED ?? 0)
      const rate = (c: Record<string, number>) => finished(c) === 0 ? null : (c.FAILURE ?? 0) / finished(c)
      const byState = count(metas)
      expect(byState).toEqual({ SUCCESS: 18, FAILURE: 2, RETRY: 1, STARTED: 1, REVOKED: 1, PROGRESS: 1 })
      const names = Array.from(new Set(metas.map((m) => m.name)))
      const [line] = jsonLines(stats.stdout)
      const byName = (line.by_name as Array<Record<string, Json.Json>>).slice()
      const key = (e: { readonly name?: unknown }) => String(e.name)
      expect({ ...line, by_name: byName.sort((a, b) => key(a).localeCompare(key(b))) }).toEqual({
        kind: "stats",
        tasks: metas.length,
        groups: 1,
        by_state: byState,
        failure_rate: rate(byState),
        by_name: names.map((name) => {
          const c = count(metas.filter((m) => m.name === name))
          return { name, total: metas.filter((m) => m.name === name).length, by_state: c, failure_rate: rate(c) }
        }).sort((a, b) => key(a).localeCompare(key(b)))
      })
      expect(line.failure_rate).toBeCloseTo(2 / 21)
    }, TIMEOUT)

    it("serve without --allow-writes: the tasks Celery wrote, no pipeline runs (no tables for them), nothing created", async () => {
      const s = get()
      const before = await snapshot(s)
      const server = await startServe(dir, [...s.args])
      try {
        // the store has no pipeline tables: a warning, and the results are served
        expect(server.output()).toContain("no pipeline tables in the store")
        const summary = await httpGet(server.port, "/api/summary")
        expect(summary.status).toBe(200)
        expect(JSON.parse(summary.body)).toMatchObject({ tasks: s.labels.length, writable: false })
        const task = await httpGet(server.port, `/api/tasks/${encodeURIComponent(s.id("success-text"))}`)
        expect(task.status).toBe(200)
        const served = JSON.parse(task.body).task
        expect(served).toMatchObject({ taskId: s.id("success-text"), status: "SUCCESS", result: JSON.stringify("héllo ☃ 𝄞 日本") })
        // date_done as Celery wrote it, to the microsecond (the CLI's JSON lines print the same)
        expect(served.dateDone).toBe(expectedLine(s.celery.tasks["success-text"]).date_done)
        const runs = await httpGet(server.port, "/api/pipelines/runs")
        expect(runs.status).toBe(200)
        expect(JSON.parse(runs.body).runs).toEqual([])
      } finally {
        await stopServe(server.child)
        printed.push(server.output())
      }
      expect(await snapshot(s)).toEqual(before)
    }, TIMEOUT)

    if (fixture.secret) {
      it("Celery's group row holds the URL password; a group pickle stored as a result prints without it", async () => {
        const s = get()
        const raw = await harness(Harness.raw(s.celeryUrl, { groups: [s.groupId], schema: s.schema }))
        expect(Buffer.from(raw.groups[s.groupId]!, "base64").toString("latin1")).toContain(`postgres:${SECRET}@`)
        // As a chord header would be: Celery's GroupResult pickle as a task's result.
        await pgQuery(
          `INSERT INTO celery_taskmeta (id, task_id, status, result) VALUES (nextval('task_id_sequence'), $1, 'SUCCESS', $2)`,
          ["group-as-result", Buffer.from(raw.groups[s.groupId]!, "base64")],
          s.schema
        )
        const r = await run("get", "group-as-result", "--json")
        expect([r.code, r.stderr]).toEqual([0, ""])
        const [line] = jsonLines(r.stdout)
        expect(line).toMatchObject({ task_id: "group-as-result", status: "SUCCESS", date_done: null })
        expect(r.stdout).toContain("_unpickle_appattr")
        expect(r.stdout).toContain(s.groupId)
        expect(r.stdout).toContain("postgres:***@")
        expect(r.stdout).not.toContain(SECRET)
      }, TIMEOUT)
    }
  })
}

describe.runIf(has("celery")).sequential(`taskmeta CLI writing for Celery (Celery-compatible pickles) ${tag("celery")}`, () => {
  const source = () => {
    const sqlite = state.get("SQLite")
    const pg = state.get("PostgreSQL")
    if (sqlite === undefined || pg === undefined) throw new Error("Celery did not write the databases")
    return { sqlite, pg }
  }

  /** Celery reads back what it wrote (through the mapping: tuples, sets and bytes come back as taskmeta reads them). */
  const celeryReadsBackEqual = async (celeryUrl: string, s: Written) => {
    const ids = s.labels.map(s.id)
    const read = await harness(Harness.read(celeryUrl, { tasks: ids, groups: [s.groupId] }))
    for (const label of s.labels) {
      expect([label, Harness.celeryView(read.tasks[s.id(label)])]).toEqual([label, Harness.celeryView(s.celery.tasks[label])])
    }
    expect(read.groups[s.groupId]).toEqual(s.members)
    return read
  }

  it("import --codec pickle of an export of Celery's SQLite file into PostgreSQL: Celery reads it back equal", async () => {
    const { sqlite } = source()
    const exported = sqlite.exported ?? (await cli(["export", ...sqlite.args])).stdout
    const schema = await freshSchema("celery_import")
    const r = await cli(["import", "--codec", "pickle", "--backend", PG_WITH_PASSWORD, "--schema", schema], exported)
    expect([r.code, r.stderr]).toEqual([0, ""])
    expect(r.stdout.trim()).toMatch(new RegExp(`^imported ${sqlite.labels.length} tasks, 1 group and 0 pipeline runs \\(`))
    const read = await celeryReadsBackEqual(celeryPg(schema), sqlite)
    // What differs in Python: a tuple or a set comes back as a list, bytes as taskmeta's marker object.
    expect(read.tasks[sqlite.id("success-tuple")].result).toEqual([1, "a", null])
    expect(read.tasks[sqlite.id("success-set")].result).toEqual([1, 2, 3])
    expect(read.tasks[sqlite.id("success-bytes")].result).toEqual({ __pickle__: "bytes", base64: "AAFieXRlc/8=" })
    // … while big integers and exceptions are Python's own again.
    expect(read.tasks[sqlite.id("success-big")].result).toEqual({ $int: "18446744073709551616" })
    expect(read.tasks[sqlite.id("failure")].result).toEqual({
      $exception: { exc_type: "ValueError", exc_module: "builtins", exc_message: { $tuple: ["boom ☃", 42] } }
    })
  }, TIMEOUT)

  it("copy --encoding pickle from Celery's PostgreSQL schema into a SQLite file: Celery reads it back equal", async () => {
    const { pg } = source()
    const file = Path.join(dir, "copied.sqlite")
    const r = await cli(["copy", "--from", PG_WITH_PASSWORD, "--schema", pg.schema!, "--to", sqliteUrl(file), "--encoding", "pickle"])
    expect([r.code, r.stderr]).toEqual([0, ""])
    expect(r.stdout.trim()).toMatch(
      new RegExp(`^copied \\d+ tasks, 1 group and 0 pipeline runs \\([^)]*\\) from postgresql://postgres:\\*\\*\\*@[^ ]+ to sqlite ${file.replace(/[.]/g, "\\.")}$`)
    )
    await celeryReadsBackEqual(sqliteUrl(file), pg)
  }, TIMEOUT)

  it("no CLI run printed the password Celery's URL carries", () => {
    expect(printed.length).toBeGreaterThan(20)
    for (const text of printed) expect(text).not.toContain(SECRET)
  })
})
