/**
 * Tests of the test setup (`testenv/`): each runs a nested vitest from the
 * repository root, as `pnpm test` does, with the environment changed the way
 * a machine without the dependency would be, and reads its exit status and
 * closing lines.
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const VITEST = path.join(ROOT, "node_modules/vitest/vitest.mjs")

interface Run {
  readonly code: number | null
  readonly output: string
}

/** The parent run's findings must not leak into the nested run: it probes on its own. */
const cleanEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env }
  for (const key of Object.keys(env)) {
    if (key.startsWith("TASKMETA_TEST_") || key.startsWith("VITEST") || key === "CI") delete env[key]
  }
  return { ...env, NO_COLOR: "1", FORCE_COLOR: "0" }
}

const vitest = (args: ReadonlyArray<string>, env: NodeJS.ProcessEnv): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITEST, "run", ...args], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")))
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")))
    child.on("error", reject)
    child.on("close", (code) => resolve({ code, output }))
  })

/** A port nothing listens on: bound, then released. */
const closedPort = async (): Promise<number> => {
  const net = await import("node:net")
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as import("node:net").AddressInfo).port
      server.close(() => resolve(port))
    })
    server.once("error", reject)
  })
}

/** A Python that runs but cannot import Celery (no site-packages). */
const pythonWithoutCelery = (): string => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-no-celery-"))
  const file = path.join(dir, "python3")
  fs.writeFileSync(file, `#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n`, { mode: 0o755 })
  return file
}

const summary = (output: string) => output.split("\n").find((l) => l.startsWith("tests: ")) ?? ""

describe("the test setup", () => {
  it("runs the PostgreSQL conformance suite on an embedded server when none answers at TASKMETA_TEST_PG_URL", async () => {
    const port = await closedPort()
    const run = await vitest(["--project", "@taskmeta/sql", "packages/sql/test/PgConformance.test.ts"], {
      ...cleanEnv(),
      TASKMETA_TEST_PG_URL: `postgres://postgres@127.0.0.1:${port}/test`
    })
    expect(run.output).toContain(`no PostgreSQL answers at postgres://postgres@127.0.0.1:${port}/test`)
    expect(run.output).toMatch(/\[testenv\] embedded PostgreSQL at postgres:\/\/postgres@127\.0\.0\.1:\d+\/test/)
    expect(summary(run.output)).toMatch(/^tests: [1-9]\d* passed, 0 failed, 0 skipped$/)
    expect(run.code).toBe(0)
  })

  it.skipIf(!fs.existsSync("/usr/bin/python3"))("skips the Celery suites with one line when Python lacks Celery, and exits 0", async () => {
    const run = await vitest(["--project", "@taskmeta/sql", "packages/sql/test/CeleryInteropSqlite.test.ts"], {
      ...cleanEnv(),
      TASKMETA_TEST_PYTHON: pythonWithoutCelery()
    })
    const skipLines = run.output.split("\n").filter((l) => l.startsWith("skipped: "))
    expect(skipLines).toHaveLength(1)
    expect(skipLines[0]).toMatch(/^skipped: \d+ tests? that need Python Celery 5\.2; to run them: .*TASKMETA_TEST_PYTHON/)
    expect(summary(run.output)).toMatch(/^tests: 0 passed, 0 failed, [1-9]\d* skipped$/)
    expect(run.code).toBe(0)
  })

  it.skipIf(!fs.existsSync("/usr/bin/python3"))("fails under CI=true when Python lacks Celery, saying what is missing", async () => {
    const run = await vitest(["--project", "@taskmeta/sql", "packages/sql/test/CeleryInteropSqlite.test.ts"], {
      ...cleanEnv(),
      CI: "true",
      TASKMETA_TEST_PYTHON: pythonWithoutCelery()
    })
    expect(run.output).toContain("CI=true and this machine lacks what some suites need")
    expect(run.output).toContain("Python Celery 5.2: apt-get install python3-celery")
    expect(run.code).not.toBe(0)
  })
})
