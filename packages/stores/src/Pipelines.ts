/**
 * From a backend URL to the `PipelineStore` on the same storage, plus a
 * `PipelineBrowser` that knows which pipelines have runs (the store lists
 * runs per pipeline; a tool listing everything needs the pipeline ids).
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as ArangoConfig from "@taskmeta/arango/ArangoConfig"
import * as MemoryPipelineStore from "@taskmeta/core/MemoryPipelineStore"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import { BrowseError } from "@taskmeta/core/ResultBrowser"
import * as BackendUrl from "./BackendUrl.js"
import { lazyLayer } from "./internal/lazy.js"
import * as Stores from "./Stores.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface PipelineBrowserService {
  /** Every pipeline id with at least one stored run, sorted. */
  readonly pipelineIds: Effect.Effect<ReadonlyArray<string>, BrowseError>
}

/**
 * @since 0.1.0
 * @category tags
 */
export class PipelineBrowser
  extends Context.Tag("@taskmeta/stores/PipelineBrowser")<PipelineBrowser, PipelineBrowserService>()
{}

/**
 * The memory store, with its pipeline ids tracked as runs are built.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerMemory = (
  options: PipelineStore.Options = {}
): Layer.Layer<PipelineStore.PipelineStore | PipelineBrowser> =>
  Layer.effectContext(Effect.gen(function*() {
    const inner = yield* MemoryPipelineStore.makeDriver
    const ids = new Set<string>()
    const insertMany = inner.insertMany
    const store = yield* PipelineStore.make({
      ...inner,
      insert: (tree, tallies) =>
        Effect.tap(inner.insert(tree, tallies), () => void ids.add(tree.execution.pipelineId)),
      insertMany: insertMany && ((runs) =>
        Effect.tap(insertMany(runs), () => {
          for (const { tree } of runs) ids.add(tree.execution.pipelineId)
        }))
    }, options)
    return Context.make(PipelineStore.PipelineStore, store).pipe(
      Context.add(PipelineBrowser, { pipelineIds: Effect.sync(() => Array.from(ids).sort()) })
    )
  }))

const IdRows = Schema.Array(Schema.Struct({ pipeline_id: Schema.String }))

/**
 * The pipeline browser over the SQL pipeline tables (`prefix` as the store's).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerSqlBrowser = (
  prefix?: string
): Layer.Layer<PipelineBrowser, never, SqlClient.SqlClient> =>
  lazyLayer(
    () => Promise.all([import("@effect/sql/SqlClient"), import("@taskmeta/sql/PipelineMigrations")]),
    ([SqlClient, PipelineMigrations]) =>
      Layer.effect(
        PipelineBrowser,
        Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          const names = PipelineMigrations.tableNames(prefix)
          return {
            pipelineIds: Effect.gen(function*() {
              const tables = yield* names
              const rows = yield* sql`SELECT DISTINCT pipeline_id FROM ${sql(tables.executions)} ORDER BY pipeline_id`
              return (yield* Schema.decodeUnknown(IdRows)(rows)).map((r) => r.pipeline_id)
            }).pipe(
              Effect.mapError((cause) => new BrowseError({ operation: "list pipelines", cause })),
              Effect.withSpan("PipelineBrowser.pipelineIds")
            )
          }
        })
      )
  )

/**
 * The pipeline browser over `ArangoPipelineStore`'s executions collection
 * (named from `prefix` as the store names it), on its own connection.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerArangoBrowser = (
  input: ArangoConfig.Input,
  prefix?: string
): Layer.Layer<PipelineBrowser, ArangoConfig.ArangoConfigError> =>
  lazyLayer(
    () => Promise.all([import("@taskmeta/arango/ArangoPipelineStore"), import("@taskmeta/arango/ArangoScan")]),
    ([ArangoPipelineStore, ArangoScan]) =>
      Layer.scoped(
        PipelineBrowser,
        Effect.gen(function*() {
          const names = yield* ArangoPipelineStore.collectionNames({ prefix })
          const scan = yield* ArangoScan.make(input)
          return {
            pipelineIds: scan.pipelineIds(names.executions).pipe(
              Effect.mapError((e) => new BrowseError({ operation: "list pipelines", cause: e.cause })),
              Effect.withSpan("PipelineBrowser.pipelineIds")
            )
          }
        })
      )
  )

/**
 * The `PipelineStore` and `PipelineBrowser` for a URL: memory, the SQL
 * store on a SQLite / PostgreSQL database (its tables are created when
 * missing), or `ArangoPipelineStore` in the database an `arangodb://` URL
 * names, in the collections `<prefix>pipeline_executions`,
 * `<prefix>pipeline_results`, `<prefix>task_executions`,
 * `<prefix>task_results` (prefix default `taskmeta_`; the URL's collection is
 * the result backend's and is not used). On ArangoDB nothing is created
 * unless `options.create` is `true`: then the database, the four
 * collections and their indexes are created when missing (idempotently);
 * without it a missing collection fails each operation (errorNum 1203).
 *
 * With `readOnly` (see `Stores.Options.readOnly`) nothing is created or
 * migrated, `create` is ignored, and on SQL the four pipeline tables must
 * exist: building the layer fails with a `BackendOpenError` whose cause is
 * `SqlMigrations.MissingTables` naming the missing ones (or the schema).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Stores.Options & {
    /** Table / collection name prefix (the SQL store's and `ArangoPipelineStore`'s default when absent). */
    readonly prefix?: string | undefined
    /** ArangoDB only: create the database, the collections and the indexes when missing. Default `false`; ignored when `readOnly`. */
    readonly create?: boolean | undefined
  } = {}
): Layer.Layer<
  PipelineStore.PipelineStore | PipelineBrowser,
  BackendUrl.BackendConfigError | Stores.BackendOpenError
> => {
  const storeOptions = Stores.pipelineOptions(options)
  const parsed = typeof url === "object" && "_tag" in url ? Either.right(url) : BackendUrl.parse(url)
  return Either.match(parsed, {
    onLeft: (e) => Layer.fail(e),
    onRight: (u): Layer.Layer<
      PipelineStore.PipelineStore | PipelineBrowser,
      BackendUrl.BackendConfigError | Stores.BackendOpenError
    > => {
      switch (u._tag) {
        case "Memory":
          return layerMemory(storeOptions)
        case "Sqlite":
        case "Postgres":
        case "Mysql":
          return Layer.merge(
            lazyLayer(() => import("@taskmeta/sql/SqlPipelineStore"), (SqlPipelineStore) =>
              SqlPipelineStore.layer({ ...storeOptions, prefix: options.prefix, readOnly: options.readOnly })),
            layerSqlBrowser(options.prefix)
          ).pipe(
            Layer.mapError((cause) => new Stores.BackendOpenError({ backend: BackendUrl.describe(u), cause })),
            Layer.provide(Stores.clientLayer(u, options))
          )
        case "Arango": {
          const input = { url: u.url, create: options.create === true && options.readOnly !== true }
          return Layer.merge(
            lazyLayer(() => import("@taskmeta/arango/ArangoPipelineStore"), (ArangoPipelineStore) =>
              ArangoPipelineStore.layer(input, { ...storeOptions, prefix: options.prefix })),
            layerArangoBrowser(input, options.prefix)
          ).pipe(
            Layer.mapError((cause) => new Stores.BackendOpenError({ backend: BackendUrl.describe(u), cause }))
          )
        }
      }
    }
  })
}
