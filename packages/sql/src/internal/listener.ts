/**
 * Push notifications of READY task ids over `PgClient.listen`: the client's
 * own LISTEN connection (one per client, shared by nothing else), feeding a
 * hub that waiters subscribe to.
 *
 * The session LISTENs only while someone waits (and for `linger` after the
 * last waiter leaves): a listening session costs every committing writer a
 * signal and a wake-up of that connection. While listening, a heartbeat
 * NOTIFY of the listener's own (a payload no task id can be) checks that
 * notifications still arrive; when one does not come back, the stream is
 * restarted, which makes the client open a new LISTEN connection. Meanwhile
 * waiters poll.
 */
import type * as PgClient from "@effect/sql-pg/PgClient"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as PubSub from "effect/PubSub"
import type * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"

/**
 * The task ids in a notification: a JSON array of ids (one statement's READY
 * rows), or a bare id (the row trigger of migration 3, from a process not yet
 * migrated).
 */
export const payloadIds = (payload: string): ReadonlyArray<string> => {
  if (payload.startsWith("[")) {
    try {
      const parsed: unknown = JSON.parse(payload)
      if (Array.isArray(parsed) && parsed.every((id) => typeof id === "string")) return parsed
    } catch {
      // not JSON: a bare id that starts with "["
    }
  }
  return [payload]
}

export interface Listener {
  /**
   * The ids announced from now on, for as long as the scope is open. LISTEN
   * is up before this returns (or after `listenTimeout` if it is not: the
   * waiter polls meanwhile).
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope>
}

export interface Options {
  /** How long the session keeps listening after the last waiter left. Default 1 s. */
  readonly linger?: Duration.DurationInput | undefined
  /** How long a new waiter waits for LISTEN to be confirmed. Default 500 ms. */
  readonly listenTimeout?: Duration.DurationInput | undefined
  /** How often a listening session checks that notifications arrive. Default 5 s. */
  readonly heartbeat?: Duration.DurationInput | undefined
}

// Task ids hold no NUL-free payload starting with this, as no JSON array does.
const HEARTBEAT = "\u0001taskmeta-listen:"

export const make = (
  client: PgClient.PgClient,
  channel: string,
  options: Options = {}
): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<string>(), PubSub.shutdown)
    const lock = yield* Effect.makeSemaphore(1)
    const linger = Duration.decode(options.linger ?? Duration.seconds(1))
    const listenTimeout = Duration.decode(options.listenTimeout ?? Duration.millis(500))
    const heartbeat = Duration.decode(options.heartbeat ?? Duration.seconds(5))
    const token = `${HEARTBEAT}${Math.random().toString(36).slice(2)}`

    let waiters = 0
    let session: Fiber.RuntimeFiber<void> | undefined
    let lingering: Fiber.RuntimeFiber<void> | undefined
    // Completed when our own heartbeat comes back: LISTEN is up.
    let echo = yield* Deferred.make<void>()

    const received = (payload: string): Effect.Effect<void> => {
      if (payload.startsWith(HEARTBEAT)) return payload === token ? Deferred.succeed(echo, undefined) : Effect.void
      return Effect.asVoid(PubSub.publishAll(hub, payloadIds(payload)))
    }

    /** Sends heartbeats until one comes back (LISTEN may still be on its way). */
    const confirm = Effect.suspend(() => {
      const current = echo
      // `pg_notify` with parameters: `PgClient.notify` (0.53) sends `NOTIFY "chan", $1`, which
      // PostgreSQL refuses (a NOTIFY payload takes no parameter).
      return client`SELECT pg_notify(${channel}, ${token})`.pipe(
        Effect.zipRight(Deferred.await(current).pipe(Effect.timeoutFail({ duration: "100 millis", onTimeout: () => "late" }))),
        Effect.retry(Schedule.recurs(9))
      )
    })

    // One LISTEN stream at a time; a failure or a silent connection restarts it.
    const listening: Effect.Effect<void> = Effect.gen(function*() {
      // A daemon interrupted without waiting: UNLISTEN on a dead connection must not hold us up.
      const stream = yield* Effect.forkDaemon(Stream.runForEach(client.listen(channel), received))
      yield* Effect.addFinalizer(() => Fiber.interruptFork(stream))
      yield* confirm.pipe(Effect.ignore)
      yield* Effect.forever(
        Effect.gen(function*() {
          yield* Effect.sleep(heartbeat)
          echo = yield* Deferred.make<void>()
          yield* confirm.pipe(Effect.orElse(() => Effect.fail("silent")))
        })
      ).pipe(Effect.raceFirst(Fiber.join(stream).pipe(Effect.orElse(() => Effect.void), Effect.zipRight(Effect.fail("ended")))))
    }).pipe(
      Effect.scoped,
      Effect.tapError((reason) =>
        Effect.logWarning("LISTEN connection lost; waiting falls back to polling until it is back").pipe(
          Effect.annotateLogs({ channel, reason: String(reason) })
        )
      ),
      Effect.retry(Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.union(Schedule.spaced("5 seconds")))),
      Effect.ignore
    )

    const start = lock.withPermits(1)(Effect.gen(function*() {
      waiters++
      if (lingering !== undefined) {
        yield* Fiber.interrupt(lingering)
        lingering = undefined
      }
      if (session === undefined) {
        echo = yield* Deferred.make<void>()
        // Forked from an acquire (uninterruptible): the fiber itself must be interruptible.
        session = yield* Effect.forkIn(Effect.interruptible(listening), scope)
      }
      return echo
    }))

    const stop = lock.withPermits(1)(Effect.gen(function*() {
      waiters--
      if (waiters > 0 || lingering !== undefined) return
      // Interruptible as a whole (forked from a release): a waiter arriving
      // while it waits for the lock interrupts it.
      lingering = yield* Effect.forkIn(
        Effect.interruptible(Effect.zipRight(
          Effect.sleep(linger),
          lock.withPermits(1)(Effect.uninterruptible(Effect.suspend(() => {
            lingering = undefined
            if (waiters > 0 || session === undefined) return Effect.void
            const ending = session
            session = undefined
            return Fiber.interrupt(ending)
          })))
        )),
        scope
      )
    }))

    // Subscribed to the hub before LISTEN is confirmed: nothing announced after the caller's next read is missed.
    const subscribe = Effect.flatMap(PubSub.subscribe(hub), (dequeue) =>
      Effect.acquireRelease(start, () => stop).pipe(
        Effect.flatMap((confirmed) => Effect.timeoutOption(Deferred.await(confirmed), listenTimeout)),
        Effect.as(dequeue)
      ))

    yield* Scope.addFinalizer(scope, Effect.suspend(() => session === undefined ? Effect.void : Fiber.interrupt(session)))
    return { subscribe }
  })
