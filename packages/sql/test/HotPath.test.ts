import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Tracer from "effect/Tracer"
import * as Reactivity from "@effect/experimental/Reactivity"
import * as path from "node:path"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as SqliteConnection from "../src/internal/sqliteClient.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import { dropSchema, pgQuery, pgUrl, removeDir, suffix, tempDir } from "./helpers.js"

const dir = tempDir("hot")
const schema = `tm_hot_${suffix()}`
const app = `tm_hot_${suffix()}`
afterAll(async () => {
  removeDir(dir)
  await dropSchema(schema)
})

/** A clock that always reads `millis`. */
const fixedClock = (millis: number): Clock.Clock => ({
  ...Clock.make(),
  currentTimeMillis: Effect.succeed(millis),
  unsafeCurrentTimeMillis: () => millis,
  currentTimeNanos: Effect.succeed(BigInt(millis) * 1_000_000n),
  unsafeCurrentTimeNanos: () => BigInt(millis) * 1_000_000n
})

/** The backend for a dialect: a SQLite file in the test directory, or the test schema on PostgreSQL. */
const layerFor = (dialect: "sqlite" | "postgres", file: string) =>
  dialect === "sqlite"
    ? SqliteBackend.layer({ filename: path.join(dir, file) })
    : PgBackend.layer({ url: pgUrl, tables: { schema }, listen: false })

