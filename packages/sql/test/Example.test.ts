/**
 * `examples/own-client.ts` (the README's "hand in your own client" program)
 * runs as a user would run it, against the test database.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { dropSchema, PG_URL, suffix } from "./helpers.js"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const schema = `tm_example_${suffix()}`
afterAll(() => dropSchema(schema))

const run = (file: string, env: Record<string, string>) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(path.join(root, "node_modules/.bin/tsx"), ["--conditions=source", path.join(root, file)], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (d) => (stdout += d))
    child.stderr.on("data", (d) => (stderr += d))
    child.on("exit", (code) => resolve({ code, stdout, stderr }))
  })

describe("examples", () => {
  it("own-client.ts stores, reads and browses through the user's PgClient", async () => {
    const result = await run("examples/own-client.ts", { DATABASE_URL: PG_URL, TASKMETA_SCHEMA: schema })
    expect(result.code, result.stderr).toBe(0)
    expect(result.stdout).toContain(`task-1: SUCCESS {"sum":3}`)
    expect(result.stdout).toContain("stored tasks: 1")
    expect(result.stdout).toContain("listed task-1")
  }, 60_000)
})
