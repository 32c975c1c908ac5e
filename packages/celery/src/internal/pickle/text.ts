/**
 * Byte and text helpers of the pickle codec: UTF-8 with Python's
 * `surrogatepass`, `raw-unicode-escape`, Python's string escapes, the text
 * forms of ints and floats, and two's complement integers.
 *
 * Every decoder here returns `undefined` for input it cannot read; the caller
 * turns that into a `PickleError` with the offset it knows.
 *
 * @internal
 */

const utf8Strict = new TextDecoder("utf-8", { fatal: true })

/** Latin-1: every byte is the code point of the same value. */
export const latin1 = (bytes: Uint8Array, start: number, end: number): string => {
  let out = ""
  // Chunks keep `fromCharCode.apply` well below the engine's argument limit.
  for (let i = start; i < end; i += 4096) {
    const stop = Math.min(end, i + 4096)
    out += String.fromCharCode.apply(null, bytes.subarray(i, stop) as unknown as Array<number>)
  }
  return out
}

const isAscii = (bytes: Uint8Array, start: number, end: number): boolean => {
  for (let i = start; i < end; i++) if (bytes[i] > 0x7f) return false
  return true
}

/**
 * UTF-8 as Python's pickle reads it (`"utf-8", "surrogatepass"`): strict,
 * except that encoded lone surrogates (ED A0..BF xx) are accepted.
 */
export const utf8Decode = (bytes: Uint8Array, start: number, end: number): string | undefined => {
  const length = end - start
  if (length <= 32 && isAscii(bytes, start, end)) {
    let out = ""
    for (let i = start; i < end; i++) out += String.fromCharCode(bytes[i])
    return out
  }
  try {
    return utf8Strict.decode(bytes.subarray(start, end))
  } catch {
    return utf8DecodeSurrogatePass(bytes, start, end)
  }
}

const utf8DecodeSurrogatePass = (bytes: Uint8Array, start: number, end: number): string | undefined => {
  const units: Array<number> = []
  let out = ""
  let i = start
  while (i < end) {
    const b0 = bytes[i]
    let cp: number
    if (b0 < 0x80) {
      cp = b0
      i += 1
    } else if (b0 >= 0xc2 && b0 <= 0xdf) {
      if (i + 1 >= end) return undefined
      const b1 = bytes[i + 1]
      if ((b1 & 0xc0) !== 0x80) return undefined
      cp = ((b0 & 0x1f) << 6) | (b1 & 0x3f)
      i += 2
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
      if (i + 2 >= end) return undefined
      const b1 = bytes[i + 1]
      const b2 = bytes[i + 2]
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80) return undefined
      if (b0 === 0xe0 && b1 < 0xa0) return undefined // overlong
      cp = ((b0 & 0x0f) << 12) | ((b1 & 0x3f) << 6) | (b2 & 0x3f)
      i += 3
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
      if (i + 3 >= end) return undefined
      const b1 = bytes[i + 1]
      const b2 = bytes[i + 2]
      const b3 = bytes[i + 3]
      if ((b1 & 0xc0) !== 0x80 || (b2 & 0xc0) !== 0x80 || (b3 & 0xc0) !== 0x80) return undefined
      if (b0 === 0xf0 && b1 < 0x90) return undefined // overlong
      if (b0 === 0xf4 && b1 > 0x8f) return undefined // beyond U+10FFFF
      cp = ((b0 & 0x07) << 18) | ((b1 & 0x3f) << 12) | ((b2 & 0x3f) << 6) | (b3 & 0x3f)
      i += 4
    } else {
      return undefined
    }
    if (cp > 0xffff) {
      cp -= 0x10000
      units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff))
    } else {
      units.push(cp)
    }
    if (units.length >= 4096) {
      out += String.fromCharCode.apply(null, units)
      units.length = 0
    }
  }
  return out + String.fromCharCode.apply(null, units)
}

/**
 * Bytes of `text` in UTF-8 as Python's pickle writes it (`surrogatepass`: a
 * lone surrogate takes three bytes).
 */
