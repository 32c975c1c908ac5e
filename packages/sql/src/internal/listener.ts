/**
 * One LISTEN connection per backend instance, feeding a hub that waiters
 * subscribe to. A lost connection is logged and re-established with capped
 * backoff; meanwhile waiters fall back to polling.
 *
 * The connection stays open, but it LISTENs only while someone waits (and
 * for a second after the last waiter leaves): a listening session costs
 * every committing writer a signal and a wake-up of this connection, which
 * at one write at a time was a third of the write's time.
 *
 * While listening, the session is registered in the `registry` table (its
 * channel and backend pid, in the same transaction as LISTEN); the NOTIFY
 * trigger does nothing while no session is registered for its channel
 * (migration 6). Registering also removes the rows of sessions that no longer
 * exist (a process that died while listening). Without the table (migrations
 * not run), the session just LISTENs.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Pg from "pg"
import * as TableNames from "../TableNames.js"

const noop = () => {}

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
  /** Connected (not necessarily listening): the first connection attempt finished. */
  readonly ready: Effect.Effect<void>
  /**
   * The ids announced from now on, for as long as the scope is open. The
   * session LISTENs before this returns (or after a short wait if the
   * connection is down: the waiter polls meanwhile).
   */
  readonly subscribe: Effect.Effect<Queue.Dequeue<string>, never, Scope.Scope>
}

export interface Options {
  /** How long the session keeps listening after the last waiter left. Default 1 s. */
  readonly lingerMillis?: number | undefined
  /** How long a new waiter waits for LISTEN to be acknowledged. Default 500 ms. */
  readonly listenTimeoutMillis?: number | undefined
  /** The table listening sessions register in (`SqlMigrations.listenersTable`). */
  readonly registry?: string | undefined
}

export const make = (
  connect: () => Pg.Client,
  channel: string,
  options: Options = {}
): Effect.Effect<Listener, never, Scope.Scope> =>
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<string>(), PubSub.shutdown)
    const inbox = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
    const connected = yield* Deferred.make<void>()
    yield* Queue.takeBetween(inbox, 1, 4096).pipe(
      Effect.flatMap((ids) => PubSub.publishAll(hub, ids)),
      Effect.forever,
      Effect.forkScoped
    )

    const linger = options.lingerMillis ?? 1000
    const listenTimeout = options.listenTimeoutMillis ?? 500
    let current: Pg.Client | undefined
    let listening: Promise<void> | undefined
    let waiters = 0
    let lingerTimer: ReturnType<typeof setTimeout> | undefined

    // One simple-protocol query each, so LISTEN and the registration commit together.
    let registry = options.registry
    const listenText = () =>
      registry === undefined ? `LISTEN "${channel}"` : `LISTEN "${channel}"; ` +
        `DELETE FROM ${registry} WHERE channel = ${TableNames.literal(channel)} AND pid NOT IN (SELECT pid FROM pg_stat_activity); ` +
        `INSERT INTO ${registry} (channel, pid) VALUES (${TableNames.literal(channel)}, pg_backend_pid()) ON CONFLICT DO NOTHING`
    const unlistenText = () =>
      registry === undefined ? `UNLISTEN "${channel}"` : `UNLISTEN "${channel}"; ` +
        `DELETE FROM ${registry} WHERE channel = ${TableNames.literal(channel)} AND pid = pg_backend_pid()`

    /** LISTEN on the current connection unless already; the acknowledgement. */
    const listen = (): Promise<void> | undefined => {
      const client = current
      if (client === undefined) return undefined
      if (listening === undefined) {
        const pending: Promise<void> = client.query(listenText()).then(
          () => undefined,
          (error: { code?: string }) => {
            if (error?.code === "42P01" && registry !== undefined && current === client) {
              // No registry table (the migrations were not run): plain LISTEN.
              registry = undefined
              return client.query(listenText()).then(() => undefined, () => {
                if (listening === pending) listening = undefined
              })
            }
            // The connection is failing; the session reconnects and listens again.
            if (listening === pending) listening = undefined
          }
        )
        listening = pending
      }
      return listening
    }
    const unlisten = () => {
      lingerTimer = undefined
      if (waiters > 0 || current === undefined || listening === undefined) return
      listening = undefined
      current.query(unlistenText()).catch(noop)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => lingerTimer !== undefined && clearTimeout(lingerTimer)))

    const session = Effect.acquireUseRelease(
      Effect.tryPromise({
        try: async () => {
          const client = connect()
          client.on("error", noop)
          try {
            await client.connect()
          } catch (e) {
            client.end().catch(noop)
            throw e
          }
          return client
        },
        catch: (cause) => cause
      }),
      (client) =>
        Effect.zipRight(
          Effect.sync(() => {
            current = client
            listening = undefined
            if (waiters > 0) listen()
          }),
          Effect.zipRight(
            Deferred.succeed(connected, undefined),
            Effect.async<never, unknown>((resume) => {
              client.on("notification", (message) => {
                if (message.channel === channel && message.payload) {
                  for (const id of payloadIds(message.payload)) inbox.unsafeOffer(id)
                }
              })
              client.once("error", (cause) => resume(Effect.fail(cause)))
              client.once("end", () => resume(Effect.fail(new Error("the LISTEN connection ended"))))
            })
          )
        ),
      (client) =>
        Effect.suspend(() => {
          if (current === client) {
            current = undefined
            listening = undefined
          }
          return Effect.promise(() => client.end().catch(noop)).pipe(Effect.timeoutOption("1 second"), Effect.asVoid)
        })
    )

    yield* session.pipe(
      Effect.tapError((cause) =>
        Effect.logWarning("LISTEN connection lost; waiting falls back to polling until it is back").pipe(
          Effect.annotateLogs({ channel, error: cause instanceof Error ? cause.message : String(cause) })
        )
      ),
      Effect.retry(
        Schedule.exponential("50 millis").pipe(Schedule.jittered, Schedule.union(Schedule.spaced("5 seconds")))
      ),
      Effect.interruptible,
      Effect.forkScoped
    )

    const waiting = Effect.acquireRelease(
      Effect.sync(() => {
        waiters++
        if (lingerTimer !== undefined) {
          clearTimeout(lingerTimer)
          lingerTimer = undefined
        }
        return listen()
      }),
      () =>
        Effect.sync(() => {
          waiters--
          if (waiters === 0 && lingerTimer === undefined) {
            lingerTimer = setTimeout(unlisten, linger)
            lingerTimer.unref?.()
          }
        })
    )
    // Subscribed to the hub before LISTEN is acknowledged: nothing announced after the caller's next read is missed.
    const subscribe = Effect.flatMap(PubSub.subscribe(hub), (dequeue) =>
      Effect.flatMap(waiting, (acknowledged) =>
        acknowledged === undefined
          ? Effect.succeed(dequeue)
          : Effect.as(Effect.timeoutOption(Effect.promise(() => acknowledged), listenTimeout), dequeue)))

    return { ready: Deferred.await(connected), subscribe }
  })
