/**
 * Pickle tree ⇄ JSON, both iterative.
 *
 * @internal
 */
import * as Encoding from "effect/Encoding"
import type * as Json from "@taskmeta/schema/Json"
import type { PickleValue } from "../../Pickle.js"
import type { Container, Entry } from "./ast.js"
import { Failure } from "./ast.js"
import { normalizeInt, redactUrlPasswords } from "./text.js"

export interface Limits {
  readonly maxDepth: number
  readonly maxNodes: number
  /** Most characters of JSON text the result may print as (estimated as it is built). */
  readonly maxSize: number
  readonly redact: boolean
}

type JsonArray = Array<Json.Json>
type JsonRecord = { [key: string]: Json.Json }

const setKey = (out: JsonRecord, key: string, value: Json.Json): void => {
  if (key === "__proto__") {
    Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true })
  } else {
    out[key] = value
  }
}

const allStrKeys = (entries: ReadonlyArray<Entry>): boolean => {
  for (let i = 0; i < entries.length; i++) if (entries[i][0]._tag !== "Str") return false
  return true
}

// How a frame places the JSON of its i-th child.
const SEQ = 0 // out: array, out[i]
const RECORD = 1 // out: object keyed by the Str keys
const PAIRS = 2 // out: array of [key, value]; children alternate key, value
const OBJECT = 3 // out: description of a reduce / newobj

interface Frame {
  readonly node: Container
  readonly kind: number
  readonly out: JsonArray | JsonRecord
  readonly n: number
  readonly inObject: boolean
  i: number
  // OBJECT frames: the fixed fields, then list items, then dict items
  readonly fields?: ReadonlyArray<readonly [string, PickleValue]>
  readonly listItems?: JsonArray
  readonly dictItems?: JsonArray
}

