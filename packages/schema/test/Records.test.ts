import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ExceptionInfo, GroupRecord, TaskRecord, TaskState } from "@taskmeta/schema"

describe("TaskState", () => {
  it("has Celery's sets", () => {
    expect([...TaskState.READY_STATES].sort()).toEqual(["FAILURE", "REVOKED", "SUCCESS"])
    expect([...TaskState.UNREADY_STATES].sort()).toEqual(["PENDING", "RECEIVED", "REJECTED", "RETRY", "STARTED"])
    expect([...TaskState.EXCEPTION_STATES].sort()).toEqual(["FAILURE", "RETRY", "REVOKED"])
    expect([...TaskState.PROPAGATE_STATES].sort()).toEqual(["FAILURE", "REVOKED"])
    expect(TaskState.isReady("PROGRESS")).toBe(false)
    expect(TaskState.isCustom("PROGRESS")).toBe(true)
    expect(TaskState.isCustom("IGNORED")).toBe(false)
  })

  it("orders by precedence with custom states between FAILURE and REVOKED", () => {
    expect(TaskState.precedence("SUCCESS")).toBe(0)
    expect(TaskState.precedence("PENDING")).toBe(8)
    expect(TaskState.precedence("ANYTHING")).toBe(TaskState.precedence("PROGRESS"))
    expect(TaskState.precedence("FAILURE")).toBeLessThan(TaskState.precedence("PROGRESS"))
    expect(TaskState.precedence("PROGRESS")).toBeLessThan(TaskState.precedence("REVOKED"))
  })

  it("validates state length", () => {
    const decode = Schema.decodeUnknownEither(TaskState.TaskState)
    expect(Either.isRight(decode("X".repeat(50)))).toBe(true)
    expect(Either.isLeft(decode("X".repeat(51)))).toBe(true)
    expect(Either.isLeft(decode(""))).toBe(true)
  })
})

describe("TaskRecord", () => {
  const record: TaskRecord.TaskRecord = {
    taskId: "t1",
    status: "SUCCESS",
    result: { n: 2n ** 70n },
    traceback: null,
    dateDone: DateTime.unsafeMake("2024-01-02T03:04:05.678Z"),
    name: "multiply_two_numbers",
    args: [16, 16],
    kwargs: {},
    worker: "w",
    retries: 0,
    queue: "celery"
  }

  it("encodes dateDone as ISO text and decodes it back", () => {
    const encoded = Schema.encodeSync(TaskRecord.TaskRecord)(record)
    expect(encoded.dateDone).toBe("2024-01-02T03:04:05.678Z")
    expect(Schema.decodeSync(TaskRecord.TaskRecord)(encoded)).toEqual(record)
  })

  it("maps to and from the CLI's JSON line shape", () => {
    const line = Schema.encodeSync(TaskRecord.TaskLine)(record)
    expect(line).toEqual({
      kind: "task",
      task_id: "t1",
      status: "SUCCESS",
      result: { n: 2n ** 70n },
      traceback: null,
      date_done: "2024-01-02T03:04:05.678Z",
      name: "multiply_two_numbers",
      args: [16, 16],
      kwargs: {},
      worker: "w",
      retries: 0,
      queue: "celery"
    })
    expect(Schema.decodeUnknownSync(TaskRecord.TaskLine)(line)).toEqual(record)
  })

  it("rejects over-long ids and bad fields", () => {
    const decode = Schema.decodeUnknownEither(TaskRecord.TaskLine)
    const line = Schema.encodeSync(TaskRecord.TaskLine)(record)
    expect(Either.isLeft(decode({ ...line, task_id: "x".repeat(156) }))).toBe(true)
    expect(Either.isLeft(decode({ ...line, task_id: "" }))).toBe(true)
    expect(Either.isLeft(decode({ ...line, retries: 1.5 }))).toBe(true)
    expect(Either.isLeft(decode({ ...line, date_done: "not a date" }))).toBe(true)
    expect(Either.isLeft(decode({ ...line, kind: "group" }))).toBe(true)
  })

  it("builds the synthetic PENDING record", () => {
    expect(TaskRecord.pending("x")).toMatchObject({ taskId: "x", status: "PENDING", result: null, dateDone: null })
  })
})

describe("GroupRecord", () => {
  it("maps to and from the JSON line shape", () => {
    const group: GroupRecord.GroupRecord = {
      groupId: "g",
      taskIds: ["a", "b"],
      dateDone: DateTime.unsafeMake("2024-05-06T07:08:09.000Z")
    }
    const line = Schema.encodeSync(GroupRecord.GroupLine)(group)
    expect(line).toEqual({ kind: "group", group_id: "g", task_ids: ["a", "b"], date_done: "2024-05-06T07:08:09.000Z" })
    expect(Schema.decodeUnknownSync(GroupRecord.GroupLine)(line)).toEqual(group)
    expect(Either.isLeft(Schema.decodeUnknownEither(GroupRecord.GroupLine)({ ...line, task_ids: [""] }))).toBe(true)
  })
})

describe("ExceptionInfo", () => {
  it("decodes Celery's envelope and defaults the module", () => {
    const info = Schema.decodeUnknownSync(ExceptionInfo.ExceptionInfo)({ exc_type: "ValueError", exc_message: ["x", 1] })
    expect(info.exc_module).toBe("builtins")
    expect(ExceptionInfo.format(info)).toBe("ValueError: x, 1")
    expect(Either.isLeft(Schema.decodeUnknownEither(ExceptionInfo.ExceptionInfo)({ exc_type: 1 }))).toBe(true)
  })

  it("builds an envelope from errors and thrown values", () => {
    expect(ExceptionInfo.fromError(new TypeError("bad"))).toEqual({
      exc_type: "TypeError",
      exc_message: ["bad"],
      exc_module: "builtins"
    })
    expect(ExceptionInfo.fromError("oops")).toEqual({ exc_type: "Exception", exc_message: ["oops"], exc_module: "builtins" })
    expect(ExceptionInfo.isEncoded({ exc_type: "E", exc_message: [] })).toBe(true)
    expect(ExceptionInfo.isEncoded({ exc_type: "E" })).toBe(false)
  })
})
