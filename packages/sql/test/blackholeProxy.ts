/**
 * A TCP proxy in front of a database server that can stop forwarding while
 * keeping every socket open: the dead peer of a hung server, a stateful
 * firewall or a half-dead NAT (PgBlackhole, MysqlBlackhole), and what both
 * run through it.
 */
import { expect } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as net from "node:net"
import type * as ResultBackend from "@taskmeta/core/ResultBackend"

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

/**
 * Stores through `backend` (built over `proxy`, a 1 s statement timeout, a
 * 1 s connect timeout and a few retries) while the peer dies: 20 stores on a
 * healthy start; 10 while it goes silent and new connections forward again
 * 300 ms later (each dropped statement is retried on a new connection and
 * succeeds); 3 after it goes silent for good (each a `StoreError` whose
 * message matches `lostMessage`). Returns the ids acknowledged, for the
 * caller to find on the server.
 */
export const storeThroughDeath = (backend: ResultBackend.Service, proxy: Proxy, lostMessage: RegExp) =>
  Effect.gen(function*() {
    const acknowledged: Array<string> = []
    const store = (id: string) =>
      Effect.either(backend.store(id, { id }, "SUCCESS")).pipe(
        Effect.tap((outcome) => Effect.sync(() => Either.isRight(outcome) && acknowledged.push(id)))
      )
    const ids = (label: string, n: number) => Array.from({ length: n }, (_, i) => `${label}-${i}`)

    // 1. a healthy start: the pool's connections in use, lone and multi-row statements
    const before = yield* Effect.forEach(ids("ok", 20), store, { concurrency: 8 })
    expect(before.filter(Either.isLeft)).toEqual([])

    // 2. the peer goes silent mid-stream; new connections forward again a little later
    proxy.blackhole()
    const during = yield* Effect.fork(Effect.forEach(ids("gap", 10), store, { concurrency: 4 }))
    yield* Effect.sleep("300 millis")
    proxy.healNew()
    const recovered = yield* Fiber.join(during)
    // each statement on a dead connection was dropped after 1 s and retried on a new one
    expect(recovered.filter(Either.isRight)).toHaveLength(10)
    expect(proxy.swallowed()).toBeGreaterThan(0)

    // 3. the peer goes silent for good: every store ends with a typed error
    proxy.blackhole()
    const lost = yield* Effect.forEach(ids("lost", 3), store, { concurrency: 3 })
    expect(lost.filter(Either.isLeft)).toHaveLength(3)
    for (const outcome of lost) {
      if (Either.isLeft(outcome)) {
        expect(outcome.left._tag).toBe("StoreError")
        expect(outcome.left.message).toMatch(lostMessage)
      }
    }
    expect(acknowledged).toHaveLength(30)
    return acknowledged
  })
