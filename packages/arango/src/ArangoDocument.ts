/**
 * The documents Celery's `ArangoDbBackend` keeps, and their codecs.
 *
 * A task is `{ _key: "celery-task-meta-<id>", task: <meta> }` and a group is
 * `{ _key: "celery-taskset-meta-<id>", task: <meta> }`. Celery since 5.3.4
 * stores `<meta>` as JSON text (what its result serializer produced); earlier
 * versions stored it as an object. Both are read; taskmeta writes JSON text,
 * as current Celery does, so integers beyond 2^53 keep every digit.
 *
 * The task meta is Celery's `KeyValueStoreBackend` meta:
 * `{"status","result","traceback","children","date_done","task_id"}`, plus
 * `name, args, kwargs, worker, retries, queue` with `result_extended`.
 * A group meta is `{"result": [[groupId, null], [[[taskId, null], null], …]]}`
 * (`GroupResult.as_tuple()` in JSON), to which taskmeta adds `date_done`.
 *
 * @since 0.1.0
 */
import { createHash } from "node:crypto"
import * as DateTime from "effect/DateTime"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"

/**
 * @since 0.1.0
 * @category constants
 */
export const TASK_PREFIX = "celery-task-meta-"

/**
 * @since 0.1.0
 * @category constants
 */
export const GROUP_PREFIX = "celery-taskset-meta-"

/**
 * The longest `_key` ArangoDB accepts, in bytes.
 *
 * @since 0.1.0
 * @category constants
 */
export const MAX_KEY_LENGTH = 254

/**
 * A stored document that cannot be read as a task or a group.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArangoDocumentError extends Schema.TaggedError<ArangoDocumentError>(
  "@taskmeta/arango/ArangoDocumentError"
)("ArangoDocumentError", {
  key: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `document ${JSON.stringify(this.key)} is not a Celery result: ${this.reason}`
  }
}

// ---------------------------------------------------------------------------
// keys
// ---------------------------------------------------------------------------

// Characters ArangoDB allows in a `_key`, less `%`, which escapes the rest.
const KEY_SAFE = /^[A-Za-z0-9_\-:.@()+,=;$!*']$/

/**
 * The id as it appears in a key. Ids made only of the characters ArangoDB
 * allows in keys (every Celery UUID) are used as they are, so Celery and
 * taskmeta find each other's records. Any other character (and `%` itself) is
 * percent-encoded as UTF-8, so distinct ids never share a key; a key that
 * would then exceed 254 bytes uses `%s` followed by the SHA-256 of the id
 * (`%s` never occurs in an encoded id).
 *
 * @since 0.1.0
 * @category keys
 */
export const keyPart = (id: string, prefixLength = 0): string => {
  let out = ""
  for (const ch of id) {
    if (KEY_SAFE.test(ch)) {
      out += ch
    } else {
      for (const byte of new TextEncoder().encode(ch)) out += "%" + byte.toString(16).toUpperCase().padStart(2, "0")
    }
  }
  if (prefixLength + out.length <= MAX_KEY_LENGTH) return out
  return "%s" + createHash("sha256").update(id, "utf8").digest("hex")
}

/**
 * `celery-task-meta-<id>` (after the optional global prefix).
 *
 * @since 0.1.0
 * @category keys
 */
export const taskKey = (taskId: string, globalPrefix = ""): string => {
  const prefix = globalPrefix + TASK_PREFIX
  return prefix + keyPart(taskId, prefix.length)
}

/**
 * `celery-taskset-meta-<id>` (after the optional global prefix).
 *
 * @since 0.1.0
 * @category keys
 */
export const groupKey = (groupId: string, globalPrefix = ""): string => {
  const prefix = globalPrefix + GROUP_PREFIX
  return prefix + keyPart(groupId, prefix.length)
}

/**
 * The id a key names, when the key is the one `taskKey` / `groupKey` would
 * build for it: the part after `prefix`, percent-decoded, and only if
 * encoding it again gives the same key part (so the id reads back through
 * the backend). `undefined` for a hashed key (`%s…`), a key outside the
 * prefix, or a key another writer built differently (Celery keeps `%` in an
 * id as it is).
 *
 * @since 0.1.0
 * @category keys
 */
