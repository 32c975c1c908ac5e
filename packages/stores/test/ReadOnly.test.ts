/**
 * `readOnly: true` through the URL layers (issue 16): `resultsLayerFromUrl`,
 * `layerFromUrl` and `Pipelines.layerFromUrl` create nothing (no SQLite file,
 * no PostgreSQL schema or table, no ArangoDB collection), fail with a
 * `BackendOpenError` whose cause names what is missing, and read as before
 * once `Stores.migrate` created the tables.
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Pipelines from "@taskmeta/stores/Pipelines"
import * as Stores from "@taskmeta/stores/Stores"
import { FakePipelineArango } from "../../arango/test/support/FakePipelineArango.js"
import { dropPgSchema, PG } from "./helpers.js"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-stores-ro-"))
const schema = `tm_sro_${Math.random().toString(36).slice(2, 8)}`
const missingSchema = `tm_sro_missing_${Math.random().toString(36).slice(2, 8)}`
afterAll(async () => {
  Fs.rmSync(dir, { recursive: true, force: true })
  await dropPgSchema(schema)
  await dropPgSchema(missingSchema)
})

const PIPELINE_TABLES = ["pipeline_executions", "pipeline_results", "task_executions", "task_results"].map((t) =>
  `taskmeta_${t}`
)

type AnyLayer = Layer.Layer<never, BackendUrl.BackendConfigError | Stores.BackendOpenError>
const layers = (...items: ReadonlyArray<AnyLayer>) => items

/** The error a layer's build fails with. */
const buildError = <A, E>(layer: Layer.Layer<A, E>) => Effect.flip(Effect.scoped(Layer.build(layer)))

/** The `_tag` and fields of a `BackendOpenError`'s cause. */
const causeOf = (error: { readonly _tag: string }) =>
  error._tag === "BackendOpenError" ? (error as Stores.BackendOpenError).cause as Record<string, unknown> : undefined

