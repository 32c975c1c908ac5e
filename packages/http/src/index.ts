/**
 * @since 0.1.0
 */
export * as DashboardApi from "./DashboardApi.js"
/**
 * @since 0.1.0
 */
export * as DashboardServer from "./DashboardServer.js"
/**
 * @since 0.1.0
 */
export * as Metrics from "./Metrics.js"
/**
 * @since 0.1.0
 */
export * as Telemetry from "./Telemetry.js"
