/**
 * One URL selects a backend, Celery-style (SPEC §10):
 *
 * | URL | backend |
 * |---|---|
 * | `db+sqlite:///results.sqlite` | SQLite file, relative to a base directory |
 * | `db+sqlite:////abs/path.sqlite` | SQLite file, absolute path |
 * | `db+sqlite://`, `db+sqlite:///:memory:` | SQLite in memory |
 * | `db+postgresql://user:pass@host:port/db` | PostgreSQL (`postgres://`, `postgresql+psycopg2://` … too) |
 * | `db+mysql://user:pass@host:port/db` | MySQL / MariaDB (`mysql+pymysql://`, `mysql+mysqldb://`, `mariadb://` too) |
 * | `arangodb://user:pass@host:port/database/collection` | ArangoDB |
 * | `memory://` | in-process memory |
 *
 * The `db+` prefix is optional, and SQLAlchemy driver suffixes
 * (`+psycopg2`, `+pysqlite`, …) are accepted and ignored. Anything holding
 * credentials is kept `Redacted`; `redact` makes a URL safe to print, and
 * no error message ever contains a password.
 *
 * @since 0.1.0
 */
import { redactUrl } from "@taskmeta/core/RedactUrl"
import * as Config from "effect/Config"
import * as ConfigError from "effect/ConfigError"
import * as Data from "effect/Data"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import * as ArangoConfig from "@taskmeta/arango/ArangoConfig"

/**
 * What a URL selects.
 *
 * - `Sqlite.filename` is the path as written (`":memory:"` for an in-memory
 *   database); `isAbsolute` tells whether it needs a base directory.
 * - `Postgres.url` is a `postgres://` connection URL (driver suffix removed),
 *   `Redacted` because it may hold a password.
 * - `Mysql.url` is a `mysql://` connection URL (driver suffix removed; query
 *   parameters are mysql2's options), `Redacted`.
 * - `Arango.url` is the `arangodb://` URL, `Redacted`, for `ArangoConfig`.
 *
 * @since 0.1.0
 * @category models
 */
export type BackendUrl = Data.TaggedEnum<{
  Memory: {}
  Sqlite: { readonly filename: string; readonly isAbsolute: boolean }
  Postgres: { readonly url: Redacted.Redacted<string>; readonly display: string }
  Mysql: { readonly url: Redacted.Redacted<string>; readonly display: string }
  Arango: { readonly url: Redacted.Redacted<string>; readonly display: string }
}>

/**
 * @since 0.1.0
 * @category constructors
 */
export const BackendUrl = Data.taggedEnum<BackendUrl>()

/**
 * The URL used when none is configured: `results.sqlite` in the working
 * directory, as in the Celery beat example.
 *
 * @since 0.1.0
 * @category constants
 */
export const DEFAULT_URL = "db+sqlite:///results.sqlite"

/**
 * A URL that does not select a backend taskmeta knows. The message shows
 * the URL with its password replaced by `***`.
 *
 * @since 0.1.0
 * @category errors
 */
export class BackendConfigError extends Schema.TaggedError<BackendConfigError>("@taskmeta/stores/BackendConfigError")(
  "BackendConfigError",
  {
    /** The URL as `redact` prints it. */
    url: Schema.String,
    reason: Schema.String
  }
) {
  override get message(): string {
    return `invalid backend URL ${this.url}: ${this.reason}`
  }
}

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//

/**
 * The URL with any password replaced by `***` (`postgresql://app:***@db/x`).
 * Conservative: everything between `://` and the last `@` is treated as
 * user information, so an unescaped `@` or `/` in a password is hidden too.
 *
 * @since 0.1.0
 * @category formatting
 */
export const redact = (url: string | Redacted.Redacted<string>): string =>
  redactUrl(Redacted.isRedacted(url) ? Redacted.value(url) : url)

const fail = (url: string, reason: string) => Either.left(new BackendConfigError({ url: redact(url), reason }))

const SUPPORTED = "expected db+sqlite://, db+postgresql://, db+mysql://, arangodb:// or memory://"

/**
 * A PostgreSQL or MySQL URL, checked: it parses, its port is a port, its
 * path is one database name (MySQL's must be there), no fragment.
 */
