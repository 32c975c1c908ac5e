import { describe, expect, it } from "@effect/vitest"
import * as DateTime from "effect/DateTime"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import { SqlError } from "@effect/sql/SqlError"
import { DriverError } from "@taskmeta/core/BackendError"
import * as Batcher from "../src/internal/batcher.js"
import { isMysqlTransient, isPgTransient, isSqliteTransient } from "../src/internal/classify.js"
import * as ResultCodec from "@taskmeta/celery/ResultCodec"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as TableNames from "../src/TableNames.js"
import { dropMysqlDatabase, freshMysqlDatabase, mysqlUrlFor } from "./helpers.js"

describe("TableNames", () => {
  it("accepts identifiers and fills in Celery's defaults", () => {
    expect(TableNames.make({ schema: "results" })).toEqual(
      Either.right({ schema: "results", tasks: "celery_taskmeta", groups: "celery_tasksetmeta" })
    )
  })
  it("rejects anything that is not a plain identifier", () => {
    for (const bad of ["x; DROP TABLE y", "a\"b", "1abc", "", "a".repeat(64), "tâche"]) {
      expect(Either.isLeft(TableNames.make({ tasks: bad }))).toBe(true)
    }
    expect(Either.isLeft(TableNames.make({ tasks: "same", groups: "same" }))).toBe(true)
  })
  it("derives short unique names for long ones", () => {
    const a = TableNames.derive("a".repeat(60), "date_done_idx")
    const b = TableNames.derive("a".repeat(59) + "b", "date_done_idx")
    expect(a.length).toBeLessThanOrEqual(63)
    expect(a).not.toBe(b)
  })
})

describe("PgBackend.config and MysqlBackend.config", () => {
  const read = <A>(config: Effect.Effect<A, unknown>, env: Record<string, string>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(config, ConfigProvider.fromMap(new Map(Object.entries(env))))))
  for (const [name, config] of [["PgBackend", PgBackend.config], ["MysqlBackend", MysqlBackend.config]] as const) {
    it(`${name}: url, tables, pool, statement timeout and encoding from configuration`, () => {
      const full = read(config, {
        url: "db://secret@host/db",
        schema: "results",
        taskTable: "tasks",
        groupTable: "groups",
        poolSize: "4",
        statementTimeout: "5 seconds",
        encoding: "pickle"
      })
      expect(Either.isRight(full)).toBe(true)
      if (Either.isRight(full)) {
        expect(Redacted.value(full.right.url)).toBe("db://secret@host/db")
        expect(full.right.tables).toEqual({ schema: "results", tasks: "tasks", groups: "groups" })
        expect(full.right.poolSize).toBe(4)
        expect(Duration.toMillis(Duration.decode(full.right.statementTimeout!))).toBe(5000)
        expect(full.right.encoding).toBe("pickle")
      }
      const least = read(config, { url: "db://host/db" })
      expect(Either.isRight(least)).toBe(true)
      if (Either.isRight(least)) {
        expect(least.right.poolSize).toBe(10)
        expect(least.right.statementTimeout).toBeUndefined()
        expect(least.right.encoding).toBe("json")
        expect(least.right.tables).toEqual({ schema: undefined, tasks: undefined, groups: undefined })
      }
      expect(Either.isLeft(read(config, {}))).toBe(true)
      expect(Either.isLeft(read(config, { url: "db://host/db", statementTimeout: "soon" }))).toBe(true)
    })
  }
})

describe("ResultCodec", () => {
  it("round-trips JSON with big integers and non-ASCII text; null is SQL NULL", () => {
    const value = { n: 2n ** 64n + 1n, s: "héllo ✓", a: [1, null, true] }
    expect(ResultCodec.decode("result", ResultCodec.encode(value))).toEqual(Either.right(value))
    expect(ResultCodec.encode(null)).toBeNull()
    expect(ResultCodec.decode("result", null)).toEqual(Either.right(null))
  })
  it("recognises a pickle by its first byte and decodes it safely; a bad one is a typed error", () => {
    expect(ResultCodec.decode("result", Buffer.from("80054b2a2e", "hex"))).toEqual(Either.right(42))
    const decoded = ResultCodec.decode("result", Buffer.from("80054b", "hex"))
    expect(Either.isLeft(decoded) && decoded.left._tag === "UndecodableValue" && decoded.left.format === "pickle")
      .toBe(true)
  })
  it("fails on invalid UTF-8 or JSON", () => {
    expect(Either.isLeft(ResultCodec.decode("result", Buffer.from([0xff, 0xfe])))).toBe(true)
    expect(Either.isLeft(ResultCodec.decode("result", Buffer.from("{nope")))).toBe(true)
    // an invalid byte inside an otherwise valid JSON string
    const invalid = Buffer.concat([Buffer.from("\"a"), Buffer.from([0xc3]), Buffer.from("b\"")])
    expect(Either.getLeft(ResultCodec.decode("result", invalid)).pipe(Option.map((e) => e.reason))).toEqual(
      Option.some("invalid UTF-8")
    )
    // a real U+FFFD (valid UTF-8) is kept
    expect(ResultCodec.decode("result", Buffer.from(JSON.stringify("x\uFFFDy")))).toEqual(Either.right("x\uFFFDy"))
  })
})