export const idFromKey = (key: string, prefix: string): string | undefined => {
  if (!key.startsWith(prefix)) return undefined
  const part = key.slice(prefix.length)
  if (part === "" || part.startsWith("%s")) return undefined
  let id: string
  try {
    id = decodeURIComponent(part)
  } catch {
    return undefined
  }
  return keyPart(id, prefix.length) === part ? id : undefined
}

// ---------------------------------------------------------------------------
// dates
// ---------------------------------------------------------------------------

const pad = (n: number, width = 2) => String(n).padStart(width, "0")

/**
 * `date_done` as Celery 5.3+ writes it (`app.now().isoformat()` in UTC):
 * `2024-05-07T14:19:09.522000+00:00`, always with six fraction digits.
 *
 * @since 0.1.0
 * @category dates
 */
export const formatDateDone = (date: DateTime.Utc): string => {
  const d = new Date(DateTime.toEpochMillis(date))
  return `${pad(d.getUTCFullYear(), 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${
    pad(d.getUTCMinutes())
  }:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}${pad(UtcTime.micros(date), 3)}+00:00`
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$/

/**
 * Reads a `date_done`: ISO 8601 with a `Z` or an offset, or without zone
 * (Celery 5 before 5.3 wrote naive UTC via `datetime.utcnow().isoformat()`),
 * taken as UTC. Fractions are kept to the microsecond (`UtcTime`), further
 * digits cut. `undefined` when the text is not such a date.
 *
 * @since 0.1.0
 * @category dates
 */
export const parseDateDone = (text: string): DateTime.Utc | undefined => {
  const m = ISO.exec(text.trim())
  if (m === null) return undefined
  const [, y, mo, d, h, mi, s, frac, zone] = m
  const month = Number(mo)
  const day = Number(d)
  const hour = h === undefined ? 0 : Number(h)
  const minute = mi === undefined ? 0 : Number(mi)
  const second = s === undefined ? 0 : Number(s)
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return undefined
  const fraction = (frac ?? "").padEnd(6, "0")
  const millis = Number(fraction.slice(0, 3))
  let offsetMinutes = 0
  if (zone !== undefined && zone !== "Z" && zone !== "z") {
    const sign = zone[0] === "-" ? -1 : 1
    const digits = zone.slice(1).replace(":", "")
    offsetMinutes = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || "0"))
  }
  const epoch = UtcTime.utcMillis(Number(y), month - 1, day, hour, minute, second, millis) - offsetMinutes * 60_000
  if (!Number.isFinite(epoch)) return undefined
  try {
    return UtcTime.make(epoch, Number(fraction.slice(3, 6)))
  } catch {
    return undefined
  }
}

// ---------------------------------------------------------------------------
// tasks
// ---------------------------------------------------------------------------

/**
 * The JSON text stored under `task` for a record, in Celery's key order.
 * Extended fields are written when `extended` is on (`result_extended`).
 *
 * @since 0.1.0
 * @category tasks
 */
export const encodeTask = (record: TaskRecord.TaskRecord, extended: boolean): string => {
  const meta: Record<string, Json.Json> = {
    status: record.status,
    result: record.result,
    traceback: record.traceback,
    children: [],
    date_done: record.dateDone === null ? null : formatDateDone(record.dateDone)
  }
  if (extended) {
    meta.name = record.name
    meta.args = record.args
    meta.kwargs = record.kwargs
    meta.worker = record.worker
    meta.retries = record.retries
    meta.queue = record.queue
  }
  meta.task_id = record.taskId
  return Json.stringify(meta)
}

const isObject = (u: unknown): u is Record<string, Json.Json> =>
  typeof u === "object" && u !== null && !Array.isArray(u)

