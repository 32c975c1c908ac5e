/**
 * Error classification on arangojs's real error classes.
 */
import { describe, expect, it } from "@effect/vitest"
import { inspect } from "node:util"
import { ArangoError, FetchFailedError, HttpError, NetworkError, RequestAbortedError, ResponseTimeoutError } from "arangojs/errors"
import { DriverError } from "@taskmeta/core/BackendError"
import { ArangoFailure, classify, isTransient, toDriverError } from "../src/internal/classify.js"

const request = () =>
  new Request("http://127.0.0.1:1/_db/celery/_api/cursor", {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from("root:topsecret").toString("base64")}` }
  })

const response = (status: number) => Object.assign(new Response("x", { status }), { request: request() })

const arangoError = (errorNum: number, code: number, errorMessage = "boom") =>
  new ArangoError({ errorNum, code, errorMessage }, { cause: new HttpError(response(code)) })

const systemError = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code, syscall: "connect", errno: -111 })

describe("classify", () => {
  it("server errors: conflicts, unavailability and shutdown are transient; the rest are not", () => {
    expect(classify(arangoError(1200, 409), "put").transient).toBe(true)
    expect(classify(arangoError(503, 503), "getMany").transient).toBe(true)
    expect(classify(arangoError(1, 503), "getMany").transient).toBe(true)
    expect(classify(arangoError(30, 500), "getMany").transient).toBe(true)
    expect(classify(arangoError(1501, 400), "getMany").transient).toBe(false)
    expect(classify(arangoError(1203, 404), "put").transient).toBe(false)
    expect(classify(arangoError(11, 401), "put").transient).toBe(false)
    const f = classify(arangoError(1200, 409, "write-write conflict"), "put")
    expect([f.kind, f.errorNum, f.status]).toEqual(["server", 1200, 409])
    expect(f.message).toBe("write-write conflict (errorNum 1200, HTTP 409)")
  })

  it("a unique-constraint race is transient for the UPSERTs only", () => {
    expect(classify(arangoError(1210, 409), "put").transient).toBe(true)
    expect(classify(arangoError(1210, 409), "putGroup").transient).toBe(true)
    expect(classify(arangoError(1210, 409), "remove").transient).toBe(false)
  })

  it("HTTP errors without an ArangoDB body: only 503 is transient", () => {
    expect(classify(new HttpError(response(503)), "put")).toMatchObject({ kind: "http", status: 503, transient: true })
    expect(classify(new HttpError(response(502)), "put").transient).toBe(false)
    expect(classify(new HttpError(response(401)), "put").transient).toBe(false)
  })

  it("network errors are transient, except an abort and TLS failures", () => {
    const refused = new FetchFailedError(undefined, request(), {
      cause: new TypeError("fetch failed", { cause: systemError("ECONNREFUSED") })
    })
    expect(classify(refused, "getMany")).toMatchObject({ kind: "network", code: "ECONNREFUSED", transient: true })
    const reset = new FetchFailedError(undefined, request(), {
      cause: new TypeError("fetch failed", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) })
    })
    expect(classify(reset, "getMany").transient).toBe(true)
    expect(classify(new ResponseTimeoutError(undefined, request()), "put").transient).toBe(true)
    expect(classify(new NetworkError("socket hang up", request()), "put").transient).toBe(true)
    expect(classify(new RequestAbortedError(undefined, request()), "put").transient).toBe(false)
    const tls = new FetchFailedError(undefined, request(), {
      cause: new TypeError("fetch failed", {
        cause: Object.assign(new Error("self-signed certificate"), { code: "DEPTH_ZERO_SELF_SIGNED_CERT" })
      })
    })
    expect(classify(tls, "put")).toMatchObject({ code: "DEPTH_ZERO_SELF_SIGNED_CERT", transient: false })
  })

  it("a body cut off mid-read (bare TypeError with an undici cause) is transient; other errors are not", () => {
    const cut = new TypeError("terminated", { cause: Object.assign(new Error("other side closed"), { code: "UND_ERR_SOCKET" }) })
    expect(classify(cut, "getMany")).toMatchObject({ kind: "network", transient: true })
    expect(classify(new RangeError("nope"), "getMany")).toMatchObject({ kind: "unexpected", transient: false })
    expect(classify("a string", "getMany")).toMatchObject({ kind: "unexpected", transient: false })
  })

  it("keeps the original out of sight, so the Authorization header is never printed", () => {
    const original = arangoError(1200, 409)
    const failure = classify(original, "put")
    expect((failure as unknown as { original: unknown }).original).toBe(original)
    const error = toDriverError("put")(original)
    expect(error).toBeInstanceOf(DriverError)
    expect(error.operation).toBe("arango.put")
    expect(error.cause).toBeInstanceOf(ArangoFailure)
    expect(isTransient(error)).toBe(true)
    const encoded = Buffer.from("root:topsecret").toString("base64")
    for (const shown of [inspect(error, { depth: 20 }), JSON.stringify(error), String(error), error.message]) {
      expect(shown).not.toContain(encoded)
      expect(shown).not.toContain("topsecret")
    }
  })

  it("isTransient is false for causes it did not classify", () => {
    expect(isTransient(new DriverError({ operation: "x", cause: new Error("?") }))).toBe(false)
  })
})
