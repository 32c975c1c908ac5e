/**
 * The interoperability scenarios, run against SQLite, PostgreSQL and MariaDB by
 * `CeleryInteropSqlite.test.ts`, `CeleryInteropPg.test.ts` and
 * `CeleryInteropMysql.test.ts`.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import type * as Json from "@taskmeta/schema/Json"
import * as Pickle from "@taskmeta/celery/Pickle"
import * as Harness from "./harness.js"

type Backend = Layer.Layer<ResultBackend.ResultBackend, unknown>

/** Every log line written while `effect` runs, at every level. */
export const captureLogs = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const lines: Array<string> = []
    const collector = Logger.make(({ annotations, logLevel, message }) => {
      const text = Array.isArray(message) ? message.map(String).join(" ") : String(message)
      lines.push(`${logLevel.label} ${text} ${JSON.stringify(Object.fromEntries(annotations), bigints)}`)
    })
    const result = yield* effect.pipe(
      Effect.provide(Logger.replace(Logger.defaultLogger, collector)),
      Logger.withMinimumLogLevel(LogLevel.All)
    )
    return [result, lines] as const
  })

/** JSON.stringify replacer that keeps bigints. */
export const bigints = (_key: string, value: unknown) => (typeof value === "bigint" ? `${value}n` : value)

const b64 = (text: string | null) => (text === null ? null : Buffer.from(text, "base64"))

// ---------------------------------------------------------------------------
// Celery writes, taskmeta reads
// ---------------------------------------------------------------------------

export interface CeleryWritesOptions {
  /** The URL Celery writes to (SQLAlchemy form). */
  readonly celeryUrl: string
  /** taskmeta's layer on the same tables, in each encoding. */
  readonly backend: (encoding: "json" | "pickle") => Backend
  /** A password in `celeryUrl` that must never show up in what taskmeta returns or logs. */
  readonly secret?: string | undefined
  readonly schema?: string | undefined
  /**
   * Whether Celery's `date_done` column keeps microseconds (default true). On
   * MariaDB, SQLAlchemy's `DATETIME` keeps whole seconds: there is nothing
   * past the second to come back.
   */
  readonly microseconds?: boolean | undefined
}

