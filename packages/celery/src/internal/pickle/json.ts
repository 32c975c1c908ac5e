/**
 * Pickle tree ⇄ JSON, both iterative.
 *
 * @internal
 */
import type * as Json from "@taskmeta/schema/Json"
import type { PickleValue } from "../../Pickle.js"
import type { Container, Entry } from "./ast.js"
import { children, Failure, isContainer } from "./ast.js"
import { normalizeInt, redactUrlPasswords } from "./text.js"

export interface Limits {
  readonly maxDepth: number
  readonly maxNodes: number
  /** Most characters of JSON text the result may print as (counted as it is built). */
  readonly maxSize: number
  readonly redact: boolean
  /**
   * Count the values the tree expands into before building anything: needed
   * when a container is shared (memo references can make a small tree expand
   * past `maxNodes`, a billion laughs); a tree the decoder saw no sharing in
   * skips it (it costs as much as the walk).
   */
  readonly countFirst: boolean
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

/**
 * The characters `JSON.stringify` prints `text` with, quotes included: a
 * quote, a backslash or \b \t \n \f \r take two, other control characters
 * and lone surrogates six.
 */
const quotedLength = (text: string): number => {
  let n = text.length + 2
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 0x20 && c !== 0x22 && c !== 0x5c && (c < 0xd800 || c > 0xdfff)) continue
    if (c < 0x20) n += c === 8 || c === 9 || c === 10 || c === 12 || c === 13 ? 1 : 5
    else if (c === 0x22 || c === 0x5c) n += 1
    else if (c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) i++
    else n += 5
  }
  return n
}

const floatJson = (value: number): Json.Json => {
  if (Number.isFinite(value)) return value === 0 ? 0 : value
  return { __pickle__: "float", value: Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf" }
}

/** The children `toJson` converts: a dict with text keys only gives its values (its keys are not values). */
const convertedChildren = (node: Container): ReadonlyArray<PickleValue> =>
  node._tag === "Dict" && allStrKeys(node.entries) ? node.entries.map((entry) => entry[1]) : children(node)

/**
 * How many values `toJson` would produce for `root`, counted over the tree
 * as decoded (a subtree shared through the memo is counted once and
 * multiplied, not expanded), stopping past `max`; -1 when the tree has a
 * cycle (the walk counts those itself). Iterative.
 */
const expandedCount = (root: PickleValue, max: number): number => {
  if (!isContainer(root)) return 1
  const known = new Map<PickleValue, number>() // -1 while on the path
  const nodes: Array<Container> = [root]
  const kids: Array<ReadonlyArray<PickleValue>> = [convertedChildren(root)]
  const index: Array<number> = [0]
  const total: Array<number> = [1]
  known.set(root, -1)
  while (nodes.length > 0) {
    const top = nodes.length - 1
    const list = kids[top]
    if (index[top] < list.length) {
      const child = list[index[top]++]
      if (!isContainer(child)) {
        total[top] = Math.min(total[top] + 1, max + 1)
        continue
      }
      const n = known.get(child)
      if (n === -1) return -1
      if (n !== undefined) {
        total[top] = Math.min(total[top] + n, max + 1)
        continue
      }
      known.set(child, -1)
      nodes.push(child)
      kids.push(convertedChildren(child))
      index.push(0)
      total.push(1)
      continue
    }
    const n = total[top]
    known.set(nodes[top], n)
    nodes.pop()
    kids.pop()
    index.pop()
    total.pop()
    if (top > 0) total[top - 1] = Math.min(total[top - 1] + n, max + 1)
  }
  return known.get(root)!
}

export const toJson = (root: PickleValue, limits: Limits): Json.Json => {
  const { countFirst, maxDepth, maxNodes, maxSize } = limits
  const frames: Array<Frame> = []
  const onPath = new Set<PickleValue>()
  let count = 0
  // The JSON text the result prints as, estimated from above (strings and
  // keys as printed, escapes included; separators and a small fixed cost per
  // value): a value shared through the memo counts each time it appears,
  // so a 1 MB string referenced 3,000 times stops here, not in the printer.
  let size = 0
  const grow = (n: number): void => {
    size += n
    if (size > maxSize) throw new Failure(`decoded value larger than ${maxSize} bytes`, -1, "size")
  }
  // Buffer's encoder: effect's Encoding.encodeBase64 adds one character at a
  // time (45 MB of bytes took 18 s and 2 GB). Bytes shared through the memo
  // are encoded once.
  const encoded = new Map<Uint8Array, string>()
  const bytesJson = (tag: "bytes" | "bytearray", value: Uint8Array): Json.Json => {
    grow(Math.ceil(value.length / 3) * 4 + 32)
    let base64 = value.length < 256 ? undefined : encoded.get(value)
    if (base64 === undefined) {
      base64 = Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString("base64")
      if (value.length >= 256) encoded.set(value, base64)
    }
    return { __pickle__: tag, base64 }
  }

  // A large string shared through the memo is redacted and measured once,
  // not once per reference (3,000 references to 1 MB of URLs took seconds).
  const redacted = new Map<PickleValue, readonly [string, number]>()
  const measured = new Map<PickleValue, number>()
  // Redaction only removes characters and adds `***`, so the redacted text
  // prints with at most its growth more than the original (measuring the
  // original also spares flattening the redacted rope).
  const redact = (text: string): readonly [string, number] => {
    const value = redactUrlPasswords(text)
    return [value, quotedLength(text) + value.length - text.length]
  }
  const strJson = (node: PickleValue.Str, redacting: boolean): string => {
    if (node.value.length < 1024) {
      if (!redacting) {
        grow(quotedLength(node.value) + 1)
        return node.value
      }
      const [value, length] = redact(node.value)
      grow(length + 1)
      return value
    }
    if (!redacting) {
      let length = measured.get(node)
      if (length === undefined) measured.set(node, length = quotedLength(node.value))
      grow(length + 1)
      return node.value
    }
    let known = redacted.get(node)
    if (known === undefined) redacted.set(node, known = redact(node.value))
    grow(known[1] + 1)
    return known[0]
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
        return strJson(node, inObject && limits.redact)
      case "Bytes":
        return bytesJson("bytes", node.value)
      case "ByteArray":
        return bytesJson("bytearray", node.value)
      case "Global":
        grow(quotedLength(node.module) + quotedLength(node.name) + 44)
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

  // Memo references can make a small tree expand past the count budget (a
  // billion laughs): refused before anything is expanded, not after a
  // million values were built (seconds).
  if (countFirst && expandedCount(root, maxNodes) > maxNodes) {
    throw new Failure(`more than ${maxNodes} JSON values`, -1, "count")
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
        grow(quotedLength((key as PickleValue.Str).value) + 2)
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
