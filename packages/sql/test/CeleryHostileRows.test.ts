/**
 * Hostile and corrupt bytes in the columns Celery shares with taskmeta. The
 * decision (README, "Celery interoperability"): a value that cannot be decoded
 * never fails a read. Its column reads as an inert description
 * `{"__pickle__":"undecodable","column","format","reason"}` (args: an array
 * holding it), a warning is logged with the task id and the reason (never the
 * bytes), and every other record of the same getMany reads normally. Pickled
 * calls (REDUCE of os.system) read as inert `reduce` descriptions; nothing is
 * ever imported or called. A group row that cannot be decoded fails
 * restoreGroup with a typed GroupError (a group is one row: there is nothing
 * else to return).
 */
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, describe, expect, it } from "@effect/vitest"
import Sqlite from "better-sqlite3"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as CeleryCodec from "@taskmeta/celery/CeleryCodec"
import * as PgBackend from "../src/PgBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import * as Scenarios from "./celery/scenarios.js"
import { dropSchema, PG_URL, pgQuery, removeDir, suffix, tempDir } from "./helpers.js"

const bytesOf = (...parts: Array<string | number | ReadonlyArray<number>>): Buffer => {
  const out: Array<number> = []
  for (const part of parts) {
    if (typeof part === "number") out.push(part)
    else if (typeof part === "string") for (let i = 0; i < part.length; i++) out.push(part.charCodeAt(i))
    else out.push(...part)
  }
  return Buffer.from(out)
}

const marker = path.join(os.tmpdir(), `taskmeta-hostile-row-${process.pid}-${suffix()}`)

const billionLaughs = (() => {
  // level 0 = [1]; level i = [level i-1] * 10 through BINGET and DUP; 30 levels: 10^30 values expanded
  const parts: Array<number> = [0x80, 2, 0x5d, 0x4b, 1, 0x61, 0x71, 0]
  for (let i = 1; i <= 30; i++) parts.push(0x30, 0x5d, 0x28, 0x68, i - 1, ...Array<number>(9).fill(0x32), 0x65, 0x71, i)
  parts.push(0x2e)
  return Buffer.from(parts)
})()

// Issue 14, finding 2: a 1 MB string put in the memo once and referenced
// 3,000 times (3 GB of text expanded); before the size budget, one read took
// 3.4 GB of memory and failed with "Invalid string length".
const memoBomb = (() => {
  const text = Buffer.alloc(1 << 20, "a")
  const head = Buffer.from([0x80, 2, 0x58, 0, 0, 0, 0])
  head.writeUInt32LE(text.length, 3)
  // BINUNICODE text, BINPUT 0, POP, EMPTY_LIST, MARK, 3,000 × BINGET 0, APPENDS, STOP
  return Buffer.concat([head, text, Buffer.from([0x71, 0, 0x30, 0x5d, 0x28]), Buffer.alloc(3000 * 2, Buffer.from([0x68, 0])), Buffer.from([0x65, 0x2e])])
})()

// Issue 14, finding 3: JSON nested 100,000 deep; before the depth check, it
// read "fine" and overflowed the stack of whatever printed it.
const DEEP_JSON = 100_000
const deepJson = Buffer.from("[".repeat(DEEP_JSON) + "]".repeat(DEEP_JSON))

const DEPTH = 10_000
// pickle.dumps(ValueError-envelope) as Celery 5 writes it, cut short
const celeryFailure = Buffer.from(
  "80059552000000000000007d94288c086578635f74797065948c0a56616c75654572726f72948c0b6578635f6d657373616765948c08626f6f6d20e29883944b2a86948c0a6578635f6d6f64756c65948c086275696c74696e7394752e",
  "hex"
)

interface Row {
  readonly id: string
  readonly status: string
  readonly result: Buffer | null
  readonly args?: Buffer | null
  readonly kwargs?: Buffer | null
}

