/**
 * The storage primitives a `PipelineStore` implementation provides.
 * `PipelineStore.make` turns a driver into the service: input validation,
 * derived ids, timestamps from `Clock`, the advance and propagation rules,
 * retries, error mapping and spans are done once, there.
 *
 * What a driver must guarantee:
 *
 * - `insert` writes a whole tree atomically, each record as given with the
 *   parents' tallies, or nothing when the run exists.
 * - `atomically` runs its function so that no other `atomically` can see or
 *   change the records it locked until it is done, and so that a failure
 *   leaves nothing of it written (a transaction). `Access` is used
 *   bottom-up — the reported record first, then its parent, and so on — so
 *   locks taken in that order cannot deadlock against each other.
 * - every failure is a `DriverError`, and `isTransient` says which are worth
 *   retrying (the whole `atomically` or `insert` is retried).
 *
 * Optional batch forms (`insertMany`, `getRuns`) let a store write or read
 * many runs in a handful of statements; `PipelineStore.make` falls back to
 * `insert` / the per-run reads, one run at a time, where a driver lacks them.
 *
 * A document store implements `atomically` with its transactions (ArangoDB:
 * a stream transaction over the four collections; `lock` reads a document,
 * `update` writes it) and keeps the `Tally` inside each parent document.
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import type * as Effect from "effect/Effect"
import type * as Json from "@taskmeta/schema/Json"
import type * as Pipeline from "@taskmeta/schema/Pipeline"
import type * as PipelineRun from "@taskmeta/schema/PipelineRun"
import type { DriverError } from "./BackendError.js"

/**
 * A run's records, each array in tree order (depth first: a pipeline result's
 * task executions come in task order, before the next pipeline result's). A
 * record's position in its array is its ordinal within the run; lists by run
 * and by parent return records in that order.
 *
 * @since 0.1.0
 * @category models
 */
export type Tree = PipelineRun.PipelineRun

/**
 * The tally of each parent of a tree (aligned with the tree's arrays): a
 * built tree's parents count their children with none final yet; a restored
 * tree's count the final ones and the worst failure among them
 * (`PipelineRun.tallies`).
 *
 * @since 0.1.0
 * @category models
 */
export type Tallies = PipelineRun.Tallies

/**
 * A locked record, as the propagation needs it.
 *
 * @since 0.1.0
 * @category models
 */
export interface Node {
  readonly status: Pipeline.Status
  /** The parent's id (its kind is `Pipeline.parentKind(kind)`); `null` for an execution. */
  readonly parentId: string | null
  /** The children tally; `null` for a task result. */
  readonly tally: Pipeline.Tally | null
}

/**
 * A change to one locked record. Fields left out are kept.
 *
 * @since 0.1.0
 * @category models
 */
export interface Update {
  /** The new status; RUNNING also sets `started` to `at`, a final status sets `completed` to `at`. */
  readonly status?: Pipeline.Status | undefined
  readonly at: DateTime.Utc
  readonly message?: Json.Json | undefined
  readonly tally?: Pipeline.Tally | undefined
}

/**
 * A conditional status change: applied only when the record's current status
 * is one of `from` (see `Pipeline.advanceableFrom`).
 *
 * @since 0.1.0
 * @category models
 */
export interface Advance {
  /** RUNNING also sets `started` to `at`, a final status sets `completed` to `at`. */
  readonly status: Pipeline.Status
  readonly at: DateTime.Utc
  readonly from: ReadonlyArray<Pipeline.Status>
  readonly message?: Json.Json | undefined
}

/**
 * The record an `advance` changed: its status before, and its parent's id.
 *
 * @since 0.1.0
 * @category models
 */
export interface Advanced {
  readonly previous: Pipeline.Status
  readonly parentId: string | null
}

/**
 * Record access inside `atomically`.
 *
 * @since 0.1.0
 * @category models
 */
export interface Access {
  /** Locks a record for the rest of the atomic step and reads it; `undefined` when it is not stored. */
  readonly lock: (kind: Pipeline.Kind, id: string) => Effect.Effect<Node | undefined, DriverError>
  readonly update: (kind: Pipeline.Kind, id: string, update: Update) => Effect.Effect<void, DriverError>
  /**
   * Changes a record's status if it is one of `advance.from` (locking it for
   * the rest of the atomic step when it changes), in one step where the
   * storage allows (`UPDATE … WHERE status IN (…) RETURNING …`). `undefined`
   * when nothing changed: the record is not stored or not in `from`.
   *
   * A SQL store may derive `previous` from `started` (set exactly when a
   * record went RUNNING): for a final status, PENDING when `started` is null,
   * else RUNNING.
   */
  readonly advance: (
    kind: Pipeline.Kind,
    id: string,
    advance: Advance
  ) => Effect.Effect<Advanced | undefined, DriverError>
}

