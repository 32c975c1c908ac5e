/**
 * The pickle stack machine (protocols 0–5). Pure: it never imports or calls
 * anything named in the input.
 *
 * @internal
 */
import type { PickleValue } from "../../Pickle.js"
import type { Entry, MutableDict, MutableSeq } from "./ast.js"
import type { Limit } from "./ast.js"
import { checkDepth, Failure, isContainer, mutableObject } from "./ast.js"
import {
  allAscii,
  decodeLong,
  latin1,
  parseFloatText,
  parseIntText,
  rawUnicodeEscapeDecode,
  stringEscapeDecode,
  utf8Decode
} from "./text.js"

export interface Limits {
  readonly maxDepth: number
  readonly maxNodes: number
  readonly maxBytes: number
}

const HIGHEST_PROTOCOL = 5

/**
 * Largest LONG4 integer read: 4 KiB, about 9,860 decimal digits. Bigger ints
 * cost seconds to convert and print (CPython itself refuses to print ints of
 * more than 4,300 digits, and to read them from text, as INT and LONG do here).
 */
export const MAX_LONG_BYTES = 4096

const NONE: PickleValue = { _tag: "None" }
const TRUE: PickleValue = { _tag: "Bool", value: true }
const FALSE: PickleValue = { _tag: "Bool", value: false }

const isObject = (value: PickleValue): value is Extract<PickleValue, { _tag: "Reduce" | "NewObj" }> =>
  value._tag === "Reduce" || value._tag === "NewObj"

const isBuiltin = (module: string): boolean => module === "builtins" || module === "__builtin__"

const isLatin1Name = (value: PickleValue): boolean =>
  value._tag === "Str" && (value.value === "latin1" || value.value === "latin-1")

const latin1Bytes = (text: string): Uint8Array | undefined => {
  const out = new Uint8Array(text.length)
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c > 0xff) return undefined
    out[i] = c
  }
  return out
}

/**
 * The few pure-data calls folded into data (documented on `Pickle.decode`);
 * `undefined` leaves the REDUCE inert.
 */
const fold = (callable: PickleValue, args: PickleValue): PickleValue | undefined => {
  if (callable._tag !== "Global" || args._tag !== "Tuple") return undefined
  const { module, name } = callable
  const a = args.items
  if (isBuiltin(module)) {
    switch (name) {
      case "set":
      case "frozenset": {
        const tag = name === "set" ? "Set" : "FrozenSet"
        if (a.length === 0) return { _tag: tag, items: [] }
        if (a.length === 1 && (a[0]._tag === "List" || a[0]._tag === "Tuple")) {
          return { _tag: tag, items: a[0].items.slice() }
        }
        return undefined
      }
      case "bytes":
        return a.length === 0 ? { _tag: "Bytes", value: new Uint8Array(0) } : undefined
      case "bytearray": {
        if (a.length === 0) return { _tag: "ByteArray", value: new Uint8Array(0) }
        if (a.length === 1 && a[0]._tag === "Bytes") return { _tag: "ByteArray", value: a[0].value.slice() }
        if (a.length === 2 && a[0]._tag === "Str" && isLatin1Name(a[1])) {
          const value = latin1Bytes(a[0].value)
          return value === undefined ? undefined : { _tag: "ByteArray", value }
        }
        return undefined
      }
    }
    return undefined
  }
  if ((module === "_codecs" || module === "codecs") && name === "encode") {
    if (a.length === 2 && a[0]._tag === "Str" && isLatin1Name(a[1])) {
      const value = latin1Bytes(a[0].value)
      return value === undefined ? undefined : { _tag: "Bytes", value }
    }
  }
  return undefined
}

export const decode = (bytes: Uint8Array, limits: Limits): PickleValue => decodeShared(bytes, limits).value

/**
 * `decode`, and whether a container was pushed a second time (from the memo
 * or by DUP): only then can the tree expand into more values than it has
 * nodes (see `toJson`'s `countFirst`).
 */
