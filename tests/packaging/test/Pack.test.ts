/**
 * The packages as a user outside this repository gets them (issue 15): every
 * publishable package packed with `pnpm pack`, the tarballs installed with
 * `npm` into a new project in a temporary directory (their dependencies and
 * the peers from the npm registry, at the catalog's ranges), a consumer
 * program type-checked with `tsc --strict` (no `skipLibCheck`, so every
 * `.d.ts` it reaches is checked) and run with plain `node`: it stores on
 * SQLite (a file) and on the test PostgreSQL (its own schema, dropped
 * afterwards) and reads back. Then the packed CLI: `npx taskmeta --version`
 * and `npx taskmeta list --json` on the stores the consumer filled.
 */
import { execFile } from "node:child_process"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, beforeAll, describe, expect, it } from "vitest"

const ROOT = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const PG_URL = process.env.TASKMETA_TEST_PG_URL ?? "postgresql://postgres@127.0.0.1:5432/test"

/** Every package a user installs, in dependency order (the CLI last). */
const PUBLISHABLE = [
  "packages/schema",
  "packages/core",
  "packages/celery",
  "packages/sql",
  "packages/arango",
  "packages/stores",
  "packages/http",
  "packages/testkit",
  "apps/cli"
]

interface Run {
  readonly code: number
  readonly stdout: string
  readonly stderr: string
}

// The child processes see neither the workspace's pnpm/npm settings nor vitest's: a consumer's
// environment. `npm_config_*` variables that pnpm exports to scripts would otherwise leak in.
const childEnv = (extra: Record<string, string>): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^npm_/i.test(key) || /^pnpm_/i.test(key) || key === "NODE_OPTIONS" || key.startsWith("VITEST")) continue
    env[key] = value
  }
  return { ...env, NO_COLOR: "1", ...extra }
}

const run = (command: string, args: ReadonlyArray<string>, cwd: string, env: Record<string, string> = {}): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      command,
      args,
      { cwd, env: childEnv(env), maxBuffer: 64 * 1024 * 1024, timeout: 900_000 },
      (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : 1, stdout, stderr })
    )
  })

