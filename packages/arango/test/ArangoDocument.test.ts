import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as ArangoDocument from "../src/ArangoDocument.js"

const iso = (d: DateTime.Utc | undefined | null) => (d == null ? d : DateTime.formatIso(d))

describe("keys", () => {
  it("uses Celery's prefixes and keeps Celery ids as they are", () => {
    expect(ArangoDocument.taskKey("d9b1f6e4-7c1b-4c6e-9b8e-0f3c2a1b5e77")).toBe(
      "celery-task-meta-d9b1f6e4-7c1b-4c6e-9b8e-0f3c2a1b5e77"
    )
    expect(ArangoDocument.groupKey("g-1")).toBe("celery-taskset-meta-g-1")
    expect(ArangoDocument.taskKey("x", "prod_")).toBe("prod_celery-task-meta-x")
  })

  it("percent-encodes what ArangoDB keys cannot hold, keeping distinct ids distinct", () => {
    expect(ArangoDocument.taskKey("a/b c")).toBe("celery-task-meta-a%2Fb%20c")
    expect(ArangoDocument.taskKey("a%2Fb")).toBe("celery-task-meta-a%252Fb")
    expect(ArangoDocument.taskKey("日")).toBe("celery-task-meta-%E6%97%A5")
  })

  it("hashes an id whose encoded key would pass 254 bytes", () => {
    const key = ArangoDocument.taskKey("日".repeat(155))
    expect(key).toMatch(/^celery-task-meta-%s[0-9a-f]{64}$/)
    expect(ArangoDocument.taskKey("x".repeat(155)).length).toBe(17 + 155)
    expect(ArangoDocument.taskKey("日".repeat(155))).not.toBe(ArangoDocument.taskKey("日".repeat(154) + "本"))
  })
})

describe("dates", () => {
  it("writes date_done as Celery 5.3+ does: six fraction digits and +00:00", () => {
    expect(ArangoDocument.formatDateDone(DateTime.unsafeMake(Date.UTC(2024, 4, 7, 14, 19, 9, 522)))).toBe(
      "2024-05-07T14:19:09.522000+00:00"
    )
    expect(ArangoDocument.formatDateDone(DateTime.unsafeMake(0))).toBe("1970-01-01T00:00:00.000000+00:00")
  })

  it("reads naive UTC (Celery 5 utcnow), Z, offsets, and no fraction", () => {
    const read = (s: string) => iso(ArangoDocument.parseDateDone(s))
    expect(read("2021-06-01T12:00:00.123456")).toBe("2021-06-01T12:00:00.123Z")
    expect(read("2021-06-01T12:00:00")).toBe("2021-06-01T12:00:00.000Z")
    expect(read("2021-06-01 12:00:00.5")).toBe("2021-06-01T12:00:00.500Z")
    expect(read("2021-06-01T12:00:00Z")).toBe("2021-06-01T12:00:00.000Z")
    expect(read("2021-06-01T14:00:00.000000+02:00")).toBe("2021-06-01T12:00:00.000Z")
    expect(read("2021-06-01T07:30:00-04:30")).toBe("2021-06-01T12:00:00.000Z")
    expect(read("yesterday")).toBeUndefined()
    expect(read("2021-13-01T00:00:00")).toBeUndefined()
  })

  it("reads years 1–99 as themselves (Date.UTC would read them as 19xx)", () => {
    const read = (s: string) => iso(ArangoDocument.parseDateDone(s))
    expect(read("0001-01-01T00:00:00.000000+00:00")).toBe("0001-01-01T00:00:00.000Z")
    expect(read("0050-06-01T12:00:00.250000")).toBe("0050-06-01T12:00:00.250Z")
    const date = new Date(0)
    date.setUTCFullYear(42, 2, 3)
    const text = ArangoDocument.formatDateDone(DateTime.unsafeMake(date.getTime()))
    expect(read(text)).toBe(date.toISOString())
  })
})

