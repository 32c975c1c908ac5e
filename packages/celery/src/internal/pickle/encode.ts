/**
 * The pickle writer (protocols 2–5). Iterative: work is a stack of tasks, so
 * deep trees do not use the call stack.
 *
 * @internal
 */
import type { PickleValue } from "../../Pickle.js"
import type { Container, Entry } from "./ast.js"
import { children, Failure, isContainer } from "./ast.js"
import { encodeLong, utf8Encode, utf8Length, utf8Write } from "./text.js"

const BATCH = 1000 // items per APPENDS / SETITEMS / ADDITEMS, as Python writes

const MARK = 0x28
const STOP = 0x2e
const POP = 0x30
const POP_MARK = 0x31
const APPEND = 0x61
const APPENDS = 0x65
const SETITEM = 0x73
const SETITEMS = 0x75
const ADDITEMS = 0x90
const EMPTY_LIST = 0x5d
const EMPTY_DICT = 0x7d
const EMPTY_SET = 0x8f
const EMPTY_TUPLE = 0x29
const TUPLE = 0x74
const TUPLE1 = 0x85
const TUPLE2 = 0x86
const TUPLE3 = 0x87
const FROZENSET = 0x91
const REDUCE = 0x52
const BUILD = 0x62
const NEWOBJ = 0x81
const NEWOBJ_EX = 0x92
const BINPUT = 0x71
const LONG_BINPUT = 0x72
const BINGET = 0x68
const LONG_BINGET = 0x6a

class Writer {
  buffer = new Uint8Array(256)
  view = new DataView(this.buffer.buffer)
  length = 0

  reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return
    let size = this.buffer.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buffer.subarray(0, this.length))
    this.buffer = next
    this.view = new DataView(next.buffer)
  }
  byte(b: number): void {
    this.reserve(1)
    this.buffer[this.length++] = b
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.length)
    this.buffer.set(b, this.length)
    this.length += b.length
  }
  u16(n: number): void {
    this.reserve(2)
    this.view.setUint16(this.length, n, true)
    this.length += 2
  }
  u32(n: number): void {
    this.reserve(4)
    this.view.setUint32(this.length, n, true)
    this.length += 4
  }
  i32(n: number): void {
    this.reserve(4)
    this.view.setInt32(this.length, n, true)
    this.length += 4
  }
  u64(n: number): void {
    this.reserve(8)
    this.view.setUint32(this.length, n % 0x100000000, true)
    this.view.setUint32(this.length + 4, Math.floor(n / 0x100000000), true)
    this.length += 8
  }
  f64(v: number): void {
    this.reserve(8)
    this.view.setFloat64(this.length, v, false)
    this.length += 8
  }
  result(): Uint8Array {
    return this.buffer.slice(0, this.length)
  }
}

/** Whether some container is reached twice (shared through the memo, or cyclic). */
const hasSharing = (root: PickleValue): boolean => {
  const seen = new Set<PickleValue>()
  const todo: Array<PickleValue> = [root]
  while (todo.length > 0) {
    const node = todo.pop()!
    if (!isContainer(node) || (node._tag === "Tuple" && node.items.length === 0)) continue
    if (seen.has(node)) return true
    seen.add(node)
    const kids = children(node)
    for (let i = 0; i < kids.length; i++) todo.push(kids[i])
  }
  return false
}

/** A task: an opcode byte to write, a value to encode, or an action. */
type Task = number | PickleValue | (() => void)

