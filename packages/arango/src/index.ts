/**
 * @since 0.1.0
 */
export * as ArangoBackend from "./ArangoBackend.js"
/**
 * @since 0.1.0
 */
export * as ArangoBrowser from "./ArangoBrowser.js"
/**
 * @since 0.1.0
 */
export * as ArangoConfig from "./ArangoConfig.js"
/**
 * @since 0.1.0
 */
export * as ArangoDocument from "./ArangoDocument.js"
/**
 * @since 0.1.0
 */
export * as ArangoScan from "./ArangoScan.js"
/**
 * @since 0.1.0
 */
export * as ArangoPipelineStore from "./ArangoPipelineStore.js"