const ROWS: ReadonlyArray<Row> = [
  { id: "good-pickle", status: "SUCCESS", result: Buffer.from("80054b2a2e", "hex") },
  { id: "good-json", status: "SUCCESS", result: Buffer.from(`{"ok":true}`), args: Buffer.from("[1, 2]") },
  // protocol 4: STACK_GLOBAL os.system, REDUCE ("touch <marker>",)
  {
    id: "os-system",
    status: "SUCCESS",
    result: bytesOf(0x80, 4, 0x8c, 2, "os", 0x8c, 6, "system", 0x93, 0x8c, 6 + marker.length, `touch ${marker}`, 0x85, 0x52, 0x2e)
  },
  // protocol 0 (no PROTO byte): not recognised as a pickle, so read as JSON, which it is not
  { id: "os-system-p0", status: "SUCCESS", result: bytesOf(`cos\nsystem\n(S'touch ${marker}'\ntR.`) },
  { id: "billion-laughs", status: "SUCCESS", result: billionLaughs },
  {
    id: "deep-nesting",
    status: "SUCCESS",
    result: Buffer.from([0x80, 2, ...Array<number>(DEPTH).fill(0x5d), ...Array<number>(DEPTH - 1).fill(0x61), 0x2e])
  },
  // Celery's protocol 5 bytes cut short (the FRAME announces more than is left)
  { id: "truncated", status: "FAILURE", result: celeryFailure.subarray(0, 40) },
  // a protocol 2 pickle cut short
  {
    id: "truncated-p2",
    status: "FAILURE",
    result: Buffer.from(CeleryCodec.pickleResult("FAILURE", { exc_type: "E", exc_message: ["x"], exc_module: "m" })!)
      .subarray(0, 25)
  },
  // BINUNICODE8 announcing 2^40 bytes
  { id: "huge-length", status: "SUCCESS", result: bytesOf(0x80, 4, 0x8d, [0, 0, 0, 0, 0, 1, 0, 0], "abc", 0x2e) },
  { id: "memo-bomb", status: "SUCCESS", result: memoBomb },
  { id: "deep-json", status: "SUCCESS", result: deepJson, kwargs: Buffer.from(`{"k":${"[".repeat(DEEP_JSON)}${"]".repeat(DEEP_JSON)}}`) },
  {
    id: "bad-extended",
    status: "FAILURE",
    result: celeryFailure,
    args: Buffer.from([0xff, 0xfe, 0x00]),
    kwargs: Buffer.from("[1, 2]")
  }
]

const undecodable = (column: string, format: "pickle" | "json", reason: string, limit?: "size" | "depth" | "count") => ({
  __pickle__: "undecodable",
  column,
  format,
  reason: expect.stringContaining(reason),
  size: expect.any(Number),
  ...(limit !== undefined ? { limit } : {})
})

const timings: Array<string> = []

const exercise = (label: string, layer: Layer.Layer<ResultBackend.ResultBackend, unknown>) =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const ids = ROWS.map((r) => r.id)
    const t0 = performance.now()
    const [records, logs] = yield* Scenarios.captureLogs(backend.getMany([...ids, "unknown"]))
    timings.push(`${label} getMany(${ids.length + 1}): ${(performance.now() - t0).toFixed(1)} ms`)
    const byId = new Map(records.map((r) => [r.taskId, r]))
    expect(byId.get("good-pickle")!.result).toBe(42)
    expect(byId.get("good-json")!.result).toEqual({ ok: true })
    expect(byId.get("good-json")!.args).toEqual([1, 2])
    expect(byId.get("unknown")!.status).toBe("PENDING")
    expect(byId.get("os-system")!.result).toEqual({
      __pickle__: "reduce",
      callable: { __pickle__: "global", module: "os", name: "system" },
      args: [`touch ${marker}`]
    })
    expect(byId.get("os-system-p0")!.result).toEqual(undecodable("result", "json", "invalid JSON"))
    expect(byId.get("billion-laughs")!.result).toEqual(
      undecodable("result", "pickle", "more than 1000000 JSON values", "count")
    )
    expect(byId.get("deep-nesting")!.result).toEqual(undecodable("result", "pickle", "nesting deeper than 1000", "depth"))
    expect(byId.get("memo-bomb")!.result).toEqual(undecodable("result", "pickle", "decoded value larger than", "size"))
    expect((byId.get("memo-bomb")!.result as { size: number }).size).toBe(memoBomb.length)
    expect(byId.get("deep-json")!.result).toEqual(undecodable("result", "json", "nesting deeper than 512", "depth"))
    expect((byId.get("deep-json")!.result as { size: number }).size).toBe(deepJson.length)
    expect(byId.get("deep-json")!.kwargs).toEqual(undecodable("kwargs", "json", "nesting deeper than 512", "depth"))
    // what reads back can be printed (the deep row overflowed the stack here)
    expect(JSON.stringify(records).length).toBeGreaterThan(0)
    expect(byId.get("truncated")!.result).toEqual(undecodable("result", "pickle", "exceeds the 29 remaining bytes"))
    expect(byId.get("truncated-p2")!.result).toEqual(undecodable("result", "pickle", "truncated"))
    expect(byId.get("truncated")!.status).toBe("FAILURE")
    expect(byId.get("huge-length")!.result).toEqual(undecodable("result", "pickle", "exceeds"))
    const bad = byId.get("bad-extended")!
    expect(bad.result).toEqual({ exc_type: "ValueError", exc_message: ["boom ☃", 42], exc_module: "builtins" })
    expect(bad.args).toEqual([undecodable("args", "json", "invalid UTF-8")])
    expect(bad.kwargs).toEqual(undecodable("kwargs", "json", "not an object"))
    // nothing ran
    expect(fs.existsSync(marker)).toBe(false)
    // one warning per undecodable column, with the id and the reason, never the bytes
    const warnings = logs.filter((l) => l.startsWith("WARN"))
    expect(warnings).toHaveLength(11)
    expect(warnings.join("\n")).toContain("deep-nesting")
    for (const fragment of ["touch", marker, "cos\\n", "(S'"]) expect(warnings.join("\n")).not.toContain(fragment)
    expect(JSON.stringify(byId.get("os-system-p0")!.result)).toBe(
      `{"__pickle__":"undecodable","column":"result","format":"json","reason":"invalid JSON","size":${
        ROWS.find((r) => r.id === "os-system-p0")!.result!.length
      }}`
    )
    // each one alone, timed
    for (const id of ids) {
      const t = performance.now()
      const record = yield* backend.get(id)
      timings.push(`${label} get(${id}): ${(performance.now() - t).toFixed(1)} ms`)
      expect(record).toEqual(byId.get(id))
    }
    // a group row that cannot be decoded: a typed GroupError, quickly
    for (const groupId of ["hostile-group", "deep-group"]) {
      const t = performance.now()
      const error = yield* Effect.flip(backend.restoreGroup(groupId))
      timings.push(`${label} restoreGroup(${groupId}): ${(performance.now() - t).toFixed(1)} ms`)
      expect(error._tag).toBe("GroupError")
      expect((error.cause as { _tag: string })._tag).toBe("UndecodableValue")
    }
    expect(fs.existsSync(marker)).toBe(false)
  }).pipe(Effect.provide(layer))

