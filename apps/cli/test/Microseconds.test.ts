/**
 * Every instant to the microsecond through `export`, `import` and `copy`
 * (issue 17): records with microseconds past the millisecond are imported
 * into SQLite, then exported, imported into a fresh store of each engine,
 * and copied between every pair of engines; every export prints the same
 * `date_done` texts, digit for digit. (MariaDB's tables taskmeta creates
 * keep microseconds, `DATETIME(6)`; Celery's own `DATETIME` keeps whole
 * seconds, which the Celery interop suite covers.)
 */
import { afterAll, describe, expect, it } from "vitest"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { has, tag } from "../../../testenv/requirements.js"
import { cli, dropSchema, lines, mysqlAdmin, MYSQL_URL, PG_URL, schemaName, tempDir } from "./helpers.js"

const dir = tempDir("cli-micros")
const pgSchemas: Array<string> = []
const mysqlDatabases: Array<string> = []
afterAll(async () => {
  for (const schema of pgSchemas) await dropSchema(schema)
  for (const database of mysqlDatabases) await mysqlAdmin(`DROP DATABASE IF EXISTS \`${database}\``)
  Fs.rmSync(dir, { recursive: true, force: true })
})

type Engine = "sqlite" | "postgres" | "mysql"

/** A fresh, empty store of an engine, as `--backend`/`--schema` arguments. */
const fresh = async (engine: Engine): Promise<ReadonlyArray<string>> => {
  const name = schemaName("us")
  switch (engine) {
    case "sqlite":
      return ["--backend", `db+sqlite:///${Path.join(dir, `${name}.sqlite`)}`]
    case "postgres":
      pgSchemas.push(name)
      return ["--backend", PG_URL, "--schema", name]
    case "mysql":
      mysqlDatabases.push(name)
      await mysqlAdmin(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`)
      return ["--backend", `db+mysql://${MYSQL_URL.replace(/^mysql:\/\//, "")}/${name}`]
  }
}

const INPUT = [
  { kind: "task", task_id: "us-1", status: "SUCCESS", result: 1, date_done: "2026-11-20T08:15:30.123456Z" },
  { kind: "task", task_id: "us-2", status: "FAILURE", result: null, date_done: "2026-11-20T08:15:30.123457Z" },
  { kind: "task", task_id: "us-3", status: "SUCCESS", result: 3, date_done: "2026-11-20T08:15:31.000001Z" },
  { kind: "task", task_id: "ms-4", status: "SUCCESS", result: 4, date_done: "2026-11-20T08:15:32.500Z" },
  { kind: "group", group_id: "g-us", task_ids: ["us-1", "us-2"], date_done: "2026-11-20T08:15:33.999999Z" }
].map((l) => JSON.stringify(l)).join("\n") + "\n"

/** The instants an export printed, by id. */
const instants = (stdout: string) =>
  Object.fromEntries(lines(stdout).map((l) => [String(l.task_id ?? l.group_id), l.date_done]))

const EXPECTED = {
  "us-1": "2026-11-20T08:15:30.123456Z",
  "us-2": "2026-11-20T08:15:30.123457Z",
  "us-3": "2026-11-20T08:15:31.000001Z",
  "ms-4": "2026-11-20T08:15:32.500Z",
  "g-us": "2026-11-20T08:15:33.999999Z"
}

const exported = async (at: ReadonlyArray<string>) => {
  const r = await cli(["export", ...at], { cwd: dir })
  expect([r.code, r.stderr]).toEqual([0, ""])
  return instants(r.stdout)
}

const engines: ReadonlyArray<Engine> = ["sqlite", "postgres", ...(has("mariadb") ? ["mysql" as const] : [])]

describe("date_done to the microsecond through export, import and copy", () => {
  it(`export then import into a fresh store of each engine, then copy between every pair (${engines.join(", ")})`, async () => {
    const origin = await fresh("sqlite")
    expect((await cli(["import", ...origin], { cwd: dir, input: INPUT })).code).toBe(0)
    const text = (await cli(["export", ...origin], { cwd: dir })).stdout
    expect(instants(text)).toEqual(EXPECTED)
    // the microseconds order the list too: us-2 is one microsecond after us-1
    const listed = lines((await cli(["list", "--json", "--since", "2026-11-20T08:15:30.123457Z", ...origin], { cwd: dir })).stdout)
    expect(listed.map((l) => l.task_id).sort()).toEqual(["ms-4", "us-2", "us-3"])
    const stores = new Map<Engine, ReadonlyArray<string>>()
    for (const engine of engines) {
      const at = await fresh(engine)
      const r = await cli(["import", ...at], { cwd: dir, input: text })
      expect([engine, r.code]).toEqual([engine, 0])
      expect([engine, await exported(at)]).toEqual([engine, EXPECTED])
      stores.set(engine, at)
    }
    for (const from of engines) {
      for (const to of engines) {
        if (from === to) continue
        const target = await fresh(to)
        const source = stores.get(from)!
        const url = (args: ReadonlyArray<string>) => args[args.indexOf("--backend") + 1]
        const schema = (flag: string, args: ReadonlyArray<string>) =>
          args.includes("--schema") ? [flag, args[args.indexOf("--schema") + 1]] : []
        const r = await cli(
          ["copy", "--from", url(source), "--to", url(target), ...schema("--from-schema", source), ...schema("--to-schema", target)],
          { cwd: dir }
        )
        expect([`${from} → ${to}`, r.code, r.stderr]).toEqual([`${from} → ${to}`, 0, ""])
        expect([`${from} → ${to}`, await exported(target)]).toEqual([`${from} → ${to}`, EXPECTED])
      }
    }
  }, 300_000)
})

describe.runIf(!has("mariadb"))(`MariaDB in the round trip ${tag("mariadb")}`, () => {
  it.skip("the same on MariaDB", () => {})
})