describe("task documents", () => {
  const record: TaskRecord.TaskRecord = {
    ...TaskRecord.pending("t"),
    status: "FAILURE",
    result: { exc_type: "ValueError", exc_message: ["bad", 2n ** 70n], exc_module: "builtins" },
    traceback: "Traceback …",
    dateDone: DateTime.unsafeMake(Date.UTC(2024, 0, 2, 3, 4, 5, 6)),
    name: "tasks.add",
    args: [1],
    kwargs: { k: "ü" },
    worker: "celery@w",
    retries: 0,
    queue: "celery"
  }

  it("writes Celery's meta as JSON text, in Celery's key order, big integers exact", () => {
    expect(ArangoDocument.encodeTask(record, false)).toBe(
      "{\"status\":\"FAILURE\",\"result\":{\"exc_type\":\"ValueError\",\"exc_message\":[\"bad\",1180591620717411303424]," +
        "\"exc_module\":\"builtins\"},\"traceback\":\"Traceback …\",\"children\":[]," +
        "\"date_done\":\"2024-01-02T03:04:05.006000+00:00\",\"task_id\":\"t\"}"
    )
    expect(Object.keys(JSON.parse(ArangoDocument.encodeTask(record, true)))).toEqual([
      "status",
      "result",
      "traceback",
      "children",
      "date_done",
      "name",
      "args",
      "kwargs",
      "worker",
      "retries",
      "queue",
      "task_id"
    ])
  })

  it("round-trips through its own form", () => {
    const text = ArangoDocument.encodeTask(record, true)
    expect(Either.getOrThrow(ArangoDocument.decodeTask("t", text))).toEqual(record)
  })

  it("reads what Celery ≥ 5.3.4 writes (Python json.dumps text, with group/parent ids)", () => {
    const text = "{\"status\": \"SUCCESS\", \"result\": 13312, \"traceback\": null, \"children\": [], " +
      "\"date_done\": \"2024-03-01T10:00:00.250000+00:00\", \"group_id\": \"g\", \"parent_id\": \"p\", " +
      "\"name\": \"multiply_two_numbers\", \"args\": [16, 16], \"kwargs\": {}, \"worker\": \"celery@h\", " +
      "\"retries\": 0, \"queue\": \"celery\", \"task_id\": \"c23f6d77\"}"
    const r = Either.getOrThrow(ArangoDocument.decodeTask("c23f6d77", text))
    expect(r).toEqual({
      taskId: "c23f6d77",
      status: "SUCCESS",
      result: 13312,
      traceback: null,
      dateDone: DateTime.unsafeMake(Date.UTC(2024, 2, 1, 10, 0, 0, 250)),
      name: "multiply_two_numbers",
      args: [16, 16],
      kwargs: {},
      worker: "celery@h",
      retries: 0,
      queue: "celery"
    })
  })

  it("reads the object form older Celery wrote, with naive UTC date_done", () => {
    const r = Either.getOrThrow(ArangoDocument.decodeTask("o", {
      status: "REVOKED",
      result: { exc_type: "TaskRevokedError", exc_message: ["terminated"], exc_module: "celery.exceptions" },
      traceback: null,
      children: [],
      date_done: "2020-01-01T00:00:00.000001",
      task_id: "o"
    }))
    expect(r.status).toBe("REVOKED")
    expect(iso(r.dateDone)).toBe("2020-01-01T00:00:00.000Z")
    expect([r.name, r.args, r.kwargs, r.worker, r.retries, r.queue]).toEqual([null, null, null, null, null, null])
  })

  it("drops date_done for non-READY states and reads STARTED meta as the result", () => {
    const r = Either.getOrThrow(ArangoDocument.decodeTask("s", "{\"status\":\"STARTED\",\"result\":{\"pid\":1,\"hostname\":\"h\"},\"date_done\":\"2020-01-01T00:00:00\"}"))
    expect(r.dateDone).toBeNull()
    expect(r.result).toEqual({ pid: 1, hostname: "h" })
  })

  it("refuses documents that are not Celery results", () => {
    const reasons = [
      "not json",
      "[1,2]",
      "{\"result\":1}",
      42,
      null,
      "{\"status\":\"SUCCESS\",\"date_done\":\"soon\"}"
    ].map((raw) => {
      const decoded = ArangoDocument.decodeTask("x", raw)
      expect(Either.isLeft(decoded)).toBe(true)
      return Either.isLeft(decoded) ? decoded.left.reason : ""
    })
    expect(reasons).toEqual([
      expect.stringContaining("not JSON"),
      "task is JSON but not an object",
      "status is missing",
      "task is neither text nor an object",
      "the document has no task",
      "date_done is not an ISO 8601 date"
    ])
  })
})

describe("group documents", () => {
  it("writes GroupResult.as_tuple() in JSON plus date_done", () => {
    const text = ArangoDocument.encodeGroup({
      groupId: "g",
      taskIds: ["a", "b"],
      dateDone: DateTime.unsafeMake(1000)
    })
    expect(text).toBe(
      "{\"result\":[[\"g\",null],[[[\"a\",null],null],[[\"b\",null],null]]],\"date_done\":\"1970-01-01T00:00:01.000000+00:00\"}"
    )
    expect(Either.getOrThrow(ArangoDocument.decodeGroup("g", text))).toEqual({
      groupId: "g",
      taskIds: ["a", "b"],
      dateDone: DateTime.unsafeMake(1000)
    })
  })

  it("reads Celery's groups: members in order, parents ignored, nested groups flattened, no date", () => {
    const celery = "{\"result\": [[\"g\", null], [[[\"a\", [[\"p\", null], null]], null], " +
      "[[\"inner\", null], [[[\"b\", null], null], [[\"c\", null], null]]], [[\"d\", null], null]]]}"
    const group = Either.getOrThrow(ArangoDocument.decodeGroup("g", celery))
    expect(group.taskIds).toEqual(["a", "b", "c", "d"])
    expect(group.dateDone).toEqual(ArangoDocument.UNKNOWN_DATE)
    const objectForm = Either.getOrThrow(ArangoDocument.decodeGroup("g", { result: [["g", null], [["x", null]]] }))
    expect(objectForm.taskIds).toEqual(["x"])
  })

  it("refuses a result that is not a GroupResult tuple", () => {
    for (const raw of ["{\"result\": [\"a\", \"b\"]}", "{\"result\": [[\"g\", null], [[1, null]]]}", "{}"]) {
      expect(Either.isLeft(ArangoDocument.decodeGroup("g", raw))).toBe(true)
    }
  })
})

