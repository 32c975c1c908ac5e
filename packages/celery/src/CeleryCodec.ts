/**
 * The bytes Python Celery 5 keeps in its SQL tables, written and read the way
 * Celery's `DatabaseBackend` does.
 *
 * What Celery 5.2 writes (checked against a real Celery 5.2 with the
 * interoperability tests):
 *
 * - `result`: `pickle.dumps(value)` of the raw Python value (SQLAlchemy's
 *   `PickleType`, whatever `result_serializer` says); a `None` result is SQL
 *   NULL. For FAILURE, RETRY and REVOKED the value is the dict
 *   `{"exc_type": …, "exc_message": (args…), "exc_module": …}`, the message
 *   a tuple.
 * - `args` / `kwargs`: Python `json.dumps` bytes: `", "` and `": "`
 *   separators, every non-ASCII character escaped as `\uXXXX`.
 * - a group row: a pickled `GroupResult` made through
 *   `celery.app.base._unpickle_appattr("GroupResult", (group_id, [members]))`,
 *   each member `_unpickle_appattr("AsyncResult", (task_id, backend, None,
 *   None, parent))` with the backend pickled in, database URL and password
 *   included.
 *
 * taskmeta's Celery-compatible writer (`pickleResult`, `pickleGroup`,
 * `pythonJson`) writes protocol 2 pickles, which every Python 3 reads, and
 * group members without a backend (`AsyncResult(task_id, None, None, None,
 * None)`: Celery then uses the reading app's own backend), so no connection
 * details are ever stored. `groupMemberIds` reads the member ids of Celery's
 * group pickles from the decoded tree without ever turning the pickled
 * backend into text.
 *
 * @since 0.1.0
 */
import * as Option from "effect/Option"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import type * as Json from "@taskmeta/schema/Json"
import * as TaskState from "@taskmeta/schema/TaskState"
import * as Pickle from "./Pickle.js"

// ---------------------------------------------------------------------------
// Python's json.dumps
// ---------------------------------------------------------------------------

const hex4 = (code: number): string => "\\u" + code.toString(16).padStart(4, "0")

const SHORT_ESCAPES: Readonly<Record<number, string>> = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
  0x22: "\\\"",
  0x5c: "\\\\"
}

/** `json.encoder.encode_basestring_ascii`: escapes `"`, `\`, and everything outside space..`~`. */
const pythonString = (text: string): string => {
  let out = "\""
  let start = 0
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code >= 0x20 && code <= 0x7e && code !== 0x22 && code !== 0x5c) continue
    out += text.slice(start, i) + (SHORT_ESCAPES[code] ?? hex4(code))
    start = i + 1
  }
  return out + text.slice(start) + "\""
}

/**
 * Python's `repr(float)`: the shortest digits that read back as the same
 * double (JavaScript finds the same ones), written in fixed notation when the
 * decimal exponent is in [-4, 16), else as `d.ddde±XX`.
 */