const metaOf = (key: string, raw: unknown): Either.Either<Record<string, Json.Json>, ArangoDocumentError> => {
  if (typeof raw === "string") {
    return Either.flatMap(
      Either.mapLeft(Json.parse(raw), (e) => new ArangoDocumentError({ key, reason: `task is not JSON (${e.reason})` })),
      (value) =>
        isObject(value)
          ? Either.right(value)
          : Either.left(new ArangoDocumentError({ key, reason: "task is JSON but not an object" }))
    )
  }
  if (isObject(raw)) {
    // Parsed by the driver without a depth limit; what reads it later recurses.
    return Json.deeperThan(raw, Json.MAX_DEPTH + 1)
      ? Either.left(new ArangoDocumentError({ key, reason: `task is nested deeper than ${Json.MAX_DEPTH}` }))
      : Either.right(raw)
  }
  return Either.left(
    new ArangoDocumentError({ key, reason: raw == null ? "the document has no task" : "task is neither text nor an object" })
  )
}

const text = (value: Json.Json | undefined): string | null => (typeof value === "string" ? value : null)

/**
 * Reads the `task` of a task document, in either form, as the record for
 * `taskId`. Unknown meta keys (`children`, `group_id`, `parent_id`, stamps)
 * are ignored. `dateDone` is kept only for READY states.
 *
 * @since 0.1.0
 * @category tasks
 */
export const decodeTask = (
  taskId: string,
  raw: unknown,
  key = taskKey(taskId)
): Either.Either<TaskRecord.TaskRecord, ArangoDocumentError> =>
  Either.flatMap(metaOf(key, raw), (meta) => taskFromMeta(taskId, meta, key))

/**
 * Reads a task document found by a scan, whose id is not known beforehand:
 * the id is the one its key names (`idFromKey`, so it reads back through the
 * backend), else the meta's `task_id` (hashed keys, keys Celery built from
 * ids with `%`). `prefix` is the global key prefix plus `TASK_PREFIX`.
 *
 * @since 0.1.0
 * @category tasks
 */
export const decodeTaskDocument = (
  key: string,
  raw: unknown,
  prefix: string = TASK_PREFIX
): Either.Either<TaskRecord.TaskRecord, ArangoDocumentError> =>
  Either.flatMap(metaOf(key, raw), (meta) => {
    const taskId = idFromKey(key, prefix) ?? (typeof meta.task_id === "string" ? meta.task_id : undefined)
    return taskId === undefined
      ? Either.left(new ArangoDocumentError({ key, reason: "the key does not name the task and task_id is missing" }))
      : taskFromMeta(taskId, meta, key)
  })

const taskFromMeta = (
  taskId: string,
  meta: Record<string, Json.Json>,
  key: string
): Either.Either<TaskRecord.TaskRecord, ArangoDocumentError> => {
  const status = meta.status
  if (typeof status !== "string" || status === "") {
    return Either.left(new ArangoDocumentError({ key, reason: "status is missing" }))
  }
  let dateDone: DateTime.Utc | null = null
  if (TaskState.isReady(status) && meta.date_done != null) {
    if (typeof meta.date_done !== "string") {
      return Either.left(new ArangoDocumentError({ key, reason: "date_done is not text" }))
    }
    const parsed = parseDateDone(meta.date_done)
    if (parsed === undefined) {
      return Either.left(new ArangoDocumentError({ key, reason: "date_done is not an ISO 8601 date" }))
    }
    dateDone = parsed
  }
  const retries = meta.retries
  return Either.right({
    taskId,
    status,
    result: meta.result === undefined ? null : meta.result,
    traceback: text(meta.traceback),
    dateDone,
    name: text(meta.name),
    args: Array.isArray(meta.args) ? (meta.args as ReadonlyArray<Json.Json>) : null,
    kwargs: isObject(meta.kwargs) ? meta.kwargs : null,
    worker: text(meta.worker),
    retries: typeof retries === "number" && Number.isSafeInteger(retries) ? retries : null,
    queue: text(meta.queue)
  })
}

// ---------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------

/**
 * The JSON text stored under `task` for a group:
 * `{"result":[[groupId,null],[[[taskId,null],null],…]],"date_done":…}`, which
 * Celery's `_restore_group` turns back into a `GroupResult`. Never holds
 * connection details.
 *
 * @since 0.1.0
 * @category groups
 */