/** Whether a PostgreSQL schema exists, and the relations in it. */
const pgSchema = (name: string) =>
  Effect.flatMap(SqlClient.SqlClient, (sql) =>
    Effect.all([
      sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = ${name}`,
      sql<{ relname: string }>`SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ${name} ORDER BY 1`
    ])).pipe(
      Effect.map(([ns, rels]) => ({ exists: ns[0].n === 1, relations: rels.map((r) => r.relname) })),
      Effect.provide(Stores.clientLayer(Either.getOrThrow(BackendUrl.parse(PG)) as Extract<BackendUrl.BackendUrl, { _tag: "Postgres" }>))
    )

describe("SQLite URLs, readOnly", () => {
  it.effect("resultsLayerFromUrl and Pipelines.layerFromUrl on a missing file: MissingDatabase, no file", () =>
    Effect.gen(function*() {
      for (
        const layer of layers(
          Stores.resultsLayerFromUrl("db+sqlite:///typo.sqlite", { baseDirectory: dir, readOnly: true }),
          Stores.layerFromUrl("db+sqlite:///typo.sqlite", { baseDirectory: dir, readOnly: true }),
          Pipelines.layerFromUrl("db+sqlite:///typo.sqlite", { baseDirectory: dir, readOnly: true })
        )
      ) {
        const error = yield* buildError(layer)
        expect(error._tag).toBe("BackendOpenError")
        expect(causeOf(error)?._tag).toBe("MissingDatabase")
        expect(error.message).toBe(
          `cannot open sqlite typo.sqlite: no SQLite database at ${Path.join(dir, "typo.sqlite")} (a read-only open never creates one)`
        )
      }
      expect(Fs.readdirSync(dir).filter((f) => f.startsWith("typo"))).toEqual([])
    }))

  it.effect("Stores.migrate creates every table a read-only store needs; then each layer reads", () =>
    Effect.gen(function*() {
      const options: Stores.Options = { baseDirectory: dir }
      const url = "db+sqlite:///store.sqlite"
      // Only the task tables: what a Celery-made file has.
      yield* Layer.build(Stores.backendLayerFromUrl(url, options)).pipe(Effect.scoped)
      const results = yield* Effect.flatMap(ResultBrowser.ResultBrowser, (b) => b.stats).pipe(
        Effect.provide(Stores.resultsLayerFromUrl(url, { ...options, readOnly: true }))
      )
      expect(results.tasks).toBe(0)
      const readOnly = { ...options, readOnly: true }
      for (const layer of layers(Stores.layerFromUrl(url, readOnly), Pipelines.layerFromUrl(url, readOnly))) {
        const error = yield* buildError(layer)
        expect(causeOf(error)?._tag).toBe("MissingTables")
        expect(causeOf(error)?.tables).toEqual(PIPELINE_TABLES)
      }
      const applied = yield* Stores.migrate(url, options)
      expect(applied).toEqual(["pipelines_1_pipeline_tables"])
      expect(yield* Stores.migrate(url, options)).toEqual([])
      const ids = yield* Effect.flatMap(Pipelines.PipelineBrowser, (b) => b.pipelineIds).pipe(
        Effect.provide(Pipelines.layerFromUrl(url, { ...options, readOnly: true }))
      )
      expect(ids).toEqual([])
      const stats = yield* Effect.flatMap(ResultBrowser.ResultBrowser, (b) => b.stats).pipe(
        Effect.provide(Stores.layerFromUrl(url, { ...options, readOnly: true }))
      )
      expect(stats.tasks).toBe(0)
    }))
})

describe("PostgreSQL URLs, readOnly", () => {
  it.effect("a missing schema: 'schema … does not exist', and it is not created (results and pipelines)", () =>
    Effect.gen(function*() {
      const options: Stores.Options = { tables: { schema: missingSchema }, readOnly: true }
      for (const layer of layers(Stores.resultsLayerFromUrl(PG, options), Pipelines.layerFromUrl(PG, options))) {
        const error = yield* buildError(layer)
        expect(causeOf(error)?._tag).toBe("MissingTables")
        expect(causeOf(error)?.schemaExists).toBe(false)
        expect(error.message).toMatch(new RegExp(`^cannot open postgres.*: schema "${missingSchema}" does not exist$`))
      }
      expect(yield* pgSchema(missingSchema)).toEqual({ exists: false, relations: [] })
    }))

  it.effect("migrate, then a read-only store reads what a writer stored and refuses to write", () =>
    Effect.gen(function*() {
      const options: Stores.Options = { tables: { schema } }
      yield* Stores.migrate(PG, options)
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.store("t1", 7, "SUCCESS")).pipe(
        Effect.provide(Stores.backendLayerFromUrl(PG, options))
      )
      const relations = (yield* pgSchema(schema)).relations
      const [record, exported, written, runs] = yield* Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const browser = yield* ResultBrowser.ResultBrowser
        const store = yield* PipelineStore.PipelineStore
        return [
          yield* backend.get("t1"),
          (yield* browser.stats).tasks,
          yield* Effect.flip(backend.store("t2", 1, "SUCCESS")),
          yield* store.listExecutions("none")
        ] as const
      }).pipe(Effect.provide(Stores.layerFromUrl(PG, { ...options, readOnly: true })))
      expect(record.result).toBe(7)
      expect(exported).toBe(1)
      expect(written.message).toContain("read-only transaction")
      expect(runs).toEqual([])
      expect((yield* pgSchema(schema)).relations).toEqual(relations)
    }))
})

describe("ArangoDB URLs, readOnly, over the loopback FakeArango (emulated statements, not ArangoDB)", () => {
  let fake: FakePipelineArango
  beforeEach(async () => {
    fake = new FakePipelineArango({ celery: ["celery"] })
    await fake.start()
  })
  afterEach(async () => {
    await fake.stop()
  })

  it.effect("resultsLayerFromUrl reads the collection and creates nothing (no pipeline collections either)", () =>
    Effect.gen(function*() {
      const url = `arangodb://127.0.0.1:${fake.port}/celery/celery`
      const stats = yield* Effect.flatMap(ResultBrowser.ResultBrowser, (b) => b.stats).pipe(
        Effect.provide(Stores.resultsLayerFromUrl(url, { readOnly: true }))
      )
      expect(stats.tasks).toBe(0)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/_api/collection"))).toEqual([])
      expect(fake.indexes).toEqual([])
      expect([...fake.databases.get("celery")!.keys()]).toEqual(["celery"])
    }))

  it.effect("Pipelines.layerFromUrl ignores create: true when readOnly: no collection or index is made", () =>
    Effect.gen(function*() {
      const url = `arangodb://127.0.0.1:${fake.port}/celery/celery`
      const error = yield* Effect.flip(
        Effect.flatMap(Pipelines.PipelineBrowser, (b) => b.pipelineIds).pipe(
          Effect.provide(Pipelines.layerFromUrl(url, { create: true, readOnly: true }))
        )
      )
      expect(error.message).toMatch(/errorNum 1203/)
      expect(fake.requests.filter((r) => r.method === "POST" && r.path.endsWith("/_api/collection"))).toEqual([])
      expect(fake.indexes).toEqual([])
      expect([...fake.databases.get("celery")!.keys()]).toEqual(["celery"])
    }))
})
