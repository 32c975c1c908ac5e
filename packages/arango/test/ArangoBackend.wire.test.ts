/**
 * What the backend sends over the wire and how it handles the answers,
 * against the loopback FakeArango (not a real ArangoDB).
 */
import { inspect } from "node:util"
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as TestClock from "effect/TestClock"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import * as ArangoBackend from "../src/ArangoBackend.js"
import type * as ArangoConfig from "../src/ArangoConfig.js"
import { ArangoFailure } from "../src/internal/classify.js"
import { closedPort, FakeArango } from "./support/FakeArango.js"

let fake: FakeArango

beforeEach(async () => {
  fake = new FakeArango()
  await fake.start()
})
afterEach(async () => {
  await fake.stop()
})

const fastRetry = { baseSleep: Duration.millis(1), maxSleep: Duration.millis(5) }

const withBackend = <A, E>(
  body: (backend: ResultBackend.Service) => Effect.Effect<A, E>,
  config: ArangoConfig.Input = {},
  options: Parameters<typeof ArangoBackend.make>[1] = {}
) =>
  Effect.scoped(
    Effect.flatMap(
      ArangoBackend.make({ url: `arangodb://127.0.0.1:${fake.port}`, ...config }, { retry: fastRetry, ...options }),
      body
    )
  )

const SECRET = "pa55-w0rd-zzq"