const serverUrl = (
  raw: string,
  normalized: string,
  rule: { readonly example: string; readonly needsDatabase: boolean }
): Either.Either<Redacted.Redacted<string>, BackendConfigError> => {
  let url: URL
  try {
    url = new URL(normalized)
  } catch {
    // The WHATWG message would quote the URL, password included.
    return fail(raw, "not a valid URL (check the host, the port and percent-encoding)")
  }
  if (url.port !== "" && (Number(url.port) < 1 || Number(url.port) > 65535)) {
    return fail(raw, "the port must be between 1 and 65535")
  }
  const database = url.pathname.replace(/^\//, "")
  if (rule.needsDatabase && database === "") return fail(raw, `a MySQL URL names its database (${rule.example})`)
  if (database.includes("/")) return fail(raw, `the path must be a database name (${rule.example})`)
  if (url.hash !== "") return fail(raw, "must not have a #fragment")
  return Either.right(Redacted.make(normalized))
}

/**
 * Parses a backend URL.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string | Redacted.Redacted<string>): Either.Either<BackendUrl, BackendConfigError> => {
  const raw = (Redacted.isRedacted(input) ? Redacted.value(input) : input).trim()
  if (raw === "") return fail(raw, `the URL is empty; ${SUPPORTED}`)
  const text = raw.replace(/^db\+/i, "")
  const scheme = SCHEME.exec(text)
  if (scheme === null) return fail(raw, `no scheme; ${SUPPORTED}`)
  const [base] = scheme[1].toLowerCase().split("+")
  const rest = text.slice(scheme[0].length)
  switch (base) {
    case "memory": {
      if (rest !== "" && rest !== "/") return fail(raw, "memory:// takes no host or path")
      return Either.right(BackendUrl.Memory())
    }
    case "sqlite": {
      // SQLAlchemy: sqlite:// is in memory, sqlite:///rel and sqlite:////abs are files.
      if (/[?#]/.test(rest)) return fail(raw, "query parameters are not supported for SQLite")
      if (rest === "" || rest === "/" || rest === "/:memory:") {
        return Either.right(BackendUrl.Sqlite({ filename: ":memory:", isAbsolute: true }))
      }
      if (!rest.startsWith("/")) {
        return fail(raw, "a SQLite URL has no host: use sqlite:///relative.sqlite or sqlite:////absolute.sqlite")
      }
      const filename = rest.slice(1)
      if (filename.endsWith("/")) return fail(raw, "the SQLite path names a directory")
      return Either.right(BackendUrl.Sqlite({ filename, isAbsolute: filename.startsWith("/") }))
    }
    case "postgres":
    case "postgresql":
      return Either.map(
        serverUrl(raw, `postgres://${rest}`, { example: "postgresql://user@host/db", needsDatabase: false }),
        (url) => BackendUrl.Postgres({ url, display: redact(raw) })
      )
    case "mysql":
    case "mariadb":
      return Either.map(
        serverUrl(raw, `mysql://${rest}`, { example: "mysql://user@host/db", needsDatabase: true }),
        (url) => BackendUrl.Mysql({ url, display: redact(raw) })
      )
    case "arangodb": {
      const normalized = `arangodb://${rest}`
      return Either.match(ArangoConfig.make({ url: Redacted.make(normalized) }), {
        onLeft: (e) => fail(raw, e.message),
        onRight: () => Either.right(BackendUrl.Arango({ url: Redacted.make(normalized), display: redact(raw) }))
      })
    }
    default:
      return fail(raw, `unsupported scheme ${JSON.stringify(scheme[1].slice(0, 40))}; ${SUPPORTED}`)
  }
}

/**
 * A description safe to print.
 *
 * @since 0.1.0
 * @category formatting
 */
export const describe = (url: BackendUrl): string =>
  BackendUrl.$match(url, {
    Memory: () => "memory://",
    Sqlite: ({ filename }) => filename === ":memory:" ? "sqlite (in memory)" : `sqlite ${filename}`,
    Postgres: ({ display }) => display,
    Mysql: ({ display }) => display,
    Arango: ({ display }) => display
  })

/**
 * The backend URL from configuration: `TASKMETA_BACKEND_URL` (a secret),
 * else Celery's own `CELERY_RESULT_BACKEND` (so a shell set up for the
 * Celery workers needs nothing more), else `DEFAULT_URL`. Parsed, so a bad
 * URL is a configuration error naming the variable, whose message holds no
 * password.
 *
 * @since 0.1.0
 * @category config
 */
export const config: Config.Config<BackendUrl> = Config.all([
  Config.option(Config.redacted("TASKMETA_BACKEND_URL")),
  Config.option(Config.redacted("CELERY_RESULT_BACKEND"))
]).pipe(
  Config.mapOrFail(([own, celery]) => {
    const [name, url] = Option.isSome(own)
      ? ["TASKMETA_BACKEND_URL", own.value] as const
      : Option.isSome(celery)
      ? ["CELERY_RESULT_BACKEND", celery.value] as const
      : ["TASKMETA_BACKEND_URL", Redacted.make(DEFAULT_URL)] as const
    return Either.mapLeft(parse(url), (e) => ConfigError.InvalidData([name], e.message))
  })
)