export const utf8Length = (text: string): number => {
  let n = text.length
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2 // four bytes for two code units
      i++
    } else n += 2
  }
  return n
}

/** Writes `text` as UTF-8 (`surrogatepass`) at `offset`; `out` must hold `utf8Length(text)` more bytes. */
export const utf8Write = (text: string, out: Uint8Array, offset: number): number => {
  let o = offset
  for (let i = 0; i < text.length; i++) {
    let cp = text.charCodeAt(i)
    if (cp < 0x80) {
      out[o++] = cp
      continue
    }
    if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if ((next & 0xfc00) === 0xdc00) {
        cp = 0x10000 + ((cp - 0xd800) << 10) + (next - 0xdc00)
        i++
      }
    }
    if (cp < 0x800) {
      out[o++] = 0xc0 | (cp >> 6)
      out[o++] = 0x80 | (cp & 0x3f)
    } else if (cp < 0x10000) {
      out[o++] = 0xe0 | (cp >> 12)
      out[o++] = 0x80 | ((cp >> 6) & 0x3f)
      out[o++] = 0x80 | (cp & 0x3f)
    } else {
      out[o++] = 0xf0 | (cp >> 18)
      out[o++] = 0x80 | ((cp >> 12) & 0x3f)
      out[o++] = 0x80 | ((cp >> 6) & 0x3f)
      out[o++] = 0x80 | (cp & 0x3f)
    }
  }
  return o
}

/** UTF-8 as Python's pickle writes it: lone surrogates pass through (`surrogatepass`). */
export const utf8Encode = (text: string): Uint8Array => {
  const out = new Uint8Array(utf8Length(text))
  utf8Write(text, out, 0)
  return out
}

const hexValue = (b: number): number => {
  if (b >= 0x30 && b <= 0x39) return b - 0x30
  if (b >= 0x61 && b <= 0x66) return b - 0x61 + 10
  if (b >= 0x41 && b <= 0x46) return b - 0x41 + 10
  return -1
}

const pushCodePoint = (units: Array<number>, cp: number): void => {
  if (cp > 0xffff) {
    cp -= 0x10000
    units.push(0xd800 | (cp >> 10), 0xdc00 | (cp & 0x3ff))
  } else {
    units.push(cp)
  }
}

/**
 * Python's `raw-unicode-escape` decoding (the UNICODE opcode of protocol 0):
 * bytes are Latin-1 code points, except `\uXXXX` and `\UXXXXXXXX` after an
 * odd number of backslashes.
 */
export const rawUnicodeEscapeDecode = (bytes: Uint8Array, start: number, end: number): string | undefined => {
  if (bytes.subarray(start, end).indexOf(0x5c) < 0) return latin1(bytes, start, end)
  const units: Array<number> = []
  let i = start
  while (i < end) {
    const b = bytes[i]
    if (b !== 0x5c) {
      units.push(b)
      i++
      continue
    }
    const run = i
    while (i < end && bytes[i] === 0x5c) {
      units.push(0x5c)
      i++
    }
    if (((i - run) & 1) === 0 || i >= end || (bytes[i] !== 0x75 && bytes[i] !== 0x55)) continue
    units.pop()
    const count = bytes[i] === 0x75 ? 4 : 8
    i++
    if (i + count > end) return undefined
    let cp = 0
    for (let k = 0; k < count; k++) {
      const h = hexValue(bytes[i + k])
      if (h < 0) return undefined
      cp = cp * 16 + h
    }
    if (cp > 0x10ffff) return undefined
    i += count
    pushCodePoint(units, cp)
  }
  let out = ""
  for (let k = 0; k < units.length; k += 4096) {
    out += String.fromCharCode.apply(null, units.slice(k, k + 4096))
  }
  return out
}

/**
 * Python's `codecs.escape_decode` (the STRING opcode of protocol 0, whose
 * argument is a quoted `repr`): `\\ \' \" \a \b \f \n \r \t \v`, octal
 * `\ooo`, `\xhh` (exactly two hex digits) and backslash-newline; any other
 * escape is kept as written.
 */
