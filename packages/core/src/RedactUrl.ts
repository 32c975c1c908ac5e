/**
 * Hiding the password of a connection URL, for messages and logs.
 *
 * @since 0.1.0
 */

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * The URL with its secrets replaced by `***`: the password of its user info,
 * and the value of a secret query parameter (`password=`, `sslpassword=`,
 * `token=`, …). The user info ends at the last `@`, so a password holding `/`
 * or `@` is hidden whole; text that is not a URL but holds an `@` is replaced
 * entirely.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactUrl = (url: string): string => redactUserinfo(redactQuery(url))

// Query parameters that carry a secret (node-postgres reads `password` from the
// query; libpq `sslpassword`; tokens of HTTP-style URLs). Linear: no nested quantifiers.
const SECRET_PARAMETER = /([?&](?:password|passwd|pwd|sslpassword|secret|token|access_token|api_key|apikey)=)[^&#]*/gi

const redactQuery = (url: string): string => url.replace(SECRET_PARAMETER, "$1***")

const redactUserinfo = (url: string): string => {
  const scheme = SCHEME.exec(url)
  if (scheme === null) return url.includes("@") ? "<redacted>" : url
  const rest = url.slice(scheme[0].length)
  const at = rest.lastIndexOf("@")
  if (at === -1) return url
  const userinfo = rest.slice(0, at)
  const colon = userinfo.indexOf(":")
  if (colon === -1) return url
  return `${scheme[0]}${userinfo.slice(0, colon)}:***@${rest.slice(at + 1)}`
}
