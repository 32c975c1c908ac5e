/**
 * @since 0.1.0
 */
export * as ResultBackendConformance from "./ResultBackendConformance.js"
/**
 * @since 0.1.0
 */
export * as PipelineConformance from "./PipelineConformance.js"
/**
 * @since 0.1.0
 */
export * as ResultBrowserConformance from "./ResultBrowserConformance.js"
