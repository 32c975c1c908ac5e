/**
 * One LISTEN connection per backend instance, feeding a hub that waiters
 * subscribe to. A lost connection is logged and re-established with capped
 * backoff; meanwhile waiters fall back to polling.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import type * as Pg from "pg"

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

export const make = (
  connect: () => Pg.Client,
  channel: string
): Effect.Effect<{ readonly hub: PubSub.PubSub<string>; readonly ready: Effect.Effect<void> }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const hub = yield* Effect.acquireRelease(PubSub.unbounded<string>(), PubSub.shutdown)
    const inbox = yield* Effect.acquireRelease(Queue.unbounded<string>(), Queue.shutdown)
    const listening = yield* Deferred.make<void>()
    yield* Queue.takeBetween(inbox, 1, 4096).pipe(
      Effect.flatMap((ids) => PubSub.publishAll(hub, ids)),
      Effect.forever,
      Effect.forkScoped
    )

    const session = Effect.acquireUseRelease(
      Effect.tryPromise({
        try: async () => {
          const client = connect()
          client.on("error", noop)
          try {
            await client.connect()
            await client.query(`LISTEN "${channel}"`)
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
          Deferred.succeed(listening, undefined),
          Effect.async<never, unknown>((resume) => {
            client.on("notification", (message) => {
              if (message.channel === channel && message.payload) {
                for (const id of payloadIds(message.payload)) inbox.unsafeOffer(id)
              }
            })
            client.once("error", (cause) => resume(Effect.fail(cause)))
            client.once("end", () => resume(Effect.fail(new Error("the LISTEN connection ended"))))
          })
        ),
      (client) =>
        Effect.promise(() => client.end().catch(noop)).pipe(Effect.timeoutOption("1 second"), Effect.asVoid)
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
    return { hub, ready: Deferred.await(listening) }
  })
