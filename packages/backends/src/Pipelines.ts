/**
 * From a backend URL to the `PipelineStore` on the same storage, plus a
 * `PipelineBrowser` that knows which pipelines have runs (the store lists
 * runs per pipeline; a tool listing everything needs the pipeline ids).
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import type * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as MemoryPipelineStore from "@taskmeta/core/MemoryPipelineStore"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"
import * as SqlPipelineStore from "@taskmeta/sql/SqlPipelineStore"
import * as BackendUrl from "./BackendUrl.js"
import * as Backends from "./Backends.js"
import { BrowseError } from "./ResultBrowser.js"

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
  extends Context.Tag("@taskmeta/backends/PipelineBrowser")<PipelineBrowser, PipelineBrowserService>()
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
    const store = yield* PipelineStore.make({
      ...inner,
      insert: (tree, children) =>
        Effect.tap(inner.insert(tree, children), () => void ids.add(tree.execution.pipelineId))
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

/**
 * The `PipelineStore` and `PipelineBrowser` for a URL: memory, or the SQL
 * store on a SQLite / PostgreSQL database (its tables are created when
 * missing). ArangoDB has no pipeline store wired here yet.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromUrl = (
  url: string | Redacted.Redacted<string> | BackendUrl.BackendUrl,
  options: Backends.Options & { readonly prefix?: string | undefined } = {}
): Layer.Layer<
  PipelineStore.PipelineStore | PipelineBrowser,
  BackendUrl.BackendConfigError | Backends.BackendOpenError
> => {
  const storeOptions: PipelineStore.Options = {
    retry: options.retry === undefined ? undefined : { ...RetryPolicy.defaults, ...options.retry },
    cleanupBatchSize: options.cleanupBatchSize
  }
  const parsed = typeof url === "object" && "_tag" in url ? Either.right(url) : BackendUrl.parse(url)
  return Either.match(parsed, {
    onLeft: (e) => Layer.fail(e),
    onRight: (u): Layer.Layer<
      PipelineStore.PipelineStore | PipelineBrowser,
      BackendUrl.BackendConfigError | Backends.BackendOpenError
    > => {
      switch (u._tag) {
        case "Memory":
          return layerMemory(storeOptions)
        case "Sqlite":
        case "Postgres":
          return Layer.merge(
            SqlPipelineStore.layer({ ...storeOptions, prefix: options.prefix }),
            layerSqlBrowser(options.prefix)
          ).pipe(
            Layer.mapError((cause) => new Backends.BackendOpenError({ backend: BackendUrl.describe(u), cause })),
            Layer.provide(Backends.clientLayer(u, options))
          )
        case "Arango":
          return Layer.fail(
            new Backends.BackendOpenError({
              backend: BackendUrl.describe(u),
              cause: new Error("no pipeline store is available for ArangoDB yet")
            })
          )
      }
    }
  })
}
