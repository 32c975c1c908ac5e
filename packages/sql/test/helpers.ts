import { afterAll, beforeAll } from "@effect/vitest"
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

// ---------------------------------------------------------------------------
// MySQL / MariaDB
// ---------------------------------------------------------------------------

import * as Mysql from "mysql2/promise"
import { has, tag } from "../../../testenv/requirements.js"

/** The server (no database): tests create a database of their own and drop it. */
export const MYSQL_URL = process.env.TASKMETA_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306"

/** A connection URL for a database on the test server. */
export const mysqlUrlFor = (database: string) => Redacted.make(`${MYSQL_URL.replace(/\/$/, "")}/${database}`)

/** Runs statements on a fresh connection (outside the code under test). */
export const mysqlQuery = async (text: string, params: Array<unknown> = [], database?: string) => {
  const conn = await Mysql.createConnection({ uri: database === undefined ? MYSQL_URL : Redacted.value(mysqlUrlFor(database)) })
  try {
    const [rows] = await conn.query(text, params)
    return rows as unknown
  } finally {
    await conn.end()
  }
}

/** A database name for a test (`tm_<label>_<random>`); `createMysqlDatabase` makes it. */
export const mysqlDatabaseName = (label: string) => `tm_${label}_${suffix()}`

/** Whether this run has a MySQL/MariaDB server (the test setup probed it; `testenv/requirements.ts`). */
export const HAS_MYSQL = has("mariadb")

/** The marker a MySQL suite's name carries, so the closing summary counts it when skipped. */
export const MYSQL_TAG = tag("mariadb")

/** Creates the database (nothing without a server: its suites are skipped). */
export const createMysqlDatabase = (database: string) =>
  HAS_MYSQL ? mysqlQuery(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4`) : Promise.resolve(undefined)

/** A new, empty database (`tm_<label>_<random>`), dropped by `dropMysqlDatabase`. */
export const freshMysqlDatabase = async (label: string) => {
  const database = mysqlDatabaseName(label)
  await createMysqlDatabase(database)
  return database
}

export const dropMysqlDatabase = (database: string) =>
  HAS_MYSQL ? mysqlQuery(`DROP DATABASE IF EXISTS \`${database}\``) : Promise.resolve(undefined)

/**
 * A database for the test file's suites (`tm_<label>_<random>`): created
 * before them and dropped after them (nothing without a server).
 */
export const mysqlDatabaseForSuite = (label: string) => {
  const database = mysqlDatabaseName(label)
  beforeAll(() => createMysqlDatabase(database))
  afterAll(() => dropMysqlDatabase(database))
  return database
}
