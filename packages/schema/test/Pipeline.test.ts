import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as fc from "fast-check"
import * as Pipeline from "@taskmeta/schema/Pipeline"

const S = Pipeline.STATUSES

describe("Pipeline statuses", () => {
  it("has seven statuses, five final, four failed", () => {
    expect(S).toEqual(["PENDING", "RUNNING", "DONE", "CONFIG_ERROR", "VALIDATION_ERROR", "RUNTIME_ERROR", "CANCELLED"])
    expect(S.filter(Pipeline.isFinal)).toEqual(["DONE", ...Pipeline.FAILURES])
    expect(S.filter(Pipeline.isFailed)).toEqual([...Pipeline.FAILURES])
  })

  it("canAdvance: final never changes, any final follows a non-final, else only PENDING → RUNNING", () => {
    const allowed: Array<string> = []
    for (const from of S) for (const to of S) if (Pipeline.canAdvance(from, to)) allowed.push(`${from}>${to}`)
    expect(allowed.sort()).toEqual(
      [
        "PENDING>RUNNING",
        ...["PENDING", "RUNNING"].flatMap((from) =>
          ["DONE", "CONFIG_ERROR", "VALIDATION_ERROR", "RUNTIME_ERROR", "CANCELLED"].map((to) => `${from}>${to}`)
        )
      ].sort()
    )
  })

  it("advanceableFrom lists exactly the statuses canAdvance allows", () => {
    for (const to of S) {
      expect([...Pipeline.advanceableFrom(to)].sort()).toEqual(S.filter((from) => Pipeline.canAdvance(from, to)).sort())
    }
  })

  it("worse picks the more severe failure", () => {
    expect(Pipeline.worse(null, null)).toBeNull()
    expect(Pipeline.worse(null, "CANCELLED")).toBe("CANCELLED")
    expect(Pipeline.worse("CANCELLED", "RUNTIME_ERROR")).toBe("RUNTIME_ERROR")
    expect(Pipeline.worse("RUNTIME_ERROR", "VALIDATION_ERROR")).toBe("VALIDATION_ERROR")
    expect(Pipeline.worse("CONFIG_ERROR", "VALIDATION_ERROR")).toBe("CONFIG_ERROR")
    expect(Pipeline.worse("CONFIG_ERROR", null)).toBe("CONFIG_ERROR")
  })
})

describe("Pipeline propagation", () => {
  it("a child leaving PENDING makes a PENDING parent RUNNING, once", () => {
    const t = Pipeline.emptyTally(3)
    expect(Pipeline.propagate("PENDING", t, "PENDING", "RUNNING")).toEqual({ status: "RUNNING", tally: t })
    expect(Pipeline.propagate("RUNNING", t, "PENDING", "RUNNING")).toEqual({ status: "RUNNING", tally: t })
    const done = Pipeline.propagate("PENDING", t, "PENDING", "DONE")
    expect(done).toEqual({ status: "RUNNING", tally: { total: 3, final: 1, worst: null } })
  })

  it("the last final child settles the parent: DONE, or the worst failure", () => {
    const almost = { total: 3, final: 2, worst: "CANCELLED" as const }
    expect(Pipeline.propagate("RUNNING", almost, "RUNNING", "DONE").status).toBe("CANCELLED")
    expect(Pipeline.propagate("RUNNING", almost, "RUNNING", "RUNTIME_ERROR")).toEqual({
      status: "RUNTIME_ERROR",
      tally: { total: 3, final: 3, worst: "RUNTIME_ERROR" }
    })
    expect(Pipeline.propagate("RUNNING", { total: 2, final: 1, worst: null }, "PENDING", "DONE").status).toBe("DONE")
  })

  it("a final parent keeps its status but its tally still counts", () => {
    const out = Pipeline.propagate("CANCELLED", { total: 2, final: 1, worst: null }, "RUNNING", "DONE")
    expect(out).toEqual({ status: "CANCELLED", tally: { total: 2, final: 2, worst: null } })
  })

  it("a final-to-anything move (which the advance rule forbids) never counts twice", () => {
    const t = { total: 2, final: 1, worst: null }
    expect(Pipeline.tallyChild(t, "DONE", "RUNTIME_ERROR")).toBe(t)
    expect(Pipeline.tallyChild(t, "PENDING", "RUNNING")).toBe(t)
  })

  it("a parent without children is never settled by propagation", () => {
    expect(Pipeline.aggregate(Pipeline.emptyTally(0), "PENDING")).toBe("PENDING")
    expect(Pipeline.aggregate(Pipeline.emptyTally(0), "DONE")).toBe("RUNNING")
  })

  it("whatever the order of the children's reports, the parent ends in the same status", () => {
    const report = fc.record({
      child: fc.nat({ max: 5 }),
      status: fc.constantFrom(...S)
    })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 6 }), fc.array(report, { maxLength: 40 }), (n, reports) => {
        const children: Array<Pipeline.Status> = Array.from({ length: n }, () => "PENDING")
        let parent: Pipeline.Status = "PENDING"
        let tally = Pipeline.emptyTally(n)
        const apply = (child: number, status: Pipeline.Status) => {
          const from = children[child]
          if (!Pipeline.canAdvance(from, status)) return
          children[child] = status
          const next = Pipeline.propagate(parent, tally, from, status)
          parent = next.status
          tally = next.tally
        }
        for (const r of reports) if (r.child < n) apply(r.child, r.status)
        // Finish every child that is still open.
        for (let c = 0; c < n; c++) apply(c, "DONE")
        expect(tally.final).toBe(n)
        const failures = children.filter(Pipeline.isFailed)
        const expected = failures.reduce<Pipeline.Status | null>((w, s) => Pipeline.worse(w, s), null) ?? "DONE"
        expect(parent).toBe(expected)
      })
    )
  })
})

