/**
 * OpenTelemetry tracing from the standard environment: when
 * `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (a full URL) or
 * `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL, `/v1/traces` appended) is set,
 * every Effect span of the program — `ResultBackend.store`,
 * `ResultBrowser.page`, `sql.execute`, the HTTP server's request spans — is
 * exported over OTLP/HTTP by `@effect/opentelemetry`'s `OtlpTracer` (no
 * OpenTelemetry SDK needed). Also read: `OTEL_SERVICE_NAME`,
 * `OTEL_EXPORTER_OTLP_PROTOCOL` (`http/protobuf`, the default, or
 * `http/json`) and `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,…`). Unset, the
 * layer does nothing, and the hot paths open no spans at all (see
 * `@taskmeta/core/Tracing`).
 *
 * @since 0.1.0
 */
import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as OtlpSerialization from "@effect/opentelemetry/OtlpSerialization"
import * as OtlpTracer from "@effect/opentelemetry/OtlpTracer"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"

/**
 * @since 0.1.0
 * @category models
 */
export interface Settings {
  /** Where traces are sent (full URL, `…/v1/traces`). */
  readonly url: string
  readonly serviceName: string
  readonly protocol: "http/protobuf" | "http/json"
  readonly headers: Readonly<Record<string, string>>
}

/**
 * The settings from the environment; `None` when no endpoint is set.
 *
 * @since 0.1.0
 * @category config
 */
export const config = (defaultServiceName: string): Config.Config<Option.Option<Settings>> =>
  Config.all({
    traces: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")),
    base: Config.option(Config.nonEmptyString("OTEL_EXPORTER_OTLP_ENDPOINT")),
    serviceName: Config.nonEmptyString("OTEL_SERVICE_NAME").pipe(Config.withDefault(defaultServiceName)),
    protocol: Config.literal("http/protobuf", "http/json")("OTEL_EXPORTER_OTLP_PROTOCOL").pipe(
      Config.withDefault("http/protobuf" as const)
    ),
    headers: Config.string("OTEL_EXPORTER_OTLP_HEADERS").pipe(Config.withDefault(""))
  }).pipe(Config.map((c) => {
    const url = Option.orElse(c.traces, () => Option.map(c.base, (base) => `${base.replace(/\/+$/, "")}/v1/traces`))
    return Option.map(url, (url): Settings => ({
      url,
      serviceName: c.serviceName,
      protocol: c.protocol,
      headers: parseHeaders(c.headers)
    }))
  }))

/**
 * `key=value,key2=value2` (values URL-encoded, as the specification says).
 *
 * @since 0.1.0
 * @category config
 */
export const parseHeaders = (text: string): Readonly<Record<string, string>> => {
  const out: Record<string, string> = {}
  for (const pair of text.split(",")) {
    const eq = pair.indexOf("=")
    if (eq <= 0) continue
    try {
      out[decodeURIComponent(pair.slice(0, eq).trim())] = decodeURIComponent(pair.slice(eq + 1).trim())
    } catch {
      // not URL-encoded text: taken as it is
      out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim()
    }
  }
  return out
}

/**
 * The tracer for the settings.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (settings: Settings, serviceVersion?: string): Layer.Layer<never> =>
  OtlpTracer.layer({
    url: settings.url,
    resource: { serviceName: settings.serviceName, serviceVersion },
    headers: settings.headers,
    exportInterval: "1 second",
    shutdownTimeout: "3 seconds"
  }).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(FetchHttpClient.layer)
  )

/**
 * Tracing as the environment asks, or nothing. A bad variable is logged
 * and tracing stays off: it never keeps the program from starting.
 *
 * @since 0.1.0
 * @category layers
 */
export const layerFromEnv = (serviceName: string, serviceVersion?: string): Layer.Layer<never> =>
  Layer.unwrapEffect(
    config(serviceName).pipe(
      Effect.map(Option.match({ onNone: () => Layer.empty, onSome: (settings) => layer(settings, serviceVersion) })),
      Effect.catchAll((error) =>
        Effect.as(Effect.logWarning(`OpenTelemetry settings ignored: ${error.message}`), Layer.empty)
      )
    )
  )