const must = async (command: string, args: ReadonlyArray<string>, cwd: string, env?: Record<string, string>) => {
  const r = await run(command, args, cwd, env)
  if (r.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} (in ${cwd}) exited ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`)
  }
  return r
}

const readJson = (file: string): any => JSON.parse(Fs.readFileSync(file, "utf8"))

/** The `catalog:` section of pnpm-workspace.yaml (flat `name: range` lines). */
const readCatalog = (): Record<string, string> => {
  const catalog: Record<string, string> = {}
  let inside = false
  for (const line of Fs.readFileSync(Path.join(ROOT, "pnpm-workspace.yaml"), "utf8").split("\n")) {
    if (/^\S/.test(line)) {
      inside = /^catalog:\s*$/.test(line)
      continue
    }
    const m = inside ? /^\s+["']?([^"':\s]+)["']?\s*:\s*["']?([^"'#]+?)["']?\s*(#.*)?$/.exec(line) : null
    if (m !== null) catalog[m[1]!] = m[2]!
  }
  return catalog
}

const work = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-pack-"))
const tarballs = Path.join(work, "tarballs")
const project = Path.join(work, "consumer")
const schema = `tm_pack_${process.pid}_${Math.random().toString(36).slice(2, 8)}`
const sqliteFile = Path.join(project, "results.sqlite")
const manifests = new Map<string, { readonly name: string; readonly version: string }>()

const dropSchema = () => run("psql", [PG_URL, "-qXc", `DROP SCHEMA IF EXISTS "${schema}" CASCADE`], Os.tmpdir())

afterAll(async () => {
  const dropped = await dropSchema()
  if (dropped.code !== 0) console.warn(`[packaging] could not drop the schema ${schema}: ${dropped.stderr}`)
  if (process.env.TASKMETA_PACK_KEEP === "1") console.info(`[packaging] kept ${work}`)
  else Fs.rmSync(work, { recursive: true, force: true })
})

const timed = async <A>(label: string, f: () => Promise<A>): Promise<A> => {
  const started = Date.now()
  const a = await f()
  console.info(`[packaging] ${label} took ${((Date.now() - started) / 1000).toFixed(1)} s`)
  return a
}

beforeAll(async () => {
  // The compiled dist/ every package publishes (turbo, cached).
  await timed("build", () => must("pnpm", ["-s", "turbo", "run", "build", "--output-logs=errors-only"], ROOT))

  // `pnpm pack` rewrites `workspace:` and `catalog:` ranges to real versions, as `pnpm publish` does.
  Fs.mkdirSync(tarballs, { recursive: true })
  const catalog = readCatalog()
  const deps: Record<string, string> = {}
  const peers: Record<string, string> = {}
  await timed("pnpm pack", () => Promise.all(PUBLISHABLE.map(async (dir) => {
    const manifest = readJson(Path.join(ROOT, dir, "package.json"))
    const packed = await must("pnpm", ["pack", "--json", "--pack-destination", tarballs], Path.join(ROOT, dir))
    const { filename } = JSON.parse(packed.stdout) as { filename: string }
    manifests.set(manifest.name, { name: manifest.name, version: manifest.version })
    deps[manifest.name] = `file:${Path.resolve(tarballs, filename)}`
    for (const [peer, range] of Object.entries<string>(manifest.peerDependencies ?? {})) {
      const resolved = range === "catalog:" ? catalog[peer] : range
      if (resolved === undefined) throw new Error(`${manifest.name}: peer ${peer} is not in the catalog`)
      peers[peer] = resolved
    }
  })))

  Fs.mkdirSync(project, { recursive: true })
  Fs.writeFileSync(Path.join(project, "package.json"), JSON.stringify({
    name: "taskmeta-consumer",
    version: "0.0.0",
    private: true,
    type: "module",
    dependencies: { ...deps, ...peers },
    devDependencies: { typescript: catalog["typescript"], "@types/node": catalog["@types/node"] }
  }, null, 2))
  Fs.writeFileSync(Path.join(project, "tsconfig.json"), JSON.stringify({
    compilerOptions: {
      target: "ES2022",
      lib: ["ES2022"],
      module: "NodeNext",
      moduleResolution: "NodeNext",
      strict: true,
      skipLibCheck: false,
      outDir: "dist",
      rootDir: ".",
      types: ["node"]
    },
    include: ["main.ts"]
  }, null, 2))
  Fs.writeFileSync(Path.join(project, "main.ts"), CONSUMER)

  const prebuilds = await betterSqlitePrebuilds()
  await timed(`npm install of the ${PUBLISHABLE.length} tarballs`, () =>
    must("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error"], project, { CI: "true", ...prebuilds.env }))
  await prebuilds.save()
})

/**
 * better-sqlite3 (under `@effect/sql-sqlite-node`) installs with `prebuild-install || node-gyp
 * rebuild`. Where its prebuilt binary cannot be downloaded (no GitHub), every install compiles
 * SQLite from source: minutes. So the binary npm compiled in an earlier run is kept next to npm's
 * cache, in prebuild-install's own file layout, and handed back through its `local_prebuilds`
 * setting: same package version, Node ABI, platform and architecture, or it is not used (and a
 * broken one falls back to compiling). A cold npm cache has none, and compiles.
 */
const betterSqlitePrebuilds = async () => {
  const cache = (await must("npm", ["config", "get", "cache"], Os.tmpdir())).stdout.trim()
  const dir = Path.join(cache, "_prebuilds", "taskmeta-packaging")
  const env: Record<string, string> = { npm_config_better_sqlite3_local_prebuilds: dir }
  // node-gyp compiles against the running Node's own headers when they are installed (no download).
  const prefix = Path.resolve(Path.dirname(process.execPath), "..")
  const nodedir = process.env.npm_config_nodedir
  if (nodedir !== undefined && nodedir !== "") env.npm_config_nodedir = nodedir
  else if (Fs.existsSync(Path.join(prefix, "include", "node", "node_api.h"))) env.npm_config_nodedir = prefix
  const save = async () => {
    const pkg = Path.join(project, "node_modules", "better-sqlite3")
    const binary = Path.join(pkg, "build", "Release", "better_sqlite3.node")
    if (!Fs.existsSync(binary)) return
    const { version } = readJson(Path.join(pkg, "package.json"))
    const report = process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined
    const libc = report?.header?.glibcVersionRuntime === undefined ? "musl" : ""
    const file = Path.join(dir, `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}${libc}-${process.arch}.tar.gz`)
    if (Fs.existsSync(file)) return
    Fs.mkdirSync(dir, { recursive: true })
    const partial = `${file}.${process.pid}.tmp`
    const packed = await run("tar", ["-czf", partial, "-C", pkg, "build/Release/better_sqlite3.node"], work)
    if (packed.code === 0) Fs.renameSync(partial, file)
    else Fs.rmSync(partial, { force: true })
  }
  return { env, save }
}

/** The consumer: every library through its public entry points, SQLite and PostgreSQL. */
const CONSUMER = `
import { Chunk, Effect, Either, Option, Redacted, Schema, Stream } from "effect"
import { ResultBackend, ResultBrowser } from "@taskmeta/core"
import { Json, TaskState } from "@taskmeta/schema"
import { Pickle } from "@taskmeta/celery"
import { PgBackend, SqliteBackend } from "@taskmeta/sql"
import { Stores } from "@taskmeta/stores"
import { ArangoConfig } from "@taskmeta/arango"
import type * as Testkit from "@taskmeta/testkit"
import type * as TaskmetaCli from "@taskmeta/cli"

