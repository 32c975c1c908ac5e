/**
 * Everything taskmeta keeps in one SQL database, over one client: the
 * `ResultBackend`, the `PipelineStore` and the `ResultBrowser`, all three
 * built over the `SqlClient` in context (one pool, or one SQLite
 * connection): PostgreSQL, MySQL / MariaDB or SQLite. Hand in the client your program already has:
 *
 * ```ts
 * import { PgClient } from "@effect/sql-pg"
 * import { SqlStore } from "@taskmeta/sql"
 *
 * const Store = SqlStore.layer().pipe(Layer.provide(PgClient.layer({ url })))
 * ```
 *
 * `PgBackend.layerStore`, `MysqlBackend.layerStore` and
 * `SqliteBackend.layerStore` build the client from a URL or a file name.
 *
 * @since 0.1.0
 */
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Layer from "effect/Layer"
import type { InvalidInput } from "@taskmeta/core/BackendError"
import type { PipelineReadError } from "@taskmeta/core/PipelineError"
import type * as PipelineStore from "@taskmeta/core/PipelineStore"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import * as RetryPolicy from "@taskmeta/core/RetryPolicy"
import type * as PipelineMigrations from "./PipelineMigrations.js"
import * as SqlBackend from "./SqlBackend.js"
import * as SqlBrowser from "./SqlBrowser.js"
import type * as SqlMigrations from "./SqlMigrations.js"
import * as SqlPipelineStore from "./SqlPipelineStore.js"
import type * as TableNames from "./TableNames.js"

/**
 * The services one store provides.
 *
 * @since 0.1.0
 * @category models
 */
export type Services = ResultBackend.ResultBackend | PipelineStore.PipelineStore | ResultBrowser.ResultBrowser

/**
 * @since 0.1.0
 * @category models
 */
export interface Options extends SqlBackend.Options {
  /** The pipeline tables' name prefix (default `taskmeta_`). */
  readonly pipelinePrefix?: string | undefined
  /** Ids the browser reads per query while listing or exporting. Default 500. */
  readonly pageSize?: number | undefined
}

/**
 * @since 0.1.0
 * @category errors
 */
export type SetupError =
  | SqlBackend.SetupError
  | TableNames.InvalidTableName
  | InvalidInput
  | PipelineMigrations.MigrationError
  | SqlMigrations.MissingTables
  | PipelineReadError

/**
 * The three services over the `SqlClient` in context. The result backend is
 * built first: its migrations create the tables (and the PostgreSQL schema)
 * the others use. With `readOnly`, nothing is migrated or created, and the
 * result tables and the pipeline tables must all exist
 * (`SqlMigrations.MissingTables` otherwise); to read task results alone,
 * build `SqlBrowser.layer` over `SqlBackend.layer({ readOnly: true })`.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (options: Options = {}): Layer.Layer<Services, SetupError, SqlClient.SqlClient> =>
  Layer.provideMerge(
    Layer.merge(
      SqlBrowser.layer({ tables: options.tables, pageSize: options.pageSize }),
      SqlPipelineStore.layer({
        prefix: options.pipelinePrefix,
        retry: options.retry === undefined ? undefined : { ...RetryPolicy.defaults, ...options.retry },
        cleanupBatchSize: options.cleanupBatchSize,
        migrate: options.migrate,
        readOnly: options.readOnly
      })
    ),
    SqlBackend.layer(options)
  )