export const celeryWritesTaskmetaReads = (options: CeleryWritesOptions) =>
  Effect.gen(function*() {
    const written = yield* Harness.write(options.celeryUrl)
    const labels = Object.keys(written.tasks)
    expect(labels.length).toBeGreaterThanOrEqual(20)
    const ids = labels.map((label) => written.tasks[label].task_id)
    const unknown = `never-written-${ids[0]}`
    const [groupId, celeryMembers] = Object.entries(written.groups)[0]
    const pending = yield* Harness.read(options.celeryUrl, { tasks: [unknown] })

    // Celery stamps `datetime.utcnow()`: its dates have microseconds past the
    // millisecond, which the comparisons below must see come back.
    if (options.microseconds !== false) {
      expect(labels.some((label) => /\.\d{3}[1-9]\d\d$|\.\d{4}[1-9]\d$|\.\d{5}[1-9]$/.test(written.tasks[label].date_done ?? ""))).toBe(true)
    }
    const check = (encoding: "json" | "pickle") =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        // one round trip for everything, field by field as Celery's get_task_meta reads it
        const records = yield* backend.getMany([...ids, unknown])
        labels.forEach((label, i) => {
          expect([encoding, label, Harness.view(records[i])]).toEqual([
            encoding,
            label,
            Harness.celeryView(written.tasks[label])
          ])
        })
        expect(Harness.view(records[ids.length])).toEqual(Harness.celeryView(pending.tasks[unknown]))
        expect(yield* backend.exists(unknown)).toBe(false)
        // one at a time too
        for (const label of labels) {
          const record = yield* backend.get(written.tasks[label].task_id)
          expect(Harness.view(record)).toEqual(Harness.celeryView(written.tasks[label]))
        }
        // the group, its members in order
        const group = yield* backend.restoreGroup(groupId)
        expect(Option.map(group, (g) => g.taskIds)).toEqual(Option.some(celeryMembers))
        const members = yield* backend.getMany(Option.getOrThrow(group).taskIds)
        expect(members.map((r) => r.status)).toEqual(["SUCCESS", "FAILURE", "PENDING"])
        return { records, group }
      }).pipe(Effect.provide(options.backend(encoding)))

    const [[json, pickled], logs] = yield* captureLogs(Effect.all([check("json"), check("pickle")]))

    // Selected fields spelled out, so the mapping itself is under test.
    const byLabel = (label: string) => json.records[labels.indexOf(label)]
    expect(byLabel("success-tuple").result).toEqual([1, "a", null])
    expect(byLabel("success-big").result).toBe(2n ** 64n)
    expect(byLabel("success-bigneg").result).toBe(-(2n ** 70n))
    expect(byLabel("success-bigdict").result).toEqual({ big: 10n ** 30n })
    expect(byLabel("success-set").result).toEqual([1, 2, 3])
    expect(byLabel("success-bytes").result).toEqual({ __pickle__: "bytes", base64: "AAFieXRlc/8=" })
    expect(byLabel("success-none").result).toBeNull()
    expect(byLabel("failure").result).toEqual(envelope("ValueError", ["boom ☃", 42], "builtins"))
    expect(byLabel("failure").traceback).toContain("ValueError: boom ☃")
    expect(byLabel("failure").dateDone).not.toBeNull()
    expect(byLabel("retry").result).toEqual(envelope("KeyError", ["missing"], "builtins"))
    expect(byLabel("retry").dateDone).toBeNull()
    expect(byLabel("revoked").result).toEqual(envelope("TaskRevokedError", ["terminated"], "celery.exceptions"))
    expect(byLabel("started").result).toEqual({ pid: 1234, hostname: "celery@host" })
    expect(byLabel("started").dateDone).toBeNull()
    expect(byLabel("extended-big").args).toEqual(Harness.EXTENDED_BIG_ARGS)
    expect(byLabel("extended-big").kwargs).toEqual(Harness.EXTENDED_BIG_KWARGS)
    expect(byLabel("extended-big").result).toEqual([2n ** 80n, "ok"])
    expect(byLabel("extended").name).toBe("multiply_two_numbers")
    expect(byLabel("extended").queue).toBe("celery")
    expect(pickled.records).toEqual(json.records)

    // The stored group holds Celery's pickled backend (with the URL); none of it comes out.
    const stored = yield* Harness.raw(options.celeryUrl, { groups: [groupId], schema: options.schema })
    const groupBytes = b64(stored.groups[groupId])!
    expect(groupBytes.includes("DatabaseBackend")).toBe(true)
    if (options.secret !== undefined) {
      expect(groupBytes.includes(options.secret)).toBe(true) // the test means something
      const everything = JSON.stringify([json, pickled], bigints)
      expect(everything).not.toContain(options.secret)
      expect(logs.join("\n")).not.toContain(options.secret)
    }
    return { written, groupId, groupBytes, logs }
  })

// ---------------------------------------------------------------------------
// taskmeta writes (pickle mode), Celery reads
// ---------------------------------------------------------------------------

interface Case {
  readonly label: string
  readonly state: string
  readonly value: Json.Json | Error
  readonly options?: ResultBackend.StoreOptions
  /** What Celery reads, when it differs from the value written. */
  readonly celeryReads?: Json.Json
}

const own = (text: string) => JSON.parse(text) as Json.Json

/** An error envelope as a `Json` value. */
const envelope = (type: string, args: ReadonlyArray<Json.Json>, module: string): Json.Json =>
  ExceptionInfo.make(type, args, module) as unknown as Json.Json as unknown as Json.Json