// Type-only: the testkit's and the CLI's declarations are checked too.
export type Suites = typeof Testkit.ResultBackendConformance | typeof TaskmetaCli.Cli

const env = (name: string): string => {
  const value = process.env[name]
  if (value === undefined || value === "") throw new Error(\`\${name} is not set\`)
  return value
}
const sqliteFile = env("CONSUMER_SQLITE")
const pgUrl = env("CONSUMER_PG_URL")
const schema = env("CONSUMER_PG_SCHEMA")

const Product = Schema.Struct({ product: Schema.Number })

const write = (prefix: string) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    yield* ResultBackend.markAsStarted(\`\${prefix}-1\`, { pid: process.pid })
    yield* ResultBackend.markAsDone(\`\${prefix}-1\`, { product: 256, big: 2n ** 64n }, { name: "multiply", args: [16, 16] })
    yield* ResultBackend.markAsFailure(\`\${prefix}-2\`, new RangeError("too big"), { name: "divide", traceback: "at consumer" })
    yield* backend.saveGroup(\`\${prefix}-group\`, [\`\${prefix}-1\`, \`\${prefix}-2\`])
    const done = yield* ResultBackend.getResult(\`\${prefix}-1\`, Product)
    const records = yield* backend.getMany([\`\${prefix}-1\`, \`\${prefix}-2\`, \`\${prefix}-3\`])
    const group = yield* backend.restoreGroup(\`\${prefix}-group\`)
    return {
      product: done.product,
      records: records.map((r) => ({ taskId: r.taskId, status: r.status, name: r.name, result: Json.stringify(r.result) })),
      group: Option.match(group, { onNone: () => null, onSome: (g) => g.taskIds })
    }
  })

const browse = Effect.gen(function*() {
  const browser = yield* ResultBrowser.ResultBrowser
  const listed = yield* Stream.runCollect(browser.list())
  const stats = yield* browser.stats
  return { listed: Chunk.toReadonlyArray(listed).map((r) => \`\${r.taskId}:\${r.status}\`).sort(), tasks: stats.tasks, groups: stats.groups }
})

const program = Effect.gen(function*() {
  // @taskmeta/sql's own layers: SQLite on a file, PostgreSQL in its own schema.
  const sqlite = yield* write("sqlite").pipe(
    Effect.provide(SqliteBackend.layer({ filename: sqliteFile, resultExtended: true }))
  )
  const pg = yield* write("pg").pipe(
    Effect.provide(PgBackend.layer({ url: Redacted.make(pgUrl), tables: { schema }, resultExtended: true }))
  )
  // @taskmeta/stores: the same stores again from Celery-style URLs, read through the browser.
  const sqliteBrowsed = yield* browse.pipe(Effect.provide(Stores.layerFromUrl(\`db+sqlite:///\${sqliteFile}\`)))
  const pgBrowsed = yield* browse.pipe(Effect.provide(Stores.layerFromUrl(\`db+\${pgUrl}\`, { tables: { schema } })))
  // @taskmeta/celery and @taskmeta/arango without a server.
  const pickled = Pickle.encode(Pickle.fromJson({ answer: 42 }))
  const unpickled = Either.getOrThrow(Pickle.decodeToJson(pickled))
  const arangoUrl = Either.isRight(ArangoConfig.parseUrl("arangodb://user:secret@127.0.0.1:8529/db/results"))
  return {
    ready: [...TaskState.READY_STATES].sort(),
    sqlite,
    pg,
    sqliteBrowsed,
    pgBrowsed,
    pickle: Json.stringify(unpickled),
    arangoUrl
  }
})

Effect.runPromise(program).then(
  (summary) => console.log(JSON.stringify(summary)),
  (error) => {
    console.error(error)
    process.exitCode = 1
  }
)
`

describe("the packed packages, installed with npm outside the workspace", () => {
  it("a consumer type-checks with tsc --strict and runs with node on SQLite and PostgreSQL", async () => {
    await must("npx", ["--no-install", "tsc", "-p", "."], project)
    const r = await must("node", ["dist/main.js"], project, {
      CONSUMER_SQLITE: sqliteFile,
      CONSUMER_PG_URL: PG_URL,
      CONSUMER_PG_SCHEMA: schema
    })
    const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!)
    for (const [prefix, stored] of [["sqlite", summary.sqlite], ["pg", summary.pg]] as const) {
      expect(stored.product).toBe(256)
      expect(stored.records).toEqual([
        { taskId: `${prefix}-1`, status: "SUCCESS", name: "multiply", result: "{\"product\":256,\"big\":18446744073709551616}" },
        { taskId: `${prefix}-2`, status: "FAILURE", name: "divide", result: expect.stringContaining("too big") },
        { taskId: `${prefix}-3`, status: "PENDING", name: null, result: "null" }
      ])
      expect(stored.group).toEqual([`${prefix}-1`, `${prefix}-2`])
    }
    expect(summary.sqliteBrowsed).toEqual({ listed: ["sqlite-1:SUCCESS", "sqlite-2:FAILURE"], tasks: 2, groups: 1 })
    expect(summary.pgBrowsed).toEqual({ listed: ["pg-1:SUCCESS", "pg-2:FAILURE"], tasks: 2, groups: 1 })
    expect(summary.ready).toEqual(["FAILURE", "REVOKED", "SUCCESS"])
    expect(summary.pickle).toBe("{\"answer\":42}")
    expect(summary.arangoUrl).toBe(true)
  })

  it("the packed CLI runs with npx: --version, and list --json on the stores the consumer filled", async () => {
    const version = await must("npx", ["--no-install", "taskmeta", "--version"], project)
    expect(version.stdout.trim()).toBe(manifests.get("@taskmeta/cli")!.version)

    const listed = async (args: ReadonlyArray<string>) => {
      const r = await must("npx", ["--no-install", "taskmeta", "list", ...args, "--json"], project)
      const lines = r.stdout.trim().split("\n").filter((line) => line !== "")
      return { raw: r.stdout, records: lines.map((line) => JSON.parse(line)) }
    }
    const expectStored = (out: { raw: string; records: Array<any> }, prefix: string) => {
      const byId = new Map(out.records.map((record) => [record.task_id, record]))
      expect([...byId.keys()].sort()).toEqual([`${prefix}-1`, `${prefix}-2`])
      expect(byId.get(`${prefix}-1`)).toMatchObject({ kind: "task", status: "SUCCESS", name: "multiply", result: { product: 256 } })
      expect(byId.get(`${prefix}-2`)).toMatchObject({ kind: "task", status: "FAILURE", name: "divide" })
      // Integers beyond 2^53 keep every digit on the way out.
      expect(out.raw).toContain("18446744073709551616")
    }
    expectStored(await listed(["--backend", `db+sqlite:///${sqliteFile}`]), "sqlite")
    expectStored(await listed(["--backend", `db+${PG_URL}`, "--schema", schema]), "pg")
  })
})
