/**
 * @since 0.1.0
 */
export * as MysqlBackend from "./MysqlBackend.js"
/**
 * @since 0.1.0
 */
export * as PgBackend from "./PgBackend.js"
/**
 * @since 0.1.0
 */
export * as SqlBackend from "./SqlBackend.js"
/**
 * @since 0.1.0
 */
export * as SqlBrowser from "./SqlBrowser.js"
/**
 * @since 0.1.0
 */
export * as SqliteBackend from "./SqliteBackend.js"
/**
 * @since 0.1.0
 */
export * as SqlMigrations from "./SqlMigrations.js"
/**
 * @since 0.1.0
 */
export * as TableNames from "./TableNames.js"
/**
 * @since 0.1.0
 */
export * as PipelineMigrations from "./PipelineMigrations.js"
/**
 * @since 0.1.0
 */
export * as SqlPipelineStore from "./SqlPipelineStore.js"
/**
 * @since 0.1.0
 */
export * as SqlStore from "./SqlStore.js"