const pythonFloat = (n: number): string => {
  const [mantissa, exponent] = n.toExponential().split("e")
  const exp = Number(exponent)
  const sign = n < 0 ? "-" : ""
  const digits = mantissa.replace("-", "").replace(".", "")
  if (exp >= -4 && exp < 16) {
    if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`
    const whole = digits.slice(0, exp + 1).padEnd(exp + 1, "0")
    const fraction = digits.slice(exp + 1)
    return `${sign}${whole}.${fraction === "" ? "0" : fraction}`
  }
  const head = digits.length === 1 ? digits : `${digits[0]}.${digits.slice(1)}`
  return `${sign}${head}e${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`
}

/**
 * The text Python's `json.dumps(value)` (Celery's `args` / `kwargs` encoder)
 * writes for the Python value a `Json` stands for: integers (safe numbers and
 * bigints) with every digit, other numbers as Python floats (`0.1`, `1e+16`,
 * `1e-05`), strings ASCII-only with `\uXXXX` escapes (surrogate pairs beyond
 * the BMP), `", "` and `": "` separators, object keys in insertion order.
 * Iterative, so deep values cannot overflow the stack.
 *
 * @since 0.1.0
 * @category json
 */
export const pythonJson = (value: Json.Json): string => {
  const parts: Array<string> = []
  // A work stack of values to write, or literal text (separators, closers).
  const work: Array<{ readonly text: string } | { readonly value: Json.Json }> = [{ value }]
  while (work.length > 0) {
    const item = work.pop()!
    if ("text" in item) {
      parts.push(item.text)
      continue
    }
    const v = item.value
    if (v === null) {
      parts.push("null")
      continue
    }
    switch (typeof v) {
      case "boolean":
        parts.push(v ? "true" : "false")
        continue
      case "bigint":
        parts.push(v.toString())
        continue
      case "number":
        parts.push(Number.isSafeInteger(v) ? String(v) : pythonFloat(v))
        continue
      case "string":
        parts.push(pythonString(v))
        continue
    }
    if (Array.isArray(v)) {
      const items = v as ReadonlyArray<Json.Json>
      work.push({ text: "]" })
      for (let i = items.length - 1; i >= 0; i--) {
        work.push({ value: items[i] })
        if (i > 0) work.push({ text: ", " })
      }
      parts.push("[")
      continue
    }
    const record = v as Json.JsonObject
    const keys = Object.keys(record)
    work.push({ text: "}" })
    for (let i = keys.length - 1; i >= 0; i--) {
      work.push({ value: record[keys[i]] })
      work.push({ text: pythonString(keys[i]) + ": " })
      if (i > 0) work.push({ text: ", " })
    }
    parts.push("{")
  }
  return parts.join("")
}

// ---------------------------------------------------------------------------
// results
// ---------------------------------------------------------------------------

/**
 * The pickle tree Celery would store for a result in a state: `fromJson` of
 * the value, except that for EXCEPTION states (FAILURE, RETRY, REVOKED) an
 * error envelope's `exc_message` becomes a tuple, as Celery's
 * `prepare_exception` makes it. Other keys of the envelope keep their order.
 * A result of an EXCEPTION state that is not an envelope is written as it is
 * (Celery itself cannot turn such a value into an exception).
 *
 * @since 0.1.0
 * @category results
 */
export const resultTree = (status: string, value: Json.Json): Pickle.PickleValue => {
  if (!TaskState.isException(status) || !ExceptionInfo.isEncoded(value)) return Pickle.fromJson(value)
  const envelope = value as Json.JsonObject
  return Pickle.dict(Object.keys(envelope).map((key) => {
    const item = envelope[key]
    const tree = key === "exc_message"
      ? Pickle.tuple((item as ReadonlyArray<Json.Json>).map(Pickle.fromJson))
      : Pickle.fromJson(item)
    return [Pickle.str(key), tree] as const
  }))
}

/**
 * The `result` column in Celery's format: a protocol 2 pickle of
 * `resultTree`, or SQL NULL for a `null` result (Celery stores `None` so).
 *
 * @since 0.1.0
 * @category results
 */
export const pickleResult = (status: string, value: Json.Json): Uint8Array | null =>
  value === null ? null : Pickle.encode(resultTree(status, value), { protocol: 2 })

// ---------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------

const UNPICKLE_APPATTR = Pickle.global("celery.app.base", "_unpickle_appattr")

const appAttr = (name: string, args: ReadonlyArray<Pickle.PickleValue>): Pickle.PickleValue =>
  Pickle.reduce(UNPICKLE_APPATTR, Pickle.tuple([Pickle.str(name), Pickle.tuple(args)]))

/**
 * The pickle tree of Celery's `app.GroupResult(group_id, [app.AsyncResult(id)
 * …])` as its `__reduce__` writes it, except that members carry no backend:
 * `_unpickle_appattr("GroupResult", (group_id, [_unpickle_appattr(
 * "AsyncResult", (task_id, None, None, None, None)), …]))`.
 *
 * @since 0.1.0
 * @category groups
 */
export const groupTree = (groupId: string, taskIds: ReadonlyArray<string>): Pickle.PickleValue =>
  appAttr("GroupResult", [
    Pickle.str(groupId),
    Pickle.list(taskIds.map((id) => appAttr("AsyncResult", [Pickle.str(id), Pickle.none, Pickle.none, Pickle.none, Pickle.none])))
  ])

/**
 * A group row in Celery's format: `groupTree` as a protocol 2 pickle.
 *
 * @since 0.1.0
 * @category groups
 */
export const pickleGroup = (groupId: string, taskIds: ReadonlyArray<string>): Uint8Array =>
  Pickle.encode(groupTree(groupId, taskIds), { protocol: 2 })

const RESULT_CLASSES = new Set(["AsyncResult", "GroupResult", "ResultSet", "EagerResult"])

/**
 * The constructor arguments of a pickled Celery result object: either
 * `_unpickle_appattr(name, args)` (results made by an app) or
 * `celery.result.<Class>(*args)` (results made from the classes directly).
 */
const resultArgs = (node: Pickle.PickleValue): ReadonlyArray<Pickle.PickleValue> | undefined => {
  if (node._tag !== "Reduce" || node.callable._tag !== "Global" || node.args._tag !== "Tuple") return undefined
  const { module, name } = node.callable
  const args = node.args.items
  if (module === "celery.app.base" && name === "_unpickle_appattr") {
    const [attr, inner] = args
    if (args.length !== 2 || attr._tag !== "Str" || !RESULT_CLASSES.has(attr.value) || inner._tag !== "Tuple") {
      return undefined
    }
    return inner.items
  }
  if (module === "celery.result" && RESULT_CLASSES.has(name)) return args
  return undefined
}

/**
 * The member ids of a pickled Celery `GroupResult`, in order: the first
 * argument of each member (an `AsyncResult`, or a nested `GroupResult`
 * whose id Celery lists the same way). `None` when the tree is not such a
 * group. Only ids are read: the pickled backends (with their URLs) are never
 * looked at.
 *
 * @since 0.1.0
 * @category groups
 */
export const groupMemberIds = (tree: Pickle.PickleValue): Option.Option<ReadonlyArray<string>> => {
  const group = resultArgs(tree)
  if (group === undefined || group.length < 2) return Option.none()
  const members = group[1]
  if (members._tag !== "List" && members._tag !== "Tuple") return Option.none()
  const ids: Array<string> = []
  for (const member of members.items) {
    const args = resultArgs(member)
    const id = args?.[0]
    if (id === undefined || id._tag !== "Str") return Option.none()
    ids.push(id.value)
  }
  return Option.some(ids)
}

const isStrings = (v: Json.Json | undefined): v is ReadonlyArray<string> =>
  Array.isArray(v) && v.every((x) => typeof x === "string")

/** `GroupResult.as_tuple()`: `[[group_id, parent], [[[task_id, parent], None], …]]`. */
const asTupleIds = (tuple: Json.Json | undefined): Option.Option<ReadonlyArray<string>> => {
  if (!Array.isArray(tuple) || tuple.length < 2 || !Array.isArray(tuple[1])) return Option.none()
  const members: Array<string> = []
  for (const member of tuple[1] as ReadonlyArray<Json.Json>) {
    const head = Array.isArray(member) ? (member as ReadonlyArray<Json.Json>)[0] : undefined
    const id = Array.isArray(head) ? (head as ReadonlyArray<Json.Json>)[0] : undefined
    if (typeof id !== "string") return Option.none()
    members.push(id)
  }
  return Option.some(members)
}

/**
 * The member ids of a group value in one of its plain-data forms: taskmeta's
 * `{"task_ids": […]}`, a bare array of ids, Celery's `as_tuple()` form, or
 * an object holding it under `result` (Celery's key-value backends).
 *
 * @since 0.1.0
 * @category groups
 */
export const groupIdsFromJson = (value: Json.Json): Option.Option<ReadonlyArray<string>> => {
  if (isStrings(value)) return Option.some(value)
  if (Array.isArray(value)) return asTupleIds(value)
  if (typeof value === "object" && value !== null) {
    const object = value as Json.JsonObject
    if (isStrings(object.task_ids)) return Option.some(object.task_ids)
    return asTupleIds(object.result)
  }
  return Option.none()
}