describe("the hot statements' direct path", () => {
  it.live("SQLite: a write while another fiber's transaction holds the connection waits for it and is not rolled back with it", () =>
    Effect.gen(function*() {
      const opened = yield* SqliteConnection.make({ filename: path.join(dir, "tx.sqlite") })
      const sql = opened.client
      const backend = yield* SqlBackend.make({}, opened.executor).pipe(Effect.provideService(SqlClient.SqlClient, sql))
      const transaction = yield* Effect.fork(sql.withTransaction(
        Effect.gen(function*() {
          yield* sql.unsafe(`INSERT INTO celery_taskmeta (task_id, status) VALUES ('inside', 'STARTED')`)
          yield* Effect.sleep("150 millis")
          return yield* Effect.fail("roll back")
        })
      ))
      yield* Effect.sleep("30 millis")
      expect(opened.db.inTransaction).toBe(true)
      const stored = yield* Effect.fork(backend.store("outside", { n: 1 }, "SUCCESS"))
      const read = yield* Effect.fork(backend.get("inside"))
      const exit = yield* Fiber.await(transaction)
      expect(Exit.isFailure(exit)).toBe(true)
      expect((yield* Fiber.join(stored))._tag).toBe("Stored")
      // The read waited for the transaction too: it never saw its uncommitted row.
      expect((yield* Fiber.join(read)).status).toBe("PENDING")
      expect((yield* backend.get("outside")).result).toEqual({ n: 1 })
      expect((yield* backend.get("inside")).status).toBe("PENDING")
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 20_000)

  it.live("SQLite: lone writes and reads run at once; concurrent writers still share statements; SUCCESS stays final", () =>
    Effect.gen(function*() {
      const opened = yield* SqliteConnection.make({ filename: path.join(dir, "immediate.sqlite") })
      const counts = { run: 0, firstNow: 0, changeNow: 0 }
      const executor = {
        run: (text: string, params: ReadonlyArray<unknown>) => {
          counts.run++
          return opened.executor.run(text, params)
        },
        firstNow: (text: string, param: unknown) => {
          counts.firstNow++
          return opened.executor.firstNow!(text, param)
        },
        changeNow: (text: string, params: ReadonlyArray<unknown>) => {
          counts.changeNow++
          return opened.executor.changeNow!(text, params)
        }
      }
      const backend = yield* SqlBackend.make({}, executor).pipe(
        Effect.provideService(SqlClient.SqlClient, opened.client)
      )
      // One writer at a time: after a few single-write statements, writes run at once.
      for (let i = 0; i < 100; i++) yield* backend.store(`one-${i}`, { i }, "SUCCESS")
      expect(counts.changeNow).toBeGreaterThan(80)
      for (let i = 0; i < 100; i++) expect((yield* backend.get(`one-${i}`)).result).toEqual({ i })
      expect(counts.firstNow).toBe(100)
      // The immediate path stamps dateDone from the fiber's clock, and refuses a clock outside years 1–9999.
      const pinned = Date.UTC(2031, 4, 6, 7, 8, 9, 123)
      const changes = counts.changeNow
      // Two writes: one in 16 takes the queue (the probe); at least one of these runs at once.
      for (const id of ["clocked-a", "clocked-b"]) {
        const stamped = yield* backend.store(id, 1, "SUCCESS").pipe(Effect.withClock(fixedClock(pinned)))
        expect(stamped._tag === "Stored" && DateTime.toEpochMillis(stamped.record.dateDone!)).toBe(pinned)
        expect(DateTime.toEpochMillis((yield* backend.get(id)).dateDone!)).toBe(pinned)
      }
      expect(counts.changeNow).toBeGreaterThan(changes)
      const tooLate = yield* Effect.flip(
        backend.store("too-late", 1, "SUCCESS").pipe(Effect.withClock(fixedClock(Date.UTC(10000, 0, 1))))
      )
      expect(tooLate._tag).toBe("InvalidInput")
      expect((yield* backend.get("too-late")).status).toBe("PENDING")
      // SUCCESS is final on the immediate path too.
      const again = yield* backend.store("one-1", "late", "FAILURE")
      expect(again._tag).toBe("Ignored")
      expect((yield* backend.get("one-1")).status).toBe("SUCCESS")
      // 64 writers at once: the probing write lets them queue, and they share statements again.
      const before = { ...counts }
      yield* Effect.forEach(Array.from({ length: 640 }, (_, i) => i), (i) => backend.store(`many-${i}`, { i }, "SUCCESS"), {
        concurrency: 64,
        discard: true
      })
      const statements = counts.run - before.run + counts.changeNow - before.changeNow
      expect(statements).toBeLessThan(100)
      const read = yield* backend.getMany(Array.from({ length: 640 }, (_, i) => `many-${i}`))
      expect(read.every((r, i) => r.status === "SUCCESS" && (r.result as { i: number }).i === i)).toBe(true)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 20_000)

  it.live("SQLite: a statement whose table is missing fails, and works again once the table is back", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "renamed.sqlite")
      const opened = yield* SqliteConnection.make({ filename })
      const backend = yield* SqlBackend.make({}, opened.executor).pipe(
        Effect.provideService(SqlClient.SqlClient, opened.client)
      )
      yield* backend.store("a", 1, "SUCCESS")
      opened.db.exec(`ALTER TABLE celery_taskmeta RENAME TO away`)
      const failed = yield* Effect.exit(backend.get("a"))
      expect(Exit.isFailure(failed)).toBe(true)
      opened.db.exec(`ALTER TABLE away RENAME TO celery_taskmeta`)
      expect((yield* backend.get("a")).result).toBe(1)
    }).pipe(Effect.scoped, Effect.provide(Reactivity.layer)), 20_000)

  for (const dialect of ["sqlite", "postgres"] as const) {
    it.live(`${dialect}: writers interrupted at random points never stall the writes after them`, () =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        // 64 writers at a time, each interrupted after a random number of scheduler turns.
        yield* Effect.forEach(Array.from({ length: 1500 }, (_, i) => i), (i) =>
          Effect.gen(function*() {
            const fiber = yield* Effect.fork(backend.store(`int-${i}`, { i }, "SUCCESS"))
            for (let k = (i * 7919) % 6; k > 0; k--) yield* Effect.yieldNow()
            yield* Fiber.interrupt(fiber)
          }), { concurrency: 64, discard: true })
        const after = yield* backend.store("after-interrupts", 1, "SUCCESS").pipe(Effect.timeout("5 seconds"))
        expect(after._tag).toBe("Stored")
        const many = yield* Effect.forEach(Array.from({ length: 200 }, (_, i) => i), (i) =>
          backend.store(`after-${i}`, i, "SUCCESS"), { concurrency: 64 }).pipe(Effect.timeout("10 seconds"))
        expect(many.every((o) => o._tag === "Stored")).toBe(true)
      }).pipe(
        Effect.provide(layerFor(dialect, "interrupts.sqlite"))
      ), 60_000)
  }

  for (const dialect of ["sqlite", "postgres"] as const) {
    it.live(`${dialect}: a record stamped in year 50 reads back in year 50, not 1950`, () =>
      Effect.gen(function*() {
        const backend = yield* ResultBackend.ResultBackend
        const date = new Date(0)
        date.setUTCFullYear(50, 5, 1)
        date.setUTCHours(12, 30, 15, 250)
        const at = date.getTime()
        yield* backend.store("year-50", 1, "SUCCESS").pipe(Effect.withClock(fixedClock(at)))
        const record = yield* backend.get("year-50")
        expect(record.dateDone === null ? null : DateTime.toEpochMillis(record.dateDone)).toBe(at)
      }).pipe(
        Effect.provide(layerFor(dialect, "year50.sqlite"))
      ), 30_000)
  }

  it.live("spans are recorded when a tracer is installed, and skipped with the built-in one", () =>
    Effect.gen(function*() {
      const names: Array<string> = []
      const tracer = Tracer.make({
        span: (name, parent, context, links, startTime, kind) => {
          names.push(name)
          return Effect.runSync(Effect.tracer).span(name, parent, context, links, startTime, kind)
        },
        context: (f) => f()
      })
      const backend = yield* ResultBackend.ResultBackend
      yield* backend.store("traced", 1, "SUCCESS").pipe(Effect.withTracer(tracer))
      yield* backend.get("traced").pipe(Effect.withTracer(tracer))
      expect(names).toContain("ResultBackend.store")
      expect(names).toContain("ResultBackend.get")
      expect(names).toContain("sql.execute")
      const before = names.length
      yield* backend.get("traced")
      expect(names.length).toBe(before)
    }).pipe(Effect.provide(SqliteBackend.layer({ filename: path.join(dir, "traced.sqlite") }))), 20_000)

  it.live("PostgreSQL: LISTEN only while someone waits (and a second after), UNLISTEN after", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      const lastQuery = Effect.promise(() =>
        pgQuery(`SELECT query FROM pg_stat_activity WHERE application_name = $1`, [`${app}-listen`])
      ).pipe(Effect.map((r) => (r.rows.length === 1 ? String(r.rows[0].query) : `${r.rows.length} sessions`)))
      expect(yield* lastQuery).not.toMatch(/LISTEN/)
      yield* backend.store("quiet", 1, "SUCCESS")
      expect(yield* lastQuery).not.toMatch(/LISTEN/)
      const waiter = yield* Effect.fork(backend.waitFor("awaited", { timeout: "5 seconds" }))
      yield* Effect.sleep("200 millis")
      expect(yield* lastQuery).toMatch(/^LISTEN /)
      const started = Date.now()
      yield* backend.store("awaited", 2, "SUCCESS")
      expect((yield* Fiber.join(waiter)).result).toBe(2)
      expect(Date.now() - started).toBeLessThan(1000)
      yield* Effect.sleep("1500 millis")
      expect(yield* lastQuery).toMatch(/^UNLISTEN /)
      // and a later waiter listens again
      const again = yield* Effect.fork(backend.waitFor("again", { timeout: "5 seconds" }))
      yield* Effect.sleep("200 millis")
      expect(yield* lastQuery).toMatch(/^LISTEN /)
      yield* backend.store("again", 3, "SUCCESS")
      expect((yield* Fiber.join(again)).result).toBe(3)
    }).pipe(
      Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, applicationName: app, pollInterval: "20 seconds" }))
    ), 30_000)

  it.live("PostgreSQL with prepare: false (a pooler that cannot keep prepared statements) reads and writes the same", () =>
    Effect.gen(function*() {
      const backend = yield* ResultBackend.ResultBackend
      yield* Effect.forEach(Array.from({ length: 50 }, (_, i) => i), (i) => backend.store(`unprepared-${i}`, { i }, "SUCCESS"), {
        concurrency: 16
      })
      const records = yield* backend.getMany(Array.from({ length: 50 }, (_, i) => `unprepared-${i}`))
      expect(records.map((r) => r.result)).toEqual(Array.from({ length: 50 }, (_, i) => ({ i })))
    }).pipe(Effect.provide(PgBackend.layer({ url: pgUrl, tables: { schema }, prepare: false, listen: false }))), 30_000)
})

