/**
 * A client-side statement timeout for node-postgres and mysql2, at the
 * socket: the `stream` a `PgClient` or a `MysqlClient`'s pool opens its
 * connections with. A connection that has sent something and heard nothing
 * back for `ms` is destroyed with an `ETIMEDOUT` error. The driver then
 * fails the statement on it, the pool drops the connection, and the failure
 * is a lost connection, which the retry policy retries on a fresh one.
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

/** A socket, not yet connected, that is destroyed when `peer` leaves something it was sent unanswered for `ms`. */
const watchedSocket = (ms: number, peer: string): Net.Socket => {
  const socket = new Net.Socket()
  let timer: ReturnType<typeof setTimeout> | undefined
  const fire = () => {
    timer = undefined
    const error = new Error(`no answer from ${peer} within ${ms} ms (statement timeout); the connection is dropped`)
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
  // watch goes on again when it connects (this listener runs before the
  // driver's, which sends the first message). Listening to "data" before the
  // driver does would start the flow early.
  socket.once("connect", () => {
    socket.write = watchedWrite
    socket.prependListener("data", answered)
  })
  socket.once("close", answered)
  return socket
}

/** node-postgres's `stream`: it connects the socket itself. */
export const answerTimeoutStream = (ms: number): () => Duplex => () => watchedSocket(ms, "PostgreSQL")

/** What mysql2 hands a `stream` factory: the connection's options. */
export interface MysqlStreamOptions {
  readonly config: {
    readonly host?: string | undefined
    readonly port?: number | undefined
    readonly socketPath?: string | undefined
    readonly enableKeepAlive?: boolean | undefined
    readonly keepAliveInitialDelay?: number | undefined
  }
}

/**
 * mysql2's `stream`: mysql2 uses the socket as it is returned, so this
 * connects it the way mysql2 connects its own (a Unix socket or host and
 * port, `TCP_NODELAY`, keep-alive unless turned off).
 */
export const mysqlAnswerTimeoutStream = (ms: number) => (options: MysqlStreamOptions): Duplex => {
  const socket = watchedSocket(ms, "MySQL")
  const config = options.config
  if (config.socketPath !== undefined && config.socketPath !== "") return socket.connect(config.socketPath)
  socket.connect(config.port ?? 3306, config.host ?? "localhost")
  socket.setNoDelay(true)
  if (config.enableKeepAlive !== false) {
    socket.once("connect", () => socket.setKeepAlive(true, config.keepAliveInitialDelay))
  }
  return socket
}