export const CASES: ReadonlyArray<Case> = [
  { label: "int", state: "SUCCESS", value: 42 },
  { label: "negative", state: "SUCCESS", value: -7 },
  { label: "float", state: "SUCCESS", value: 3.5 },
  { label: "float-small", state: "SUCCESS", value: 0.1 },
  { label: "float-unsafe-integral", state: "SUCCESS", value: 1e20 },
  { label: "text", state: "SUCCESS", value: "héllo ☃ 𝄞 日本 \u0000 \n \"q\"" },
  { label: "none", state: "SUCCESS", value: null },
  { label: "true", state: "SUCCESS", value: true },
  { label: "false", state: "SUCCESS", value: false },
  { label: "list", state: "SUCCESS", value: [1, 2, 3] },
  { label: "nested", state: "SUCCESS", value: { a: { b: [1, null, 2.5] }, c: "d" } },
  { label: "big", state: "SUCCESS", value: 2n ** 64n },
  { label: "bigneg", state: "SUCCESS", value: -(2n ** 70n) },
  { label: "bigdict", state: "SUCCESS", value: { big: 10n ** 30n, small: 1 } },
  { label: "edge-ints", state: "SUCCESS", value: [2 ** 53 - 1, -(2 ** 53 - 1), 2n ** 53n, -(2n ** 53n), 255, 256, 65536, 2 ** 31, -(2 ** 31) - 1] },
  { label: "empty-list", state: "SUCCESS", value: [] },
  { label: "empty-object", state: "SUCCESS", value: {} },
  { label: "unicode-keys", state: "SUCCESS", value: { "ключ": "значение" } },
  { label: "proto-key", state: "SUCCESS", value: own(`{"__proto__": {"x": 1}, "constructor": 2}`) },
  { label: "shared", state: "SUCCESS", value: (() => {
    const inner = [1, 2]
    return { a: inner, b: inner }
  })() },
  {
    label: "failure",
    state: "FAILURE",
    value: envelope("ValueError", ["boom ☃", 42], "builtins"),
    options: { traceback: "Traceback (most recent call last):\nValueError: boom ☃" }
  },
  { label: "failure-bigarg", state: "FAILURE", value: envelope("ValueError", [2n ** 70n, [1, 2]], "builtins") },
  { label: "failure-custom", state: "FAILURE", value: envelope("Boom", ["custom"], "__main__") },
  {
    label: "failure-js-error",
    state: "FAILURE",
    value: new Error("plain"),
    // builtins has no `Error`: Celery makes the class itself, in celery.exceptions
    celeryReads: envelope("Error", ["plain"], "celery.exceptions")
  },
  { label: "retry", state: "RETRY", value: envelope("KeyError", ["missing"], "builtins"), options: { traceback: "retry tb" } },
  { label: "started", state: "STARTED", value: { pid: 1234, hostname: "celery@host" } },
  { label: "revoked", state: "REVOKED", value: envelope("TaskRevokedError", ["terminated"], "celery.exceptions") },
  { label: "progress", state: "PROGRESS", value: { current: 3, total: 10 } },
  { label: "pending", state: "PENDING", value: null },
  {
    label: "extended",
    state: "SUCCESS",
    value: 256,
    options: { name: "multiply_two_numbers", args: [16, 16], kwargs: { scale: 2, label: "ünï" }, worker: "celery@worker-1", retries: 2, queue: "celery" }
  },
  {
    label: "extended-big",
    state: "SUCCESS",
    value: [2n ** 80n, "ok"],
    options: {
      name: "tasks.big",
      args: Harness.EXTENDED_BIG_ARGS,
      kwargs: Harness.EXTENDED_BIG_KWARGS,
      worker: "celery@wörker",
      retries: 0,
      queue: "q-ü"
    }
  }
]

export interface TaskmetaWritesOptions {
  readonly celeryUrl: string
  /** taskmeta's layer in pickle mode (result_extended on). */
  readonly backend: Backend
  /** A JSON-mode layer on the same tables: reading does not depend on the mode. */
  readonly jsonBackend: Backend
  readonly schema?: string | undefined
  readonly prefix: string
  /**
   * `date_done` keeps whole seconds (Celery's own MySQL / MariaDB tables:
   * `DATETIME` without fraction digits), so SQLAlchemy prints it without a fraction.
   */
  readonly wholeSeconds?: boolean | undefined
}

