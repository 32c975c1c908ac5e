/**
 * The shared pipeline conformance suite against the loopback
 * FakePipelineArango, which emulates stream transactions (with immediate
 * write-write conflicts) and the exact statements the store sends. It checks
 * the driver end to end — documents, bind variables, transactions, decoding,
 * conflict retries — it is not ArangoDB and says nothing about how a real
 * server runs the AQL.
 */
import { describe } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { PipelineConformance } from "@taskmeta/testkit"
import * as ArangoPipelineStore from "../src/ArangoPipelineStore.js"
import { FakePipelineArango } from "./support/FakePipelineArango.js"

describe("loopback FakePipelineArango (emulated statements and transactions, not ArangoDB)", () => {
  PipelineConformance.suite(
    "arango over FakePipelineArango",
    Layer.unwrapScoped(
      Effect.gen(function*() {
        const fake = yield* Effect.acquireRelease(
          Effect.promise(async () => {
            const f = new FakePipelineArango()
            await f.start()
            return f
          }),
          (f) => Effect.promise(() => f.stop())
        )
        return ArangoPipelineStore.layer(
          // The store's own default retry policy (`defaultRetry`): the concurrency tests conflict (1200) a lot
          // here, since the fake fails a conflicting write at once where a server first waits for the lock.
          { url: `arangodb://127.0.0.1:${fake.port}/pipelines`, create: true }
        )
      })
    ),
    { timeout: 30_000 }
  )
})
