/**
 * Startup is retried (issue 14, finding 6): a connection that the server end
 * drops while the layer starts is a transient failure, retried by the
 * backend's policy; when every attempt fails, the layer fails with a
 * `SetupError` that keeps the cause.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Logger from "effect/Logger"
import * as LogLevel from "effect/LogLevel"
import * as Redacted from "effect/Redacted"
import * as net from "node:net"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, PG_URL, suffix } from "./helpers.js"

const schema = `tm_start_${suffix()}`
afterAll(() => dropSchema(schema))

const target = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))

/** A proxy to PostgreSQL that drops its first `drop` connections at once. */
const dropping = (drop: number) =>
  Effect.acquireRelease(
    Effect.async<{ readonly port: number; readonly server: net.Server; readonly dropped: () => number }>((resume) => {
      let seen = 0
      const server = net.createServer((socket) => {
        if (seen++ < drop) return socket.destroy()
        const upstream = net.connect(Number(target.port || 5432), target.hostname)
        socket.pipe(upstream).pipe(socket)
        socket.on("error", () => upstream.destroy())
        upstream.on("error", () => socket.destroy())
      })
      server.listen(0, "127.0.0.1", () =>
        resume(Effect.succeed({
          port: (server.address() as net.AddressInfo).port,
          server,
          dropped: () => Math.min(seen, drop)
        })))
    }),
    ({ server }) => Effect.sync(() => server.close())
  )

const urlThrough = (port: number) => {
  const url = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))
  url.port = String(port)
  url.hostname = "127.0.0.1"
  return Redacted.make(`postgresql:${url.href.slice("http:".length)}`)
}

const retry = { maxRetries: 3, baseSleep: Duration.millis(5), maxSleep: Duration.millis(20) }

describe("PostgreSQL startup", () => {
  it.live("two dropped connections while starting are retried, and the backend works", () =>
    Effect.gen(function*() {
      const proxy = yield* dropping(2)
      const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (backend) =>
        Effect.zipRight(backend.store("started", 1, "SUCCESS"), backend.get("started"))).pipe(
          Effect.provide(PgBackend.layer({ url: urlThrough(proxy.port), tables: { schema }, poolSize: 2, listen: false, retry }))
        )
      expect(record.status).toBe("SUCCESS")
      expect(proxy.dropped()).toBe(2)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 30_000)

  it.live("when every attempt is dropped, the layer fails with a SetupError that keeps the cause", () =>
    Effect.gen(function*() {
      const proxy = yield* dropping(1_000)
      const error = yield* Effect.flip(
        Effect.provide(ResultBackend.ResultBackend, PgBackend.layer({ url: urlThrough(proxy.port), listen: false, retry }))
      )
      expect(error._tag).toBe("SetupError")
      expect(error.message).toContain("cannot connect to PostgreSQL")
      expect(error.cause).toBeDefined()
      // The first attempt and its 3 retries.
      expect(proxy.dropped()).toBe(4)
    }).pipe(Effect.scoped, Logger.withMinimumLogLevel(LogLevel.Error)), 30_000)
})
