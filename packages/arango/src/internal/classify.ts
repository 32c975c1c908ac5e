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
/** A stream transaction the server no longer knows (expired after its idle timeout, or aborted). */
export const ERROR_TRANSACTION_NOT_FOUND = 1655

/**
 * Operations for which a unique-constraint violation (1210) means "another
 * writer got there first" and a retry finds the document: the two UPSERTs of
 * the result backend, and the insert of a run's execution document (two
 * builds of one run racing; the retry sees the run and reports it exists).
 */
const UNIQUE_RACE_OPERATIONS: ReadonlySet<string> = new Set(["put", "putGroup", "pipeline.insert.insertExecution"])

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
 * `operation` decides the context-dependent cases: a unique-constraint
 * violation is transient for the UPSERT writes (`put`, `putGroup`) and the
 * pipeline store's execution insert only; a lost stream transaction (1655)
 * for the pipeline store's operations (`pipeline.*`) only.
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
      (errorNum === ERROR_ARANGO_UNIQUE_CONSTRAINT_VIOLATED && UNIQUE_RACE_OPERATIONS.has(operation)) ||
      // The pipeline store retries a whole stream transaction from its start, so a lost one is worth a retry.
      (errorNum === ERROR_TRANSACTION_NOT_FOUND && operation.startsWith("pipeline."))
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
