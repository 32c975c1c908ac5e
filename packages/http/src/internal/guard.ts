/**
 * The middleware in front of everything the server answers (pages, API,
 * events, metrics): the Host check, credentials, same-origin writes, the
 * security headers, and JSON errors instead of empty 500s.
 */
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { createHash, timingSafeEqual } from "node:crypto"

export interface Credentials {
  readonly username: string
  readonly password: Redacted.Redacted<string>
}

export interface GuardOptions {
  readonly credentials: Credentials | undefined
  /** Host names (the Host header without its port) accepted, lower case; `undefined` accepts any. */
  readonly hosts: ReadonlySet<string> | undefined
}

/** Scripts, styles, images and connections from the server itself only; no inline script, no framing. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'"
].join("; ")

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin"
}

export const errorResponse = (status: number, tag: string, message: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.unsafeJson({ _tag: tag, message }, { status, headers })

const digest = (text: string) => createHash("sha256").update(text, "utf8").digest()

/** Whether an `Authorization` header carries the credentials (compared in constant time). */
export const authorized = (header: string | undefined, credentials: Credentials): boolean => {
  if (header === undefined || !/^basic /i.test(header)) return false
  const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8")
  const colon = decoded.indexOf(":")
  if (colon === -1) return false
  const userOk = timingSafeEqual(digest(decoded.slice(0, colon)), digest(credentials.username))
  const passwordOk = timingSafeEqual(digest(decoded.slice(colon + 1)), digest(Redacted.value(credentials.password)))
  return userOk && passwordOk
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"])

/** Why a write is refused as cross-origin, if it is. */
export const crossOrigin = (request: HttpServerRequest.HttpServerRequest): string | undefined => {
  const origin = request.headers["origin"]
  const host = request.headers["host"]
  if (origin !== undefined && origin !== "null") {
    if (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`) {
      return "writes are accepted from this server's own pages only"
    }
  } else if (origin === "null") {
    return "writes are accepted from this server's own pages only"
  }
  const site = request.headers["sec-fetch-site"]
  if (site !== undefined && site !== "same-origin" && site !== "none") {
    return "writes are accepted from this server's own pages only"
  }
  const type = request.headers["content-type"]
  if (request.method === "POST" && (type === undefined || !type.toLowerCase().startsWith("application/json"))) {
    return "writes must send application/json"
  }
  return undefined
}

export const make = (options: GuardOptions) => (app: HttpApp.Default): HttpApp.Default<never, never> =>
  Effect.gen(function*() {
    const request = yield* HttpServerRequest.HttpServerRequest
    const host = request.headers["host"]
    if (options.hosts !== undefined && (host === undefined || !options.hosts.has(hostname(host)))) {
      // DNS rebinding: another name resolving to this loopback server.
      return errorResponse(403, "Forbidden", "unexpected Host header")
    }
    if (options.credentials !== undefined && !authorized(request.headers["authorization"], options.credentials)) {
      return errorResponse(401, "Unauthorized", "credentials required", {
        "www-authenticate": "Basic realm=\"taskmeta\", charset=\"UTF-8\""
      })
    }
    if (!SAFE_METHODS.has(request.method)) {
      const refused = crossOrigin(request)
      if (refused !== undefined) {
        yield* Effect.logWarning("refused a write").pipe(
          Effect.annotateLogs({ method: request.method, path: request.url.split("?")[0], origin: request.headers["origin"] ?? "", reason: refused })
        )
        return errorResponse(403, "Forbidden", refused)
      }
    }
    // Routes may send their response before it comes back here: the headers go on as it is sent.
    yield* HttpApp.appendPreResponseHandler((_, response) =>
      Effect.succeed(
        // The router's own 404 (no route) has no body: say it in JSON like every other error.
        response.status === 404 && response.body._tag === "Empty"
          ? secured(errorResponse(404, "NotFound", "no such page"))
          : secured(response)
      ))
    return yield* app
  }).pipe(
    Effect.catchAllCause((cause) => {
      const failure = Cause.failureOption(cause)
      if (Option.isSome(failure) && isRouteNotFound(failure.value)) {
        return Effect.succeed(errorResponse(404, "NotFound", "no such page"))
      }
      if (Cause.isInterruptedOnly(cause)) return Effect.interrupt
      return Effect.as(
        Effect.logError("request failed", cause),
        errorResponse(500, "InternalError", "the server failed to answer; see its log")
      )
    }),
    Effect.map(secured)
  )

const secured = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, { ...SECURITY_HEADERS, ...noStore(response) })

const isRouteNotFound = (error: unknown): boolean =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "RouteNotFound"

const noStore = (response: HttpServerResponse.HttpServerResponse): Record<string, string> =>
  response.headers["cache-control"] === undefined ? { "cache-control": "no-store" } : {}

/** A Host header's name, without the port, lower case. */
export const hostname = (host: string): string => {
  const lower = host.trim().toLowerCase()
  if (lower.startsWith("[")) {
    const end = lower.indexOf("]")
    return end === -1 ? lower : lower.slice(0, end + 1)
  }
  const colon = lower.indexOf(":")
  return colon === -1 ? lower : lower.slice(0, colon)
}

/** Whether an address is a loopback one. */
export const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host === "[::1]" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)
