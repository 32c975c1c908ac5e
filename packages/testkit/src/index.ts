/**
 * @since 0.1.0
 */
export * as ResultBackendConformance from "./ResultBackendConformance.js"