export const taskmetaWritesCeleryReads = (options: TaskmetaWritesOptions) =>
  Effect.gen(function*() {
    const id = (label: string) => `${options.prefix}-${label}`
    const groupId = id("group")
    const members = [id("int"), id("failure"), id("never-ran")]
    const ids = CASES.map((c) => id(c.label))
    const records = yield* Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      for (const c of CASES) {
        const outcome = yield* backend.store(id(c.label), c.value, c.state, c.options)
        expect(outcome._tag).toBe("Stored")
      }
      // a late duplicate does not clobber a success in this mode either
      expect((yield* backend.store(id("int"), 7, "FAILURE"))._tag).toBe("Ignored")
      yield* backend.saveGroup(groupId, members)
      const read = yield* backend.getMany(ids)
      expect(Option.map(yield* backend.restoreGroup(groupId), (g) => g.taskIds)).toEqual(Option.some(members))
      return read
    }).pipe(Effect.provide(options.backend))

    // taskmeta reads its own Celery-mode rows as written (tuples are arrays)
    CASES.forEach((c, i) => {
      const expected = c.value instanceof Error ? ExceptionInfo.fromError(c.value) as unknown as Json.Json : c.value
      expect([c.label, records[i].result]).toEqual([c.label, expected])
      if (c.options?.args !== undefined) expect(records[i].args).toEqual(c.options.args)
      if (c.options?.kwargs !== undefined) expect(records[i].kwargs).toEqual(c.options.kwargs)
    })
    // … whatever the reader's mode
    const again = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.getMany(ids)).pipe(
      Effect.provide(options.jsonBackend)
    )
    expect(again).toEqual(records)

    // Celery reads every field back equal
    const celery = yield* Harness.read(options.celeryUrl, { tasks: ids, groups: [groupId] })
    CASES.forEach((c, i) => {
      const meta = celery.tasks[id(c.label)]
      const seen = Harness.celeryView(meta)
      const ours = Harness.view(records[i])
      const expected = c.celeryReads === undefined ? ours : { ...ours, result: c.celeryReads }
      expect([c.label, seen]).toEqual([c.label, expected])
    })
    expect(celery.groups[groupId]).toEqual(members)

    // On disk: exactly what Celery writes
    const stored = yield* Harness.raw(options.celeryUrl, { tasks: ids, groups: [groupId], schema: options.schema })
    const row = (label: string) => stored.tasks[id(label)]!
    expect(row("none").result).toBeNull() // a None result is SQL NULL
    expect(row("pending").result).toBeNull()
    for (const label of ["retry", "started", "progress", "pending"]) expect([label, row(label).date_done]).toEqual([label, null])
    for (const label of ["int", "failure", "revoked"]) {
      expect(row(label).date_done).toMatch(
        options.wholeSeconds === true ? /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/ : /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$/
      )
    }
    for (const c of CASES) {
      const bytes = b64(row(c.label).result)
      if (bytes !== null) expect([c.label, bytes[0], bytes[1]]).toEqual([c.label, 0x80, 2]) // protocol 2 pickles
    }
    // exc_message is a tuple in the pickle
    const failure = Pickle.decode(b64(row("failure").result)!)
    expect(Either.map(failure, (tree) => tree._tag === "Dict" && tree.entries.map(([k, v]) => [k._tag === "Str" ? k.value : "?", v._tag])))
      .toEqual(Either.right([["exc_type", "Str"], ["exc_message", "Tuple"], ["exc_module", "Str"]]))
    // args / kwargs: Python's json.dumps bytes
    expect(b64(row("extended").args)!.toString("utf8")).toBe("[16, 16]")
    expect(b64(row("extended").kwargs)!.toString("utf8")).toBe(`{"scale": 2, "label": "\\u00fcn\\u00ef"}`)
    // the group: a GroupResult through _unpickle_appattr, members without a backend
    const groupTree = Pickle.decode(b64(stored.groups[groupId])!)
    expect(Either.isRight(groupTree)).toBe(true)
    const groupJson = JSON.stringify(Either.flatMap(groupTree, (t) => Pickle.toJson(t)), bigints)
    expect(groupJson).toContain("_unpickle_appattr")
    expect(groupJson).toContain("GroupResult")
    expect(groupJson).not.toContain("DatabaseBackend")
    expect(groupJson).not.toContain("postgres")
    expect(groupJson).not.toContain("sqlite")
    expect(groupJson).not.toContain("mysql")
    return { ids, records, stored }
  })

/**
 * taskmeta (pickle mode) writes the extended args / kwargs Celery wrote for
 * `extended-big`; the stored bytes are identical.
 */
export const argsBytesMatchCelery = (options: {
  readonly celeryUrl: string
  readonly backend: Backend
  readonly celeryTaskId: string
  readonly schema?: string | undefined
}) =>
  Effect.gen(function*() {
    const ours = `${options.celeryTaskId}-taskmeta`
    yield* Effect.flatMap(ResultBackend.ResultBackend, (b) =>
      b.store(ours, [2n ** 80n, "ok"], "SUCCESS", {
        name: "tasks.big",
        args: Harness.EXTENDED_BIG_ARGS,
        kwargs: Harness.EXTENDED_BIG_KWARGS,
        worker: "celery@wörker",
        retries: 0,
        queue: "q-ü"
      })).pipe(Effect.provide(options.backend))
    const stored = yield* Harness.raw(options.celeryUrl, { tasks: [options.celeryTaskId, ours], schema: options.schema })
    const celery = stored.tasks[options.celeryTaskId]!
    const taskmeta = stored.tasks[ours]!
    expect(taskmeta.args).toBe(celery.args)
    expect(taskmeta.kwargs).toBe(celery.kwargs)
    expect(Buffer.from(celery.args!, "base64").toString("utf8")).toContain("1e+16, 1e-07, 1.5e+300")
    // results differ in bytes only by protocol (Celery 5 on Python 3.8+ writes 5 with FRAMEs; we write 2)
    expect(Pickle.decodeToJson(Buffer.from(taskmeta.result!, "base64"))).toEqual(
      Pickle.decodeToJson(Buffer.from(celery.result!, "base64"))
    )
  })