describe("the AQL and bind variables each operation sends", () => {
  it.effect("store: one UPSERT with the sticky rule, the key and the JSON text", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        yield* TestClock.adjust(Duration.millis(1_700_000_000_123))
        yield* backend.store("t-1", { n: 2n ** 64n }, "SUCCESS")
        expect(fake.requests).toHaveLength(1)
        const [request] = fake.requests
        expect(request.method).toBe("POST")
        expect(request.path).toBe("/_db/celery/_api/cursor")
        // nothing but the statement and its bind variables: no count, batch or cache options
        expect(Object.keys(request.body).sort()).toEqual(["bindVars", "options", "query"])
        expect(request.body.options).toEqual({})
        expect(request.body.query).toBe(
          "UPSERT { _key: @key }\n" +
            "INSERT { _key: @key, task: @task }\n" +
            "UPDATE ((IS_STRING(OLD.task) ? JSON_PARSE(OLD.task) : OLD.task).status == \"SUCCESS\" && OLD.task != @task ? {} : { task: @task })\n" +
            "IN @@collection\n" +
            "RETURN NEW.task == @task"
        )
        expect(request.body.bindVars).toEqual({
          "@collection": "celery",
          key: "celery-task-meta-t-1",
          task: "{\"status\":\"SUCCESS\",\"result\":{\"n\":18446744073709551616},\"traceback\":null,\"children\":[]," +
            "\"date_done\":\"2023-11-14T22:13:20.123000+00:00\",\"task_id\":\"t-1\"}"
        })
      })
    ))

  it.effect("store with resultExtended writes the extended fields; with ttlIndex also expireAt", () =>
    withBackend(
      (backend) =>
        Effect.gen(function*() {
          yield* backend.store("t-2", ExceptionInfo.make("ValueError", ["bad"]), "FAILURE", {
            traceback: "tb",
            name: "tasks.add",
            args: [1, 2],
            kwargs: { k: "v" },
            worker: "celery@w1",
            retries: 1,
            queue: "q"
          })
          const put = fake.queries.at(-1)!
          expect(put.query).toContain("INSERT { _key: @key, task: @task, expireAt: @expireAt }")
          expect(put.query).toContain("{ task: @task, expireAt: @expireAt })")
          expect(put.bindVars.expireAt).toBe(7 * 86400) // dateDone 0 + 7 days for FAILURE
          expect(JSON.parse(put.bindVars.task as string)).toEqual({
            status: "FAILURE",
            result: { exc_type: "ValueError", exc_message: ["bad"], exc_module: "builtins" },
            traceback: "tb",
            children: [],
            date_done: "1970-01-01T00:00:00.000000+00:00",
            name: "tasks.add",
            args: [1, 2],
            kwargs: { k: "v" },
            worker: "celery@w1",
            retries: 1,
            queue: "q",
            task_id: "t-2"
          })
          yield* backend.store("t-3", null, "STARTED")
          expect(fake.queries.at(-1)!.bindVars.expireAt).toBeNull()
          expect(fake.indexes).toEqual([
            {
              collection: "celery",
              body: { type: "ttl", name: "taskmeta_expire_at", fields: ["expireAt"], expireAfter: 0 }
            }
          ])
        }),
      { ttlIndex: true },
      { resultExtended: true, expiresByState: { FAILURE: "7 days" } }
    ))

  it.effect("getMany: one query for all keys, aligned by key", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        yield* backend.store("a", 1, "SUCCESS")
        yield* backend.store("c", 3, "STARTED")
        fake.requests.length = 0
        const records = yield* backend.getMany(["c", "b", "a"])
        expect(records.map((r) => [r.taskId, r.status, r.result])).toEqual([
          ["c", "STARTED", 3],
          ["b", "PENDING", null],
          ["a", "SUCCESS", 1]
        ])
        expect(fake.queries).toEqual([{
          query: "FOR doc IN @@collection\nFILTER doc._key IN @keys\nRETURN [doc._key, doc.task]",
          bindVars: {
            "@collection": "celery",
            keys: ["celery-task-meta-c", "celery-task-meta-b", "celery-task-meta-a"]
          }
        }])
      })
    ))

  it.effect("forget and deleteGroup: FOR/FILTER/REMOVE, a missing key is not an error", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        yield* backend.forget("nobody")
        yield* backend.deleteGroup("no-group")
        const remove = "FOR doc IN @@collection\nFILTER doc._key == @key\nREMOVE doc IN @@collection"
        expect(fake.queries).toEqual([
          { query: remove, bindVars: { "@collection": "celery", key: "celery-task-meta-nobody" } },
          { query: remove, bindVars: { "@collection": "celery", key: "celery-taskset-meta-no-group" } }
        ])
      })
    ))

  it.effect("saveGroup / restoreGroup: Celery's GroupResult tuple plus date_done", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        yield* TestClock.adjust(Duration.seconds(90))
        yield* backend.saveGroup("g1", ["x", "y"])
        const restored = yield* backend.restoreGroup("g1")
        expect(Option.getOrThrow(restored).taskIds).toEqual(["x", "y"])
        expect(fake.queries).toEqual([
          {
            query: "UPSERT { _key: @key }\nINSERT { _key: @key, task: @task }\nUPDATE { task: @task }\nIN @@collection",
            bindVars: {
              "@collection": "celery",
              key: "celery-taskset-meta-g1",
              task: "{\"result\":[[\"g1\",null],[[[\"x\",null],null],[[\"y\",null],null]]]," +
                "\"date_done\":\"1970-01-01T00:01:30.000000+00:00\"}"
            }
          },
          {
            query: "FOR doc IN @@collection\nFILTER doc._key == @key\nLIMIT 1\nRETURN doc.task",
            bindVars: { "@collection": "celery", key: "celery-taskset-meta-g1" }
          }
        ])
      })
    ))

  it.effect("cleanup: bounded batches of READY records, per-state rules, then groups", () =>
    withBackend(
      (backend) =>
        Effect.gen(function*() {
          yield* TestClock.adjust(Duration.days(10))
          const report = yield* backend.cleanup()
          expect(report).toEqual({ tasks: 0, groups: 0 })
          const now = 10 * 86_400_000
          const tasks = fake.queries.filter((q) => q.bindVars.states !== undefined)
          expect(tasks.map((q) => q.bindVars)).toEqual([
            {
              "@collection": "celery",
              prefix: "celery-task-meta-",
              states: ["FAILURE"],
              before: now - 7 * 86_400_000,
              limit: 50
            },
            {
              "@collection": "celery",
              prefix: "celery-task-meta-",
              states: ["SUCCESS", "REVOKED"],
              before: now - 86_400_000,
              limit: 50
            }
          ])
          expect(tasks[0].query).toBe(
            "LET removed = (\n" +
              "  FOR doc IN @@collection\n" +
              "    FILTER STARTS_WITH(doc._key, @prefix)\n" +
              "    LET meta = (IS_STRING(doc.task) ? JSON_PARSE(doc.task) : doc.task)\n" +
              "    FILTER IS_OBJECT(meta) && meta.status IN @states && IS_STRING(meta.date_done)\n" +
              "    LET done = DATE_TIMESTAMP(meta.date_done)\n" +
              "    FILTER done != null && done < @before\n" +
              "    LIMIT @limit\n" +
              "    REMOVE doc IN @@collection\n" +
              "    RETURN 1\n" +
              ")\n" +
              "RETURN LENGTH(removed)"
          )
          const groups = fake.queries.at(-1)!
          expect(groups.bindVars).toEqual({
            "@collection": "celery",
            prefix: "celery-taskset-meta-",
            before: now - 86_400_000,
            limit: 50
          })
          expect(groups.query).toBe(
            "LET removed = (\n" +
              "  FOR doc IN @@collection\n" +
              "    FILTER STARTS_WITH(doc._key, @prefix)\n" +
              "    LET meta = (IS_STRING(doc.task) ? JSON_PARSE(doc.task) : doc.task)\n" +
              "    FILTER IS_OBJECT(meta) && IS_STRING(meta.date_done)\n" +
              "    LET done = DATE_TIMESTAMP(meta.date_done)\n" +
              "    FILTER done != null && done < @before\n" +
              "    LIMIT @limit\n" +
              "    REMOVE doc IN @@collection\n" +
              "    RETURN 1\n" +
              ")\n" +
              "RETURN LENGTH(removed)"
          )
        }),
      {},
      { cleanupBatchSize: 50, expiresByState: { FAILURE: "7 days" } }
    ))

  it.effect("cleanup repeats a batch until one comes back short", () =>
    withBackend(
      (backend) =>
        Effect.gen(function*() {
          for (let i = 0; i < 5; i++) yield* backend.store(`old-${i}`, i, "SUCCESS")
          yield* backend.store("running", null, "STARTED")
          yield* TestClock.adjust(Duration.days(2))
          fake.requests.length = 0
          const report = yield* backend.cleanup()
          expect(report.tasks).toBe(5)
          // 2 + 2 + 1: three task batches, then one group batch
          expect(fake.queries).toHaveLength(4)
          expect(yield* backend.exists("running")).toBe(true)
        }),
      {},
      { cleanupBatchSize: 2 }
    ))

  it.effect("a custom key prefix, database and collection travel as bind variables or in the path", () =>
    Effect.gen(function*() {
      fake.databases.set("results", new Map([["tasks", new Map()]]))
      yield* withBackend((backend) => backend.get("id/with space"), {
        url: `arangodb://127.0.0.1:${fake.port}/results/tasks`,
        keyPrefix: "prod"
      })
      expect(fake.requests[0].path).toBe("/_db/results/_api/cursor")
      expect(fake.queries[0].bindVars).toEqual({
        "@collection": "tasks",
        keys: ["prod_celery-task-meta-id%2Fwith%20space"]
      })
    }))
})

