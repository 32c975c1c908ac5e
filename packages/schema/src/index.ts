/**
 * @since 0.1.0
 */
export * as ExceptionInfo from "./ExceptionInfo.js"
/**
 * @since 0.1.0
 */
export * as GroupRecord from "./GroupRecord.js"
/**
 * @since 0.1.0
 */
export * as Json from "./Json.js"
/**
 * @since 0.1.0
 */
export * as Pipeline from "./Pipeline.js"
/**
 * @since 0.1.0
 */
export * as PipelineRun from "./PipelineRun.js"
/**
 * @since 0.1.0
 */
export * as TaskRecord from "./TaskRecord.js"
/**
 * @since 0.1.0
 */
export * as TaskState from "./TaskState.js"
/**
 * @since 0.1.0
 */
export * as Text from "./Text.js"
/**
 * @since 0.1.0
 */
export * as UtcTime from "./UtcTime.js"
