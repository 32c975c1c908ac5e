/**
 * The layers `PgBackend` and `MysqlBackend` build the same way from a
 * client constructor: the client as a layer, the backend (`make`, `layer`),
 * everything in one store, the expiry sweep and configuration.
 *
 * @internal
 */
import * as Reactivity from "@effect/experimental/Reactivity"
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Config from "effect/Config"
import type * as ConfigError from "effect/ConfigError"
import * as Context from "effect/Context"
import type * as Cron from "effect/Cron"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Expiry from "@taskmeta/core/Expiry"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqlBackend from "../SqlBackend.js"
import type * as SqlMigrations from "../SqlMigrations.js"
import * as SqlStore from "../SqlStore.js"

export const serverLayers = <
  I,
  Client extends SqlClient.SqlClient,
  ClientOptions,
  Options extends ClientOptions & SqlBackend.Options
>(
  tag: Context.Tag<I, Client>,
  makeClient: (options: ClientOptions) => Effect.Effect<Client, SqlBackend.SetupError, Scope.Scope | Reactivity.Reactivity>
) => {
  const layerClient = (options: ClientOptions): Layer.Layer<I | SqlClient.SqlClient, SqlBackend.SetupError> =>
    Layer.scopedContext(
      Effect.map(makeClient(options), (client) => Context.make(tag, client).pipe(Context.add(SqlClient.SqlClient, client)))
    ).pipe(Layer.provide(Reactivity.layer))

  // The client under both its tags: `SqlBackend.make` finds a `PgClient` for LISTEN.
  const make = (
    options: Options
  ): Effect.Effect<
    ResultBackend.Service,
    SqlBackend.SetupError | SqlMigrations.MissingTables,
    Scope.Scope | Reactivity.Reactivity
  > =>
    Effect.flatMap(makeClient(options), (client) =>
      SqlBackend.make(options).pipe(
        Effect.provideService(SqlClient.SqlClient, client),
        Effect.provideService(tag, client)
      ))

  const layer = (
    options: Options
  ): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError | SqlMigrations.MissingTables> =>
    Layer.scoped(ResultBackend.ResultBackend, make(options)).pipe(Layer.provide(Reactivity.layer))

  const layerStore = (
    options: Options & Pick<SqlStore.Options, "pipelinePrefix" | "pageSize">
  ): Layer.Layer<SqlStore.Services, SqlStore.SetupError> => SqlStore.layer(options).pipe(Layer.provide(layerClient(options)))

  const layerWithExpiry = (
    options: Options,
    when: Expiry.When = Expiry.daily
  ): Layer.Layer<ResultBackend.ResultBackend, SqlBackend.SetupError | SqlMigrations.MissingTables | Cron.ParseError> =>
    Layer.provideMerge(Expiry.layer(when), layer(options))

  const layerConfig = (
    options: Config.Config<Options>
  ): Layer.Layer<
    ResultBackend.ResultBackend,
    SqlBackend.SetupError | SqlMigrations.MissingTables | ConfigError.ConfigError
  > => Layer.unwrapEffect(Effect.map(options, layer))

  return { layerClient, make, layer, layerStore, layerWithExpiry, layerConfig }
}