describe("connection, credentials and setup", () => {
  it.effect("sends Basic auth from the URL, never the password in the URL or in errors", () =>
    Effect.gen(function*() {
      fake.faults.push({ kind: "arango", status: 400, errorNum: 1501, errorMessage: "AQL: syntax error" })
      const error = yield* Effect.flip(
        withBackend((backend) => backend.store("t", 1, "SUCCESS"), {
          url: `arangodb://taskmeta:${encodeURIComponent(SECRET)}@127.0.0.1:${fake.port}/celery/celery`
        })
      )
      expect(fake.requests[0].headers.authorization).toBe(
        `Basic ${Buffer.from(`taskmeta:${SECRET}`).toString("base64")}`
      )
      expect(error._tag).toBe("StoreError")
      const base64 = Buffer.from(`taskmeta:${SECRET}`).toString("base64")
      for (const shown of [String(error), error.message, JSON.stringify(error), inspect(error, { depth: 20 })]) {
        expect(shown).not.toContain(SECRET)
        expect(shown).not.toContain(base64)
      }
      expect(error.message).toContain("errorNum 1501")
    }))

  it.effect("without create, a missing collection fails the operation and nothing is created", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(
        withBackend((backend) => backend.store("t", 1, "SUCCESS"), { collection: "missing", url: undefined, port: fake.port })
      )
      expect(error._tag).toBe("StoreError")
      const cause = (error as { cause: unknown }).cause as ArangoFailure
      expect(cause).toBeInstanceOf(ArangoFailure)
      expect(cause.errorNum).toBe(1203)
      expect(cause.transient).toBe(false)
      expect(fake.requests.map((r) => r.path)).toEqual(["/_db/celery/_api/cursor"])
      expect(fake.databases.get("celery")!.has("missing")).toBe(false)
    }))

  it.effect("with create: true, the database and the collection are created, once", () =>
    Effect.gen(function*() {
      yield* withBackend((backend) => backend.store("t", 1, "SUCCESS"), {
        url: `arangodb://127.0.0.1:${fake.port}/newdb/newcoll`,
        create: true
      })
      expect(fake.collection("newdb", "newcoll").has("celery-task-meta-t")).toBe(true)
      const creations = fake.requests.filter((r) => r.method === "POST" && !r.path.endsWith("/_api/cursor"))
      expect(creations.map((r) => [r.path, r.body.name])).toEqual([
        ["/_db/_system/_api/database", "newdb"],
        ["/_db/newdb/_api/collection", "newcoll"]
      ])
      fake.requests.length = 0
      yield* withBackend(() => Effect.void, { url: `arangodb://127.0.0.1:${fake.port}/newdb/newcoll`, create: true })
      expect(fake.requests.filter((r) => r.method === "POST")).toEqual([])
    }))
})

