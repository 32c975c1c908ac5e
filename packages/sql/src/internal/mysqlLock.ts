/**
 * Waiting for a MySQL / MariaDB named lock (`GET_LOCK`) in short waits: a
 * connection waiting inside `GET_LOCK` sends nothing back, and the
 * client-side statement timeout would drop it as a dead peer if one wait
 * outlasted it.
 *
 * @internal
 */
import * as Effect from "effect/Effect"

/** Seconds per `GET_LOCK` wait: under any sensible statement timeout. */
export const MYSQL_LOCK_STEP = 1

/** How long, in all, a migration waits for another process's run to end (seconds). */
export const MYSQL_LOCK_WAIT = 120

/**
 * Calls `tryLock(seconds)` (a `GET_LOCK(name, seconds)`: whether the lock was
 * taken) until it takes the lock or `total` seconds of waits have passed.
 */
export const waitForMysqlLock = <E, R>(
  tryLock: (seconds: number) => Effect.Effect<boolean, E, R>,
  total: number = MYSQL_LOCK_WAIT
): Effect.Effect<boolean, E, R> => {
  const attempt = (left: number): Effect.Effect<boolean, E, R> =>
    left <= 0
      ? Effect.succeed(false)
      : Effect.flatMap(
        tryLock(Math.min(MYSQL_LOCK_STEP, left)),
        (locked) => locked ? Effect.succeed(true) : attempt(left - MYSQL_LOCK_STEP)
      )
  return attempt(total)
}