const GROUP_ROWS: ReadonlyArray<readonly [string, Buffer]> = [
  ["hostile-group", ROWS.find((r) => r.id === "os-system")!.result!],
  ["deep-group", ROWS.find((r) => r.id === "deep-nesting")!.result!]
]

const dir = tempDir("celery-hostile")
const schemas: Array<string> = []
afterAll(async () => {
  removeDir(dir)
  for (const schema of schemas) await dropSchema(schema)
  fs.rmSync(marker, { force: true })
  console.info(`hostile-row timings (wall clock, including the query):\n  ${timings.join("\n  ")}`)
})

describe("hostile bytes in stored rows", () => {
  it.live("SQLite", () =>
    Effect.gen(function*() {
      const file = path.join(dir, "hostile.sqlite")
      // taskmeta creates the tables, then the rows go in behind its back
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.exists("x")).pipe(
        Effect.provide(SqliteBackend.layer({ filename: file }))
      )
      const db = new Sqlite(file)
      const insert = db.prepare(
        "INSERT INTO celery_taskmeta (task_id, status, result, date_done, args, kwargs) VALUES (?, ?, ?, ?, ?, ?)"
      )
      for (const r of ROWS) insert.run(r.id, r.status, r.result, "2024-01-02 03:04:05.000000", r.args ?? null, r.kwargs ?? null)
      const group = db.prepare("INSERT INTO celery_tasksetmeta (taskset_id, result, date_done) VALUES (?, ?, ?)")
      for (const [id, bytes] of GROUP_ROWS) group.run(id, bytes, "2024-01-02 03:04:05.000000")
      db.close()
      yield* exercise("sqlite", SqliteBackend.layer({ filename: file }))
    }), 60_000)

  it.live("PostgreSQL", () =>
    Effect.gen(function*() {
      const schema = `tm_hostile_${suffix()}`
      schemas.push(schema)
      const layer = PgBackend.layer({ url: Redacted.make(PG_URL), tables: { schema }, poolSize: 2, listen: false })
      yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.exists("x")).pipe(Effect.provide(layer))
      for (const r of ROWS) {
        yield* Effect.promise(() =>
          pgQuery(
            `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result, date_done, args, kwargs) ` +
              `VALUES (nextval('"${schema}".task_id_sequence'), $1, $2, $3, '2024-01-02 03:04:05', $4, $5)`,
            [r.id, r.status, r.result, r.args ?? null, r.kwargs ?? null]
          )
        )
      }
      for (const [id, bytes] of GROUP_ROWS) {
        yield* Effect.promise(() =>
          pgQuery(
            `INSERT INTO "${schema}".celery_tasksetmeta (id, taskset_id, result, date_done) ` +
              `VALUES (nextval('"${schema}".taskset_id_sequence'), $1, $2, '2024-01-02 03:04:05')`,
            [id, bytes]
          )
        )
      }
      yield* exercise("postgres", layer)
    }), 60_000)
})