describe("transient errors are retried by the shared policy, once per attempt", () => {
  const attempts = () => fake.queries.length

  it.live("HTTP 503 is retried", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.faults.push({ kind: "status", status: 503, body: "Service Unavailable" })
        const outcome = yield* backend.store("t", 1, "SUCCESS")
        expect(outcome._tag).toBe("Stored")
        expect(attempts()).toBe(2)
      })
    ))

  it.live("write-write conflict (errorNum 1200) is retried; arangojs does not retry it itself", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        for (let i = 0; i < 4; i++) {
          fake.faults.push({ kind: "arango", status: 409, errorNum: 1200, errorMessage: "write-write conflict" })
        }
        const error = yield* Effect.flip(backend.store("t", 1, "SUCCESS"))
        expect(error._tag).toBe("StoreError")
        // 1 attempt + 3 retries (core's maxRetries), nothing more from arangojs
        expect(attempts()).toBe(4)
        const cause = (error as { cause: unknown }).cause as ArangoFailure
        expect([cause.errorNum, cause.status, cause.transient]).toEqual([1200, 409, true])
      })
    ))

  it.live("a unique-constraint race on an UPSERT is retried", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.faults.push({ kind: "arango", status: 409, errorNum: 1210, errorMessage: "unique constraint violated" })
        expect((yield* backend.store("t", 1, "SUCCESS"))._tag).toBe("Stored")
        expect(attempts()).toBe(2)
      })
    ))

  it.live("a dropped connection is retried", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        yield* backend.store("t", 1, "SUCCESS")
        fake.requests.length = 0
        fake.faults.push({ kind: "drop" })
        const record = yield* backend.get("t")
        expect(record.result).toBe(1)
        expect(attempts()).toBe(2)
      })
    ))

  it.live("an AQL error is not retried", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.faults.push({ kind: "arango", status: 400, errorNum: 1501, errorMessage: "AQL: syntax error" })
        const error = yield* Effect.flip(backend.get("t"))
        expect(error._tag).toBe("GetError")
        expect(attempts()).toBe(1)
      })
    ))

  it.live("HTTP 401 is not retried", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.faults.push({ kind: "arango", status: 401, errorNum: 11, errorMessage: "not authorized to execute this request" })
        const error = yield* Effect.flip(backend.forget("t"))
        expect(error._tag).toBe("ForgetError")
        expect(attempts()).toBe(1)
      })
    ))

  it.live("connection refused on a closed port is transient, retried, then a GetError", () =>
    Effect.gen(function*() {
      const port = yield* Effect.promise(closedPort)
      const exit = yield* Effect.exit(
        Effect.scoped(Effect.flatMap(
          ArangoBackend.make({ host: "127.0.0.1", port }, { retry: { ...fastRetry, maxRetries: 2 } }),
          (backend) => backend.get("t")
        ))
      )
      expect(Exit.isFailure(exit)).toBe(true)
      const error = yield* Effect.flip(exit)
      expect(error._tag).toBe("GetError")
      const cause = (error as { cause: unknown }).cause as ArangoFailure
      expect(cause.kind).toBe("network")
      expect(cause.code).toBe("ECONNREFUSED")
      expect(cause.transient).toBe(true)
    }))
})