describe("timestamps", () => {
  it("writes six fraction digits and reads what Celery and PostgreSQL write", () => {
    const t = DateTime.unsafeMake(Date.UTC(2024, 0, 2, 3, 4, 5, 120))
    expect(SqlBackend.formatTimestamp(t)).toBe("2024-01-02 03:04:05.120000")
    for (const text of ["2024-01-02 03:04:05.120000", "2024-01-02 03:04:05.12", "2024-01-02T03:04:05.120Z"]) {
      expect(Option.map(SqlBackend.parseTimestamp(text), DateTime.toEpochMillis)).toEqual(
        Option.some(DateTime.toEpochMillis(t))
      )
    }
    expect(Option.isNone(SqlBackend.parseTimestamp("yesterday"))).toBe(true)
    expect(Option.isNone(SqlBackend.parseTimestamp("2024-01-02 03:04:05.12000x"))).toBe(true)
  })

  it("round-trips every year from 1 to 9999, including 1–99 (which Date.UTC reads as 19xx)", () => {
    for (const year of [1, 4, 50, 99, 100, 1969, 1970, 2000, 2024, 9999]) {
      const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      const date = new Date(0)
      date.setUTCFullYear(year, 1, leap ? 29 : 28)
      date.setUTCHours(23, 59, 58, 999)
      const t = DateTime.unsafeMake(date.getTime())
      const text = SqlBackend.formatTimestamp(t)
      expect(text).toBe(`${String(year).padStart(4, "0")}-02-${leap ? 29 : 28} 23:59:58.999000`)
      expect(Option.map(SqlBackend.parseTimestamp(text), DateTime.toEpochMillis)).toEqual(Option.some(date.getTime()))
      // the general parser (a shorter fraction) agrees with the exact-format one
      expect(Option.map(SqlBackend.parseTimestamp(text.slice(0, 23)), DateTime.toEpochMillis)).toEqual(
        Option.some(date.getTime())
      )
    }
  })
})

