/**
 * Runs `celery_interop.py` (a real Python Celery 5.2 `DatabaseBackend`) and maps
 * what Celery reads to what taskmeta should read.
 *
 * The mapping Celery → taskmeta (`fromCelery`, `celeryView`):
 *
 * | Celery (`get_task_meta`, harness tag)                 | taskmeta `TaskRecord`                                  |
 * | ----------------------------------------------------- | ------------------------------------------------------ |
 * | `task_id`, `status`, `traceback`                      | `taskId`, `status`, `traceback`                        |
 * | `result` None / bool / str / float / list / dict       | the same JSON value                                    |
 * | int within ±(2^53 − 1) / beyond (`{"$int"}`)           | number / `bigint`                                      |
 * | tuple (`{"$tuple"}`), set (`{"$set"}`)                 | array (a set in Python's iteration order)              |
 * | bytes (`{"$bytes"}`)                                   | `{"__pickle__":"bytes","base64":…}`                    |
 * | nan / inf (`{"$float"}`)                               | `{"__pickle__":"float","value":…}`                     |
 * | exception instance (`{"$exception"}`) for FAILURE,    | the envelope `{exc_type, exc_message: [...args],       |
 * | RETRY, REVOKED                                         | exc_module}`                                           |
 * | `date_done` naive UTC datetime                         | `dateDone` (UTC, to the microsecond) for READY states  |
 * |                                                        | only; Celery 5.2 stores NULL for the others anyway     |
 * | `name`, `args`, `kwargs`, `worker`, `retries`, `queue` | the same (args/kwargs decoded from Celery's JSON)      |
 * | `restore_group(id).results` ids                        | `restoreGroup(id).taskIds`, in order                   |
 */
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import type * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import { python } from "../../../../testenv/requirements.js"

const here = path.dirname(fileURLToPath(import.meta.url))

/** `TASKMETA_TEST_PYTHON`, default `/usr/bin/python3` (Debian's, with Celery 5.2). */
export const PYTHON = python()
export const HARNESS = path.join(here, "celery_interop.py")

export class HarnessError extends Error {}

/** Runs the harness and parses its one JSON document (stdout). */
export const run = (args: ReadonlyArray<string>, input?: string) =>
  Effect.async<string, HarnessError>((resume) => {
    const child = spawn(PYTHON, [HARNESS, ...args], { stdio: ["pipe", "pipe", "pipe"] })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8")
    child.stderr.setEncoding("utf8")
    child.stdout.on("data", (d: string) => (stdout += d))
    child.stderr.on("data", (d: string) => (stderr += d))
    child.on("error", (e) => resume(Effect.fail(new HarnessError(e.message))))
    child.on("close", (code) =>
      resume(
        code === 0
          ? Effect.succeed(stdout)
          : Effect.fail(new HarnessError(`celery_interop.py ${args[0]} exited with ${code}: ${stderr}`))
      ))
    child.stdin.end(input ?? "")
    return Effect.sync(() => child.kill())
  })

export type Tagged = unknown

export interface CeleryMeta {
  readonly task_id: string
  readonly status: string
  readonly result: Tagged
  readonly traceback: string | null
  readonly date_done: string | null
  readonly name: string | null
  readonly args: Tagged
  readonly kwargs: Tagged
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}

export interface CeleryOutput {
  readonly tasks: Record<string, CeleryMeta>
  readonly groups: Record<string, ReadonlyArray<string> | null>
}

const parse = (stdout: string) => JSON.parse(stdout)

/** `create <url>`: Celery creates its tables (with `result_extended`). */
export const create = (url: string) => Effect.asVoid(run(["create", url]))

/** `write <url>`: Celery stores its variety; what Celery itself reads back, keyed by label. */
export const write = (url: string) => Effect.map(run(["write", url]), (out) => parse(out) as CeleryOutput)

const withIdsFile = <A>(ids: unknown, f: (file: string) => Effect.Effect<A, HarnessError>) =>
  Effect.acquireUseRelease(
    Effect.sync(() => {
      const file = path.join(fs.mkdtempSync(path.join(process.env.TMPDIR ?? "/tmp", "taskmeta-ids-")), "ids.json")
      fs.writeFileSync(file, JSON.stringify(ids))
      return file
    }),
    f,
    (file) => Effect.sync(() => fs.rmSync(path.dirname(file), { recursive: true, force: true }))
  )

/** `read <url> <ids>`: what Celery's `get_task_meta` / `restore_group` read. */
export const read = (url: string, ids: { tasks?: ReadonlyArray<string>; groups?: ReadonlyArray<string> }) =>
  withIdsFile(ids, (file) => Effect.map(run(["read", url, file]), (out) => parse(out) as CeleryOutput))

export interface RawRow {
  readonly result: string | null
  readonly args: string | null
  readonly kwargs: string | null
  readonly date_done: string | null
}

