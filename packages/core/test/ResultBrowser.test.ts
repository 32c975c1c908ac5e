/**
 * The parts of the browsing service that live in core: the stats helpers,
 * the error, and what only the memory browser has to get right (it tracks
 * the ids written through its driver). The behaviour every browser shares
 * runs from `@taskmeta/testkit`'s `ResultBrowserConformance`, for memory in
 * `packages/testkit/test/MemoryBrowser.test.ts`.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { MemoryBrowser, ResultBackend, ResultBrowser } from "@taskmeta/core"

const listIds = (filter?: ResultBrowser.Filter) =>
  Effect.flatMap(ResultBrowser.ResultBrowser, (browser) =>
    Effect.map(Stream.runCollect(browser.list(filter)), (c) => Chunk.toReadonlyArray(c).map((r) => r.taskId)))

describe("ResultBrowser.statsFromCounts", () => {
  it("adds up (state, name) counts: states in precedence order, names by total, ties by name (none first)", () => {
    const stats = ResultBrowser.statsFromCounts([
      { status: "FAILURE", name: "b", count: 1 },
      { status: "PROGRESS", name: null, count: 3 },
      { status: "SUCCESS", name: "b", count: 3 },
      { status: "SUCCESS", name: "a", count: 3 }
    ], 2)
    expect(stats.tasks).toBe(10)
    expect(stats.groups).toBe(2)
    expect(Object.entries(stats.byState)).toEqual([["SUCCESS", 6], ["FAILURE", 1], ["PROGRESS", 3]])
    expect(stats.failureRate).toBe(1 / 7)
    expect(stats.byName).toEqual([
      { name: "b", total: 4, byState: { SUCCESS: 3, FAILURE: 1 }, failureRate: 1 / 4 },
      { name: null, total: 3, byState: { PROGRESS: 3 }, failureRate: null },
      { name: "a", total: 3, byState: { SUCCESS: 3 }, failureRate: 0 }
    ])
  })

  it("has no failure rate when nothing finished", () => {
    expect(ResultBrowser.failureRate({ STARTED: 3, PROGRESS: 1 })).toBeNull()
    // a revoked task finished: it counts among the finished, not as a failure
    expect(ResultBrowser.failureRate({ STARTED: 3, REVOKED: 1 })).toBe(0)
    expect(ResultBrowser.failureRate({ SUCCESS: 2, FAILURE: 1, REVOKED: 1 })).toBe(1 / 4)
    expect(ResultBrowser.statsFromCounts([], 0)).toEqual({ tasks: 0, groups: 0, byState: {}, byName: [], failureRate: null })
  })
})

describe("ResultBrowser.BrowseError", () => {
  it("names the operation and the cause, and keeps the cause", () => {
    const cause = new Error("disk on fire")
    const error = new ResultBrowser.BrowseError({ operation: "list tasks", cause })
    expect(error._tag).toBe("BrowseError")
    expect(error.message).toBe("could not list tasks: disk on fire")
    expect(error.cause).toBe(cause)
  })
})

describe("MemoryBrowser", () => {
  it.effect("sees what is stored through the layer's ResultBackend, and no longer what is forgotten", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      yield* backend.store("a", 1, "SUCCESS")
      yield* backend.store("b", 2, "STARTED")
      yield* backend.store("c", 3, "SUCCESS")
      expect(yield* listIds()).toEqual(["c", "b", "a"])
      yield* backend.forget("b")
      expect(yield* listIds()).toEqual(["c", "a"])
      expect((yield* (yield* ResultBrowser.ResultBrowser).stats).tasks).toBe(2)
    }).pipe(Effect.provide(MemoryBrowser.layer())))

  it.effect("an ignored write (after SUCCESS) neither adds nor moves an id", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      yield* backend.store("a", 1, "SUCCESS")
      yield* backend.store("b", 2, "SUCCESS")
      yield* backend.store("a", 3, "FAILURE")
      expect(yield* listIds()).toEqual(["b", "a"])
      expect(yield* listIds({ states: ["FAILURE"] })).toEqual([])
    }).pipe(Effect.provide(MemoryBrowser.layer())))

  it.effect("groups deleted through the backend leave the export", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const browser = yield* ResultBrowser.ResultBrowser
      yield* backend.saveGroup("g1", ["a"])
      yield* backend.saveGroup("g2", ["b"])
      yield* backend.deleteGroup("g1")
      const groups = Chunk.toReadonlyArray(yield* Stream.runCollect(browser.exportGroups))
      expect(groups.map((g) => g.groupId)).toEqual(["g2"])
      expect((yield* browser.stats).groups).toBe(1)
    }).pipe(Effect.provide(MemoryBrowser.layer())))
})
