/**
 * Groups in batches on every engine: `saveGroups` / `findGroups` cost one
 * statement per batch of `GROUP_BATCH_SIZE`, and the driver's `putGroups` /
 * `getGroups` keep every statement within the engine's parameter limit
 * (SQLite: 32,766) however many groups they are given. Statements are counted
 * with a `Statement` transformer (it sees every statement the client runs).
 * MySQL is run twice: on taskmeta's tables (ids from a sequence on MariaDB,
 * DATETIME(6)) and on tables as Celery makes them on MySQL (AUTO_INCREMENT
 * ids, DATETIME of whole seconds).
 */
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import * as Statement from "@effect/sql/Statement"
import * as Context from "effect/Context"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import type { BackendDriver } from "@taskmeta/core/BackendDriver"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as MysqlBackend from "../src/MysqlBackend.js"
import * as PgBackend from "../src/PgBackend.js"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import {
  createMysqlDatabase,
  dropMysqlDatabase,
  dropSchema,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseName,
  mysqlQuery,
  mysqlUrlFor,
  pgUrl,
  removeDir,
  suffix,
  tempDir
} from "./helpers.js"

class Subject extends Context.Tag("test/GroupBatch/Subject")<Subject, {
  readonly backend: ResultBackend.Service
  readonly driver: BackendDriver
}>() {}

const subject = (options: SqlBackend.Options) =>
  Layer.scoped(
    Subject,
    Effect.gen(function*() {
      const backend = yield* SqlBackend.make(options)
      const driver = yield* SqlBackend.makeDriver(options)
      return { backend, driver }
    })
  )

interface Seen {
  readonly text: string
  readonly params: number
}

/** Runs the effect and answers the statements it ran on the groups table. */
const statementsOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const seen: Array<Seen> = []
    const result = yield* Statement.withTransformer(effect, (self) =>
      Effect.sync(() => {
        const [text, params] = self.compile()
        seen.push({ text, params: params.length })
        return self
      }))
    const groups = seen.filter((s) => s.text.includes("celery_tasksetmeta"))
    return {
      result,
      inserts: groups.filter((s) => /^\s*INSERT/i.test(s.text)),
      selects: groups.filter((s) => /^\s*SELECT/i.test(s.text)),
      all: seen
    }
  })

const run = suffix()
let counter = 0
const uid = (label: string) => `${run}-${label}-${++counter}`

const makeGroups = (count: number, label: string): Array<GroupRecord.GroupRecord> => {
  const base = Date.UTC(2023, 3, 4, 5, 6, 7)
  return Array.from({ length: count }, (_, i) => ({
    groupId: uid(label),
    taskIds: [uid(`${label}-a`), uid(`${label}-b`), uid(`${label}-c`)],
    dateDone: UtcTime.make(base + i * 1001, (i * 7) % 1000)
  }))
}

/** What a stored dateDone reads back as: to the microsecond, or cut to whole seconds. */
const stored = (wholeSeconds: boolean) => (dateTime: DateTime.Utc): bigint =>
  wholeSeconds ? UtcTime.epochMicros(dateTime) / 1_000_000n * 1_000_000n : UtcTime.epochMicros(dateTime)

