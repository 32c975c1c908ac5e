/**
 * The `ResultBrowser` over an ArangoDB result collection (Celery's document
 * layout), as an adapter over `ArangoScan`, which runs the AQL.
 *
 * - `list` is newest first, where "newest" for documents (which have no
 *   creation sequence) means: records not finished first, then by
 *   `date_done` descending, ties by `_key` descending. `exportTasks` is the
 *   exact reverse, `exportGroups` is by `date_done` then `_key`.
 * - Lists and exports stream through an AQL cursor in batches; documents are
 *   decoded by the backend's own codec (`ArangoDocument`): both stored forms,
 *   big integers exact in the text form.
 * - `countExpired` uses cleanup's own filter and the `ResultBackend`'s
 *   options, so it counts what `cleanup` would delete.
 * - The scan opens its own connection to the server the backend uses
 *   (arangojs connections are HTTP; nothing is held open between requests).
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { DriverError } from "@taskmeta/core/BackendError"
import type * as BackendOptions from "@taskmeta/core/BackendOptions"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as ArangoConfig from "./ArangoConfig.js"
import * as ArangoScan from "./ArangoScan.js"

const browseError = (operation: string) => (e: DriverError) =>
  new ResultBrowser.BrowseError({ operation, cause: e.cause })

/**
 * The browser over a scan; `options` are the backend's (for `countExpired`).
 *
 * @since 0.1.0
 * @category constructors
 */
export const fromScan = (
  scan: ArangoScan.ArangoScan,
  options: BackendOptions.BackendOptions
): ResultBrowser.Service => ({
  kind: "arango",
  list: (filter = {}) => Stream.mapError(scan.listTasks(filter), browseError("list tasks")),
  stats: Effect.map(
    Effect.mapError(scan.counts, browseError("count tasks")),
    (counts) => ResultBrowser.statsFromCounts(counts.tasks, counts.groups)
  ).pipe(Effect.withSpan("ResultBrowser.stats")),
  exportTasks: Stream.mapError(scan.exportTasks, browseError("export tasks")),
  exportGroups: Stream.mapError(scan.exportGroups, browseError("export groups")),
  countExpired: Effect.mapError(scan.countExpired(options), browseError("count expired records")).pipe(
    Effect.withSpan("ResultBrowser.countExpired")
  )
})

/**
 * Opens the scan for the settings and builds the browser with the options of
 * the `ResultBackend` in context (which should be over the same collection).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  input: ArangoConfig.Input,
  options: ArangoScan.Options = {}
): Effect.Effect<
  ResultBrowser.Service,
  ArangoConfig.ArangoConfigError,
  ResultBackend.ResultBackend | Scope.Scope
> =>
  Effect.gen(function*() {
    const backend = yield* ResultBackend.ResultBackend
    const scan = yield* ArangoScan.make(input, options)
    return fromScan(scan, backend.options)
  })

/**
 * The browser for the settings, next to the `ResultBackend` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  input: ArangoConfig.Input,
  options: ArangoScan.Options = {}
): Layer.Layer<ResultBrowser.ResultBrowser, ArangoConfig.ArangoConfigError, ResultBackend.ResultBackend> =>
  Layer.scoped(ResultBrowser.ResultBrowser, make(input, options))