/**
 * Which records a list returns: those of a run or of one parent, optionally
 * only in some statuses.
 *
 * @since 0.1.0
 * @category models
 */
export interface ListQuery {
  /** `run`: `id` is a run id; `parent`: `id` is the parent record's id. */
  readonly by: "run" | "parent"
  readonly id: string
  /** Only these statuses (all when absent). Never empty. */
  readonly statuses?: ReadonlyArray<Pipeline.Status> | undefined
}

/**
 * One run for `insertMany`: its tree and the tallies of its parents.
 *
 * @since 0.1.0
 * @category models
 */
export interface Insertion {
  readonly tree: Tree
  readonly tallies: Tallies
}

/**
 * @since 0.1.0
 * @category models
 */
export interface PipelineDriver {
  /** `memory`, `sqlite`, `postgres`, `arango`, … (for spans and logs). */
  readonly kind: string
  /**
   * Writes the tree in one atomic step, every record as given (status,
   * message, stamps) and each parent with its tally; `false` (and nothing
   * written) when the run already exists.
   */
  readonly insert: (tree: Tree, tallies: Tallies) => Effect.Effect<boolean, DriverError>
  /**
   * Optional: `insert` for many runs (distinct run ids) in one atomic step —
   * every run not yet stored is written, the others are left alone — with
   * the outcome of each, aligned with `runs` (`false` for a run already
   * stored). A failure leaves nothing of the call written. Without it, runs
   * are inserted one by one with `insert`.
   */
  readonly insertMany?: ((runs: ReadonlyArray<Insertion>) => Effect.Effect<ReadonlyArray<boolean>, DriverError>) | undefined
  /** Runs `f` as one atomic, isolated step (see the module docs). */
  readonly atomically: <A, E>(f: (access: Access) => Effect.Effect<A, E>) => Effect.Effect<A, E | DriverError>
  readonly getExecution: (runId: string) => Effect.Effect<Pipeline.PipelineExecution | undefined, DriverError>
  /**
   * Optional: whole runs (each array in tree order, as the lists by run
   * return them) for distinct run ids, aligned with `runIds`, `undefined`
   * for a run not stored; a few queries for the whole list. Without it, each
   * run is read with `getExecution` and the three lists by run.
   */
  readonly getRuns?: ((runIds: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<Tree | undefined>, DriverError>) | undefined
  readonly getPipelineResult: (id: string) => Effect.Effect<Pipeline.PipelineResult | undefined, DriverError>
  readonly getTaskExecution: (id: string) => Effect.Effect<Pipeline.TaskExecution | undefined, DriverError>
  readonly getTaskResult: (id: string) => Effect.Effect<Pipeline.TaskResult | undefined, DriverError>
  /** A pipeline's runs, oldest first (by `created`, then run id). */
  readonly listExecutions: (
    pipelineId: string
  ) => Effect.Effect<ReadonlyArray<Pipeline.PipelineExecution>, DriverError>
  /** `by: "parent"` means the run here (the execution is the parent). */
  readonly listPipelineResults: (
    query: ListQuery
  ) => Effect.Effect<ReadonlyArray<Pipeline.PipelineResult>, DriverError>
  readonly listTaskExecutions: (query: ListQuery) => Effect.Effect<ReadonlyArray<Pipeline.TaskExecution>, DriverError>
  readonly listTaskResults: (query: ListQuery) => Effect.Effect<ReadonlyArray<Pipeline.TaskResult>, DriverError>
  readonly digest: (pipelineId: string) => Effect.Effect<Pipeline.Digest, DriverError>
  /**
   * Removes at most `limit` runs whose execution is final and completed
   * before `before` (each with its whole tree) in one atomic step, and
   * returns their run ids.
   */
  readonly cleanup: (before: DateTime.Utc, limit: number) => Effect.Effect<ReadonlyArray<string>, DriverError>
  /** Whether a failure is worth retrying (a lost connection, a lock, a serialization failure, a deadlock). */
  readonly isTransient: (error: DriverError) => boolean
  /** Runs before a retry, to drop a broken connection. */
  readonly onRetryableError?: ((error: DriverError) => Effect.Effect<void>) | undefined
}
