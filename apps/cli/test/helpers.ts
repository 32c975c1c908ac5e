import { type ChildProcess, execFile, spawn } from "node:child_process"
import * as http from "node:http"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath, pathToFileURL } from "node:url"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const tsx = Path.join(root, "apps/cli/node_modules/.bin/tsx")

export const CLI = Path.join(root, "apps/cli/src/bin.ts")
export const WORKER = Path.join(root, "apps/worker/src/bin.ts")
export const PG_URL = process.env.TASKMETA_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"
/** The MySQL/MariaDB server (no database): tests make databases of their own. */
export const MYSQL_URL = (process.env.TASKMETA_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306").replace(/\/$/, "")

/** Drops a test's PostgreSQL schema, through a client of the test's own. */
export const dropSchema = (schema: string) => {
  const url = Either.getOrThrow(BackendUrl.parse(PG_URL))
  if (url._tag !== "Postgres") return Promise.resolve()
  return Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
      Effect.provide(Stores.clientLayer(url)),
      Effect.asVoid
    )
  )
}

/** One statement on the MySQL server (its `mysql` database), through a client of the test's own. */
export const mysqlAdmin = (statement: string) => {
  const url = Either.getOrThrow(BackendUrl.parse(`${MYSQL_URL}/mysql`))
  if (url._tag !== "Mysql") return Promise.resolve()
  return Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(statement)).pipe(
      Effect.provide(Stores.clientLayer(url)),
      Effect.asVoid
    )
  )
}

export interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

/** The environment a user's shell would give: no backend URL, no pnpm script context. */
const cleanEnv = (extra: Record<string, string>) => {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === "TASKMETA_BACKEND_URL" || k === "CELERY_RESULT_BACKEND" || k === "INIT_CWD" || k.startsWith("npm_")) continue
    env[k] = v
  }
  return { ...env, NO_COLOR: "1", ...extra }
}

/** Runs `tsx <script> ...args` as a process in `cwd`, workspace packages from their sources (no build needed). */
export const run = (
  script: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly input?: string; readonly env?: Record<string, string> }
): Promise<Run> =>
  new Promise((resolve) => {
    const child = execFile(tsx, ["--conditions=source", script, ...args], {
      cwd: options.cwd,
      env: cleanEnv(options.env ?? {}),
      maxBuffer: 64 * 1024 * 1024,
      timeout: 60_000
    }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === "number" ? error.code : 1
      resolve({ code, stdout, stderr })
    })
    if (options.input !== undefined) child.stdin!.end(options.input)
    else child.stdin!.end()
  })

export const cli = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly input?: string; readonly env?: Record<string, string> }) =>
  run(CLI, args, options)

/** The JSON lines of an output. */
export const lines = (stdout: string): Array<Record<string, unknown>> =>
  stdout.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l) as Record<string, unknown>)

export const tempDir = (label: string) => Fs.mkdtempSync(Path.join(Os.tmpdir(), `taskmeta-${label}-`))

export const schemaName = (label: string) => `tm_${label}_${Math.random().toString(36).slice(2, 8)}`

/**
 * Starts the CLI from its sources as a child process that a test can signal: plain node with tsx as a
 * loader (`--import tsx/esm`). The tsx command itself relays a signal to its child and SIGKILLs a child
 * that does not acknowledge it within 30 ms, which a busy import may not.
 */
export const spawnCli = (args: ReadonlyArray<string>, options: { readonly cwd: string; readonly env?: Record<string, string> }) =>
  spawn(process.execPath, ["--import", pathToFileURL(Path.join(root, "apps/cli/node_modules/tsx/dist/esm/index.mjs")).href, "--conditions=source", CLI, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env ?? {}),
    stdio: ["pipe", "pipe", "pipe"]
  })

/** Starts `taskmeta serve …` in `cwd` and resolves once it prints its address. */
export const startServe = (cwd: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ child: ChildProcess; port: number; output: () => string }>((resolve, reject) => {
    const child = spawn(tsx, ["--conditions=source", CLI, "serve", "--port", "0", ...args], {
      cwd,
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

export const stopServe = (child: ChildProcess) =>
  new Promise((resolve) => {
    child.once("exit", resolve)
    child.kill("SIGTERM")
  })

/** One HTTP request to a local server; its status and body. */
export const request = (
  port: number,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: string
) =>
  new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      let text = ""
      res.setEncoding("utf8")
      res.on("data", (c: string) => (text += c))
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }))
    }).on("error", reject)
    req.end(body)
  })

export const get = (port: number, path: string, headers: Record<string, string> = {}) => request(port, "GET", path, headers)

/** Whether a PostgreSQL schema exists, and its relations (tables, sequences, indexes), through a client of the test's own. */
export const pgSchema = (schema: string) => {
  const pg = Either.getOrThrow(BackendUrl.parse(PG_URL))
  if (pg._tag !== "Postgres") throw new Error(`not a PostgreSQL URL: ${PG_URL}`)
  return Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) =>
      Effect.all({
        exists: Effect.map(sql`SELECT 1 FROM pg_namespace WHERE nspname = ${schema}`, (rows) => rows.length === 1),
        relations: Effect.map(
          sql<{ relname: string }>`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ${schema} ORDER BY 1`,
          (rows) => rows.map((r) => r.relname)
        )
      })).pipe(Effect.provide(Stores.clientLayer(pg)))
  )
}
