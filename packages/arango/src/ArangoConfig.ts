/**
 * Where the ArangoDB backend keeps its records, and how it connects: the
 * Celery-style URL `arangodb://user:pass@host:port/database/collection` and
 * the settings of Celery's `arangodb_backend_settings`, with their defaults
 * (host 127.0.0.1, port 8529, database `celery`, collection `celery`).
 *
 * Credentials are held as `Redacted` and never appear in errors or logs.
 * Unlike Celery, TLS certificates are verified by default.
 *
 * @since 0.1.0
 */
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Duration from "effect/Duration"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export type HttpProtocol = "http" | "https"

/**
 * The resolved settings.
 *
 * @since 0.1.0
 * @category models
 */
export interface ArangoConfig {
  readonly host: string
  readonly port: number
  readonly database: string
  readonly collection: string
  /** Basic-auth user; when absent arangojs sends `root` with an empty password. */
  readonly username: Redacted.Redacted<string> | undefined
  readonly password: Redacted.Redacted<string> | undefined
  readonly httpProtocol: HttpProtocol
  /** Verify the server's TLS certificate (https only). Default on. */
  readonly verify: boolean
  /** Create the database and the collection when they are missing. Default off. */
  readonly create: boolean
  /**
   * Let ArangoDB expire READY records itself through a TTL index on the
   * top-level `expireAt` attribute. Default off; see the README for the
   * trade-off.
   */
  readonly ttlIndex: boolean
  /** Celery's `result_backend_transport_options.global_keyprefix`. Default none. */
  readonly keyPrefix: string
  /** Abort a request that has no answer after this long. Default none. */
  readonly requestTimeout: Duration.Duration | undefined
}

/**
 * Settings given by a caller: every field optional. Components present in
 * `url` win over the separate fields, as in Celery.
 *
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly url?: string | Redacted.Redacted<string> | undefined
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly collection?: string | undefined
  readonly username?: string | Redacted.Redacted<string> | undefined
  readonly password?: string | Redacted.Redacted<string> | undefined
  readonly httpProtocol?: HttpProtocol | undefined
  readonly verify?: boolean | undefined
  readonly create?: boolean | undefined
  readonly ttlIndex?: boolean | undefined
  readonly keyPrefix?: string | undefined
  readonly requestTimeout?: Duration.DurationInput | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults = {
  host: "127.0.0.1",
  port: 8529,
  database: "celery",
  collection: "celery",
  httpProtocol: "http" as HttpProtocol,
  verify: true,
  create: false,
  ttlIndex: false,
  keyPrefix: ""
} as const

/**
 * A bad URL or setting. The message names the setting and never contains a
 * credential or the URL itself.
 *
 * @since 0.1.0
 * @category errors
 */
export class ArangoConfigError extends Schema.TaggedError<ArangoConfigError>("@taskmeta/arango/ArangoConfigError")(
  "ArangoConfigError",
  {
    field: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `invalid ArangoDB ${this.field}: ${this.reason}`
  }
}

const fail = (field: string, reason: string) => Either.left(new ArangoConfigError({ field, reason }))

/**
 * What a URL says; absent parts are left to the settings and defaults.
 *
 * @since 0.1.0
 * @category models
 */
export interface UrlParts {
  readonly host?: string | undefined
  readonly port?: number | undefined
  readonly database?: string | undefined
  readonly collection?: string | undefined
  readonly username?: Redacted.Redacted<string> | undefined
  readonly password?: Redacted.Redacted<string> | undefined
  readonly httpProtocol?: HttpProtocol | undefined
  readonly verify?: boolean | undefined
}

const decodeComponent = (field: string, text: string): Either.Either<string, ArangoConfigError> => {
  try {
    return Either.right(decodeURIComponent(text))
  } catch {
    return fail(field, "is not valid percent-encoding")
  }
}

const parseBoolean = (field: string, text: string): Either.Either<boolean, ArangoConfigError> => {
  switch (text.toLowerCase()) {
    case "true":
    case "1":
    case "yes":
    case "on":
      return Either.right(true)
    case "false":
    case "0":
    case "no":
    case "off":
      return Either.right(false)
    default:
      return fail(field, "must be true or false")
  }
}