export const stringEscapeDecode = (bytes: Uint8Array, start: number, end: number): Uint8Array | undefined => {
  const out = new Uint8Array(end - start)
  let n = 0
  let i = start
  while (i < end) {
    const b = bytes[i++]
    if (b !== 0x5c) {
      out[n++] = b
      continue
    }
    if (i >= end) return undefined // trailing backslash
    const c = bytes[i++]
    switch (c) {
      case 0x0a: break // backslash-newline: line continuation
      case 0x5c: out[n++] = 0x5c; break
      case 0x27: out[n++] = 0x27; break
      case 0x22: out[n++] = 0x22; break
      case 0x61: out[n++] = 0x07; break // \a
      case 0x62: out[n++] = 0x08; break // \b
      case 0x66: out[n++] = 0x0c; break // \f
      case 0x6e: out[n++] = 0x0a; break // \n
      case 0x72: out[n++] = 0x0d; break // \r
      case 0x74: out[n++] = 0x09; break // \t
      case 0x76: out[n++] = 0x0b; break // \v
      case 0x78: { // \xhh
        if (i + 2 > end) return undefined
        const h1 = hexValue(bytes[i])
        const h2 = hexValue(bytes[i + 1])
        if (h1 < 0 || h2 < 0) return undefined
        out[n++] = h1 * 16 + h2
        i += 2
        break
      }
      default: {
        if (c >= 0x30 && c <= 0x37) {
          let v = c - 0x30
          for (let k = 0; k < 2 && i < end && bytes[i] >= 0x30 && bytes[i] <= 0x37; k++) v = v * 8 + bytes[i++] - 0x30
          out[n++] = v & 0xff
        } else {
          out[n++] = 0x5c
          out[n++] = c
        }
      }
    }
  }
  return out.slice(0, n)
}

/** Whether every byte is ASCII (what Python 3's default `encoding="ASCII"` accepts for STRING opcodes). */
export const allAscii = (bytes: Uint8Array): boolean => isAscii(bytes, 0, bytes.length)

/** CPython's default limit on the digits of an int read from text (`sys.int_info.default_max_str_digits`). */
export const MAX_INT_DIGITS = 4300

const INT_TEXT = /^[+-]?\d+$/
// One way to match each text: `\d+\.?\d*` could split a run of digits anywhere,
// quadratic on a long run that does not match (100,000 digits: 10 s).
const FLOAT_TEXT = /^[+-]?(?:\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)$/

/** An integer written as decimal text (INT, LONG, GET, PUT), `undefined` if malformed or too long. */
export const parseIntText = (text: string): number | bigint | undefined => {
  const t = text.trim()
  if (!INT_TEXT.test(t) || t.length > MAX_INT_DIGITS + 1) return undefined
  const n = Number(t)
  return Number.isSafeInteger(n) ? (n === 0 ? 0 : n) : BigInt(t)
}

