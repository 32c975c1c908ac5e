/**
 * Text every store keeps as it was given, and the rules for it.
 *
 * The rules are plain functions returning what is wrong (`undefined` when
 * nothing is), so that the services can run them on every store and read
 * without a decode or an allocation, and the schemas run exactly the same
 * functions through `Schema.filter`: one rule, one message, wherever it is
 * checked.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

// A high surrogate not followed by a low one, or a low one not preceded by a high one.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/

/**
 * What keeps a string from being stored as given, if anything: a NUL
 * character (PostgreSQL's text refuses it) or an unpaired surrogate (drivers
 * would store U+FFFD, a different string).
 *
 * @since 0.1.0
 * @category rules
 */
export const textIssue = (value: string): string | undefined =>
  value.includes("\u0000")
    ? "must not contain a NUL character"
    : LONE_SURROGATE.test(value)
    ? "must be well-formed Unicode (it has an unpaired surrogate)"
    : undefined

/**
 * Whether a string is longer than `max` characters (UTF-16 code units, as
 * `String.length` counts them).
 *
 * @since 0.1.0
 * @category rules
 */
export const lengthIssue = (value: string, max: number): string | undefined =>
  value.length > max ? `is ${value.length} characters, at most ${max} fit` : undefined

/**
 * Whether a string is empty or longer than `max` characters.
 *
 * @since 0.1.0
 * @category rules
 */
export const nonEmptyIssue = (value: string, max: number): string | undefined =>
  value.length === 0 ? "must not be empty" : lengthIssue(value, max)

/**
 * A string without NUL characters or unpaired surrogates (`textIssue`).
 *
 * @since 0.1.0
 * @category schemas
 */
export const Text = Schema.String.pipe(Schema.filter(textIssue)).annotations({ identifier: "Text" })
