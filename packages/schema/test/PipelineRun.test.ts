import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as PipelineRun from "@taskmeta/schema/PipelineRun"

const at = (iso: string) => DateTime.unsafeMake(iso)

const run: PipelineRun.PipelineRun = {
  execution: {
    runId: "r",
    pipelineId: "p",
    inputData: { n: 2n ** 70n },
    created: at("2026-01-01T00:00:00.000Z"),
    status: "RUNNING",
    message: null,
    started: at("2026-01-01T00:00:01.000Z"),
    completed: null
  },
  pipelineResults: [
    { id: "r:0", runId: "r", index: 0, object: "a", status: "DONE", message: { ok: 1 }, started: at("2026-01-01T00:00:01.000Z"), completed: at("2026-01-01T00:00:02.000Z") },
    { id: "mine", runId: "r", index: 1, object: "b", status: "PENDING", message: null, started: null, completed: null }
  ],
  taskExecutions: [
    { id: "r:0:t0", runId: "r", pipelineResultId: "r:0", index: 0, taskName: "load", config: null, status: "DONE", message: null, started: at("2026-01-01T00:00:01.000Z"), completed: at("2026-01-01T00:00:02.000Z") },
    { id: "mine:t0", runId: "r", pipelineResultId: "mine", index: 0, taskName: "load", config: { k: 1 }, status: "PENDING", message: null, started: null, completed: null }
  ],
  taskResults: [
    { id: "r:0:t0:0", runId: "r", taskExecutionId: "r:0:t0", index: 0, object: 1, status: "DONE", message: null, started: null, completed: at("2026-01-01T00:00:02.000Z") },
    { id: "r:0:t0:1", runId: "r", taskExecutionId: "r:0:t0", index: 1, object: 2, status: "RUNTIME_ERROR", message: "bad", started: null, completed: at("2026-01-01T00:00:02.000Z") }
  ]
}

describe("PipelineRun.RunLine", () => {
  const encode = Schema.encodeSync(PipelineRun.RunLine)
  const decode = Schema.decodeUnknownEither(PipelineRun.RunLine, { onExcessProperty: "error" })

  it("encodes a run as one nested line with every key, and decodes it back", () => {
    const line = encode(run)
    expect(Object.keys(line)).toEqual([
      "kind", "run_id", "pipeline_id", "input_data", "created", "status", "message", "started", "completed", "pipeline_results"
    ])
    expect(line.pipeline_results.map((pr) => [pr.id, pr.task_executions?.map((te) => te.task_results?.length)])).toEqual([
      ["r:0", [2]],
      ["mine", [0]]
    ])
    expect(Either.getOrThrow(decode(line))).toEqual(run)
  })

  it("reads a minimal line: ids, indexes, values and stamps left out are derived or null", () => {
    const decoded = Either.getOrThrow(decode({
      kind: "pipeline_run",
      run_id: "m",
      pipeline_id: "p",
      created: "2026-01-01T00:00:00Z",
      status: "PENDING",
      pipeline_results: [{ status: "PENDING", task_executions: [{ task_name: "t", status: "PENDING", task_results: [{ status: "PENDING" }] }] }]
    }))
    expect(decoded.execution).toMatchObject({ runId: "m", inputData: null, message: null, started: null, completed: null })
    expect(decoded.pipelineResults.map((r) => [r.id, r.index, r.object])).toEqual([["m:0", 0, null]])
    expect(decoded.taskExecutions.map((r) => [r.id, r.pipelineResultId, r.config])).toEqual([["m:0:t0", "m:0", null]])
    expect(decoded.taskResults.map((r) => [r.id, r.taskExecutionId])).toEqual([["m:0:t0:0", "m:0:t0"]])
  })

  it("refuses a run line without its tree, a wrong index, an id used twice and a bad status", () => {
    const line = encode(run)
    const { pipeline_results: _, ...listLine } = line
    expect(Either.isLeft(decode(listLine))).toBe(true)
    const wrongIndex = { ...line, pipeline_results: line.pipeline_results.map((pr, i) => (i === 1 ? { ...pr, index: 3 } : pr)) }
    expect(Either.isLeft(decode(wrongIndex))).toBe(true)
    const twice = { ...line, pipeline_results: line.pipeline_results.map((pr) => ({ ...pr, id: "same" })) }
    expect(Either.isLeft(decode(twice))).toBe(true)
    expect(Either.isLeft(decode({ ...line, status: "FINISHED" }))).toBe(true)
    expect(Either.isLeft(decode({ ...line, extra: 1 }))).toBe(true)
  })

  it("tallies count each parent's children, the final ones and the worst failure", () => {
    const t = PipelineRun.tallies(run)
    expect(t.execution).toEqual({ total: 2, final: 1, worst: null })
    expect(t.pipelineResults).toEqual([{ total: 1, final: 1, worst: null }, { total: 1, final: 0, worst: null }])
    expect(t.taskExecutions).toEqual([{ total: 2, final: 2, worst: "RUNTIME_ERROR" }, { total: 0, final: 0, worst: null }])
  })
})