/** A float written by Python's `repr` (FLOAT of protocol 0), including `nan`, `inf`, `-inf`. */
export const parseFloatText = (text: string): number | undefined => {
  const t = text.trim().toLowerCase()
  switch (t) {
    case "nan": case "+nan": case "-nan": return NaN
    case "inf": case "+inf": case "infinity": case "+infinity": return Infinity
    case "-inf": case "-infinity": return -Infinity
  }
  return FLOAT_TEXT.test(t) ? Number(t) : undefined
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const MIN_SAFE = -MAX_SAFE

/** An integer as taskmeta keeps it: a `number` when safe, else a `bigint`; never `-0`. */
export const normalizeInt = (value: number | bigint): number | bigint => {
  if (typeof value === "number") {
    if (value === 0) return 0
    return Number.isSafeInteger(value) ? value : BigInt(value)
  }
  return value >= MIN_SAFE && value <= MAX_SAFE ? Number(value) : value
}

/** Little-endian two's complement (LONG1, LONG4), normalised. */
export const decodeLong = (bytes: Uint8Array, start: number, length: number): number | bigint => {
  if (length === 0) return 0
  if (length <= 6) {
    let v = 0
    for (let k = length - 1; k >= 0; k--) v = v * 256 + bytes[start + k]
    if (bytes[start + length - 1] & 0x80) v -= 2 ** (8 * length)
    return v === 0 ? 0 : v
  }
  // big-endian hex in one call (one string per byte took 1.7 s for 60 MB of 4 KiB ints)
  const hex = Buffer.from(bytes.subarray(start, start + length)).reverse().toString("hex")
  let v = BigInt("0x" + hex)
  if (bytes[start + length - 1] & 0x80) v -= 1n << BigInt(8 * length)
  return normalizeInt(v)
}

/** Python's `pickle.encode_long`: minimal little-endian two's complement, empty for 0. */
export const encodeLong = (value: bigint): Uint8Array => {
  if (value === 0n) return new Uint8Array(0)
  const magnitude = value >= 0n ? value : -value - 1n
  const bits = magnitude === 0n ? 0 : magnitude.toString(2).length
  const nbytes = (bits >> 3) + 1
  const unsigned = value >= 0n ? value : value + (1n << BigInt(8 * nbytes))
  const hex = unsigned.toString(16).padStart(nbytes * 2, "0")
  const out = new Uint8Array(nbytes)
  for (let k = 0; k < nbytes; k++) {
    out[k] = parseInt(hex.slice(hex.length - 2 * (k + 1), hex.length - 2 * k), 16)
  }
  return out
}

const isLetter = (c: number) => (c >= 65 && c <= 90) || (c >= 97 && c <= 122)
const isSchemeChar = (c: number) => isLetter(c) || (c >= 48 && c <= 57) || c === 43 || c === 45 || c === 46
/** What `\s` matches, by code unit (a regular expression per character took seconds on long text). */
const isSpace = (c: number) =>
  (c >= 9 && c <= 13) || c === 32 || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
  c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
/** Ends the user of `scheme://user:`: white space, `:`, `/`, `?`, `#`, `@`. */
const endsUser = (c: number) => c === 58 || c === 47 || c === 63 || c === 35 || c === 64 || isSpace(c)
/** Ends a password: white space, `@`, `/`. */
const endsPassword = (c: number) => c === 64 || c === 47 || isSpace(c)
/** Schemes are short; looking further back for one's start would make long runs quadratic. */
const MAX_SCHEME = 64

/**
 * Replaces the password of every `scheme://user:password@` in `text` with
 * `***` (what `/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:/?#@]*):([^\s@/]+)@/g`
 * would replace), in one pass: each `://` is visited once, and a scan never
 * crosses the next `/`. The regular expression took quadratic time on long
 * alphanumeric runs (37 s on a 200 KB row). The output is joined in chunks:
 * one string appended per match made a rope of millions of pieces (630 MB
 * for 60 MB of `ab://u:p@`).
 */
export const redactUrlPasswords = (text: string): string => {
  let from = text.indexOf("://")
  if (from === -1) return text
  let out = ""
  const parts: Array<string> = []
  let copied = 0
  while (from !== -1) {
    const sep = from
    from = text.indexOf("://", sep + 1)
    let start = sep
    while (start > copied && sep - start < MAX_SCHEME && isSchemeChar(text.charCodeAt(start - 1))) start--
    while (start < sep && !isLetter(text.charCodeAt(start))) start++
    if (start === sep) continue
    let i = sep + 3
    while (i < text.length && !endsUser(text.charCodeAt(i))) i++
    if (i >= text.length || text.charCodeAt(i) !== 58) continue
    const password = i + 1
    let j = password
    while (j < text.length && !endsPassword(text.charCodeAt(j))) j++
    if (j === password || j >= text.length || text.charCodeAt(j) !== 64) continue
    parts.push(text.slice(copied, password), "***@")
    if (parts.length >= 2048) {
      out += parts.join("")
      parts.length = 0
    }
    copied = j + 1
    if (from !== -1 && from < copied) from = text.indexOf("://", copied)
  }
  return out + parts.join("") + text.slice(copied)
}