describe("documents found by a scan (id from the key, else from the meta)", () => {
  it("idFromKey inverts taskKey / groupKey, and only where it round-trips", () => {
    for (const id of ["c23f6d77-0d5e-4b8a", "a/b c", "100%", "ü", "x".repeat(300)]) {
      const key = ArangoDocument.taskKey(id)
      const back = ArangoDocument.idFromKey(key, ArangoDocument.TASK_PREFIX)
      // the hashed form (`%s` + SHA-256) of the over-long id cannot be inverted
      expect(back).toBe(key.includes("%s") ? undefined : id)
    }
    expect(ArangoDocument.idFromKey(ArangoDocument.groupKey("g 1", "app_"), "app_" + ArangoDocument.GROUP_PREFIX)).toBe("g 1")
    // Celery keeps `%` as it is: "a%41" is not the key taskmeta builds for "aA", so no id from the key
    expect(ArangoDocument.idFromKey("celery-task-meta-a%41", ArangoDocument.TASK_PREFIX)).toBeUndefined()
    expect(ArangoDocument.idFromKey("celery-task-meta-%zz", ArangoDocument.TASK_PREFIX)).toBeUndefined()
    expect(ArangoDocument.idFromKey("other-a", ArangoDocument.TASK_PREFIX)).toBeUndefined()
  })

  it("decodeTaskDocument: the key's id, else task_id (hashed keys, Celery's % keys), else an error", () => {
    const meta = (taskId: string) => JSON.stringify({ status: "SUCCESS", result: 1, date_done: "2024-01-01T00:00:00", task_id: taskId })
    const long = "y".repeat(300)
    const read = (key: string, raw: unknown) => Either.map(ArangoDocument.decodeTaskDocument(key, raw), (r) => r.taskId)
    expect(read("celery-task-meta-a%20b", meta("ignored"))).toEqual(Either.right("a b"))
    expect(read(ArangoDocument.taskKey(long), meta(long))).toEqual(Either.right(long))
    expect(read("celery-task-meta-a%41", { status: "FAILURE", task_id: "a%41" })).toEqual(Either.right("a%41"))
    const missing = ArangoDocument.decodeTaskDocument("celery-task-meta-%s00", "{\"status\":\"SUCCESS\"}")
    expect(Either.isLeft(missing) && missing.left.message).toMatch(/task_id is missing/)
    // with a global key prefix
    expect(Either.map(
      ArangoDocument.decodeTaskDocument("app_celery-task-meta-t", meta("t"), "app_" + ArangoDocument.TASK_PREFIX),
      (r) => [r.taskId, r.status, r.result]
    )).toEqual(Either.right(["t", "SUCCESS", 1]))
  })

  it("decodeGroupDocument: the key's id, else the head of the GroupResult tuple", () => {
    const tuple = (id: string) => ({ result: [[id, null], [[["m1", null], null]]] })
    expect(Either.map(ArangoDocument.decodeGroupDocument("celery-taskset-meta-g", tuple("x")), (g) => [g.groupId, g.taskIds]))
      .toEqual(Either.right(["g", ["m1"]]))
    const long = "z".repeat(300)
    expect(Either.map(ArangoDocument.decodeGroupDocument(ArangoDocument.groupKey(long), JSON.stringify(tuple(long))), (g) => g.groupId))
      .toEqual(Either.right(long))
    expect(Either.isLeft(ArangoDocument.decodeGroupDocument("celery-taskset-meta-%s00", { result: [null, []] }))).toBe(true)
  })
})

describe("nesting (issue 14, finding 3)", () => {
  it("a task nested deeper than Json.MAX_DEPTH is a typed document error in either form, and one at the limit reads", () => {
    let deep: unknown = 1
    for (let i = 0; i < 100_000; i++) deep = [deep]
    const asObject = ArangoDocument.decodeTask("d", { status: "SUCCESS", result: deep })
    if (Either.isRight(asObject)) throw new Error("expected an ArangoDocumentError")
    expect(asObject.left.reason).toContain("nested deeper than 512")
    const asText = ArangoDocument.decodeTask("d", `{"status":"SUCCESS","result":${"[".repeat(100_000)}${"]".repeat(100_000)}}`)
    if (Either.isRight(asText)) throw new Error("expected an ArangoDocumentError")
    expect(asText.left.reason).toContain("nesting deeper than 512")
    let fine: unknown = 1
    for (let i = 0; i < 500; i++) fine = [fine]
    expect(Either.isRight(ArangoDocument.decodeTask("d", { status: "SUCCESS", result: fine }))).toBe(true)
  })
})