export const decodeShared = (
  bytes: Uint8Array,
  limits: Limits
): { readonly value: PickleValue; readonly shared: boolean } => {
  const end = bytes.length
  if (end > limits.maxBytes) throw new Failure(`input of ${end} bytes exceeds the limit of ${limits.maxBytes}`, 0, "size")
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const maxNodes = limits.maxNodes
  const stack: Array<PickleValue> = []
  const marks: Array<number> = []
  const memo = new Map<number, PickleValue>()
  let base = 0 // stack index of the innermost MARK (0 without one)
  let pos = 0
  let op = 0 // offset of the current opcode
  let nodes = 0
  let containers = 0
  let shared = false

  const fail = (reason: string, limit?: Limit): never => {
    throw new Failure(reason, op, limit)
  }
  const need = (n: number): void => {
    if (end - pos < n) fail("truncated input")
  }
  const push = (value: PickleValue): void => {
    if (++nodes > maxNodes) fail(`more than ${maxNodes} values`, "count")
    stack.push(value)
  }
  const pushContainer = (value: PickleValue): void => {
    containers++
    push(value)
  }
  const pop = (): PickleValue => {
    if (stack.length <= base) fail("stack underflow")
    return stack.pop()!
  }
  const top = (): PickleValue => {
    if (stack.length <= base) fail("stack underflow")
    return stack[stack.length - 1]
  }
  const popMark = (): Array<PickleValue> => {
    if (marks.length === 0) fail("no MARK to pop")
    const at = marks.pop()!
    base = marks.length > 0 ? marks[marks.length - 1] : 0
    const items = stack.slice(at)
    stack.length = at
    return items
  }
  /** The line after the opcode, without its newline. */
  const line = (): [number, number] => {
    const nl = bytes.indexOf(0x0a, pos)
    if (nl < 0) fail("truncated input (missing newline)")
    const start = pos
    pos = nl + 1
    return [start, nl]
  }
  const asciiLine = (): string => {
    const [start, stop] = line()
    return latin1(bytes, start, stop)
  }
  const utf8Line = (): string => {
    const [start, stop] = line()
    const text = utf8Decode(bytes, start, stop)
    if (text === undefined) fail("invalid UTF-8")
    return text!
  }
  const u32 = (): number => {
    need(4)
    const v = view.getUint32(pos, true)
    pos += 4
    return v
  }
  const i32 = (): number => {
    need(4)
    const v = view.getInt32(pos, true)
    pos += 4
    return v
  }
  const u64 = (): number => {
    need(8)
    const lo = view.getUint32(pos, true)
    const hi = view.getUint32(pos + 4, true)
    pos += 8
    if (hi > 0x1fffff) fail("length beyond 2^53")
    return hi * 0x100000000 + lo
  }
  /** Checks a length prefix against the remaining input before anything is allocated. */
  const span = (length: number): number => {
    if (length < 0) fail("negative length")
    if (length > end - pos) fail(`length ${length} exceeds the ${end - pos} remaining bytes`)
    const start = pos
    pos += length
    return start
  }
  const str = (length: number): PickleValue => {
    const start = span(length)
    const value = utf8Decode(bytes, start, start + length)
    if (value === undefined) fail("invalid UTF-8")
    return { _tag: "Str", value: value! }
  }
  const binBytes = (length: number, tag: "Bytes" | "ByteArray"): PickleValue => {
    const start = span(length)
    return { _tag: tag, value: bytes.slice(start, start + length) }
  }
  /** Python 2 `str`: text when ASCII (what Python 3 reads by default), raw bytes otherwise. */
  const py2str = (raw: Uint8Array): PickleValue =>
    allAscii(raw) ? { _tag: "Str", value: latin1(raw, 0, raw.length) } : { _tag: "Bytes", value: raw }
  const memoKey = (text: string): number => {
    const key = parseIntText(text)
    if (key === undefined || typeof key === "bigint" || key < 0) fail("invalid memo key")
    return key as number
  }
  const get = (key: number): void => {
    const value = memo.get(key)
    if (value === undefined) fail(`memo key ${key} not found`)
    if (isContainer(value!)) shared = true
    push(value!)
  }
  const put = (key: number): void => {
    memo.set(key, top())
  }
  const tuple = (items: Array<PickleValue>): void => pushContainer({ _tag: "Tuple", items })
  const addItems = (target: PickleValue, items: Array<PickleValue>): void => {
    if (target._tag === "List") {
      const list = (target as MutableSeq).items
      for (let i = 0; i < items.length; i++) list.push(items[i])
    } else if (isObject(target)) {
      const obj = mutableObject(target)
      const list = obj.listItems ?? (obj.listItems = [])
      for (let i = 0; i < items.length; i++) list.push(items[i])
    } else {
      fail(`cannot append to a ${target._tag}`)
    }
  }
  const setItems = (target: PickleValue, items: Array<PickleValue>): void => {
    if (items.length % 2 !== 0) fail("odd number of items for SETITEMS")
    let entries: Array<Entry>
    if (target._tag === "Dict") entries = (target as MutableDict).entries
    else if (isObject(target)) {
      const obj = mutableObject(target)
      entries = obj.dictItems ?? (obj.dictItems = [])
    } else {
      return fail(`cannot set items on a ${target._tag}`)
    }
    for (let i = 0; i < items.length; i += 2) entries.push([items[i], items[i + 1]])
  }
  const reduce = (callable: PickleValue, args: PickleValue): void => {
    const folded = fold(callable, args)
    pushContainer(folded ?? { _tag: "Reduce", callable, args })
  }

  for (;;) {
    op = pos
    if (pos >= end) fail("truncated input (no STOP)")
    const code = bytes[pos++]
    switch (code) {
      case 0x80: { // PROTO
        need(1)
        const protocol = bytes[pos++]
        if (protocol > HIGHEST_PROTOCOL) fail(`unsupported pickle protocol ${protocol}`)
        break
      }
      case 0x95: { // FRAME: framing is optional; only its length is checked
        const length = u64()
        if (length > end - pos) fail(`frame of ${length} bytes exceeds the ${end - pos} remaining bytes`)
        break
      }
      case 0x2e: { // STOP
        if (marks.length > 0) fail("MARK not closed at STOP")
        if (stack.length === 0) fail("stack underflow at STOP")
        if (stack.length > 1) fail(`${stack.length - 1} values left on the stack at STOP`)
        const result = stack[0]
        if (containers > limits.maxDepth) checkDepth(result, limits.maxDepth)
        return { value: result, shared }
      }
      case 0x28: // MARK
        marks.push(stack.length)
        base = stack.length
        break
      case 0x30: // POP (with an empty frame, Python pops the MARK)
        if (stack.length > base) stack.pop()
        else if (marks.length > 0) popMark()
        else fail("stack underflow")
        break
      case 0x31: // POP_MARK
        popMark()
        break
      case 0x32: { // DUP
        const value = top()
        if (isContainer(value)) shared = true
        push(value)
        break
      }

      // ---- numbers
      case 0x49: { // INT
        const text = asciiLine()
        if (text === "01") push(TRUE)
        else if (text === "00") push(FALSE)
        else {
          const value = parseIntText(text)
          if (value === undefined) fail("invalid INT")
          push({ _tag: "Int", value: value! })
        }
        break
      }
      case 0x4a: // BININT
        push({ _tag: "Int", value: i32() })
        break
      case 0x4b: // BININT1
        need(1)
        push({ _tag: "Int", value: bytes[pos++] })
        break
      case 0x4d: // BININT2
        need(2)
        push({ _tag: "Int", value: view.getUint16(pos, true) })
        pos += 2
        break
      case 0x4c: { // LONG
        let text = asciiLine()
        if (text.endsWith("L")) text = text.slice(0, -1)
        const value = parseIntText(text)
        if (value === undefined) fail("invalid LONG")
        push({ _tag: "Int", value: value! })
        break
      }
      case 0x8a: { // LONG1
        need(1)
        const length = bytes[pos++]
        const start = span(length)
        push({ _tag: "Int", value: decodeLong(bytes, start, length) })
        break
      }
      case 0x8b: { // LONG4
        const length = i32()
        if (length > MAX_LONG_BYTES) fail(`an int of ${length} bytes exceeds the limit of ${MAX_LONG_BYTES}`)
        const start = span(length)
        push({ _tag: "Int", value: decodeLong(bytes, start, length) })
        break
      }
      case 0x46: { // FLOAT
        const value = parseFloatText(asciiLine())
        if (value === undefined) fail("invalid FLOAT")
        push({ _tag: "Float", value: value! })
        break
      }
      case 0x47: // BINFLOAT
        need(8)
        push({ _tag: "Float", value: view.getFloat64(pos, false) })
        pos += 8
        break

      // ---- text and bytes
      case 0x53: { // STRING
        const [start, stop] = line()
        const q = bytes[start]
        if (stop - start < 2 || (q !== 0x27 && q !== 0x22) || bytes[stop - 1] !== q) {
          fail("the STRING opcode argument must be quoted")
        }
        const raw = stringEscapeDecode(bytes, start + 1, stop - 1)
        if (raw === undefined) fail("invalid escape in STRING")
        push(py2str(raw!))
        break
      }
      case 0x54: { // BINSTRING
        const length = i32()
        const start = span(length)
        push(py2str(bytes.slice(start, start + length)))
        break
      }
      case 0x55: { // SHORT_BINSTRING
        need(1)
        const length = bytes[pos++]
        const start = span(length)
        push(py2str(bytes.slice(start, start + length)))
        break
      }
      case 0x56: { // UNICODE
        const [start, stop] = line()
        const value = rawUnicodeEscapeDecode(bytes, start, stop)
        if (value === undefined) fail("invalid raw-unicode-escape in UNICODE")
        push({ _tag: "Str", value: value! })
        break
      }
      case 0x58: // BINUNICODE
        push(str(u32()))
        break
      case 0x8c: // SHORT_BINUNICODE
        need(1)
        push(str(bytes[pos++]))
        break
      case 0x8d: // BINUNICODE8
        push(str(u64()))
        break
      case 0x42: // BINBYTES
        push(binBytes(u32(), "Bytes"))
        break
      case 0x43: // SHORT_BINBYTES
        need(1)
        push(binBytes(bytes[pos++], "Bytes"))
        break
      case 0x8e: // BINBYTES8
        push(binBytes(u64(), "Bytes"))
        break
      case 0x96: // BYTEARRAY8
        push(binBytes(u64(), "ByteArray"))
        break
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        fail("out-of-band buffers are not supported")
        break

      // ---- constants
      case 0x4e: // NONE
        push(NONE)
        break
      case 0x88: // NEWTRUE
        push(TRUE)
        break
      case 0x89: // NEWFALSE
        push(FALSE)
        break

      // ---- lists
      case 0x5d: // EMPTY_LIST
        pushContainer({ _tag: "List", items: [] })
        break
      case 0x6c: // LIST
        pushContainer({ _tag: "List", items: popMark() })
        break
      case 0x61: { // APPEND
        const value = pop()
        addItems(top(), [value])
        break
      }
      case 0x65: { // APPENDS
        const items = popMark()
        addItems(top(), items)
        break
      }

      // ---- tuples
      case 0x29: // EMPTY_TUPLE
        tuple([])
        break
      case 0x74: // TUPLE
        tuple(popMark())
        break
      case 0x85: // TUPLE1
        tuple([pop()])
        break
      case 0x86: { // TUPLE2
        const b = pop()
        const a = pop()
        tuple([a, b])
        break
      }
      case 0x87: { // TUPLE3
        const c = pop()
        const b = pop()
        const a = pop()
        tuple([a, b, c])
        break
      }

      // ---- dicts
      case 0x7d: // EMPTY_DICT
        pushContainer({ _tag: "Dict", entries: [] })
        break
      case 0x64: { // DICT
        const items = popMark()
        if (items.length % 2 !== 0) fail("odd number of items for DICT")
        const entries: Array<Entry> = []
        for (let i = 0; i < items.length; i += 2) entries.push([items[i], items[i + 1]])
        pushContainer({ _tag: "Dict", entries })
        break
      }
      case 0x73: { // SETITEM
        const value = pop()
        const key = pop()
        setItems(top(), [key, value])
        break
      }
      case 0x75: { // SETITEMS
        const items = popMark()
        setItems(top(), items)
        break
      }

      // ---- sets
      case 0x8f: // EMPTY_SET
        pushContainer({ _tag: "Set", items: [] })
        break
      case 0x90: { // ADDITEMS
        const items = popMark()
        const target = top()
        if (target._tag !== "Set") fail(`cannot add items to a ${target._tag}`)
        const set = (target as MutableSeq).items
        for (let i = 0; i < items.length; i++) set.push(items[i])
        break
      }
      case 0x91: // FROZENSET
        pushContainer({ _tag: "FrozenSet", items: popMark() })
        break

      // ---- globals and objects (never resolved, never called)
      case 0x63: { // GLOBAL
        const module = utf8Line()
        const name = utf8Line()
        push({ _tag: "Global", module, name })
        break
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop()
        const module = pop()
        if (module._tag !== "Str" || name._tag !== "Str") return fail("STACK_GLOBAL requires str")
        push({ _tag: "Global", module: module.value, name: name.value })
        break
      }
      case 0x52: { // REDUCE
        const args = pop()
        const callable = pop()
        reduce(callable, args)
        break
      }
      case 0x62: { // BUILD
        const state = pop()
        const target = top()
        if (!isObject(target)) return fail(`cannot BUILD a ${target._tag}`)
        const obj = mutableObject(target)
        if (obj.state !== undefined) fail("BUILD applied twice to one object")
        obj.state = state
        break
      }
      case 0x69: { // INST
        const module = utf8Line()
        const name = utf8Line()
        const args = popMark()
        containers++ // the argument tuple
        reduce({ _tag: "Global", module, name }, { _tag: "Tuple", items: args })
        break
      }
      case 0x6f: { // OBJ
        const items = popMark()
        if (items.length === 0) fail("OBJ without a class")
        containers++ // the argument tuple
        reduce(items[0], { _tag: "Tuple", items: items.slice(1) })
        break
      }
      case 0x81: { // NEWOBJ
        const args = pop()
        const cls = pop()
        pushContainer({ _tag: "NewObj", cls, args })
        break
      }
      case 0x92: { // NEWOBJ_EX
        const kwargs = pop()
        const args = pop()
        const cls = pop()
        pushContainer({ _tag: "NewObj", cls, args, kwargs })
        break
      }
      case 0x82: // EXT1
        need(1)
        push(ext(bytes[pos++]))
        break
      case 0x83: // EXT2
        need(2)
        push(ext(view.getUint16(pos, true)))
        pos += 2
        break
      case 0x84: // EXT4
        push(ext(i32()))
        break
      case 0x50: // PERSID
      case 0x51: // BINPERSID
        fail("persistent IDs are not supported")
        break

      // ---- memo
      case 0x67: // GET
        get(memoKey(asciiLine()))
        break
      case 0x68: // BINGET
        need(1)
        get(bytes[pos++])
        break
      case 0x6a: // LONG_BINGET
        get(u32())
        break
      case 0x70: // PUT
        put(memoKey(asciiLine()))
        break
      case 0x71: // BINPUT
        need(1)
        put(bytes[pos++])
        break
      case 0x72: // LONG_BINPUT
        put(u32())
        break
      case 0x94: // MEMOIZE
        put(memo.size)
        break

      default:
        fail(`unknown opcode 0x${code.toString(16).padStart(2, "0")}`)
    }
  }

  function ext(code: number): PickleValue {
    if (code <= 0) fail("EXT code must be positive")
    return { _tag: "Ext", code }
  }
}
