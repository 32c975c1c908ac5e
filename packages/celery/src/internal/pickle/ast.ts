/**
 * Internal view of the pickle AST: mutable shapes the decoder fills in, the
 * failure it throws, and a generic child walk.
 *
 * @internal
 */
import type { PickleValue } from "../../Pickle.js"

/**
 * Thrown inside the codec, caught at the public boundary and turned into a
 * `PickleError`. `offset` is the byte offset of the opcode (or -1 when no
 * input bytes are involved).
 */
/** Which budget a value went over: input or output size, nesting, or the number of values. */
export type Limit = "size" | "depth" | "count"

export class Failure {
  constructor(readonly reason: string, readonly offset: number, readonly limit?: Limit) {}
}

export type Entry = readonly [PickleValue, PickleValue]

export interface MutableSeq {
  readonly _tag: "List" | "Set"
  readonly items: Array<PickleValue>
}

export interface MutableDict {
  readonly _tag: "Dict"
  readonly entries: Array<Entry>
}

export interface MutableObject {
  readonly _tag: "Reduce" | "NewObj"
  state?: PickleValue | undefined
  listItems?: Array<PickleValue> | undefined
  dictItems?: Array<Entry> | undefined
}

/** The decoder's view of an object node it is still filling in. */
export const mutableObject = (node: Extract<PickleValue, { _tag: "Reduce" | "NewObj" }>): MutableObject =>
  node as unknown as MutableObject

export type Container = Extract<
  PickleValue,
  { readonly _tag: "List" | "Tuple" | "Dict" | "Set" | "FrozenSet" | "Reduce" | "NewObj" }
>

export const isContainer = (value: PickleValue): value is Container => {
  switch (value._tag) {
    case "List":
    case "Tuple":
    case "Dict":
    case "Set":
    case "FrozenSet":
    case "Reduce":
    case "NewObj":
      return true
    default:
      return false
  }
}

/**
 * The direct children of a container, in pickling order: items; keys and
 * values interleaved; for objects the callable (or class), the arguments, the
 * keyword arguments, then list items, dict items and state.
 */
export const children = (node: Container): ReadonlyArray<PickleValue> => {
  switch (node._tag) {
    case "List":
    case "Tuple":
    case "Set":
    case "FrozenSet":
      return node.items
    case "Dict": {
      const out: Array<PickleValue> = new Array(node.entries.length * 2)
      for (let i = 0; i < node.entries.length; i++) {
        out[2 * i] = node.entries[i][0]
        out[2 * i + 1] = node.entries[i][1]
      }
      return out
    }
    case "Reduce":
    case "NewObj": {
      const out: Array<PickleValue> = node._tag === "Reduce" ? [node.callable, node.args] : [node.cls, node.args]
      if (node._tag === "NewObj" && node.kwargs !== undefined) out.push(node.kwargs)
      if (node.listItems !== undefined) for (const item of node.listItems) out.push(item)
      if (node.dictItems !== undefined) for (const [k, v] of node.dictItems) out.push(k, v)
      if (node.state !== undefined) out.push(node.state)
      return out
    }
  }
}

/**
 * Fails when some path from `root` nests containers deeper than `maxDepth`.
 * Iterative, visits every container once (heights are remembered), and
 * ignores edges back to a container still on the path (cycles, which the
 * JSON walk reports as such).
 */
export const checkDepth = (root: PickleValue, maxDepth: number): void => {
  if (!isContainer(root)) return
  const height = new Map<PickleValue, number>() // -1 while on the path
  const nodes: Array<Container> = [root]
  const kids: Array<ReadonlyArray<PickleValue>> = [children(root)]
  const index: Array<number> = [0]
  const best: Array<number> = [0]
  height.set(root, -1)
  if (maxDepth < 1) throw new Failure(`nesting deeper than ${maxDepth}`, -1, "depth")
  while (nodes.length > 0) {
    const top = nodes.length - 1
    const list = kids[top]
    if (index[top] < list.length) {
      const child = list[index[top]++]
      if (!isContainer(child)) continue
      const known = height.get(child)
      if (known === -1) continue
      if (known !== undefined) {
        if (nodes.length + known > maxDepth) throw new Failure(`nesting deeper than ${maxDepth}`, -1, "depth")
        if (known > best[top]) best[top] = known
        continue
      }
      if (nodes.length + 1 > maxDepth) throw new Failure(`nesting deeper than ${maxDepth}`, -1, "depth")
      height.set(child, -1)
      nodes.push(child)
      kids.push(children(child))
      index.push(0)
      best.push(0)
      continue
    }
    const h = best[top] + 1
    height.set(nodes[top], h)
    nodes.pop()
    kids.pop()
    index.pop()
    best.pop()
    if (top > 0 && h > best[top - 1]) best[top - 1] = h
  }
}