describe("classifiers", () => {
  const err = (cause: unknown) => new DriverError({ operation: "put", cause })
  it("PostgreSQL: SQLSTATEs and lost connections are transient, the rest is not", () => {
    for (const code of ["40001", "40P01", "57P01", "57P02", "57P03", "53300", "08006", "ECONNRESET", "ECONNREFUSED"]) {
      expect(isPgTransient(err({ cause: Object.assign(new Error("x"), { code }) }))).toBe(true)
    }
    expect(isPgTransient(err(new Error("Connection terminated unexpectedly")))).toBe(true)
    expect(isPgTransient(err(Object.assign(new Error("dup"), { code: "23505" })))).toBe(false)
  })
  it("SQLite: BUSY and LOCKED are transient", () => {
    expect(isSqliteTransient(err({ cause: Object.assign(new Error("busy"), { code: "SQLITE_BUSY" }) }))).toBe(true)
    expect(isSqliteTransient(err(Object.assign(new Error("locked"), { code: "SQLITE_LOCKED_SHAREDCACHE" })))).toBe(true)
    expect(isSqliteTransient(err(Object.assign(new Error("c"), { code: "SQLITE_CONSTRAINT" })))).toBe(false)
  })
  it("MySQL: deadlocks, lock waits, shutdowns, kills, too many connections and lost connections are transient", () => {
    const mysql = (errno: number, code: string, fatal = false) =>
      err(new SqlError({ cause: Object.assign(new Error(code), { errno, code, fatal }), message: "Failed to execute statement" }))
    for (
      const [errno, code] of [
        [1213, "ER_LOCK_DEADLOCK"],
        [1205, "ER_LOCK_WAIT_TIMEOUT"],
        [1040, "ER_CON_COUNT_ERROR"],
        [1053, "ER_SERVER_SHUTDOWN"],
        [1927, "ER_CONNECTION_KILLED"],
        [1317, "ER_QUERY_INTERRUPTED"],
        [2013, "CR_SERVER_LOST"],
        [2006, "CR_SERVER_GONE_ERROR"],
        [4031, "ER_CLIENT_INTERACTION_TIMEOUT"]
      ] as const
    ) expect([errno, isMysqlTransient(mysql(errno, code))]).toEqual([errno, true])
    expect(isMysqlTransient(err(Object.assign(new Error("lost"), { code: "PROTOCOL_CONNECTION_LOST", fatal: true })))).toBe(true)
    expect(isMysqlTransient(err(Object.assign(new Error("refused"), { code: "ECONNREFUSED" })))).toBe(true)
    expect(isMysqlTransient(err(new Error("Can't add new command when connection is in closed state")))).toBe(true)
    for (const [errno, code, fatal] of [[1062, "ER_DUP_ENTRY", false], [1406, "ER_DATA_TOO_LONG", false], [1045, "ER_ACCESS_DENIED_ERROR", true], [1049, "ER_BAD_DB_ERROR", true]] as const) {
      expect([errno, isMysqlTransient(mysql(errno, code, fatal))]).toEqual([errno, false])
    }
  })
  it("MySQL: the errors a real MariaDB and mysql2 raise are classified", async () => {
    const Mysql = await import("mysql2/promise")
    const database = await freshMysqlDatabase("classify")
    const url = Redacted.value(mysqlUrlFor(database))
    const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e)
    try {
      const a = await Mysql.createConnection({ uri: url })
      const b = await Mysql.createConnection({ uri: url })
      await a.query("CREATE TABLE t (k VARCHAR(4) PRIMARY KEY)")
      await a.query("INSERT INTO t VALUES ('x')")
      expect(isMysqlTransient(err(await caught(a.query("INSERT INTO t VALUES ('x')"))))).toBe(false) // 1062
      expect(isMysqlTransient(err(await caught(a.query("INSERT INTO t VALUES ('toolong')"))))).toBe(false) // 1406
      // KILL QUERY: the statement is interrupted (1317), the connection lives.
      const sleeping = caught(a.query("SELECT SLEEP(5)"))
      await new Promise((r) => setTimeout(r, 200))
      await b.query(`KILL QUERY ${a.threadId}`)
      const interrupted = await sleeping
      // MariaDB answers SLEEP's interruption with a result (1) rather than an error; a lock wait is an error.
      if (interrupted !== undefined) expect(isMysqlTransient(err(interrupted))).toBe(true)
      // KILL CONNECTION: the statement in flight fails, and so does the connection.
      const killed = caught(a.query("SELECT SLEEP(5)"))
      await new Promise((r) => setTimeout(r, 200))
      await b.query(`KILL CONNECTION ${a.threadId}`)
      const lost = await killed
      expect(lost).toBeInstanceOf(Error)
      expect(isMysqlTransient(err(lost))).toBe(true)
      await b.end()
      const refused = await caught(Mysql.createConnection({ uri: "mysql://root@127.0.0.1:1/x" }))
      expect(isMysqlTransient(err(refused))).toBe(true)
      const denied = await caught(Mysql.createConnection({ uri: url.replace("//root@", "//nobody:wrong@") }))
      expect([1045, 1698]).toContain((denied as { errno?: number }).errno) // access denied
      expect(isMysqlTransient(err(denied))).toBe(false)
    } finally {
      await dropMysqlDatabase(database)
    }
  })
})

