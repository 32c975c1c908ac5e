/**
 * The error envelope Celery stores as the result of FAILURE, RETRY and
 * REVOKED tasks: `{ exc_type, exc_message: [...args], exc_module }`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import * as Json from "./Json.js"

/**
 * @since 0.1.0
 * @category schemas
 */
export class ExceptionInfo extends Schema.Class<ExceptionInfo>("@taskmeta/schema/ExceptionInfo")({
  exc_type: Schema.String,
  exc_message: Schema.Array(Json.Json),
  exc_module: Schema.optionalWith(Schema.NullOr(Schema.String), { default: () => "builtins" })
}) {}

/**
 * @since 0.1.0
 * @category models
 */
export interface Encoded {
  readonly exc_type: string
  readonly exc_message: ReadonlyArray<Json.Json>
  readonly exc_module: string | null
}

/**
 * Builds the envelope from a JavaScript error (or anything thrown). The
 * message becomes the single argument, as Python's `Exception(msg)` would.
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromError = (error: unknown, module = "builtins"): Encoded => {
  if (error instanceof Error) {
    const tag = (error as { readonly _tag?: unknown })._tag
    return {
      exc_type: typeof tag === "string" ? tag : error.name || "Error",
      exc_message: error.message === "" ? [] : [error.message],
      exc_module: module
    }
  }
  return { exc_type: "Exception", exc_message: [String(error)], exc_module: module }
}

/**
 * Builds the envelope from its parts.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (excType: string, args: ReadonlyArray<Json.Json>, module: string | null = "builtins"): Encoded => ({
  exc_type: excType,
  exc_message: args,
  exc_module: module
})

/**
 * Recognises an envelope inside a stored result.
 *
 * @since 0.1.0
 * @category guards
 */
export const isEncoded = (u: unknown): u is Encoded =>
  typeof u === "object" && u !== null && !Array.isArray(u) &&
  typeof (u as Record<string, unknown>).exc_type === "string" &&
  Array.isArray((u as Record<string, unknown>).exc_message)

/**
 * One line for people: `ValueError: boom`.
 *
 * @since 0.1.0
 * @category formatting
 */
export const format = (info: Encoded): string => {
  const args = info.exc_message.map((a) => (typeof a === "string" ? a : Json.stringify(a)))
  return args.length === 0 ? info.exc_type : `${info.exc_type}: ${args.join(", ")}`
}
