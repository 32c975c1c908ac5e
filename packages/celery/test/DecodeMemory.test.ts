/**
 * Memory of decoding large columns (issue 14, found by
 * packages/sql/test/HostileFuzz.test.ts). Measured the one way that does not
 * depend on the clock or on when the collector runs: the decode runs in a
 * child process whose V8 heap is capped (`--max-old-space-size`). A decode
 * linear in its input fits; one that builds hundreds of megabytes of
 * intermediate strings dies there, out of memory.
 */
import { spawnSync } from "node:child_process"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "@effect/vitest"

const RESULT_CODEC = new URL("../src/ResultCodec.ts", import.meta.url).href
const PICKLE = new URL("../src/Pickle.ts", import.meta.url).href
const HEAP_MB = 256

/**
 * Runs `body` (module JavaScript, `decode` (ResultCodec's, 16 MiB per column),
 * `decodeToJson` (the pickle codec's, 64 MiB) and `Buffer` in scope) under the
 * capped heap; returns what it printed.
 */
const underCappedHeap = (body: string) => {
  const code = `const { decode } = await import(${JSON.stringify(RESULT_CODEC)})\n` +
    `const { decodeToJson } = await import(${JSON.stringify(PICKLE)})\n${body}`
  const child = spawnSync(
    process.execPath,
    [`--max-old-space-size=${HEAP_MB}`, "--conditions=source", "--import", "tsx", "--input-type=module", "-e", code],
    { cwd: fileURLToPath(new URL("..", import.meta.url)), encoding: "utf8" }
  )
  return { status: child.status, signal: child.signal, stdout: child.stdout.trim(), stderr: child.stderr.slice(-400) }
}

describe(`decoding under a ${HEAP_MB} MB heap`, () => {
  it("40 MB of pickled bytes read as base64 (one character at a time took 2 GB)", () => {
    const run = underCappedHeap(`
      const N = 40_000_000
      const head = Buffer.from([0x80, 3, 0x42, 0, 0, 0, 0])
      head.writeUInt32LE(N, 3)
      const out = decodeToJson(Buffer.concat([head, Buffer.alloc(N, 7), Buffer.from([0x2e])]))
      console.log(out.right.base64.length, out.right.base64.slice(0, 8))
    `)
    expect(run).toMatchObject({ status: 0, stdout: `${Math.ceil(40_000_000 / 3) * 4} BwcHBwcH` })
  }, 60_000)

  it("a 40 MB pickled string of URL passwords in a call is redacted (a rope of one piece per match took 630 MB)", () => {
    const run = underCappedHeap(`
      const text = Buffer.from("ab://u:p@".repeat(4_000_000))
      const head = Buffer.from([0x80, 2, 0x63, ...Buffer.from("os\\nsystem\\n"), 0x58, 0, 0, 0, 0])
      head.writeUInt32LE(text.length, head.length - 4)
      const out = decodeToJson(Buffer.concat([head, text, Buffer.from([0x85, 0x52, 0x2e])]))
      const redacted = out.right.args[0]
      console.log(redacted.length, redacted.slice(0, 22))
    `)
    expect(run).toMatchObject({ status: 0, stdout: `${4_000_000 * 11} ab://u:***@ab://u:***@` })
  }, 60_000)

  it("1 MB of URL passwords referenced 100,000 times in a call is redacted once, then refused by size", () => {
    // redacted again for every reference, the copies outgrew the heap before the size budget was reached
    const run = underCappedHeap(`
      const text = Buffer.from("ab://u:p@".repeat(116_508))
      const head = Buffer.from([0x80, 4, 0x63, ...Buffer.from("os\\nsystem\\n"), 0x58, 0, 0, 0, 0])
      head.writeUInt32LE(text.length, head.length - 4)
      const refs = Buffer.alloc(200_000, Buffer.from([0x68, 0]))
      const out = decode("result", Buffer.concat([head, text, Buffer.from([0x71, 0, 0x30, 0x28]), refs, Buffer.from([0x74, 0x52, 0x2e])]))
      console.log(out.left.limit, out.left.reason)
    `)
    expect(run).toMatchObject({ status: 0, stdout: "size decoded value larger than 16777216 bytes" })
  }, 60_000)
})
