/**
 * Hiding the password of a connection URL, for messages and logs.
 *
 * @since 0.1.0
 */

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i

/**
 * The URL with the password of its user info replaced by `***`. The user
 * info ends at the last `@`, so a password holding `/` or `@` is hidden whole;
 * text that is not a URL but holds an `@` is replaced entirely.
 *
 * @since 0.1.0
 * @category redaction
 */
export const redactUrl = (url: string): string => {
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
