/**
 * Spans for the hot paths, created only when someone can see them.
 *
 * Effect's built-in tracer keeps spans in memory and exports them nowhere,
 * yet a span costs several microseconds (a clock read, a context copy, an
 * exit hook): more than a SQLite read by id. `withSpan` here opens the span
 * only when a tracer other than the built-in one is installed (an
 * OpenTelemetry layer, a test's `Effect.withTracer`); with the built-in one
 * the effect runs as is.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Tracer from "effect/Tracer"

/**
 * The tracer every fiber has unless one is provided.
 *
 * @since 0.1.0
 * @category constants
 */
export const builtInTracer: Tracer.Tracer = Effect.runSync(Effect.tracer)

/**
 * Whether `tracer` records spans anywhere outside the process's memory.
 *
 * @since 0.1.0
 * @category predicates
 */
export const isObserved = (tracer: Tracer.Tracer): boolean => tracer !== builtInTracer

/**
 * `Effect.withSpan` when a tracer is installed; the effect unchanged
 * otherwise. `attributes` is called only when the span is opened.
 *
 * @since 0.1.0
 * @category combinators
 */
export const withSpan = <A, E, R>(
  effect: Effect.Effect<A, E, R>,
  name: string,
  attributes: () => Record<string, unknown>,
  kind?: Tracer.SpanKind
): Effect.Effect<A, E, R> =>
  Effect.tracerWith((tracer) =>
    tracer === builtInTracer
      ? effect
      : Effect.withSpan(effect, name, { attributes: attributes(), captureStackTrace: false, ...(kind ? { kind } : {}) })
  )
