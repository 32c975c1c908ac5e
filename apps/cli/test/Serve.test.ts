/**
 * `taskmeta serve` as a process: the settings it refuses (a non-loopback
 * address without credentials, contradicting flags), credentials on a
 * non-loopback bind, and a PostgreSQL URL whose password shows up in none
 * of its output, debug logs included. The API itself is tested in
 * `@taskmeta/http`.
 */
import * as SqlClient from "@effect/sql/SqlClient"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import { type ChildProcess, spawn } from "node:child_process"
import * as Fs from "node:fs"
import * as http from "node:http"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { CLI, cli, PG_URL, tempDir } from "./helpers.js"

const dir = tempDir("serve")
afterAll(() => Fs.rmSync(dir, { recursive: true, force: true }))

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const tsx = Path.join(root, "node_modules", ".bin", "tsx")

/** Starts `taskmeta serve …` and resolves once it prints its address. */
const start = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ child: ChildProcess; port: number; output: () => string }>((resolve, reject) => {
    const child = spawn(tsx, ["--conditions=source", CLI, "serve", "--port", "0", ...args], {
      cwd: dir,
      env: { ...process.env, TASKMETA_BACKEND_URL: "", ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let output = ""
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8")
      const match = /http:\/\/[^:]+:(\d+)\//.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ child, port: Number(match[1]), output: () => output })
      }
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code) => reject(new Error(`serve exited ${code}: ${output}`)))
  })

const stop = (child: ChildProcess) =>
  new Promise((resolve) => {
    child.once("exit", resolve)
    child.kill("SIGTERM")
  })

const get = (port: number, path: string, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    http.get({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (body += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }))
    }).on("error", reject)
  })

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
    const server = await start(["--host", "0.0.0.0", "--backend", "memory://"], { TASKMETA_SERVE_AUTH: "ops:open-sesame" })
    try {
      expect(server.output()).toContain("credentials required, read-only")
      expect((await get(server.port, "/api/summary")).status).toBe(401)
      const auth = { authorization: `Basic ${Buffer.from("ops:open-sesame").toString("base64")}` }
      const ok = await get(server.port, "/api/summary", auth)
      expect(ok.status).toBe(200)
      expect(JSON.parse(ok.body).kind).toBe("memory")
      expect(server.output()).not.toContain("open-sesame")
    } finally {
      await stop(server.child)
    }
  }, 60_000)

  it("never prints the backend URL's password, debug logs included", async () => {
    const url = new URL(PG_URL)
    url.password = "pw-Serve-Never-Shown"
    const server = await start(["--backend", url.toString(), "--schema", `tm_serve_${process.pid}`], {
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
      await stop(server.child)
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
