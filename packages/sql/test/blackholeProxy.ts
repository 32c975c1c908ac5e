/**
 * A TCP proxy in front of a database server that can stop forwarding while
 * keeping every socket open: the dead peer of a hung server, a stateful
 * firewall or a half-dead NAT (PgBlackhole, MysqlBlackhole).
 */
import * as Effect from "effect/Effect"
import * as net from "node:net"

export interface Proxy {
  readonly port: number
  /** Every connection, open or new, stops forwarding; sockets stay open and their bytes are swallowed. */
  readonly blackhole: () => void
  /** New connections forward again; the blackholed ones stay dead, as half-dead connections do. */
  readonly healNew: () => void
  readonly swallowed: () => number
}

export const blackholeProxy = (host: string, port: number) =>
  Effect.acquireRelease(
    Effect.async<Proxy & { readonly close: () => void }>((resume) => {
      let dead = false
      let swallowed = 0
      const open: Array<{ readonly client: net.Socket; upstream: net.Socket | undefined }> = []
      const swallow = (socket: net.Socket) => {
        socket.removeAllListeners("data")
        socket.on("data", (chunk: Buffer) => (swallowed += chunk.length))
        socket.resume()
      }
      const server = net.createServer((client) => {
        client.on("error", () => {})
        const pair: { readonly client: net.Socket; upstream: net.Socket | undefined } = { client, upstream: undefined }
        open.push(pair)
        if (dead) return swallow(client)
        const upstream = net.connect(port, host)
        upstream.on("error", () => client.destroy())
        pair.upstream = upstream
        client.on("data", (chunk: Buffer) => upstream.write(chunk))
        upstream.on("data", (chunk: Buffer) => client.write(chunk))
        client.on("close", () => upstream.destroy())
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as net.AddressInfo).port,
          blackhole: () => {
            dead = true
            for (const { client, upstream } of open) {
              swallow(client)
              if (upstream !== undefined) swallow(upstream)
            }
          },
          healNew: () => {
            dead = false
          },
          swallowed: () => swallowed,
          close: () => {
            for (const { client, upstream } of open) {
              client.destroy()
              upstream?.destroy()
            }
            server.close()
          }
        })))
    }),
    (p) => Effect.sync(() => p.close())
  )
