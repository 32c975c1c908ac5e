import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import * as Redacted from "effect/Redacted"
import * as Pg from "pg"

export const PG_URL = process.env.TASKMETA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"
export const pgUrl = Redacted.make(PG_URL)

export const suffix = () => Math.random().toString(36).slice(2, 10)

export const tempDir = (label: string) => fs.mkdtempSync(path.join(os.tmpdir(), `taskmeta-${label}-`))

export const removeDir = (dir: string) => fs.rmSync(dir, { recursive: true, force: true })

/** Runs a statement on a fresh connection (outside the code under test). */
export const pgQuery = async (text: string, params: Array<unknown> = []) => {
  const client = new Pg.Client({ connectionString: PG_URL })
  await client.connect()
  try {
    return await client.query(text, params)
  } finally {
    await client.end()
  }
}

export const dropSchema = (schema: string) => pgQuery(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)

import { spawn } from "node:child_process"
import { fileURLToPath } from "node:url"

const here = path.dirname(fileURLToPath(import.meta.url))
const TSX = path.resolve(here, "../../../node_modules/.bin/tsx")

/** Runs `test/scripts/<script>` under tsx in a child process (workspace packages from their sources). */
export const runScript = (script: string, args: Array<string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(TSX, ["--conditions=source", path.join(here, "scripts", script), ...args], { stdio: ["ignore", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("close", (code) => resolve({ code, stdout, stderr }))
  })