describe("batcher", () => {
  for (const inline of [true, false]) {
    it.scoped(`${inline ? "inline" : "forked"}: a writer interrupted while its statement runs does not cancel the others' writes or stall later ones`, () =>
      Effect.gen(function*() {
        const statements: Array<ReadonlyArray<string>> = []
        const gate = yield* Deferred.make<void>()
        const batcher = yield* Batcher.make<string, never>({
          key: (k) => k,
          maxRows: 100,
          maxInFlight: 1,
          inline,
          run: (items) =>
            Effect.gen(function*() {
              statements.push(items)
              if (statements.length === 1) yield* Deferred.await(gate)
              return new Set(items)
            })
        })
        const leader = yield* Effect.fork(batcher.submit("a"))
        const follower = yield* Effect.fork(batcher.submit("b"))
        while (statements.length === 0) yield* Effect.yieldNow()
        const interrupted = yield* Effect.fork(Fiber.interrupt(leader))
        const waiting = yield* Effect.fork(batcher.submit("c"))
        yield* Deferred.succeed(gate, undefined)
        yield* Fiber.join(interrupted)
        expect(yield* Fiber.join(follower)).toBe(true)
        expect(yield* Fiber.join(waiting)).toBe(true)
        expect(yield* batcher.submit("d").pipe(Effect.timeout("1 second"))).toBe(true)
        // "a" was written: its statement was already running when its writer gave up
        expect(statements.flat()).toEqual(expect.arrayContaining(["a", "b", "c", "d"]))
      }))
  }

  it.scoped("coalesces concurrent writes, never one key twice per statement, keeps per-key order", () =>
    Effect.gen(function*() {
      const statements: Array<ReadonlyArray<readonly [string, number]>> = []
      const gate = yield* Deferred.make<void>()
      const batcher = yield* Batcher.make<readonly [string, number], never>({
        key: ([k]) => k,
        maxRows: 100,
        maxInFlight: 1,
        run: (items) =>
          Effect.gen(function*() {
            statements.push(items)
            if (statements.length === 1) yield* Deferred.await(gate)
            // even values are "applied", odd ones "ignored"
            return new Set(items.filter(([, v]) => v % 2 === 0).map(([k]) => k))
          })
      })
      const first = yield* Effect.fork(batcher.submit(["a", 0]))
      yield* Effect.yieldNow()
      const rest = yield* Effect.fork(Effect.all(
        [["a", 1], ["b", 2], ["a", 2], ["c", 3], ["b", 5]].map((w) => batcher.submit(w as [string, number])),
        { concurrency: "unbounded" }
      ))
      yield* Effect.yieldNow()
      yield* Deferred.succeed(gate, undefined)
      expect(yield* first.await.pipe(Effect.flatten)).toBe(true)
      const outcomes = yield* Effect.flatten(rest.await)
      expect(outcomes).toEqual([false, true, true, false, false])
      for (const statement of statements) {
        expect(new Set(statement.map(([k]) => k)).size).toBe(statement.length)
      }
      const order = statements.flat().filter(([k]) => k === "a").map(([, v]) => v)
      expect(order).toEqual([0, 1, 2])
      expect(statements.length).toBeLessThan(6)
    }))
})

describe("batcher turnaround", () => {
  /** Two slots; each statement takes a millisecond and records how many writes it carried. */
  const slowBatcher = (maxRows: number) =>
    Effect.gen(function*() {
      const statements: Array<number> = []
      const batcher = yield* Batcher.make<string, never>({
        key: (k) => k,
        maxRows,
        maxInFlight: 2,
        run: (items) =>
          Effect.gen(function*() {
            statements.push(items.length)
            yield* Effect.sleep("1 millis")
            return new Set(items)
          })
      })
      return { batcher, statements }
    })

  it.scopedLive("writers resumed by a finished statement share the next statements instead of the first going alone", () =>
    Effect.gen(function*() {
      const { batcher, statements } = yield* slowBatcher(500)
      // 32 writers, 5 writes each, one after another
      yield* Effect.forEach(
        Array.from({ length: 32 }, (_, w) => w),
        (w) => Effect.forEach([0, 1, 2, 3, 4], (i) => batcher.submit(`w${w}-${i}`), { discard: true }),
        { concurrency: "unbounded", discard: true }
      )
      expect(statements.reduce((a, b) => a + b, 0)).toBe(160)
      // Each round of writes shares the two slots (taking writes as soon as a
      // slot frees sent a lone write, then the rest).
      expect(Math.min(...statements)).toBeGreaterThanOrEqual(8)
      expect(statements.length).toBeLessThanOrEqual(12)
    }))

  it.scopedLive("shared slots still take at most maxRows writes per statement", () =>
    Effect.gen(function*() {
      const { batcher, statements } = yield* slowBatcher(3)
      const outcomes = yield* Effect.forEach(
        Array.from({ length: 40 }, (_, w) => `w${w}`),
        (id) => batcher.submit(id),
        { concurrency: "unbounded" }
      )
      expect(outcomes.every((o) => o)).toBe(true)
      expect(statements.reduce((a, b) => a + b, 0)).toBe(40)
      expect(Math.max(...statements)).toBeLessThanOrEqual(3)
    }))
})