/**
 * Parses `arangodb://user:pass@host:port/database/collection`. Every part is
 * optional (`arangodb://` alone means all defaults); `/database` alone keeps
 * the default collection. Query parameters `httpProtocol=http|https` and
 * `verify=true|false` are understood; any other parameter is an error, so a
 * typo cannot silently turn a setting off.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parseUrl = (input: string | Redacted.Redacted<string>): Either.Either<UrlParts, ArangoConfigError> =>
  Either.gen(function*() {
    const text = Redacted.isRedacted(input) ? Redacted.value(input) : input
    if (!/^arangodb:\/\//i.test(text)) {
      return yield* fail("url", "must start with arangodb://")
    }
    let url: URL
    try {
      url = new URL(text)
    } catch {
      // The WHATWG message would quote the URL, password included.
      return yield* fail("url", "is not a valid URL (check the host, the port and percent-encoding)")
    }
    const username = url.username === "" ? undefined : yield* decodeComponent("url username", url.username)
    const password = url.password === "" ? undefined : yield* decodeComponent("url password", url.password)
    const host = url.hostname === "" ? undefined : url.hostname
    const port = url.port === "" ? undefined : Number(url.port)
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      return yield* fail("url port", "must be between 1 and 65535")
    }
    const segments = url.pathname.split("/").filter((s, i) => i > 0 || s !== "")
    if (segments.length > 0 && segments[segments.length - 1] === "") segments.pop()
    if (segments.length > 2) {
      return yield* fail("url path", "must be /database or /database/collection")
    }
    if (segments.some((s) => s === "")) {
      return yield* fail("url path", "has an empty database or collection name")
    }
    const database = segments[0] === undefined ? undefined : yield* decodeComponent("url database", segments[0])
    const collection = segments[1] === undefined ? undefined : yield* decodeComponent("url collection", segments[1])
    let httpProtocol: HttpProtocol | undefined
    let verify: boolean | undefined
    for (const [key, value] of url.searchParams) {
      if (key === "httpProtocol") {
        if (value !== "http" && value !== "https") return yield* fail("url httpProtocol", "must be http or https")
        httpProtocol = value
      } else if (key === "verify") {
        verify = yield* parseBoolean("url verify", value)
      } else {
        return yield* fail("url", `unknown query parameter ${JSON.stringify(key.slice(0, 40))}`)
      }
    }
    if (url.hash !== "") return yield* fail("url", "must not have a #fragment")
    return {
      host,
      port,
      database,
      collection,
      username: username === undefined ? undefined : Redacted.make(username),
      password: password === undefined ? undefined : Redacted.make(password),
      httpProtocol,
      verify
    }
  })

// ArangoDB's traditional naming rules (the ones every server accepts).
const DATABASE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/
const COLLECTION_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,255}$/

const redacted = (value: string | Redacted.Redacted<string> | undefined) =>
  value === undefined ? undefined : Redacted.isRedacted(value) ? value : Redacted.make(value)

/**
 * Resolves settings: URL parts first, then the separate fields, then the
 * defaults; then validates them.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): Either.Either<ArangoConfig, ArangoConfigError> =>
  Either.gen(function*() {
    const fromUrl: UrlParts = input.url === undefined ? {} : yield* parseUrl(input.url)
    const host = fromUrl.host ?? input.host ?? defaults.host
    const port = fromUrl.port ?? input.port ?? defaults.port
    const database = fromUrl.database ?? input.database ?? defaults.database
    const collection = fromUrl.collection ?? input.collection ?? defaults.collection
    const httpProtocol = fromUrl.httpProtocol ?? input.httpProtocol ?? defaults.httpProtocol
    const verify = fromUrl.verify ?? input.verify ?? defaults.verify
    const keyPrefix = normalizeKeyPrefix(input.keyPrefix ?? defaults.keyPrefix)

    if (host === "" || /[\s/@?#\\]/.test(host)) return yield* fail("host", "must be a host name or an IP address")
    if (!Number.isInteger(port) || port < 1 || port > 65535) return yield* fail("port", "must be between 1 and 65535")
    if (!DATABASE_NAME.test(database)) {
      return yield* fail("database", "must start with a letter and hold at most 64 letters, digits, _ or -")
    }
    if (!COLLECTION_NAME.test(collection)) {
      return yield* fail("collection", "must start with a letter and hold at most 256 letters, digits, _ or -")
    }
    if (httpProtocol !== "http" && httpProtocol !== "https") return yield* fail("httpProtocol", "must be http or https")
    if (!/^[A-Za-z0-9_\-:.@()+,=;$!*']*$/.test(keyPrefix) || keyPrefix.length > 64) {
      return yield* fail("keyPrefix", "may only hold characters allowed in ArangoDB document keys (at most 64)")
    }
    let requestTimeout: Duration.Duration | undefined
    if (input.requestTimeout !== undefined) {
      const decoded = Duration.decodeUnknown(input.requestTimeout)
      if (Option.isNone(decoded) || !Duration.isFinite(decoded.value) || Duration.toMillis(decoded.value) <= 0) {
        return yield* fail("requestTimeout", "must be a positive, finite duration")
      }
      requestTimeout = decoded.value
    }
    const config: ArangoConfig = {
      host,
      port,
      database,
      collection,
      username: fromUrl.username ?? redacted(input.username),
      password: fromUrl.password ?? redacted(input.password),
      httpProtocol,
      verify,
      create: input.create ?? defaults.create,
      ttlIndex: input.ttlIndex ?? defaults.ttlIndex,
      keyPrefix,
      requestTimeout
    }
    try {
      new URL(serverUrl(config))
    } catch {
      return yield* fail("host", "does not form a valid server URL")
    }
    return config
  })

/**
 * Celery appends `_` to a global key prefix that does not already end in
 * one of `:_-.`.
 */
