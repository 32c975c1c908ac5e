/**
 * @since 0.1.0
 */
export * as BackendUrl from "./BackendUrl.js"
/**
 * @since 0.1.0
 */
export * as Stores from "./Stores.js"
/**
 * @since 0.1.0
 */
export * as Transfer from "./Transfer.js"
/**
 * @since 0.1.0
 */
export * as Pipelines from "./Pipelines.js"