describe("batcher, inline (SQLite)", () => {
  it.effect("after a run of lone writes, concurrent writers still coalesce (the probe yields)", () =>
    Effect.gen(function*() {
      const statements: Array<number> = []
      const batcher = yield* Batcher.make<string, never>({
        key: (k) => k,
        maxRows: 500,
        maxInFlight: 1,
        inline: true,
        run: (items) => Effect.sync(() => (statements.push(items.length), new Set(items)))
      })
      // One writer at a time: every statement carries one write, and after a few the writes skip the yield.
      for (let i = 0; i < 40; i++) expect(yield* batcher.submit(`lone-${i}`)).toBe(true)
      expect(statements.every((n) => n === 1)).toBe(true)
      // Then 64 writers writing 10 times each.
      const before = statements.length
      yield* Effect.forEach(
        Array.from({ length: 64 }, (_, w) => w),
        (w) => Effect.forEach(Array.from({ length: 10 }, (_, k) => `w${w}-${k}`), (id) => batcher.submit(id), { discard: true }),
        { concurrency: "unbounded", discard: true }
      )
      const after = statements.slice(before)
      expect(after.reduce((a, b) => a + b, 0)).toBe(640)
      expect(after.length).toBeLessThan(100)
    }).pipe(Effect.scoped))
})

describe("batcher overlap", () => {
  const sixteenWriters = (overlapAt: number | undefined) =>
    Effect.gen(function*() {
      const statements: Array<number> = []
      const batcher = yield* Batcher.make<string, never>({
        key: (k) => k,
        maxRows: 500,
        maxInFlight: 2,
        overlapAt,
        run: (items) =>
          Effect.gen(function*() {
            statements.push(items.length)
            yield* Effect.sleep("1 millis")
            return new Set(items)
          })
      })
      yield* Effect.forEach(
        Array.from({ length: 16 }, (_, w) => w),
        (w) => Effect.forEach(Array.from({ length: 5 }, (_, k) => `w${w}-${k}`), (id) => batcher.submit(id), { discard: true }),
        { concurrency: "unbounded", discard: true }
      )
      return statements
    }).pipe(Effect.scoped)

  it.live("16 writers: with overlapAt 16 every statement carries all 16 writes (one commit, not two)", () =>
    Effect.gen(function*() {
      const statements = yield* sixteenWriters(16)
      expect(statements.reduce((a, b) => a + b, 0)).toBe(80)
      expect(statements).toEqual([16, 16, 16, 16, 16])
    }))

  it.live("16 writers: without it, two statements side by side split them", () =>
    Effect.gen(function*() {
      const statements = yield* sixteenWriters(undefined)
      expect(statements.reduce((a, b) => a + b, 0)).toBe(80)
      expect(statements.length).toBeGreaterThan(5)
    }))
})

describe("LISTEN payloads", () => {
  it("reads a statement's JSON array of ids, and a bare id from the old row trigger", async () => {
    const { payloadIds } = await import("../src/internal/listener.js")
    expect(payloadIds("[\"a\",\"b,c\",\"[x\"]")).toEqual(["a", "b,c", "[x"])
    expect(payloadIds("plain-id")).toEqual(["plain-id"])
    expect(payloadIds("[not json")).toEqual(["[not json"])
    expect(payloadIds("[1,2]")).toEqual(["[1,2]"])
  })
})

describe("batcher isolation", () => {
  it.effect("a statement refused for one bad write is re-run write by write, so only that write fails", () =>
    Effect.gen(function*() {
      const statements: Array<ReadonlyArray<string>> = []
      const batcher = yield* Batcher.make<string, string>({
        key: (item) => item,
        maxRows: 100,
        maxInFlight: 1,
        isolate: (error) => error === "refused",
        run: (items) =>
          Effect.suspend(() => {
            statements.push(items)
            return items.includes("bad") ? Effect.fail("refused") : Effect.succeed(new Set(items))
          })
      })
      const outcomes = yield* Effect.forEach(["a", "bad", "b", "c"], (item) => Effect.either(batcher.submit(item)), {
        concurrency: "unbounded"
      })
      expect(outcomes.map((o) => (o._tag === "Right" ? o.right : o.left))).toEqual([true, "refused", true, true])
      expect(statements.some((s) => s.length > 1 && s.includes("bad"))).toBe(true)
    }).pipe(Effect.scoped))
})

