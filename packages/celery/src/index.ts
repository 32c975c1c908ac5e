/**
 * @since 0.1.0
 */
export * as CeleryCodec from "./CeleryCodec.js"
/**
 * @since 0.1.0
 */
export * as Pickle from "./Pickle.js"
/**
 * @since 0.1.0
 */
export * as ResultCodec from "./ResultCodec.js"
