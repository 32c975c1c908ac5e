/**
 * @since 0.1.0
 */
export * as BackendDriver from "./BackendDriver.js"
/**
 * @since 0.1.0
 */
export * as BackendError from "./BackendError.js"
/**
 * @since 0.1.0
 */
export * as BackendOptions from "./BackendOptions.js"
/**
 * @since 0.1.0
 */
export * as ChangeFeed from "./ChangeFeed.js"
/**
 * @since 0.1.0
 */
export * as Expiry from "./Expiry.js"
/**
 * @since 0.1.0
 */
export * as MemoryBackend from "./MemoryBackend.js"
/**
 * @since 0.1.0
 */
export * as MemoryBrowser from "./MemoryBrowser.js"
/**
 * @since 0.1.0
 */
export * as ResultBackend from "./ResultBackend.js"
/**
 * @since 0.1.0
 */
export * as ResultBrowser from "./ResultBrowser.js"
/**
 * @since 0.1.0
 */
export * as RetryPolicy from "./RetryPolicy.js"
/**
 * @since 0.1.0
 */
export * as MemoryPipelineStore from "./MemoryPipelineStore.js"
/**
 * @since 0.1.0
 */
export * as PipelineDriver from "./PipelineDriver.js"
/**
 * @since 0.1.0
 */
export * as PipelineError from "./PipelineError.js"
/**
 * @since 0.1.0
 */
export * as PipelineStore from "./PipelineStore.js"
/**
 * @since 0.1.0
 */
export * as RedactUrl from "./RedactUrl.js"
/**
 * @since 0.1.0
 */
export * as Tracing from "./Tracing.js"
