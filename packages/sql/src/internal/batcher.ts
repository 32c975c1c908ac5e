/**
 * Coalesces concurrent writes into multi-row statements.
 *
 * Writes queue up in arrival order. Whenever fewer than `maxInFlight`
 * statements are running, the queue is scanned in order and up to `maxRows`
 * writes are taken into the next statement, skipping any write whose key is
 * already in that statement or in a running one (so a statement never holds
 * one key twice, and the writes for one key run one after another, in
 * order). Each caller learns whether its own write was applied.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"

export interface Options<A, E> {
  readonly key: (item: A) => string
  readonly maxRows: number
  readonly maxInFlight: number
  /**
   * How many queued writes it takes to start a statement while another is
   * running (default 1: any). Below it, the writes wait for the running
   * statement and then go together.
   */
  readonly overlapAt?: number | undefined
  /** Runs one statement; returns the keys whose writes were applied. */
  readonly run: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlySet<string>, E>
  /**
   * When a statement of several writes fails with an error this accepts (one
   * that is not transient: a value the database refused), its writes are run
   * one by one, so only the write at fault fails.
   */
  readonly isolate?: ((error: E) => boolean) | undefined
  /**
   * For a synchronous driver (SQLite): a writer that finds a free slot runs
   * the statement in its own fiber, after yielding once so that the writers
   * ready to run join it, instead of forking a fiber per statement. Its
   * statement then runs uninterruptibly (it would anyway: it is synchronous).
   */
  readonly inline?: boolean | undefined
}

export interface Batcher<A, E> {
  /** Queues a write; whether it was applied once its statement ran. */
  readonly submit: (item: A) => Effect.Effect<boolean, E>
  /**
   * Queues many writes at once (in order: two writes of one key run one
   * after the other) and waits for them all: each one's own outcome, in
   * the order given. One caller, no fiber per write.
   */
  readonly submitMany: (items: ReadonlyArray<A>) => Effect.Effect<ReadonlyArray<Exit.Exit<boolean, E>>>
}

interface Entry<A, E> {
  readonly item: A
  readonly key: string
  taken: boolean
  /** The caller's callback, once it waits; the outcome, if it came first. */
  resume: ((outcome: Exit.Exit<boolean, E>) => void) | undefined
  outcome: Exit.Exit<boolean, E> | undefined
}

const settle = <A, E>(entry: Entry<A, E>, outcome: Exit.Exit<boolean, E>): void => {
  if (entry.resume !== undefined) {
    const resume = entry.resume
    entry.resume = undefined
    resume(outcome)
  } else {
    entry.outcome = outcome
  }
}

/** Statements of one write in a row after which an inline write runs without yielding first. */
const SOLO_AFTER = 8
/** While writes run without yielding, one in this many still yields, to notice concurrent writers. */
const PROBE_EVERY = 16

