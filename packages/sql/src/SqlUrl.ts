/**
 * Celery-style URLs for the SQL backends (SPEC §10):
 * `db+sqlite:///results.sqlite`, `sqlite:///relative/path`,
 * `sqlite:////absolute/path`, `db+postgresql://user:pass@host/db`,
 * `postgresql://…`, `postgres://…`. Passwords stay `Redacted`.
 *
 * @since 0.1.0
 */
import { redactUrl } from "@taskmeta/core/RedactUrl"
import type * as Cron from "effect/Cron"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as Expiry from "@taskmeta/core/Expiry"
import * as PgBackend from "./PgBackend.js"
import type * as SqlBackend from "./SqlBackend.js"
import * as SqliteBackend from "./SqliteBackend.js"

/**
 * A URL no SQL backend understands. The message never shows a password.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidUrl extends Schema.TaggedError<InvalidUrl>("@taskmeta/sql/InvalidUrl")("InvalidUrl", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid SQL backend URL ${this.url}: ${this.reason}`
  }
}

/**
 * A parsed URL.
 *
 * @since 0.1.0
 * @category models
 */
export type Target =
  | { readonly _tag: "Sqlite"; readonly filename: string }
  | { readonly _tag: "Postgres"; readonly url: Redacted.Redacted<string> }

/**
 * The URL with any password replaced by `***`, for messages and logs.
 *
 * @since 0.1.0
 * @category utils
 */
export const redact = (url: string): string => redactUrl(url)

/**
 * Parses a URL. `sqlite://` (no path) is an in-memory database, as in
 * SQLAlchemy; three slashes make a relative path, four an absolute one.
 *
 * @since 0.1.0
 * @category parsing
 */
export const parse = (input: string | Redacted.Redacted<string>): Either.Either<Target, InvalidUrl> => {
  const url = Redacted.isRedacted(input) ? Redacted.value(input) : input
  const bare = url.startsWith("db+") ? url.slice(3) : url
  if (bare.startsWith("sqlite:")) {
    const rest = bare.slice("sqlite:".length)
    if (rest === "" || rest === "//" || rest === "///:memory:") return Either.right({ _tag: "Sqlite", filename: ":memory:" })
    if (!rest.startsWith("///")) {
      return Either.left(new InvalidUrl({ url: redact(url), reason: "expected sqlite:///path" }))
    }
    const path = rest.slice(3).split("?")[0]
    if (path.length === 0) return Either.left(new InvalidUrl({ url: redact(url), reason: "missing file path" }))
    try {
      return Either.right({ _tag: "Sqlite", filename: decodeURIComponent(path) })
    } catch {
      return Either.left(new InvalidUrl({ url: redact(url), reason: "bad %-escape in the file path" }))
    }
  }
  const pg = /^(postgresql|postgres)(\+[a-z0-9]+)?:\/\//i.exec(bare)
  if (pg !== null) {
    // Drop a SQLAlchemy driver suffix (`postgresql+psycopg2://`).
    const normalized = `postgresql://${bare.slice(pg[0].length)}`
    try {
      new URL(normalized)
    } catch {
      return Either.left(new InvalidUrl({ url: redact(url), reason: "not a valid URL" }))
    }
    return Either.right({ _tag: "Postgres", url: Redacted.make(normalized) })
  }
  return Either.left(new InvalidUrl({ url: redact(url), reason: "not a sqlite or postgresql URL" }))
}

/**
 * Options for `layer` besides the URL (table names, `BackendOptions`,
 * `encoding: "pickle"` for rows Python Celery reads, …).
 *
 * @since 0.1.0
 * @category models
 */
export type Options = Omit<SqliteBackend.Options, "filename"> & Omit<PgBackend.Options, "url">

/**
 * The backend layer the URL selects.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  url: string | Redacted.Redacted<string>,
  options: Options = {}
): Layer.Layer<ResultBackend.ResultBackend, InvalidUrl | SqlBackend.SetupError> =>
  Either.match(parse(url), {
    onLeft: (error) => Layer.fail(error),
    onRight: (target) =>
      target._tag === "Sqlite"
        ? SqliteBackend.layer({ ...options, filename: target.filename })
        : PgBackend.layer({ ...options, url: target.url })
  })

/**
 * `layer` plus the expiry sweep on `when` (daily at 04:00 UTC by default).
 *
 * @since 0.1.0
 * @category layers
 */
export const layerWithExpiry = (
  url: string | Redacted.Redacted<string>,
  options: Options = {},
  when: Expiry.When = Expiry.daily
): Layer.Layer<ResultBackend.ResultBackend, InvalidUrl | SqlBackend.SetupError | Cron.ParseError> =>
  Layer.provideMerge(Expiry.layer(when), layer(url, options))
