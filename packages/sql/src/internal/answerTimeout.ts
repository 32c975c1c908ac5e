/**
 * A client-side statement timeout for node-postgres, at the socket: the
 * `stream` a `PgClient` opens its connections with. A connection that has
 * sent something and heard nothing back for `ms` is destroyed with an
 * `ETIMEDOUT` error. node-postgres then fails the statement on it, the
 * client is not queryable any more so the pool drops it, and the failure is
 * a lost connection, which the retry policy retries on a fresh one.
 *
 * The peer this catches answers nothing but keeps the socket open (a hung
 * server, a proxy or a firewall that stopped forwarding): without it a
 * statement waits forever. An idle connection (the pool's, the LISTEN
 * connection between notifications) has nothing outstanding and is never
 * dropped. Any bytes back count as an answer, so a long statement that
 * streams rows is not cut; one that sends nothing for `ms` is.
 *
 * Under TLS (`ssl`), node wraps the socket's handle and its reads and
 * writes no longer pass here: those connections are not watched.
 *
 * @internal
 */
import * as Net from "node:net"
import type { Duplex } from "node:stream"

export const answerTimeoutStream = (ms: number): () => Duplex => () => {
  const socket = new Net.Socket()
  let timer: ReturnType<typeof setTimeout> | undefined
  const fire = () => {
    timer = undefined
    const error = new Error(`no answer from PostgreSQL within ${ms} ms (statement timeout); the connection is dropped`)
    socket.destroy(Object.assign(error, { code: "ETIMEDOUT" }))
  }
  const write = socket.write
  const watchedWrite = function(this: Net.Socket, ...args: Parameters<Net.Socket["write"]>) {
    if (timer === undefined && !socket.destroyed) {
      timer = setTimeout(fire, ms)
      timer.unref()
    }
    return write.apply(this, args)
  } as Net.Socket["write"]
  const answered = () => {
    if (timer !== undefined) {
      clearTimeout(timer)
      timer = undefined
    }
  }
  // `connect()` puts the prototype's `write` back on the socket, so the
  // watch goes on again when it connects (this listener runs before
  // node-postgres's, which sends the startup message). Listening to "data"
  // before node-postgres does would start the flow early.
  socket.once("connect", () => {
    socket.write = watchedWrite
    socket.prependListener("data", answered)
  })
  socket.once("close", answered)
  return socket
}