const floatJson = (value: number): Json.Json => {
  if (Number.isFinite(value)) return value === 0 ? 0 : value
  return { __pickle__: "float", value: Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf" }
}

export const toJson = (root: PickleValue, limits: Limits): Json.Json => {
  const { maxDepth, maxNodes, maxSize, redact } = limits
  const frames: Array<Frame> = []
  const onPath = new Set<PickleValue>()
  let count = 0
  // The JSON text the result prints as, estimated from above for plain text
  // (quotes, separators and a small fixed cost per value; escapes not
  // counted): a value shared through the memo counts each time it appears,
  // so a 1 MB string referenced 3,000 times stops here, not in the printer.
  let size = 0
  const grow = (n: number): void => {
    size += n
    if (size > maxSize) throw new Failure(`decoded value larger than ${maxSize} bytes`, -1, "size")
  }
  const bytesJson = (tag: "bytes" | "bytearray", value: Uint8Array): Json.Json => {
    grow(Math.ceil(value.length / 3) * 4 + 32)
    return { __pickle__: tag, base64: Encoding.encodeBase64(value) }
  }

  /** JSON for `node`; a container's JSON is returned empty and filled by the frame pushed for it. */
  const convert = (node: PickleValue, inObject: boolean): Json.Json => {
    if (++count > maxNodes) throw new Failure(`more than ${maxNodes} JSON values`, -1, "count")
    switch (node._tag) {
      case "None":
        grow(5)
        return null
      case "Bool":
        grow(6)
        return node.value
      case "Int":
        grow(typeof node.value === "bigint" ? 24 + (node.value.toString(16).length * 5) / 4 : 17)
        return node.value
      case "Float":
        grow(25)
        return floatJson(node.value)
      case "Str":
        grow(node.value.length + 3)
        return inObject && redact ? redactUrlPasswords(node.value) : node.value
      case "Bytes":
        return bytesJson("bytes", node.value)
      case "ByteArray":
        return bytesJson("bytearray", node.value)
      case "Global":
        grow(node.module.length + node.name.length + 48)
        return { __pickle__: "global", module: node.module, name: node.name }
      case "Ext":
        grow(40)
        return { __pickle__: "ext", code: node.code }
    }
    if (onPath.has(node)) return { __pickle__: "cycle" }
    if (frames.length >= maxDepth) throw new Failure(`nesting deeper than ${maxDepth}`, -1, "depth")
    grow(16)
    let frame: Frame
    switch (node._tag) {
      case "List":
      case "Tuple":
      case "Set":
      case "FrozenSet": {
        const out: JsonArray = new Array(node.items.length)
        frame = { node, kind: SEQ, out, n: node.items.length, inObject, i: 0 }
        break
      }
      case "Dict": {
        if (allStrKeys(node.entries)) {
          frame = { node, kind: RECORD, out: {}, n: node.entries.length, inObject, i: 0 }
        } else {
          const items: JsonArray = []
          frames.push({ node, kind: PAIRS, out: items, n: node.entries.length * 2, inObject, i: 0 })
          onPath.add(node)
          return { __pickle__: "dict", items }
        }
        break
      }
      case "Reduce":
      case "NewObj": {
        const out: JsonRecord = {}
        const fields: Array<readonly [string, PickleValue]> = []
        if (node._tag === "Reduce") {
          out.__pickle__ = "reduce"
          fields.push(["callable", node.callable], ["args", node.args])
        } else {
          out.__pickle__ = "newobj"
          fields.push(["cls", node.cls], ["args", node.args])
          if (node.kwargs !== undefined) fields.push(["kwargs", node.kwargs])
        }
        if (node.state !== undefined) fields.push(["state", node.state])
        for (const [key] of fields) out[key] = null
        let n = fields.length
        let listItems: JsonArray | undefined
        let dictItems: JsonArray | undefined
        if (node.listItems !== undefined) {
          listItems = out.listitems = new Array(node.listItems.length)
          n += node.listItems.length
        }
        if (node.dictItems !== undefined) {
          dictItems = out.dictitems = []
          n += node.dictItems.length * 2
        }
        frame = {
          node,
          kind: OBJECT,
          out,
          n,
          inObject: true,
          i: 0,
          fields,
          ...(listItems !== undefined ? { listItems } : {}),
          ...(dictItems !== undefined ? { dictItems } : {})
        }
        break
      }
    }
    frames.push(frame)
    onPath.add(node)
    return frame.out
  }

  const result = convert(root, false)
  while (frames.length > 0) {
    const frame = frames[frames.length - 1]
    if (frame.i >= frame.n) {
      frames.pop()
      onPath.delete(frame.node)
      continue
    }
    const i = frame.i++
    const node = frame.node
    switch (frame.kind) {
      case SEQ: {
        const items = (node as Extract<Container, { items: unknown }>).items
        ;(frame.out as JsonArray)[i] = convert(items[i], frame.inObject)
        break
      }
      case RECORD: {
        const [key, value] = (node as PickleValue.Dict).entries[i]
        grow((key as PickleValue.Str).value.length + 4)
        setKey(frame.out as JsonRecord, (key as PickleValue.Str).value, convert(value, frame.inObject))
        break
      }
      case PAIRS: {
        const entry = (node as PickleValue.Dict).entries[i >> 1]
        placePair(frame.out as JsonArray, i, entry, frame.inObject)
        break
      }
      case OBJECT: {
        const fields = frame.fields!
        if (i < fields.length) {
          const [key, child] = fields[i]
          ;(frame.out as JsonRecord)[key] = convert(child, true)
          break
        }
        const obj = node as PickleValue.Reduce | PickleValue.NewObj
        const j = i - fields.length
        const listLength = obj.listItems?.length ?? 0
        if (j < listLength) {
          frame.listItems![j] = convert(obj.listItems![j], true)
        } else {
          const k = j - listLength
          placePair(frame.dictItems!, k, obj.dictItems![k >> 1], true)
        }
        break
      }
    }
  }
  return result

  function placePair(out: JsonArray, i: number, entry: Entry, inObject: boolean): void {
    if ((i & 1) === 0) {
      const pair: JsonArray = [null, null]
      out.push(pair)
      pair[0] = convert(entry[0], inObject)
    } else {
      ;(out[out.length - 1] as JsonArray)[1] = convert(entry[1], inObject)
    }
  }
}

type MutableNode =
  | { readonly _tag: "List"; readonly items: Array<PickleValue> }
  | { readonly _tag: "Dict"; readonly entries: Array<Entry> }

/** JSON → pickle tree; iterative, and a JS object met twice becomes one shared node. */
export const fromJson = (root: Json.Json): PickleValue => {
  const seen = new Map<object, PickleValue>()
  const pending: Array<readonly [Json.Json, MutableNode]> = []
  const convert = (json: Json.Json): PickleValue => {
    if (json === null) return { _tag: "None" }
    switch (typeof json) {
      case "boolean":
        return { _tag: "Bool", value: json }
      case "number":
        return Number.isSafeInteger(json) ? { _tag: "Int", value: normalizeInt(json) } : { _tag: "Float", value: json }
      case "bigint":
        return { _tag: "Int", value: normalizeInt(json) }
      case "string":
        return { _tag: "Str", value: json }
    }
    const known = seen.get(json)
    if (known !== undefined) return known
    const node: MutableNode = Array.isArray(json) ? { _tag: "List", items: [] } : { _tag: "Dict", entries: [] }
    seen.set(json, node)
    pending.push([json, node])
    return node
  }
  const result = convert(root)
  while (pending.length > 0) {
    const [json, node] = pending.pop()!
    if (node._tag === "List") {
      const array = json as ReadonlyArray<Json.Json>
      for (let i = 0; i < array.length; i++) node.items.push(convert(array[i]))
    } else {
      const record = json as Json.JsonObject
      for (const key of Object.keys(record)) {
        const value = record[key]
        if (value === undefined) continue
        node.entries.push([{ _tag: "Str", value: key }, convert(value)])
      }
    }
  }
  return result
}