const engineSuite = (
  name: string,
  layer: () => Layer.Layer<Subject, unknown>,
  maxParams: number,
  wholeSeconds = false
) =>
  it.layer(layer(), { timeout: 60_000 })(name, (it) => {
    const readAs = stored(wholeSeconds)

    it.effect("saveGroups of 1,200 groups: one upsert per batch; findGroups: one SELECT per batch", () =>
      Effect.gen(function*() {
        const { backend } = yield* Subject
        const groups = makeGroups(1200, "svc")
        const batches = Math.ceil(groups.length / ResultBackend.GROUP_BATCH_SIZE)
        const saved = yield* statementsOf(backend.saveGroups(groups))
        expect(saved.inserts.length).toBe(batches)
        const found = yield* statementsOf(backend.findGroups(groups.map((g) => g.groupId)))
        expect(found.selects.length).toBe(batches)
        expect(found.all.length).toBe(batches)
        found.result.forEach((option, i) => {
          const group = Option.getOrThrow(option)
          expect(group.taskIds).toEqual(groups[i].taskIds)
          expect(UtcTime.epochMicros(group.dateDone)).toBe(readAs(groups[i].dateDone))
        })
      }))

    it.effect("putGroups of 12,000 groups stays within the parameter limit; getGroups reads them back aligned", () =>
      Effect.gen(function*() {
        const { driver } = yield* Subject
        const putGroups = driver.putGroups!
        const getGroups = driver.getGroups!
        const groups = makeGroups(12_000, "drv")
        const written = yield* statementsOf(putGroups(groups))
        expect(written.inserts.length).toBeGreaterThan(1)
        for (const statement of written.inserts) expect(statement.params).toBeLessThanOrEqual(maxParams)
        // Replacing them all: new members, new dates.
        const again = groups.map((g, i): GroupRecord.GroupRecord => ({
          groupId: g.groupId,
          taskIds: [uid("again")],
          dateDone: UtcTime.make(DateTime.toEpochMillis(g.dateDone) + 86_400_000, (i * 13) % 1000)
        }))
        yield* putGroups(again)
        const unknown = uid("drv-unknown")
        const ids = [unknown, ...again.map((g) => g.groupId), again[0].groupId]
        const read = yield* statementsOf(getGroups(ids))
        for (const statement of read.selects) expect(statement.params).toBeLessThanOrEqual(maxParams)
        expect(read.result.length).toBe(ids.length)
        expect(read.result[0]).toBeUndefined()
        read.result.slice(1).forEach((group, i) => {
          const expected = again[i % again.length]
          expect(group?.groupId).toBe(expected.groupId)
          expect(group?.taskIds).toEqual(expected.taskIds)
          expect(UtcTime.epochMicros(group!.dateDone)).toBe(readAs(expected.dateDone))
        })
      }), 120_000)

    it.effect("putGroups of one id given twice keeps the last", () =>
      Effect.gen(function*() {
        const { driver } = yield* Subject
        const id = uid("twice")
        const last = [uid("last")]
        yield* driver.putGroups!([
          { groupId: id, taskIds: [uid("first")], dateDone: DateTime.unsafeMake(Date.UTC(2020, 0, 1)) },
          { groupId: id, taskIds: last, dateDone: DateTime.unsafeMake(Date.UTC(2021, 0, 1)) }
        ])
        const [group] = yield* driver.getGroups!([id])
        expect(group?.taskIds).toEqual(last)
        expect(DateTime.toEpochMillis(group!.dateDone)).toBe(Date.UTC(2021, 0, 1))
      }))
  })

// ---------------------------------------------------------------------------

const dir = tempDir("groups")
const schema = `tm_groups_${suffix()}`
const database = mysqlDatabaseName("groups")
const celeryDatabase = mysqlDatabaseName("groupsauto")

beforeAll(async () => {
  await createMysqlDatabase(database)
  await createMysqlDatabase(celeryDatabase)
  if (HAS_MYSQL) {
    // As Celery's SQLAlchemy models make them on MySQL: AUTO_INCREMENT ids, DATETIME of whole seconds.
    await mysqlQuery(
      "CREATE TABLE celery_taskmeta (id INT NOT NULL AUTO_INCREMENT, task_id VARCHAR(155), status VARCHAR(50), " +
        "result BLOB, date_done DATETIME, traceback TEXT, name VARCHAR(155), args BLOB, kwargs BLOB, " +
        "worker VARCHAR(155), retries INT, queue VARCHAR(155), PRIMARY KEY (id), UNIQUE (task_id))",
      [],
      celeryDatabase
    )
    await mysqlQuery(
      "CREATE TABLE celery_tasksetmeta (id INT NOT NULL AUTO_INCREMENT, taskset_id VARCHAR(155), result BLOB, " +
        "date_done DATETIME, PRIMARY KEY (id), UNIQUE (taskset_id))",
      [],
      celeryDatabase
    )
  }
})
afterAll(async () => {
  removeDir(dir)
  await dropSchema(schema)
  await dropMysqlDatabase(database)
  await dropMysqlDatabase(celeryDatabase)
})

describe("groups in batches", () => {
  engineSuite(
    "sqlite",
    () => subject({}).pipe(Layer.provide(SqliteBackend.layerClient({ filename: path.join(dir, "groups.sqlite") }))),
    32_766
  )
  engineSuite(
    "postgres",
    () =>
      subject({ tables: { schema }, listen: false }).pipe(
        Layer.provide(PgBackend.layerClient({ url: pgUrl, tables: { schema }, poolSize: 2 }))
      ),
    65_535
  )
  describe.runIf(HAS_MYSQL)(`MariaDB ${MYSQL_TAG}`, () => {
    engineSuite(
      "mysql, taskmeta's tables",
      () => subject({}).pipe(Layer.provide(MysqlBackend.layerClient({ url: mysqlUrlFor(database), poolSize: 2 }))),
      65_535
    )
    engineSuite(
      "mysql, Celery's tables (AUTO_INCREMENT, whole seconds)",
      () =>
        subject({ migrate: false }).pipe(
          Layer.provide(MysqlBackend.layerClient({ url: mysqlUrlFor(celeryDatabase), poolSize: 2 }))
        ),
      65_535,
      true
    )
  })
})