describe("reading what Celery wrote", () => {
  it.effect("reads the JSON-text form (Celery ≥ 5.3.4) and the object form (older Celery)", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        const docs = fake.collection()
        docs.set("celery-task-meta-new", {
          _key: "celery-task-meta-new",
          task: "{\"status\": \"SUCCESS\", \"result\": 123456789012345678901234567890, \"traceback\": null, " +
            "\"children\": [], \"date_done\": \"2024-03-01T10:00:00.250000+00:00\", \"task_id\": \"new\"}"
        })
        docs.set("celery-task-meta-old", {
          _key: "celery-task-meta-old",
          task: {
            status: "FAILURE",
            result: { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" },
            traceback: "Traceback ...",
            children: [],
            date_done: "2021-06-01T12:00:00.123456",
            task_id: "old"
          }
        })
        const [fresh, old] = yield* backend.getMany(["new", "old"])
        expect(fresh.result).toBe(123456789012345678901234567890n)
        expect(DateTime.formatIso(fresh.dateDone!)).toBe("2024-03-01T10:00:00.250Z")
        expect(old.status).toBe("FAILURE")
        expect(old.result).toEqual({
          exc_type: "ZeroDivisionError",
          exc_message: ["division by zero"],
          exc_module: "builtins"
        })
        expect(DateTime.formatIso(old.dateDone!)).toBe("2021-06-01T12:00:00.123Z")
      })
    ))

  it.effect("keeps a SUCCESS Celery stored as an object", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.collection().set("celery-task-meta-s", {
          _key: "celery-task-meta-s",
          task: { status: "SUCCESS", result: 1, traceback: null, children: [], date_done: "2021-06-01T12:00:00", task_id: "s" }
        })
        const outcome = yield* backend.store("s", 2, "FAILURE")
        expect(outcome._tag).toBe("Ignored")
      })
    ))

  it.effect("a document that is not a Celery result fails the read, not transient", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.collection().set("celery-task-meta-bad", { _key: "celery-task-meta-bad", task: "not json" })
        const error = yield* Effect.flip(backend.get("bad"))
        expect(error._tag).toBe("GetError")
        expect(error.message).toContain("not JSON")
        expect(fake.queries).toHaveLength(1)
      })
    ))

  it.effect("restores a group Celery saved (no date_done)", () =>
    withBackend((backend) =>
      Effect.gen(function*() {
        fake.collection().set("celery-taskset-meta-g", {
          _key: "celery-taskset-meta-g",
          task: "{\"result\": [[\"g\", null], [[[\"a\", null], null], [[\"b\", null], null]]]}"
        })
        const group = Option.getOrThrow(yield* backend.restoreGroup("g"))
        expect(group.taskIds).toEqual(["a", "b"])
        expect(DateTime.toEpochMillis(group.dateDone)).toBe(0)
      })
    ))
})

describe("waiting polls", () => {
  it.live("waitFor polls with getMany until the task is READY", () =>
    withBackend(
      (backend) =>
        Effect.gen(function*() {
          const waiter = yield* Effect.fork(backend.waitFor("w", { timeout: "5 seconds" }))
          yield* Effect.sleep("80 millis")
          yield* backend.store("w", "done", "SUCCESS")
          const record = yield* waiter.await.pipe(Effect.flatten)
          expect(record.result).toBe("done")
          const polls = fake.queries.filter((q) => q.query.includes("@keys")).length
          expect(polls).toBeGreaterThanOrEqual(3)
        }),
      {},
      { pollInterval: "40 millis" }
    ))
})
