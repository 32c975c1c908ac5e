import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import * as Pg from "pg"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlMigrations from "../src/SqlMigrations.js"
import * as TableNames from "../src/TableNames.js"
import { dropSchema, PG_URL, pgQuery, pgUrl, suffix } from "./helpers.js"

const schema = `tm_registry_${suffix()}`
afterAll(() => dropSchema(schema))
const channel = SqlMigrations.channel(Either.getOrThrow(TableNames.make({ schema })))
const registry = `"${schema}".taskmeta_listeners`

/** A plain session LISTENing on the channel without registering: it hears only what the trigger sends. */
const eavesdrop = Effect.acquireRelease(
  Effect.promise(async () => {
    const client = new Pg.Client({ connectionString: PG_URL })
    await client.connect()
    const heard: Array<string> = []
    client.on("notification", (message) => heard.push(message.payload ?? ""))
    await client.query(`LISTEN "${channel}"`)
    return { client, heard }
  }),
  ({ client }) => Effect.promise(() => client.end())
).pipe(Effect.map(({ heard }) => heard))

// A poll interval of a minute: only a NOTIFY wakes a waiter within the tests' bounds.
const withBackend = <A, E>(effect: Effect.Effect<A, E, ResultBackend.ResultBackend | Scope.Scope>) =>
  effect.pipe(
    Effect.scoped,
    Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, pollInterval: "60 seconds" }))
  )

const registered = Effect.promise(() => pgQuery(`SELECT pid FROM ${registry} WHERE channel = $1`, [channel])).pipe(
  Effect.map((r) => r.rows.map((row) => Number(row.pid)))
)

describe("PostgreSQL: the NOTIFY trigger works only while someone listens", () => {
  it.live("no registered listener, no NOTIFY; a waiter registers, is woken, and unregisters after the linger", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const heard = yield* eavesdrop
      expect(yield* registered).toEqual([])
      yield* backend.store("unheard", 1, "SUCCESS")
      yield* Effect.sleep("300 millis")
      expect(heard).toEqual([])

      const waiter = yield* Effect.fork(backend.waitFor("heard", { timeout: "5 seconds" }))
      yield* Effect.sleep("200 millis")
      expect((yield* registered).length).toBe(1)
      const started = Date.now()
      yield* backend.store("heard", 2, "SUCCESS")
      expect((yield* Fiber.join(waiter)).result).toBe(2)
      // pollInterval is a minute: only the NOTIFY can have woken it.
      expect(Date.now() - started).toBeLessThan(1000)
      yield* Effect.sleep("100 millis")
      expect(heard).toEqual([JSON.stringify(["heard"])])

      yield* Effect.sleep("1500 millis")
      expect(yield* registered).toEqual([])
      yield* backend.store("unheard-again", 3, "SUCCESS")
      yield* Effect.sleep("300 millis")
      expect(heard).toEqual([JSON.stringify(["heard"])])
    }).pipe(withBackend), 30_000)

  it.live("a registration left by a dead session keeps NOTIFY on until the next listener clears it", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const heard = yield* eavesdrop
      // A pid no live session has (pids are far below 2^31).
      yield* Effect.promise(() => pgQuery(`INSERT INTO ${registry} (channel, pid) VALUES ($1, 2147483000)`, [channel]))
      yield* backend.store("stale", 1, "SUCCESS")
      yield* Effect.sleep("300 millis")
      expect(heard).toEqual([JSON.stringify(["stale"])])
      const waiter = yield* Effect.fork(backend.waitFor("cleared", { timeout: "5 seconds" }))
      yield* Effect.sleep("200 millis")
      expect(yield* registered).not.toContain(2147483000)
      yield* backend.store("cleared", 2, "SUCCESS")
      expect((yield* Fiber.join(waiter)).result).toBe(2)
    }).pipe(withBackend), 30_000)

  it.live("without the registry table, writes still work, the trigger notifies as before and waiters still wake", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const heard = yield* eavesdrop
      yield* Effect.promise(() => pgQuery(`DROP TABLE ${registry}`))
      yield* backend.store("no-registry", 1, "SUCCESS")
      yield* Effect.sleep("300 millis")
      expect(heard).toEqual([JSON.stringify(["no-registry"])])
      const waiter = yield* Effect.fork(backend.waitFor("woken", { timeout: "5 seconds" }))
      yield* Effect.sleep("200 millis")
      const started = Date.now()
      yield* backend.store("woken", 2, "SUCCESS")
      expect((yield* Fiber.join(waiter)).result).toBe(2)
      expect(Date.now() - started).toBeLessThan(1000)
    }).pipe(withBackend), 30_000)
})
