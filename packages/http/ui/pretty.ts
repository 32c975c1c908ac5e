/**
 * JSON text re-indented for people, token by token: strings and numbers are
 * copied as written, so the digits of integers beyond 2^53 stay exact
 * (parsing would round them).
 */
export const pretty = (json: string): string => {
  let out = ""
  let depth = 0
  let inString = false
  const pad = () => "\n" + "  ".repeat(depth)
  for (let i = 0; i < json.length; i++) {
    const c = json[i]
    if (inString) {
      out += c
      if (c === "\\") out += json[++i] ?? ""
      else if (c === "\"") inString = false
      continue
    }
    if (c === "\"") {
      inString = true
      out += c
    } else if (c === "{" || c === "[") {
      const close = c === "{" ? "}" : "]"
      if (json[i + 1] === close) {
        out += c + close
        i++
      } else {
        depth++
        out += c + pad()
      }
    } else if (c === "}" || c === "]") {
      depth--
      out += pad() + c
    } else if (c === ",") {
      out += "," + pad()
    } else if (c === ":") {
      out += ": "
    } else if (c !== " " && c !== "\n" && c !== "\t" && c !== "\r") {
      out += c
    }
  }
  return out
}