/** `raw <url> <ids>`: the stored bytes (base64), read with SQLAlchemy. */
export const raw = (
  url: string,
  ids: { tasks?: ReadonlyArray<string>; groups?: ReadonlyArray<string>; schema?: string | undefined }
) =>
  withIdsFile(ids, (file) =>
    Effect.map(run(["raw", url, file]), (out) =>
      parse(out) as {
        tasks: Record<string, RawRow | null>
        groups: Record<string, string | null>
      }))

/** `dumps`: Python's `json.dumps` of each JSON text (one per line). */
export const dumps = (texts: ReadonlyArray<string>) =>
  Effect.map(run(["dumps"], texts.join("\n") + "\n"), (out) => out.split("\n").filter((l) => l.length > 0))

// ---------------------------------------------------------------------------
// the mapping
// ---------------------------------------------------------------------------

/** A harness-tagged Python value as the JSON taskmeta reads for it. */
export const fromCelery = (value: Tagged): Json.Json => {
  if (value === null || typeof value !== "object") return value as Json.Json
  if (Array.isArray(value)) return value.map(fromCelery)
  const object = value as Record<string, unknown>
  if ("$int" in object) return BigInt(object.$int as string)
  if ("$tuple" in object) return (object.$tuple as Array<Tagged>).map(fromCelery)
  if ("$set" in object) return (object.$set as Array<Tagged>).map(fromCelery)
  if ("$bytes" in object) return { __pickle__: "bytes", base64: object.$bytes as string }
  if ("$float" in object) return { __pickle__: "float", value: object.$float as string }
  if ("$exception" in object) {
    const exc = object.$exception as { exc_type: string; exc_module: string; exc_message: Tagged }
    return { exc_type: exc.exc_type, exc_message: fromCelery(exc.exc_message), exc_module: exc.exc_module }
  }
  if ("$datetime" in object || "$object" in object) throw new Error(`no taskmeta mapping for ${JSON.stringify(object)}`)
  const out: Record<string, Json.Json> = {}
  for (const [k, v] of Object.entries(object)) {
    Object.defineProperty(out, k, { value: fromCelery(v), enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** A record in the shape the tests compare (dates as ISO text). */
export interface View {
  readonly taskId: string
  readonly status: string
  readonly result: Json.Json
  readonly traceback: string | null
  readonly dateDone: string | null
  readonly name: string | null
  readonly args: ReadonlyArray<Json.Json> | null
  readonly kwargs: Json.JsonObject | null
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}

export const view = (record: TaskRecord.TaskRecord): View => ({
  taskId: record.taskId,
  status: record.status,
  result: record.result,
  traceback: record.traceback,
  dateDone: record.dateDone === null ? null : UtcTime.formatIso(record.dateDone),
  name: record.name,
  args: record.args,
  kwargs: record.kwargs,
  worker: record.worker,
  retries: record.retries,
  queue: record.queue
})

/**
 * Celery's naive-UTC `isoformat()` as taskmeta prints the same instant
 * (`UtcTime.formatIso`): every microsecond, six digits when there are any
 * past the millisecond, three otherwise.
 */
export const celeryDate = (iso: string): string => {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{6}))?$/.exec(iso)
  if (m === null) throw new Error(`unexpected date_done ${iso}`)
  const fraction = m[2] ?? "000000"
  return `${m[1]}.${fraction.endsWith("000") ? fraction.slice(0, 3) : fraction}Z`
}

/** What taskmeta should read for a task, from what Celery's `get_task_meta` read. */
export const celeryView = (meta: CeleryMeta): View => ({
  taskId: meta.task_id,
  status: meta.status,
  result: fromCelery(meta.result),
  traceback: meta.traceback,
  dateDone: meta.date_done === null || !TaskState.isReady(meta.status) ? null : celeryDate(meta.date_done),
  name: meta.name,
  args: meta.args === null ? null : (fromCelery(meta.args) as ReadonlyArray<Json.Json>),
  kwargs: meta.kwargs === null ? null : (fromCelery(meta.kwargs) as Json.JsonObject),
  worker: meta.worker,
  retries: meta.retries,
  queue: meta.queue
})

/** The extended args / kwargs the harness stores for `extended-big` (its EXTENDED_BIG_ARGS / KWARGS). */
export const EXTENDED_BIG_ARGS: ReadonlyArray<Json.Json> = [
  2n ** 70n,
  -(2n ** 64n),
  0.1,
  1e16,
  1e-7,
  1.5e300,
  "ü\n\"\x7f\t𝄞",
  [1, [2]],
  null,
  true
]
export const EXTENDED_BIG_KWARGS: Json.JsonObject = {
  big: -(10n ** 20n),
  "ключ": "☃",
  t: [1, 2],
  nested: { x: null, y: 2.5 }
}