export const encodeGroup = (group: GroupRecord.GroupRecord): string =>
  Json.stringify({
    result: [[group.groupId, null], group.taskIds.map((id) => [[id, null], null])],
    date_done: formatDateDone(group.dateDone)
  })

/**
 * A group saved by Celery has no `date_done`; it reads as the Unix epoch.
 *
 * @since 0.1.0
 * @category groups
 */
export const UNKNOWN_DATE: DateTime.Utc = DateTime.unsafeMake(0)

/**
 * The member task ids of a serialized `GroupResult.as_tuple()`, in order.
 * A node is `[[id, parent], children]` (or `[id, children]`); a member that is
 * itself a group contributes its own members, in order.
 *
 * @since 0.1.0
 * @category groups
 */
export const memberIds = (tuple: Json.Json): Either.Either<ReadonlyArray<string>, string> => {
  const out: Array<string> = []
  const nodeId = (head: Json.Json): string | undefined => {
    if (typeof head === "string") return head
    if (Array.isArray(head) && typeof head[0] === "string") return head[0]
    return undefined
  }
  const walk = (children: Json.Json, depth: number): string | undefined => {
    if (!Array.isArray(children)) return "group members are not a list"
    if (depth > 64) return "groups nested too deeply"
    for (const child of children as ReadonlyArray<Json.Json>) {
      if (!Array.isArray(child) || child.length !== 2) return "a group member is not an [id, children] pair"
      const id = nodeId(child[0])
      if (id === undefined) return "a group member has no id"
      if (child[1] === null) out.push(id)
      else {
        const problem = walk(child[1], depth + 1)
        if (problem !== undefined) return problem
      }
    }
    return undefined
  }
  if (!Array.isArray(tuple) || tuple.length !== 2) return Either.left("result is not a GroupResult tuple")
  const problem = walk(tuple[1], 0)
  return problem === undefined ? Either.right(out) : Either.left(problem)
}

/**
 * Reads the `task` of a group document, in either form.
 *
 * @since 0.1.0
 * @category groups
 */
export const decodeGroup = (
  groupId: string,
  raw: unknown,
  key = groupKey(groupId)
): Either.Either<GroupRecord.GroupRecord, ArangoDocumentError> =>
  Either.flatMap(metaOf(key, raw), (meta) => groupFromMeta(groupId, meta, key))

/**
 * Reads a group document found by a scan: the id is the one its key names
 * (`idFromKey`), else the id at the head of the stored `GroupResult` tuple.
 * `prefix` is the global key prefix plus `GROUP_PREFIX`.
 *
 * @since 0.1.0
 * @category groups
 */
export const decodeGroupDocument = (
  key: string,
  raw: unknown,
  prefix: string = GROUP_PREFIX
): Either.Either<GroupRecord.GroupRecord, ArangoDocumentError> =>
  Either.flatMap(metaOf(key, raw), (meta) => {
    const head = Array.isArray(meta.result) ? meta.result[0] : undefined
    const fromTuple = typeof head === "string"
      ? head
      : Array.isArray(head) && typeof head[0] === "string"
      ? head[0]
      : undefined
    const groupId = idFromKey(key, prefix) ?? fromTuple
    return groupId === undefined
      ? Either.left(new ArangoDocumentError({ key, reason: "the key does not name the group and the result has no id" }))
      : groupFromMeta(groupId, meta, key)
  })

const groupFromMeta = (
  groupId: string,
  meta: Record<string, Json.Json>,
  key: string
): Either.Either<GroupRecord.GroupRecord, ArangoDocumentError> => {
  const members = memberIds(meta.result === undefined ? null : meta.result)
  if (Either.isLeft(members)) return Either.left(new ArangoDocumentError({ key, reason: members.left }))
  let dateDone = UNKNOWN_DATE
  if (typeof meta.date_done === "string") {
    const parsed = parseDateDone(meta.date_done)
    if (parsed === undefined) {
      return Either.left(new ArangoDocumentError({ key, reason: "date_done is not an ISO 8601 date" }))
    }
    dateDone = parsed
  }
  return Either.right({ groupId, taskIds: members.right, dateDone })
}
