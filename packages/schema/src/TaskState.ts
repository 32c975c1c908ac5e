/**
 * Celery's task states, their sets and their precedence.
 *
 * A state is a plain string: the nine built-in ones below, or any other
 * string up to 50 characters (a custom state such as `PROGRESS`).
 *
 * @since 0.1.0
 */
import * as Order from "effect/Order"
import * as Schema from "effect/Schema"
import * as Text from "./Text.js"

/** @since 0.1.0 @category states */
export const PENDING = "PENDING"
/** @since 0.1.0 @category states */
export const RECEIVED = "RECEIVED"
/** @since 0.1.0 @category states */
export const STARTED = "STARTED"
/** @since 0.1.0 @category states */
export const SUCCESS = "SUCCESS"
/** @since 0.1.0 @category states */
export const FAILURE = "FAILURE"
/** @since 0.1.0 @category states */
export const REVOKED = "REVOKED"
/** @since 0.1.0 @category states */
export const REJECTED = "REJECTED"
/** @since 0.1.0 @category states */
export const RETRY = "RETRY"
/** @since 0.1.0 @category states */
export const IGNORED = "IGNORED"

/**
 * @since 0.1.0
 * @category models
 */
export type BuiltIn =
  | typeof PENDING
  | typeof RECEIVED
  | typeof STARTED
  | typeof SUCCESS
  | typeof FAILURE
  | typeof REVOKED
  | typeof REJECTED
  | typeof RETRY
  | typeof IGNORED

/**
 * A state: a built-in one or a custom string.
 *
 * @since 0.1.0
 * @category models
 */
export type TaskState = BuiltIn | (string & {})

/**
 * The longest state Celery's `status` column holds.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_LENGTH = 50

/**
 * What is wrong with a state, if anything: it must be 1 to 50 characters.
 *
 * @since 0.1.0
 * @category rules
 */
export const stateIssue = (state: string): string | undefined =>
  state.length === 0 ? "must be a non-empty string" : Text.lengthIssue(state, MAX_LENGTH) ?? Text.textIssue(state)

/**
 * A state (`stateIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const TaskState: Schema.Schema<TaskState> = Schema.String.pipe(
  Schema.filter(stateIssue, { jsonSchema: { minLength: 1, maxLength: MAX_LENGTH } })
).annotations({ identifier: "TaskState" })

/**
 * @since 0.1.0
 * @category models
 */
export const BUILT_IN: ReadonlySet<string> = new Set<string>([
  PENDING,
  RECEIVED,
  STARTED,
  SUCCESS,
  FAILURE,
  REVOKED,
  REJECTED,
  RETRY,
  IGNORED
])

/**
 * States after which a task will not change: SUCCESS, FAILURE, REVOKED.
 *
 * @since 0.1.0
 * @category sets
 */
export const READY_STATES: ReadonlySet<string> = new Set<string>([SUCCESS, FAILURE, REVOKED])

/**
 * @since 0.1.0
 * @category sets
 */
export const UNREADY_STATES: ReadonlySet<string> = new Set<string>([PENDING, RECEIVED, STARTED, REJECTED, RETRY])

/**
 * States whose result holds an error envelope.
 *
 * @since 0.1.0
 * @category sets
 */
export const EXCEPTION_STATES: ReadonlySet<string> = new Set<string>([RETRY, FAILURE, REVOKED])

/**
 * States whose error is re-raised to a caller waiting on the result.
 *
 * @since 0.1.0
 * @category sets
 */
export const PROPAGATE_STATES: ReadonlySet<string> = new Set<string>([FAILURE, REVOKED])

/** @since 0.1.0 @category predicates */
export const isReady = (state: string): boolean => READY_STATES.has(state)
/** @since 0.1.0 @category predicates */
export const isUnready = (state: string): boolean => UNREADY_STATES.has(state)
/** @since 0.1.0 @category predicates */
export const isException = (state: string): boolean => EXCEPTION_STATES.has(state)
/** @since 0.1.0 @category predicates */
export const isPropagated = (state: string): boolean => PROPAGATE_STATES.has(state)
/** @since 0.1.0 @category predicates */
export const isCustom = (state: string): boolean => !BUILT_IN.has(state)

// Highest first, with the slot custom states take.
const PRECEDENCE: ReadonlyArray<string | null> = [
  SUCCESS,
  FAILURE,
  null,
  REVOKED,
  STARTED,
  RECEIVED,
  REJECTED,
  RETRY,
  PENDING
]
const CUSTOM_RANK = PRECEDENCE.indexOf(null)

/**
 * The precedence rank of a state: 0 is the highest (SUCCESS). Custom states
 * rank between FAILURE and REVOKED, as in Celery. IGNORED, never stored,
 * ranks with the custom states.
 *
 * @since 0.1.0
 * @category precedence
 */
export const precedence = (state: string): number => {
  const index = PRECEDENCE.indexOf(state)
  return index === -1 ? CUSTOM_RANK : index
}

/**
 * Orders states from the highest precedence to the lowest.
 *
 * @since 0.1.0
 * @category precedence
 */
export const order: Order.Order<string> = Order.mapInput(Order.number, precedence)

/**
 * The state with the higher precedence of two (the first on a tie).
 *
 * @since 0.1.0
 * @category precedence
 */
export const highest = (a: string, b: string): string => (precedence(b) < precedence(a) ? b : a)

/**
 * `true` when `a` has strictly higher precedence than `b`.
 *
 * @since 0.1.0
 * @category precedence
 */
export const isHigher = (a: string, b: string): boolean => precedence(a) < precedence(b)
