/**
 * The configuration `PgBackend.config` and `MysqlBackend.config` both read:
 * a server's URL and pool, the tables, the encoding and the core's options.
 *
 * @internal
 */
import * as Config from "effect/Config"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import type * as Redacted from "effect/Redacted"
import * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as SqlBackend from "../SqlBackend.js"

/** The client-side statement timeout both servers' clients default to. */
export const DEFAULT_STATEMENT_TIMEOUT: Duration.Duration = Duration.seconds(30)

/** What both servers' options share (each module's `Options` extends it). */
export interface ServerOptions extends SqlBackend.Options {
  readonly url: Redacted.Redacted<string>
  readonly poolSize?: number | undefined
  readonly statementTimeout?: Duration.DurationInput | undefined
}

/**
 * `url` (redacted), `schema`, `taskTable`, `groupTable`, `poolSize`
 * (default 10), `statementTimeout` (a duration), `encoding`, and
 * `BackendOptions.config`.
 */
export const serverConfig: Config.Config<ServerOptions> = Config.all({
  url: Config.redacted("url"),
  schema: Config.option(Config.string("schema")),
  tasks: Config.option(Config.string("taskTable")),
  groups: Config.option(Config.string("groupTable")),
  poolSize: Config.integer("poolSize").pipe(Config.withDefault(10)),
  statementTimeout: Config.option(Config.duration("statementTimeout")),
  encoding: SqlBackend.encodingConfig,
  backend: BackendOptions.config
}).pipe(Config.map((c): ServerOptions => ({
  ...c.backend,
  url: c.url,
  poolSize: c.poolSize,
  statementTimeout: Option.getOrUndefined(c.statementTimeout),
  encoding: c.encoding,
  tables: {
    schema: Option.getOrUndefined(c.schema),
    tasks: Option.getOrUndefined(c.tasks),
    groups: Option.getOrUndefined(c.groups)
  }
})))
