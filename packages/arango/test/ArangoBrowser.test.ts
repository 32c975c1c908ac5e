/**
 * `ArangoBrowser` next to `ArangoBackend` on the same collection, against
 * the loopback FakeArango (which emulates the statements; it is not
 * ArangoDB): the shared `ResultBrowserConformance` suite, then what is
 * particular to ArangoDB. Against a real server the suite runs from
 * `ArangoBackend.conformance.test.ts` when TASKMETA_TEST_ARANGO_URL is set.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Stream from "effect/Stream"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import { ResultBrowserConformance } from "@taskmeta/testkit"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as ArangoBrowser from "../src/ArangoBrowser.js"
import * as FakeArango from "./support/FakeArango.js"

/** The backend and the browser on one URL. */
const layer = (url: string, options: BackendOptions.Input) =>
  Layer.provideMerge(ArangoBrowser.layer({ url }), ArangoBackend.layer({ url }, options))

const collect = <A, E>(stream: Stream.Stream<A, E>) => Effect.map(Stream.runCollect(stream), Chunk.toReadonlyArray)

describe("loopback FakeArango (emulated statements, not ArangoDB)", () => {
  ResultBrowserConformance.suite("arango over FakeArango", (options) =>
    Layer.unwrapScoped(
      Effect.map(FakeArango.acquire(), (fake) => layer(`arangodb://127.0.0.1:${fake.port}/celery/celery`, options))
    ), { timeout: 20_000, microsecondFilters: false })

  it.scoped("every read is a scan over the collection as a bind variable, none a lookup by id", () =>
    Effect.gen(function*() {
      const fake = yield* FakeArango.acquire()
      yield* Effect.gen(function*() {
        yield* ResultBrowserConformance.seed
        const browser = yield* ResultBrowser.ResultBrowser
        expect(browser.kind).toBe("arango")
        const before = fake.queries.length
        yield* collect(browser.list({ states: ["SUCCESS"], name: "multiply_two_numbers", since: DateTime.unsafeMake(0), limit: 1 }))
        yield* browser.stats
        yield* collect(browser.exportTasks)
        yield* collect(browser.exportGroups)
        yield* browser.countExpired
        const reads = fake.queries.slice(before)
        expect(reads.length).toBeGreaterThanOrEqual(5)
        for (const q of reads) expect(q.bindVars["@collection"]).toBe("celery")
        expect(reads.some((q) => q.query.includes("FILTER doc._key IN @keys"))).toBe(false)
      }).pipe(Effect.provide(layer(`arangodb://127.0.0.1:${fake.port}/celery/celery`, ResultBrowserConformance.options)))
    }))

  it.scoped("a wrong collection fails the read with a BrowseError naming ArangoDB's error, password never shown", () =>
    Effect.gen(function*() {
      const fake = yield* FakeArango.acquire()
      const error = yield* Effect.flip(
        Effect.flatMap(ResultBrowser.ResultBrowser, (browser) => browser.stats).pipe(
          Effect.provide(layer(`arangodb://root:hunter2@127.0.0.1:${fake.port}/celery/nope`, {}))
        )
      )
      expect(error._tag).toBe("BrowseError")
      expect(error.message).toMatch(/^could not count tasks: .*errorNum 1203/)
      expect(error.message).not.toContain("hunter2")
    }))
})