export const encode = (root: PickleValue, protocol: number): Uint8Array => {
  if (protocol !== 2 && protocol !== 3 && protocol !== 4 && protocol !== 5) {
    throw new Failure(`cannot write pickle protocol ${protocol}`, -1)
  }
  const w = new Writer()
  const memoize = hasSharing(root)
  const memo = new Map<PickleValue, number>()
  const active = new Map<PickleValue, number>()
  const tasks: Array<Task> = [root]
  const fail = (reason: string): never => {
    throw new Failure(reason, -1)
  }

  const put = (node: PickleValue): void => {
    if (!memoize) return
    const index = memo.size
    memo.set(node, index)
    if (index < 256) {
      w.byte(BINPUT)
      w.byte(index)
    } else {
      w.byte(LONG_BINPUT)
      w.u32(index)
    }
  }
  const get = (index: number): void => {
    if (index < 256) {
      w.byte(BINGET)
      w.byte(index)
    } else {
      w.byte(LONG_BINGET)
      w.u32(index)
    }
  }
  /** If the node was memoized while its parts were written (a cycle), drop the parts and fetch it. */
  const fetched = (node: PickleValue, drop: ReadonlyArray<number>): boolean => {
    const index = memo.get(node)
    if (index === undefined) return false
    for (const op of drop) w.byte(op)
    get(index)
    return true
  }

  // Tasks run last-in first-out: `later` schedules in reading order.
  const later = (...seq: Array<Task>): void => {
    for (let i = seq.length - 1; i >= 0; i--) tasks.push(seq[i])
  }
  /** Schedules `items` in batches: `MARK items… close`, or `item single` for a batch of one. */
  const batches = (items: ReadonlyArray<PickleValue>, close: number, single: number | undefined): void => {
    const starts: Array<number> = []
    for (let start = 0; start < items.length; start += BATCH) starts.push(start)
    for (let b = starts.length - 1; b >= 0; b--) {
      const start = starts[b]
      const stop = Math.min(items.length, start + BATCH)
      if (stop - start === 1 && single !== undefined) {
        tasks.push(single, items[start])
        continue
      }
      tasks.push(close)
      for (let i = stop - 1; i >= start; i--) tasks.push(items[i])
      tasks.push(MARK)
    }
  }
  const entryBatches = (entries: ReadonlyArray<Entry>): void => {
    const flat: Array<PickleValue> = new Array(entries.length * 2)
    for (let i = 0; i < entries.length; i++) {
      flat[2 * i] = entries[i][0]
      flat[2 * i + 1] = entries[i][1]
    }
    const starts: Array<number> = []
    for (let start = 0; start < entries.length; start += BATCH) starts.push(start)
    for (let b = starts.length - 1; b >= 0; b--) {
      const start = starts[b]
      const stop = Math.min(entries.length, start + BATCH)
      if (stop - start === 1) {
        tasks.push(SETITEM, flat[2 * start + 1], flat[2 * start])
        continue
      }
      tasks.push(SETITEMS)
      for (let i = 2 * stop - 1; i >= 2 * start; i--) tasks.push(flat[i])
      tasks.push(MARK)
    }
  }

  const str = (text: string): void => {
    const length = utf8Length(text)
    if (protocol >= 4 && length < 256) {
      w.byte(0x8c) // SHORT_BINUNICODE
      w.byte(length)
    } else if (length <= 0xffffffff) {
      w.byte(0x58) // BINUNICODE
      w.u32(length)
    } else if (protocol >= 4) {
      w.byte(0x8d) // BINUNICODE8
      w.u64(length)
    } else {
      fail("string too long for protocol " + protocol)
    }
    w.reserve(length)
    w.length = utf8Write(text, w.buffer, w.length)
  }
  /** `bytes` as the Latin-1 `str` Python uses for them before protocol 3. */
  const latin1Str = (data: Uint8Array): void => {
    let length = data.length
    for (let i = 0; i < data.length; i++) if (data[i] >= 0x80) length++
    w.byte(0x58) // BINUNICODE
    w.u32(length)
    w.reserve(length)
    for (let i = 0; i < data.length; i++) {
      const b = data[i]
      if (b < 0x80) w.buffer[w.length++] = b
      else {
        w.buffer[w.length++] = 0xc0 | (b >> 6)
        w.buffer[w.length++] = 0x80 | (b & 0x3f)
      }
    }
  }
  const binBytes = (data: Uint8Array): void => {
    if (data.length < 256) {
      w.byte(0x43) // SHORT_BINBYTES
      w.byte(data.length)
    } else if (data.length <= 0xffffffff) {
      w.byte(0x42) // BINBYTES
      w.u32(data.length)
    } else if (protocol >= 4) {
      w.byte(0x8e) // BINBYTES8
      w.u64(data.length)
    } else {
      fail("bytes too long for protocol " + protocol)
    }
    w.bytes(data)
  }
  const globalRef = (module: string, name: string): void => {
    if (protocol >= 4) {
      str(module)
      str(name)
      w.byte(0x93) // STACK_GLOBAL
      return
    }
    if (module.includes("\n") || name.includes("\n")) fail("a global name with a newline needs protocol 4")
    w.byte(0x63) // GLOBAL
    w.bytes(utf8Encode(module))
    w.byte(0x0a)
    w.bytes(utf8Encode(name))
    w.byte(0x0a)
  }
  const long = (value: bigint): void => {
    const data = encodeLong(value)
    if (data.length < 256) {
      w.byte(0x8a) // LONG1
      w.byte(data.length)
    } else {
      w.byte(0x8b) // LONG4
      w.i32(data.length)
    }
    w.bytes(data)
  }
  const int = (value: number | bigint): void => {
    if (typeof value === "bigint") {
      if (value >= -0x80000000n && value <= 0x7fffffffn) int(Number(value))
      else long(value)
      return
    }
    if (!Number.isInteger(value)) fail(`Int holds the non-integral number ${value}`)
    if (value >= 0 && value <= 0xff) {
      w.byte(0x4b) // BININT1
      w.byte(value)
    } else if (value >= 0 && value <= 0xffff) {
      w.byte(0x4d) // BININT2
      w.u16(value)
    } else if (value >= -0x80000000 && value <= 0x7fffffff) {
      w.byte(0x4a) // BININT
      w.i32(value)
    } else {
      long(BigInt(value))
    }
  }
  /** What Python sends to an object after creating it: list items, dict items, state. */
  const after = (node: PickleValue.Reduce | PickleValue.NewObj): void => {
    if (node.state !== undefined) later(node.state, BUILD)
    if (node.dictItems !== undefined) entryBatches(node.dictItems)
    if (node.listItems !== undefined) batches(node.listItems, APPENDS, APPEND)
  }
  /** Scheduled after the parts of a node built from parts: write `op` and memoize, or fetch it. */
  const construct = (node: Container, drop: ReadonlyArray<number>, op: number): (() => void) => () => {
    if (fetched(node, drop)) return
    w.byte(op)
    put(node)
    if (node._tag === "Reduce" || node._tag === "NewObj") after(node)
  }

  const value = (node: PickleValue): void => {
    switch (node._tag) {
      case "None":
        return w.byte(0x4e)
      case "Bool":
        return w.byte(node.value ? 0x88 : 0x89)
      case "Int":
        return int(node.value)
      case "Float":
        w.byte(0x47) // BINFLOAT
        return w.f64(node.value)
      case "Str":
        return str(node.value)
      case "Bytes":
        if (protocol >= 3) return binBytes(node.value)
        globalRef("_codecs", "encode")
        latin1Str(node.value)
        str("latin1")
        w.byte(TUPLE2)
        return w.byte(REDUCE)
      case "ByteArray":
        if (protocol >= 5) {
          w.byte(0x96) // BYTEARRAY8
          w.u64(node.value.length)
          return w.bytes(node.value)
        }
        globalRef("builtins", "bytearray")
        if (protocol >= 3) {
          binBytes(node.value)
          w.byte(TUPLE1)
        } else {
          latin1Str(node.value)
          str("latin-1")
          w.byte(TUPLE2)
        }
        return w.byte(REDUCE)
      case "Global":
        return globalRef(node.module, node.name)
      case "Ext": {
        const code = node.code
        if (!Number.isInteger(code) || code <= 0 || code > 0x7fffffff) return fail(`EXT code ${code} out of range`)
        if (code <= 0xff) {
          w.byte(0x82)
          w.byte(code)
        } else if (code <= 0xffff) {
          w.byte(0x83)
          w.u16(code)
        } else {
          w.byte(0x84)
          w.i32(code)
        }
        return
      }
    }
    if (node._tag === "Tuple" && node.items.length === 0) return w.byte(EMPTY_TUPLE)
    if (memoize) {
      const index = memo.get(node)
      if (index !== undefined) return get(index)
      const depth = active.get(node) ?? 0
      // Python's trick for cycles through tuples and constructor arguments is to
      // write the node a second time inside itself; a third time means no list,
      // dict or object state breaks the cycle, and Python could not write it either.
      if (depth >= 2) return fail(`a cyclic ${node._tag} cannot be pickled`)
      active.set(node, depth + 1)
      tasks.push(() => {
        const d = active.get(node)!
        if (d <= 1) active.delete(node)
        else active.set(node, d - 1)
      })
    }
    switch (node._tag) {
      case "List":
        w.byte(EMPTY_LIST)
        put(node)
        return batches(node.items, APPENDS, APPEND)
      case "Dict":
        w.byte(EMPTY_DICT)
        put(node)
        return entryBatches(node.entries)
      case "Tuple": {
        const n = node.items.length
        if (n <= 3) {
          const op = n === 1 ? TUPLE1 : n === 2 ? TUPLE2 : TUPLE3
          return later(...node.items, construct(node, new Array<number>(n).fill(POP), op))
        }
        tasks.push(construct(node, [POP_MARK], TUPLE))
        for (let i = n - 1; i >= 0; i--) tasks.push(node.items[i])
        tasks.push(MARK)
        return
      }
      case "Set":
      case "FrozenSet": {
        if (protocol >= 4) {
          if (node._tag === "Set") {
            w.byte(EMPTY_SET)
            put(node)
            return batches(node.items, ADDITEMS, undefined)
          }
          tasks.push(construct(node, [POP_MARK], FROZENSET))
          for (let i = node.items.length - 1; i >= 0; i--) tasks.push(node.items[i])
          tasks.push(MARK)
          return
        }
        globalRef("builtins", node._tag === "Set" ? "set" : "frozenset")
        w.byte(EMPTY_LIST)
        tasks.push(construct(node, [POP, POP], REDUCE), TUPLE1)
        return batches(node.items, APPENDS, APPEND)
      }
      case "Reduce":
        return later(node.callable, node.args, construct(node, [POP, POP], REDUCE))
      case "NewObj":
        if (node.kwargs === undefined) return later(node.cls, node.args, construct(node, [POP, POP], NEWOBJ))
        if (protocol >= 4) return later(node.cls, node.args, node.kwargs, construct(node, [POP, POP, POP], NEWOBJ_EX))
        globalRef("copyreg", "__newobj_ex__")
        return later(node.cls, node.args, node.kwargs, TUPLE3, construct(node, [POP, POP], REDUCE))
    }
  }

  w.byte(0x80) // PROTO
  w.byte(protocol)
  while (tasks.length > 0) {
    const task = tasks.pop()!
    if (typeof task === "number") w.byte(task)
    else if (typeof task === "function") task()
    else value(task)
  }
  w.byte(STOP)
  return w.result()
}
