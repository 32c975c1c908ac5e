/**
 * `taskmeta serve`: the dashboard (`@taskmeta/http`) over the store a URL
 * names, until SIGINT/SIGTERM.
 *
 * Binds 127.0.0.1:5555 unless told otherwise. Any other address needs
 * credentials (`--auth user:password` or `TASKMETA_SERVE_AUTH`) unless
 * `--no-auth` says it on purpose. Read-only unless `--allow-writes`: the
 * store is then opened as the read commands open it (nothing created or
 * migrated) and the dashboard refuses to forget or clean up.
 * The server and its modules load only when the command runs, so other
 * commands start as fast as before.
 *
 * @since 0.1.0
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import * as Config from "effect/Config"
import * as Console from "effect/Console"
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { Services } from "@taskmeta/http/DashboardServer"
import * as Inputs from "./Inputs.js"
import { version } from "./internal/version.js"

/**
 * A serve setting that cannot work (credentials missing, malformed).
 *
 * @since 0.1.0
 * @category errors
 */
export class ServeError extends Schema.TaggedError<ServeError>("@taskmeta/cli/ServeError")("ServeError", {
  message: Schema.String
}) {}

/**
 * Where the store is, as every command takes it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Where {
  readonly backend: Option.Option<Redacted.Redacted<string>>
  readonly schema: Option.Option<string>
}

/**
 * What `serve` needs from the rest of the CLI: its backend options and the
 * store layer for them (as every other command opens it: read-only, as the
 * read commands do, when `readOnly`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Shared<E, R = never> {
  readonly where: {
    readonly backend: Options.Options<Option.Option<Redacted.Redacted<string>>>
    readonly schema: Options.Options<Option.Option<string>>
  }
  readonly layerFor: (
    o: Where,
    extra: { readonly resultExpires?: Duration.Duration; readonly readOnly: boolean }
  ) => Layer.Layer<Services, E, R>
}

/** `user:password` → credentials; the password stays `Redacted`. */
const credentials = (text: Redacted.Redacted<string>) => {
  const value = Redacted.value(text)
  const colon = value.indexOf(":")
  return colon <= 0 || colon === value.length - 1
    ? Either.left(new ServeError({ message: "--auth must be user:password (both non-empty)" }))
    : Either.right({ username: value.slice(0, colon), password: Redacted.make(value.slice(colon + 1)) })
}

const isLoopback = (host: string) =>
  host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/**
 * The command, over the CLI's shared backend options.
 *
 * @since 0.1.0
 * @category commands
 */
export const command = <E, R>(shared: Shared<E, R>) =>
  Command.make("serve", {
    ...shared.where,
    host: Options.text("host").pipe(
      Options.withDescription("Address to listen on (default 127.0.0.1; any other needs --auth or --no-auth)"),
      Options.withDefault("127.0.0.1")
    ),
    port: Options.integer("port").pipe(Options.withDescription("Port (default 5555; 0 picks a free one)"), Options.withDefault(5555)),
    auth: Options.redacted("auth").pipe(
      Options.withDescription("HTTP Basic credentials every request must carry, user:password (default: $TASKMETA_SERVE_AUTH)"),
      Options.optional
    ),
    noAuth: Options.boolean("no-auth").pipe(
      Options.withDescription("Serve a non-loopback address without credentials (anyone who can reach it reads the store)")
    ),
    allowWrites: Options.boolean("allow-writes").pipe(
      Options.withDescription(
        "Allow forgetting tasks and running cleanup from the dashboard (same-origin requests only); the store is then " +
          "opened to write, its tables created or migrated when needed. Without it the store is opened read-only, " +
          "as the read commands open it: nothing is created or migrated"
      )
    ),
    expires: Options.text("expires").pipe(
      Options.withDescription("What cleanup deletes: records done longer ago than this (default 1 day)"),
      Options.optional
    )
  }, (o) =>
    Effect.gen(function*() {
      const auth = Option.isSome(o.auth) ? o.auth : yield* Config.option(Config.redacted("TASKMETA_SERVE_AUTH"))
      if (Option.isSome(auth) && o.noAuth) return yield* new ServeError({ message: "--auth and --no-auth contradict each other" })
      const creds = Option.isSome(auth) ? yield* credentials(auth.value) : undefined
      if (creds === undefined && !o.noAuth && !isLoopback(o.host)) {
        return yield* new ServeError({
          message: `serving ${o.host} needs credentials: --auth user:password (or TASKMETA_SERVE_AUTH), ` +
            "or --no-auth to serve it open on purpose"
        })
      }
      if (o.port < 0 || o.port > 65535) return yield* new ServeError({ message: "--port must be 0 to 65535" })
      const expires = Option.isSome(o.expires)
        ? yield* Either.mapLeft(Inputs.duration(o.expires.value), (message) => new ServeError({ message }))
        : undefined
      const [{ createServer }, NodeHttpServer, HttpServer, DashboardServer, Telemetry] = yield* Effect.promise(() =>
        Promise.all([
          import("node:http"),
          import("@effect/platform-node/NodeHttpServer"),
          import("@effect/platform/HttpServer"),
          import("@taskmeta/http/DashboardServer"),
          import("@taskmeta/http/Telemetry")
        ])
      )
      const store = shared.layerFor(o, {
        ...(expires === undefined ? {} : { resultExpires: expires }),
        readOnly: !o.allowWrites
      })
      const announce = HttpServer.addressFormattedWith((address) =>
        Console.log(
          `taskmeta serve: ${address.replace("0.0.0.0", o.host)}/ (${creds === undefined ? "no credentials" : "credentials required"}, ${
            o.allowWrites ? "writes allowed" : "read-only"
          }); Ctrl-C stops`
        )
      )
      return yield* Layer.launch(
        Layer.merge(
          DashboardServer.layer({
            allowWrites: o.allowWrites,
            credentials: creds,
            hosts: DashboardServer.hostsFor(o.host)
          }),
          Layer.effectDiscard(announce)
        ).pipe(
          Layer.provide(store),
          Layer.provide(NodeHttpServer.layer(createServer, { host: o.host, port: o.port })),
          Layer.provide(Telemetry.layerFromEnv("taskmeta-serve", version))
        )
      )
    })).pipe(Command.withDescription("Serve a live dashboard and HTTP API over the store (127.0.0.1:5555, read-only)"))
