import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
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

  it("reads a line with only kind, task_id and status: every other key is null", () => {
    const decode = Schema.decodeUnknownEither(TaskRecord.TaskLine, { onExcessProperty: "error" })
    expect(Either.getOrThrow(decode({ kind: "task", task_id: "m", status: "STARTED" }))).toEqual({
      ...TaskRecord.pending("m"),
      status: "STARTED"
    })
    expect(Either.getOrThrow(decode({ kind: "task", task_id: "m", status: "SUCCESS", result: 3, retries: 2 }))).toMatchObject({
      result: 3,
      retries: 2,
      traceback: null,
      dateDone: null
    })
    expect(Either.isLeft(decode({ kind: "task", task_id: "m" }))).toBe(true)
    expect(Either.isLeft(decode({ kind: "task", status: "SUCCESS" }))).toBe(true)
    expect(Either.isLeft(decode({ kind: "task", task_id: "m", status: "SUCCESS", name: undefined }))).toBe(true)
    // printing still writes every key
    expect(Object.keys(Schema.encodeSync(TaskRecord.TaskLine)(TaskRecord.pending("m")))).toHaveLength(12)
  })

  it("fromLine accepts exactly what TaskLine decodes, to the same record", () => {
    const decode = Schema.decodeUnknownEither(TaskRecord.TaskLine, { onExcessProperty: "error" })
    const full = Schema.encodeSync(TaskRecord.TaskLine)(record)
    const variants: ReadonlyArray<unknown> = [
      full,
      { kind: "task", task_id: "m", status: "STARTED" },
      { ...full, date_done: null, name: null, args: null, kwargs: null, worker: null, retries: null, queue: null },
      { ...full, kind: "group" },
      { ...full, task_id: "" },
      { ...full, task_id: "x".repeat(156) },
      { ...full, task_id: "t\u0000" },
      { ...full, status: "" },
      { ...full, status: "S".repeat(51) },
      { ...full, status: 3 },
      { ...full, result: undefined },
      { ...full, traceback: 1 },
      { ...full, traceback: "boom\u0000" },
      { ...full, date_done: "not a date" },
      { ...full, date_done: "2026-01-01" },
      { ...full, name: "n".repeat(156) },
      { ...full, name: "n\uD800" },
      { ...full, args: {} },
      { ...full, args: [1, [2, { a: 3n }]] },
      { ...full, kwargs: [] },
      { ...full, kwargs: { a: [1] } },
      { ...full, worker: 5 },
      { ...full, retries: 1.5 },
      { ...full, retries: -1 },
      { ...full, retries: "2" },
      { ...full, queue: "q".repeat(155) },
      { ...full, extra: 1 },
      { kind: "task", task_id: "m" },
      { kind: "task", status: "SUCCESS" },
      [],
      null,
      "task"
    ]
    for (const line of variants) {
      const fast = TaskRecord.fromLine(line)
      const slow = decode(line)
      if (fast === undefined) expect(Either.isLeft(slow), JSON.stringify(line, (_, v) => typeof v === "bigint" ? `${v}n` : v)).toBe(true)
      else expect(fast).toEqual(Either.getOrThrow(slow))
    }
    // the well-formed lines take the fast path
    expect(TaskRecord.fromLine(full)).toEqual(record)
    expect(TaskRecord.fromLine({ kind: "task", task_id: "m", status: "STARTED" })).toEqual({ ...TaskRecord.pending("m"), status: "STARTED" })
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

describe("the rules the services and the schemas share", () => {
  const NUL = "must not contain a NUL character"
  const SURROGATE = "must be well-formed Unicode (it has an unpaired surrogate)"
  const issues = <A, I>(schema: Schema.Schema<A, I>) => (value: unknown) =>
    Either.match(Schema.decodeUnknownEither(schema)(value), {
      onLeft: (e) => ParseResult.ArrayFormatter.formatErrorSync(e).map((i) => i.message),
      onRight: () => []
    })

  it("TaskRecord.idIssue: 1 to 155 characters of storable text", () => {
    expect(TaskRecord.idIssue("x")).toBeUndefined()
    expect(TaskRecord.idIssue("x".repeat(155))).toBeUndefined()
    expect(TaskRecord.idIssue("")).toBe("must not be empty")
    expect(TaskRecord.idIssue("x".repeat(156))).toBe("is 156 characters, at most 155 fit")
    expect(TaskRecord.idIssue("\u0000".repeat(156))).toBe("is 156 characters, at most 155 fit")
    expect(TaskRecord.idIssue("a\u0000")).toBe(NUL)
    expect(TaskRecord.idIssue("a\uD800")).toBe(SURROGATE)
    expect(TaskRecord.idIssue("astral-𝄞")).toBeUndefined()
  })

  it("TaskRecord.shortTextIssue: at most 155 characters of storable text, empty allowed", () => {
    expect(TaskRecord.shortTextIssue("")).toBeUndefined()
    expect(TaskRecord.shortTextIssue("n".repeat(156))).toBe("is 156 characters, at most 155 fit")
    expect(TaskRecord.shortTextIssue("w\uDBFF")).toBe(SURROGATE)
    expect(TaskRecord.shortTextIssue("q\u0000")).toBe(NUL)
  })

  it("TaskRecord.retriesIssue: a whole number from 0 to 2^31 - 1", () => {
    for (const ok of [0, 1, TaskRecord.MAX_RETRIES]) expect(TaskRecord.retriesIssue(ok)).toBeUndefined()
    expect(TaskRecord.MAX_RETRIES).toBe(2 ** 31 - 1)
    for (const bad of [-1, 1.5, 2 ** 31, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(TaskRecord.retriesIssue(bad)).toBe("must be a whole number from 0 to 2147483647")
    }
  })

  it("TaskState.stateIssue: 1 to 50 characters", () => {
    expect(TaskState.stateIssue("PROGRESS")).toBeUndefined()
    expect(TaskState.stateIssue("")).toBe("must be a non-empty string")
    expect(TaskState.stateIssue("S".repeat(51))).toBe("is 51 characters, at most 50 fit")
  })

  it("the schemas refuse what the rules refuse, with the same messages", () => {
    for (const schema of [TaskRecord.TaskId, GroupRecord.GroupId]) {
      const check = issues(schema)
      for (const value of ["", "x".repeat(156), "a\u0000", "a\uD800", "\uDC00", "ok", "𝄞"]) {
        const issue = TaskRecord.idIssue(value)
        expect(check(value)).toEqual(issue === undefined ? [] : [issue])
      }
    }
    for (const value of ["", "n".repeat(156), "w\uDBFF", "q\u0000", "celery"]) {
      const issue = TaskRecord.shortTextIssue(value)
      expect(issues(TaskRecord.ShortText)(value)).toEqual(issue === undefined ? [] : [issue])
    }
    for (const value of [-1, 1.5, 2 ** 31, 0, 3]) {
      const issue = TaskRecord.retriesIssue(value)
      expect(issues(TaskRecord.Retries)(value)).toEqual(issue === undefined ? [] : [issue])
    }
    for (const value of ["", "S".repeat(51), "SUCCESS"]) {
      const issue = TaskState.stateIssue(value)
      expect(issues(TaskState.TaskState)(value)).toEqual(issue === undefined ? [] : [issue])
    }
  })

  it("a task or group line with text a store cannot keep does not decode", () => {
    const line = {
      kind: "task",
      task_id: "t1",
      status: "SUCCESS",
      result: null,
      traceback: null,
      date_done: null,
      name: "n",
      args: null,
      kwargs: null,
      worker: "w",
      retries: 1,
      queue: "q"
    }
    const check = issues(TaskRecord.TaskLine)
    expect(check(line)).toEqual([])
    expect(check({ ...line, task_id: "t\u0000" })).toEqual([NUL])
    expect(check({ ...line, task_id: "t\uD800" })).toEqual([SURROGATE])
    // A nullable field also reports that the value is not null.
    expect(check({ ...line, name: "n\uDC00" })).toContain(SURROGATE)
    expect(check({ ...line, worker: "w\u0000" })).toContain(NUL)
    expect(check({ ...line, queue: "q".repeat(156) })).toContain("is 156 characters, at most 155 fit")
    // The traceback and retries of a line are what a store holds (Celery may have written a NUL or a
    // negative count on SQLite), so an export prints them; `store` refuses them on the way in.
    expect(check({ ...line, traceback: "boom\u0000" })).toEqual([])
    expect(check({ ...line, retries: -1 })).toEqual([])
    const group = issues(GroupRecord.GroupLine)
    const groupLine = { kind: "group", group_id: "g", task_ids: ["a"], date_done: "2024-05-06T07:08:09.000Z" }
    expect(group(groupLine)).toEqual([])
    expect(group({ ...groupLine, group_id: "g\u0000" })).toEqual([NUL])
    expect(group({ ...groupLine, task_ids: ["a", "b\uDBFF"] })).toEqual([SURROGATE])
  })
})
