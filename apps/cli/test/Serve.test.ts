/**
 * `taskmeta serve` as a process: the settings it refuses (a non-loopback
 * address without credentials, contradicting flags), credentials on a
 * non-loopback bind, and a PostgreSQL URL whose password shows up in none
 * of its output, debug logs included. Without `--allow-writes` it opens the
 * store read-only as the read commands do: an empty schema, a missing one or
 * a missing SQLite file fails with their one line and creates nothing, and
 * an existing store is served, its write endpoints refused. The API itself
 * is tested in `@taskmeta/http`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { cli, dropSchema, get, PG_URL, pgSchema, request, schemaName, startServe, stopServe, tempDir } from "./helpers.js"

const dir = tempDir("serve")
afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))

/** One line on stderr matching `message`, nothing on stdout, exit status 1 (as the read commands fail). */
const expectOneLineFailure = (r: { code: number; stdout: string; stderr: string }, message: RegExp) => {
  expect(r.code, r.stderr).toBe(1)
  expect(r.stdout).toBe("")
  expect(r.stderr.trim().split("\n"), r.stderr).toHaveLength(1)
  expect(r.stderr.trim()).toMatch(message)
}

describe("taskmeta serve", () => {
  it("refuses a non-loopback address without credentials, and contradicting or malformed credentials", async () => {
    const open = await cli(["serve", "--host", "0.0.0.0", "--backend", "memory://"], { cwd: dir })
    expect(open.code).toBe(1)
    expect(open.stderr.trim().split("\n")).toEqual([
      "taskmeta: serving 0.0.0.0 needs credentials: --auth user:password (or TASKMETA_SERVE_AUTH), or --no-auth to serve it open on purpose"
    ])
    const both = await cli(["serve", "--auth", "a:b", "--no-auth", "--backend", "memory://"], { cwd: dir })
    expect(both.code).toBe(1)
    expect(both.stderr).toContain("--auth and --no-auth contradict each other")
    const malformed = await cli(["serve", "--auth", "nocolon", "--backend", "memory://"], { cwd: dir })
    expect(malformed.code).toBe(1)
    expect(malformed.stderr).toContain("--auth must be user:password")
    expect(malformed.stderr).not.toContain("nocolon")
  }, 60_000)

  it("on a non-loopback address with credentials, every request needs them", async () => {
    const server = await startServe(dir, ["--host", "0.0.0.0", "--backend", "memory://"], { TASKMETA_SERVE_AUTH: "ops:open-sesame" })
    try {
      expect(server.output()).toContain("credentials required, read-only")
      expect((await get(server.port, "/api/summary")).status).toBe(401)
      const auth = { authorization: `Basic ${Buffer.from("ops:open-sesame").toString("base64")}` }
      const ok = await get(server.port, "/api/summary", auth)
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body).kind).toBe("memory")
      expect(server.output()).not.toContain("open-sesame")
    } finally {
      await stopServe(server.child)
    }
  }, 60_000)

  it("never prints the backend URL's password, debug logs included", async () => {
    const url = new URL(PG_URL)
    url.password = "pw-Serve-Never-Shown"
    // A new schema: --allow-writes creates its tables (without it, serve would only read).
    const server = await startServe(dir, ["--backend", url.toString(), "--schema", `tm_serve_${process.pid}`, "--allow-writes"], {
      TASKMETA_LOG_LEVEL: "debug"
    })
    try {
      const summary = await get(server.port, "/api/summary")
      expect(summary.status).toBe(200)
      expect(JSON.parse(summary.body).kind).toBe("postgres")
      for (const path of ["/", "/api/summary", "/api/tasks", "/metrics", "/api/openapi.json"]) {
        const reply = await get(server.port, path)
        expect(reply.body).not.toContain("pw-Serve-Never-Shown")
        expect(reply.body).not.toContain(url.host)
      }
    } finally {
      await stopServe(server.child)
    }
    expect(server.output()).not.toContain("pw-Serve-Never-Shown")
    const pg = Either.getOrThrow(BackendUrl.parse(PG_URL))
    if (pg._tag === "Postgres") {
      await Effect.runPromise(
        Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "tm_serve_${process.pid}" CASCADE`)).pipe(
          Effect.provide(Stores.clientLayer(pg))
        )
      )
    }
  }, 60_000)
})

describe("taskmeta serve without --allow-writes opens the store read-only", () => {
  const empty = schemaName("serve_empty")
  const missing = schemaName("serve_missing")
  const migrated = schemaName("serve_ro")
  afterAll(async () => {
    for (const schema of [empty, missing, migrated]) await dropSchema(schema)
  })

  it("an empty PostgreSQL schema: the read commands' one line, exit 1, nothing created", async () => {
    const pg = Either.getOrThrow(BackendUrl.parse(PG_URL))
    if (pg._tag !== "Postgres") throw new Error(`not a PostgreSQL URL: ${PG_URL}`)
    await Effect.runPromise(
      Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`CREATE SCHEMA "${empty}"`)).pipe(
        Effect.provide(Stores.clientLayer(pg))
      )
    )
    const r = await cli(["serve", "--port", "0", "--backend", PG_URL, "--schema", empty], { cwd: dir })
    expectOneLineFailure(
      r,
      new RegExp(
        `^taskmeta: cannot open postgresql://\\S+: missing tables celery_taskmeta, celery_tasksetmeta in schema "${empty}" ` +
          "\\(hint: `taskmeta migrate` with the same --backend and --schema creates them \\(reads never do\\)\\)$"
      )
    )
    expect(await pgSchema(empty)).toEqual({ exists: true, relations: [] })
  }, 120_000)

  it("a schema that does not exist: says so, exit 1, the schema is not created", async () => {
    const r = await cli(["serve", "--port", "0", "--backend", PG_URL, "--schema", missing], { cwd: dir })
    expectOneLineFailure(r, new RegExp(`^taskmeta: cannot open postgresql://\\S+: schema "${missing}" does not exist `))
    expect(await pgSchema(missing)).toEqual({ exists: false, relations: [] })
  }, 60_000)

  it("a SQLite path where no file is: names the path, exit 1, no file created", async () => {
    const sub = Fs.mkdtempSync(Path.join(dir, "sqlite-"))
    const r = await cli(["serve", "--port", "0", "--backend", "db+sqlite:///typo.sqlite"], { cwd: sub })
    expectOneLineFailure(
      r,
      new RegExp(`^taskmeta: cannot open sqlite typo\\.sqlite: no SQLite database at ${Path.join(sub, "typo.sqlite").replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} `)
    )
    expect(Fs.readdirSync(sub)).toEqual([])
  }, 60_000)

  it("an existing store: serves its tasks, refuses forget and cleanup (403), changes nothing", async () => {
    const at = ["--backend", PG_URL, "--schema", migrated]
    expect((await cli(["migrate", ...at], { cwd: dir })).code).toBe(0)
    const input = `{"kind":"task","task_id":"t1","status":"SUCCESS","result":256,"traceback":null,` +
      `"date_done":"2020-01-01T00:00:00.000Z","name":"multiply_two_numbers","args":[16,16],"kwargs":{},"worker":"celery@host","retries":0,"queue":"celery"}\n`
    const imported = await cli(["import", ...at], { cwd: dir, input })
    expect(imported.code, imported.stderr).toBe(0)
    const before = await pgSchema(migrated)
    const server = await startServe(dir, at)
    try {
      expect(server.output()).toContain("no credentials, read-only")
      const summary = await get(server.port, "/api/summary")
      expect(summary.status).toBe(200)
      expect(JSON.parse(summary.body)).toMatchObject({ kind: "postgres", tasks: 1, writable: false })
      const tasks = await get(server.port, "/api/tasks")
      expect(JSON.parse(tasks.body).tasks.map((t: { taskId: string }) => t.taskId)).toEqual(["t1"])
      expect((await get(server.port, "/api/pipelines/runs")).status).toBe(200)
      const sameOrigin = { "sec-fetch-site": "same-origin", "content-type": "application/json" }
      const forget = await request(server.port, "DELETE", "/api/tasks/t1", sameOrigin)
      expect(forget.status).toBe(403)
      expect(forget.body).toContain("the server is read-only")
      const cleanup = await request(server.port, "POST", "/api/cleanup", sameOrigin, JSON.stringify({ dryRun: false }))
      expect(cleanup.status).toBe(403)
      const dry = await request(server.port, "POST", "/api/cleanup", sameOrigin, JSON.stringify({ dryRun: true }))
      expect(dry.status).toBe(200)
      expect(JSON.parse(dry.body)).toMatchObject({ dryRun: true, tasks: 1 })
    } finally {
      await stopServe(server.child)
    }
    expect(await pgSchema(migrated)).toEqual(before)
    const still = await cli(["get", "t1", "--json", ...at], { cwd: dir })
    expect(JSON.parse(still.stdout).status).toBe("SUCCESS")
  }, 120_000)
})
