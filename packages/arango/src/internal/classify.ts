/**
 * The one place arangojs errors are looked at: each becomes an
 * `ArangoFailure` (kind, message, errorNum, HTTP status, system code, and
 * whether it is transient), inside core's `DriverError`.
 *
 * arangojs errors carry the `Request` (with its `authorization` header); the
 * failure keeps the original only as a non-enumerable `original` property, so
 * printing, logging or serialising a failure never shows credentials.
 */
import * as Schema from "effect/Schema"
import { DriverError } from "@taskmeta/core/BackendError"
import { isArangoError, HttpError, NetworkError, RequestAbortedError } from "arangojs/errors"

/** Write-write conflict. */
export const ERROR_ARANGO_CONFLICT = 1200
/** Unique constraint violated: two UPSERTs of a new key raced; retrying finds the document. */
export const ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED = 1210
/** The server is shutting down. */
export const ERROR_SHUTTING_DOWN = 30
/** Maintenance mode (arangojs marks it safe to retry). */
export const ERROR_ARANGO_MAINTENANCE_MODE = 503

/**
 * A storage failure, safe to print.
 */
export class ArangoFailure extends Schema.TaggedError<ArangoFailure>("@taskmeta/arango/ArangoFailure")(
  "ArangoFailure",
  {
    kind: Schema.Literal("server", "http", "network", "unexpected"),
    message: Schema.String,
    errorNum: Schema.optional(Schema.Number),
    status: Schema.optional(Schema.Number),
    code: Schema.optional(Schema.String),
    transient: Schema.Boolean
  }
) {}

// Network-level codes worth a retry: the connection was refused, lost or timed out.
const TRANSIENT_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT"
])

// TLS failures: retrying cannot help.
const isTlsCode = (code: string) =>
  code.startsWith("ERR_TLS") || code.startsWith("ERR_SSL") || code.includes("CERT") ||
  code === "UNABLE_TO_VERIFY_LEAF_SIGNATURE" || code === "DEPTH_ZERO_SELF_SIGNED_CERT" ||
  code === "SELF_SIGNED_CERT_IN_CHAIN" || code === "EPROTO"

/** The first string `code` along the cause chain. */
const systemCode = (error: unknown): string | undefined => {
  let current: unknown = error
  for (let depth = 0; depth < 16 && current != null; depth++) {
    const code = (current as { readonly code?: unknown }).code
    if (typeof code === "string") return code
    current = (current as { readonly cause?: unknown }).cause
  }
  return undefined
}

/** The innermost message along the cause chain that says more than "fetch failed". */
const innerMessage = (error: Error): string => {
  let message = error.message
  let current: unknown = error.cause
  for (let depth = 0; depth < 16 && current instanceof Error; depth++) {
    if (current.message && current.message !== "fetch failed") message = current.message
    current = current.cause
  }
  return message
}

const withOriginal = (failure: ArangoFailure, original: unknown): ArangoFailure => {
  Object.defineProperty(failure, "original", { value: original, enumerable: false, configurable: true })
  return failure
}

/**
 * Classifies anything arangojs (or the code around it) failed with.
 * `operation` decides the one context-dependent case: a unique-constraint
 * violation is transient for the UPSERT writes (`put`, `putGroup`) only.
 */
export const classify = (error: unknown, operation: string): ArangoFailure => {
  if (error instanceof ArangoFailure) return error
  if (isArangoError(error)) {
    const errorNum = error.errorNum
    const status = typeof error.code === "number" ? error.code : undefined
    const transient = errorNum === ERROR_ARANGO_CONFLICT ||
      errorNum === ERROR_SHUTTING_DOWN ||
      errorNum === ERROR_ARANGO_MAINTENANCE_MODE ||
      status === 503 ||
      error.isSafeToRetry === true ||
      (errorNum === ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED && (operation === "put" || operation === "putGroup"))
    return withOriginal(
      new ArangoFailure({
        kind: "server",
        message: `${error.message} (errorNum ${errorNum}${status === undefined ? "" : `, HTTP ${status}`})`,
        errorNum,
        ...(status === undefined ? {} : { status }),
        transient
      }),
      error
    )
  }
  if (error instanceof HttpError) {
    return withOriginal(
      new ArangoFailure({
        kind: "http",
        message: `HTTP ${error.code} ${error.message}`,
        status: error.code,
        transient: error.code === 503
      }),
      error
    )
  }
  if (error instanceof NetworkError) {
    const code = systemCode(error.cause)
    const aborted = error instanceof RequestAbortedError
    const tls = code !== undefined && isTlsCode(code)
    return withOriginal(
      new ArangoFailure({
        kind: "network",
        message: `${error.name}: ${innerMessage(error)}`,
        ...(code === undefined ? {} : { code }),
        transient: !aborted && !tls
      }),
      error
    )
  }
  if (error instanceof Error) {
    // A body cut off mid-read surfaces as a bare TypeError with an undici cause.
    const code = systemCode(error)
    return withOriginal(
      new ArangoFailure({
        kind: code !== undefined && TRANSIENT_CODES.has(code) ? "network" : "unexpected",
        message: `${error.name}: ${innerMessage(error)}`,
        ...(code === undefined ? {} : { code }),
        transient: code !== undefined && TRANSIENT_CODES.has(code)
      }),
      error
    )
  }
  return new ArangoFailure({ kind: "unexpected", message: String(error), transient: false })
}

/** Maps a failure to core's `DriverError`, naming the operation. */
export const toDriverError = (operation: string) => (error: unknown): DriverError =>
  new DriverError({ operation: `arango.${operation}`, cause: classify(error, operation) })

/** The driver's `isTransient`. */
export const isTransient = (error: DriverError): boolean =>
  error.cause instanceof ArangoFailure && error.cause.transient