describe("Pipeline records", () => {
  it("derives ids from the run id and positions", () => {
    const pr = Pipeline.pipelineResultId("run-1", 3)
    const te = Pipeline.taskExecutionId(pr, 0)
    expect([pr, te, Pipeline.taskResultId(te, 12)]).toEqual(["run-1:3", "run-1:3:t0", "run-1:3:t0:12"])
    const longest = Pipeline.taskResultId(
      Pipeline.taskExecutionId(Pipeline.pipelineResultId("r".repeat(Pipeline.MAX_NAME_LENGTH), 999_999), 999),
      999_999
    )
    expect(longest.length).toBeLessThanOrEqual(Pipeline.MAX_ID_LENGTH)
  })

  it("decodes and encodes records, bigints and all", () => {
    const encoded = {
      id: "r:0:t1:2",
      runId: "r",
      taskExecutionId: "r:0:t1",
      index: 2,
      object: { n: 2n ** 64n },
      status: "RUNTIME_ERROR",
      message: { exc_type: "ValueError" },
      started: "2024-05-01T10:00:00.000Z",
      completed: "2024-05-01T10:00:01.500Z"
    }
    const decoded = Schema.decodeUnknownSync(Pipeline.TaskResult)(encoded)
    expect(DateTime.toEpochMillis(decoded.completed!) - DateTime.toEpochMillis(decoded.started!)).toBe(1500)
    expect(decoded.object).toEqual({ n: 2n ** 64n })
    expect(Schema.encodeSync(Pipeline.TaskResult)(decoded)).toEqual(encoded)
    expect(Either.isLeft(Schema.decodeUnknownEither(Pipeline.TaskResult)({ ...encoded, status: "SUCCESS" }))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Pipeline.TaskResult)({ ...encoded, index: -1 }))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Pipeline.PipelineExecution)({ runId: "" }))).toBe(true)
  })

  it("checks names and ids with the rules the stores use, with the same messages", () => {
    expect(Pipeline.nameIssue("run-1")).toBeUndefined()
    expect(Pipeline.nameIssue("")).toBe("must not be empty")
    expect(Pipeline.nameIssue("r".repeat(155))).toBeUndefined()
    expect(Pipeline.nameIssue("r".repeat(156))).toBe("is 156 characters, at most 155 fit")
    expect(Pipeline.idIssue("i".repeat(255))).toBeUndefined()
    expect(Pipeline.idIssue("i".repeat(256))).toBe("is 256 characters, at most 255 fit")
    expect(Pipeline.idIssue("")).toBe("must not be empty")
    const messages = (schema: Schema.Schema<string>, value: unknown) =>
      Either.match(Schema.decodeUnknownEither(schema)(value), {
        onLeft: (e) => ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => i.message),
        onRight: () => []
      })
    for (const value of ["", "r", "r".repeat(156), "r".repeat(256)]) {
      const name = Pipeline.nameIssue(value)
      const id = Pipeline.idIssue(value)
      expect(messages(Pipeline.Name, value)).toEqual(name === undefined ? [] : [name])
      expect(messages(Pipeline.Id, value)).toEqual(id === undefined ? [] : [id])
    }
  })

  it("describes a digest", () => {
    const encoded = {
      pipelineId: "p",
      totalRuns: 3,
      successes: 1,
      failures: 1,
      lastRan: "2024-05-01T10:00:00.000Z",
      averageRuntimeMs: 1500.5
    }
    expect(Schema.decodeUnknownSync(Pipeline.Digest)(encoded).totalRuns).toBe(3)
    expect(Either.isLeft(Schema.decodeUnknownEither(Pipeline.Digest)({ ...encoded, totalRuns: -1 }))).toBe(true)
    expect(Either.isLeft(Schema.decodeUnknownEither(Pipeline.Digest)({ ...encoded, averageRuntimeMs: -5 }))).toBe(true)
  })
})