export const make = <A, E>(options: Options<A, E>): Effect.Effect<Batcher<A, E>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    let queue: Array<Entry<A, E>> = []
    const running = new Set<string>()
    let inFlight = 0
    const maxRows = Math.max(1, options.maxRows)
    const maxInFlight = Math.max(1, options.maxInFlight)
    const overlapAt = Math.max(1, options.overlapAt ?? 1)
    // Inline mode: statements in a row that carried one write, and a counter for the probes.
    let singles = 0
    let probe = 0

    const take = (limit = maxRows): Array<Entry<A, E>> => {
      const batch: Array<Entry<A, E>> = []
      const keys = new Set<string>()
      const rest: Array<Entry<A, E>> = []
      for (const entry of queue) {
        if (entry.taken) continue
        if (batch.length < limit && !running.has(entry.key) && !keys.has(entry.key)) {
          keys.add(entry.key)
          batch.push(entry)
          entry.taken = true
        } else {
          rest.push(entry)
        }
      }
      queue = rest
      return batch
    }

    const outcomeOf = (entry: Entry<A, E>, exit: Exit.Exit<ReadonlySet<string>, E>): Exit.Exit<boolean, E> =>
      Exit.isSuccess(exit) ? Exit.succeed(exit.value.has(entry.key)) : Exit.failCause(exit.cause)

    const finish = (batch: ReadonlyArray<Entry<A, E>>, outcomes: ReadonlyArray<Exit.Exit<boolean, E>>) =>
      Effect.suspend(() => {
        inFlight--
        batch.forEach((entry, i) => {
          running.delete(entry.key)
          settle(entry, outcomes[i])
        })
        return pump
      })

    const isolated = (exit: Exit.Exit<ReadonlySet<string>, E>): boolean => {
      if (options.isolate === undefined || Exit.isSuccess(exit)) return false
      const error = Cause.failureOption(exit.cause)
      return Option.isSome(error) && options.isolate(error.value)
    }

    const runBatch = (batch: ReadonlyArray<Entry<A, E>>) =>
      Effect.flatMap(Effect.exit(options.run(batch.map((e) => e.item))), (exit) =>
        batch.length > 1 && isolated(exit)
          ? Effect.forEach(batch, (entry) => Effect.map(Effect.exit(options.run([entry.item])), (one) => outcomeOf(entry, one)))
          : Effect.succeed(batch.map((entry) => outcomeOf(entry, exit))))

    // A free slot is reserved now, but its statement takes its writes only
    // when its fiber starts: the writers resumed by the statement that just
    // finished run first and queue their next writes, which then share one
    // statement instead of the first of them going alone.
    let reserved = 0
    const startBatch: Effect.Effect<void> = Effect.suspend(() => {
      reserved--
      // With no statement running and other slots reserved (the writers
      // came back together), the slots share the queue: two statements run
      // side by side, and come back at different times.
      const share = inFlight - 1 - reserved === 0 && reserved > 0
      const batch = take(share ? Math.min(maxRows, Math.ceil(queue.length / (reserved + 1))) : maxRows)
      if (batch.length === 0) {
        // Nothing to take: the queue is empty, or its writes wait for a
        // running statement of their key, whose finish pumps again.
        inFlight--
        return Effect.void
      }
      for (const entry of batch) running.add(entry.key)
      const run = Effect.flatMap(runBatch(batch), (outcomes) => finish(batch, outcomes))
      return run
    })
    const pump: Effect.Effect<void> = Effect.suspend(() => {
      const starts: Array<Effect.Effect<unknown>> = []
      // A statement beside a running one only once enough writes wait for
      // it: small statements side by side cost a commit each, where waiting
      // for the running one lets the queue grow into one larger statement.
      while (inFlight < maxInFlight && queue.length > reserved && (inFlight === 0 || queue.length >= overlapAt + reserved)) {
        inFlight++
        reserved++
        starts.push(Effect.forkIn(Effect.uninterruptible(startBatch), scope))
      }
      return starts.length === 0 ? Effect.void : Effect.all(starts, { discard: true })
    })

    const outcome = (entry: Entry<A, E>): Effect.Effect<boolean, E> =>
      Effect.async<boolean, E>((resume) => {
        if (entry.outcome !== undefined) return resume(entry.outcome)
        entry.resume = resume
        // A caller that gives up before its write was taken withdraws it.
        return Effect.sync(() => {
          entry.resume = undefined
          if (!entry.taken) entry.taken = true
        })
      })

    // Inline: the slot is already reserved (inFlight counts it); the writers
    // that run during the yield queue up behind it and join this statement.
    // Runs uninterruptibly from the reservation on; `restore` makes only the
    // caller's own wait interruptible.
    //
    // The yield is skipped while the writers come one at a time: after
    // SOLO_AFTER statements in a row of one write each, a write runs without
    // it (the yield costs a trip through the scheduler, about as much as a
    // SQLite write). One write in PROBE_EVERY still yields, so that writers
    // who have become concurrent queue behind it and coalescing resumes.
    const lead = (
      self: Entry<A, E>,
      restore: <X, Y, Z>(effect: Effect.Effect<X, Y, Z>) => Effect.Effect<X, Y, Z>
    ): Effect.Effect<boolean, E> =>
      Effect.zipRight(
        singles >= SOLO_AFTER && ++probe % PROBE_EVERY !== 0 ? Effect.void : Effect.yieldNow(),
        Effect.suspend(() => {
          const batch = take()
          singles = batch.length === 1 ? singles + 1 : 0
          if (batch.length === 0) {
            inFlight--
            return Effect.zipRight(pump, restore(outcome(self)))
          }
          for (const entry of batch) running.add(entry.key)
          return Effect.flatMap(runBatch(batch), (outcomes) => {
            let own: Exit.Exit<boolean, E> | undefined
            batch.forEach((entry, i) => {
              if (entry === self) own = outcomes[i]
            })
            return Effect.zipRight(finish(batch, outcomes), own ?? restore(outcome(self)))
          })
        })
      )

    const entryOf = (item: A): Entry<A, E> => ({
      item,
      key: options.key(item),
      taken: false,
      resume: undefined,
      outcome: undefined
    })

    // Uninterruptible from the queue push to the caller's wait: a caller
    // interrupted in between must not leave a reserved slot or taken entries
    // that nobody runs (an interrupt can land at any operation boundary).
    const submit = (item: A): Effect.Effect<boolean, E> =>
      Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const entry = entryOf(item)
          queue.push(entry)
          if (options.inline === true && inFlight < maxInFlight) {
            inFlight++
            return lead(entry, restore)
          }
          return Effect.zipRight(pump, restore(outcome(entry)))
        })
      )

    // One wait for all the writes of a call: each entry's callback records
    // its outcome, the last one resumes the caller.
    const outcomes = (entries: ReadonlyArray<Entry<A, E>>): Effect.Effect<ReadonlyArray<Exit.Exit<boolean, E>>> =>
      Effect.async<ReadonlyArray<Exit.Exit<boolean, E>>>((resume) => {
        const exits: Array<Exit.Exit<boolean, E>> = new Array(entries.length)
        let left = entries.length
        entries.forEach((entry, i) => {
          if (entry.outcome !== undefined) {
            exits[i] = entry.outcome
            left--
          } else {
            entry.resume = (exit) => {
              exits[i] = exit
              if (--left === 0) resume(Effect.succeed(exits))
            }
          }
        })
        if (left === 0) return resume(Effect.succeed(exits))
        return Effect.sync(() => {
          for (const entry of entries) {
            entry.resume = undefined
            if (!entry.taken) entry.taken = true
          }
        })
      })

    const submitMany = (items: ReadonlyArray<A>): Effect.Effect<ReadonlyArray<Exit.Exit<boolean, E>>> =>
      items.length === 0 ? Effect.succeed([]) : Effect.uninterruptibleMask((restore) =>
        Effect.suspend(() => {
          const entries = items.map(entryOf)
          for (const entry of entries) queue.push(entry)
          return Effect.zipRight(pump, restore(outcomes(entries)))
        })
      )

    return { submit, submitMany }
  })
