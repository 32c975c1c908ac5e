/**
 * The shared conformance suite against the loopback FakeArango, which
 * emulates the exact statements the backend sends. It checks the driver end
 * to end (encoding, bind variables, cursor handling, decoding, retries) — it
 * is not ArangoDB and says nothing about how a real server runs the AQL.
 */
import { describe } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { ResultBackendConformance } from "@taskmeta/testkit"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as FakeArango from "./support/FakeArango.js"

describe("loopback FakeArango (emulated statements, not ArangoDB)", () => {
  ResultBackendConformance.suite("arango over FakeArango", (options) =>
    Layer.unwrapScoped(
      Effect.map(
        FakeArango.acquire(),
        (fake) => ArangoBackend.layer({ url: `arangodb://127.0.0.1:${fake.port}/celery/celery` }, options)
      )
    ), { timeout: 20_000 })
})