const normalizeKeyPrefix = (prefix: string): string =>
  prefix === "" || ":_-.".includes(prefix[prefix.length - 1]) ? prefix : `${prefix}_`

/**
 * The server's base URL, without credentials (arangojs gets them
 * separately, so they never travel inside a URL).
 *
 * @since 0.1.0
 * @category utils
 */
export const serverUrl = (config: ArangoConfig): string => {
  const host = config.host.includes(":") && !config.host.startsWith("[") ? `[${config.host}]` : config.host
  return `${config.httpProtocol}://${host}:${config.port}`
}

/**
 * A description safe to print: `arangodb://<redacted>@host:port/database/collection`.
 *
 * @since 0.1.0
 * @category utils
 */
export const describe = (config: ArangoConfig): string => {
  const host = config.host.includes(":") && !config.host.startsWith("[") ? `[${config.host}]` : config.host
  const auth = config.username !== undefined || config.password !== undefined ? "<redacted>@" : ""
  const query = config.httpProtocol === "https" ? `?httpProtocol=https${config.verify ? "" : "&verify=false"}` : ""
  return `arangodb://${auth}${host}:${config.port}/${config.database}/${config.collection}${query}`
}

/**
 * Settings from configuration: `url` (secret), `host`, `port`, `database`,
 * `collection`, `username` (secret), `password` (secret), `httpProtocol`,
 * `verify`, `create`, `ttlIndex`, `keyPrefix`, `requestTimeout`. Nest it
 * (`Config.nested(ArangoConfig.config, "ARANGO")`) as the app wants.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<ArangoConfig> = Config.all({
  url: Config.option(Config.redacted("url")),
  host: Config.option(Config.string("host")),
  port: Config.option(Config.integer("port")),
  database: Config.option(Config.string("database")),
  collection: Config.option(Config.string("collection")),
  username: Config.option(Config.redacted("username")),
  password: Config.option(Config.redacted("password")),
  httpProtocol: Config.option(Config.literal("http", "https")("httpProtocol")),
  verify: Config.option(Config.boolean("verify")),
  create: Config.option(Config.boolean("create")),
  ttlIndex: Config.option(Config.boolean("ttlIndex")),
  keyPrefix: Config.option(Config.string("keyPrefix")),
  requestTimeout: Config.option(Config.duration("requestTimeout"))
}).pipe(
  Config.mapOrFail((c) =>
    Either.mapLeft(
      make({
        url: Option.getOrUndefined(c.url),
        host: Option.getOrUndefined(c.host),
        port: Option.getOrUndefined(c.port),
        database: Option.getOrUndefined(c.database),
        collection: Option.getOrUndefined(c.collection),
        username: Option.getOrUndefined(c.username),
        password: Option.getOrUndefined(c.password),
        httpProtocol: Option.getOrUndefined(c.httpProtocol),
        verify: Option.getOrUndefined(c.verify),
        create: Option.getOrUndefined(c.create),
        ttlIndex: Option.getOrUndefined(c.ttlIndex),
        keyPrefix: Option.getOrUndefined(c.keyPrefix),
        requestTimeout: Option.getOrUndefined(c.requestTimeout)
      }),
      (error) => ConfigError.InvalidData([error.field.split(" ")[0]], error.message)
    )
  )
)
