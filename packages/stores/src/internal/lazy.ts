/**
 * Backend modules are loaded when a layer for them is built, not when
 * `@taskmeta/stores` is imported: a program that opens one SQLite file
 * never loads node-postgres or arangojs, and `taskmeta --help` none of them.
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** The layer `f` makes from the module(s) `load` imports; `load` runs when the layer is built. */
export const lazyLayer = <M, A, E, R>(
  load: () => Promise<M>,
  f: (module: M) => Layer.Layer<A, E, R>
): Layer.Layer<A, E, R> => Layer.unwrapEffect(Effect.map(Effect.promise(load), f))
