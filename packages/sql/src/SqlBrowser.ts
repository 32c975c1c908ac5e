/**
 * The `ResultBrowser` over Celery's SQL tables (SQLite, PostgreSQL, MySQL / MariaDB),
 * through the `SqlClient` in context.
 *
 * Queries here only pick ids and count; records are read back through the
 * `ResultBackend` built over the same tables (`getMany`, `restoreGroup`), so
 * there is one decoder for stored values (JSON, Celery's pickles) and it is
 * the backend's. Lists page by the table's `id` (keyset pagination), so a
 * long export never holds a transaction or an offset scan open.
 *
 * @since 0.1.0
 */
import * as SqlClient from "@effect/sql/SqlClient"
import type * as Statement from "@effect/sql/Statement"
import * as Chunk from "effect/Chunk"
import * as DateTime from "effect/DateTime"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { formatTimestamp } from "./SqlBackend.js"
import * as TableNames from "./TableNames.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface Options {
  readonly tables?: TableNames.Input | undefined
  /** Ids read per query while listing or exporting. Default 500. */
  readonly pageSize?: number | undefined
}

const Count = Schema.Union(Schema.Number, Schema.NumberFromString, Schema.BigIntFromSelf)
const IdRow = Schema.Struct({ id: Count, key: Schema.String })
const CountRow = Schema.Struct({ n: Count })
const StatsRow = Schema.Struct({ status: Schema.NullOr(Schema.String), name: Schema.NullOr(Schema.String), n: Count })

const decodeRows = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(Schema.Array(schema))
  return (rows: ReadonlyArray<unknown>) => Either.mapLeft(decode(rows), (e) => new Error(e.message))
}
const decodeIds = decodeRows(IdRow)
const decodeCounts = decodeRows(CountRow)
const decodeStats = decodeRows(StatsRow)

const toNumber = (n: number | bigint): number => (typeof n === "bigint" ? Number(n) : n)

const READY = Array.from(TaskState.READY_STATES)

/**
 * Builds the browser over the `SqlClient` and the `ResultBackend` in
 * context (both over the same tables).
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (
  options: Options = {}
): Effect.Effect<
  ResultBrowser.Service,
  TableNames.InvalidTableName,
  SqlClient.SqlClient | ResultBackend.ResultBackend
> =>
  Effect.gen(function*() {
    // The client as the user built it, but with taskmeta's own column names.
    const sql = (yield* SqlClient.SqlClient).withoutTransforms()
    const backend = yield* ResultBackend.ResultBackend
    const names = yield* TableNames.make(options.tables)
    const table = (name: string) =>
      sql.literal(sql.onDialectOrElse({
        pg: () => TableNames.qualify(names, name),
        mysql: () => TableNames.qualifyMysql(names, name),
        orElse: () => TableNames.quote(name)
      }))
    const tasks = table(names.tasks)
    const groups = table(names.groups)
    const pageSize = Math.max(1, Math.floor(options.pageSize ?? 500))

    const query = <A>(
      operation: string,
      statement: Effect.Effect<ReadonlyArray<unknown>, unknown>,
      decode: (rows: ReadonlyArray<unknown>) => Either.Either<A, Error>
    ) =>
      statement.pipe(
        Effect.flatMap(decode),
        Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation, cause })),
        Effect.withSpan("ResultBrowser.query", { attributes: { operation, "db.kind": backend.kind } })
      )

    /** Pages of ids by `id`, through `where`, descending or ascending. */
    const pages = (
      operation: string,
      from: Statement.Fragment,
      key: "task_id" | "taskset_id",
      order: "asc" | "desc",
      where: ReadonlyArray<Statement.Fragment>,
      limit: number | undefined
    ): Stream.Stream<ReadonlyArray<string>, ResultBrowser.BrowseError> =>
      Stream.paginateChunkEffect(
        { cursor: undefined as number | undefined, remaining: limit ?? Number.POSITIVE_INFINITY },
        ({ cursor, remaining }) => {
          const clauses = cursor === undefined
            ? where
            : [...where, order === "desc" ? sql`id < ${cursor}` : sql`id > ${cursor}`]
          const size = Math.min(pageSize, remaining)
          const statement = sql`SELECT id, ${sql(key)} AS ${sql("key")} FROM ${from} ${
            clauses.length > 0 ? sql`WHERE ${sql.and(clauses)}` : sql``
          } ORDER BY id ${sql.literal(order === "desc" ? "DESC" : "ASC")} LIMIT ${size}`
          return Effect.map(query(operation, statement, decodeIds), (rows) => {
            const ids = rows.map((r) => r.key)
            const left = remaining - rows.length
            const next = rows.length < size || left <= 0
              ? Option.none()
              : Option.some({ cursor: toNumber(rows[rows.length - 1].id), remaining: left })
            return [ids.length === 0 ? chunkOf([]) : chunkOf([ids]), next] as const
          })
        }
      )

    const records = (
      operation: string,
      ids: Stream.Stream<ReadonlyArray<string>, ResultBrowser.BrowseError>
    ): Stream.Stream<TaskRecord.TaskRecord, ResultBrowser.BrowseError> =>
      ids.pipe(
        Stream.mapEffect((page) =>
          backend.getMany(page).pipe(Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation, cause })))
        ),
        Stream.flattenIterables
      )

    const filterClauses = (filter: ResultBrowser.Filter): ReadonlyArray<Statement.Fragment> => {
      const clauses: Array<Statement.Fragment> = []
      if (filter.states !== undefined && filter.states.length > 0) clauses.push(sql.in("status", filter.states))
      if (filter.name !== undefined) clauses.push(sql`name = ${filter.name}`)
      if (filter.since !== undefined || filter.until !== undefined) {
        // dateDone is reported for READY records only (Celery stamps every write).
        clauses.push(sql.in("status", READY))
        if (filter.since !== undefined) clauses.push(sql`date_done >= ${formatTimestamp(filter.since)}`)
        if (filter.until !== undefined) clauses.push(sql`date_done < ${formatTimestamp(filter.until)}`)
      }
      return clauses
    }

    const count = (operation: string, statement: Effect.Effect<ReadonlyArray<unknown>, unknown>) =>
      Effect.map(query(operation, statement, decodeCounts), (rows) => rows.length === 0 ? 0 : toNumber(rows[0].n))

    const list = (filter: ResultBrowser.Filter = {}) =>
      records("list tasks", pages("list tasks", tasks, "task_id", "desc", filterClauses(filter), filter.limit))

    const stats = Effect.gen(function*() {
      const rows = yield* query(
        "count tasks",
        sql`SELECT status, name, COUNT(*) AS n FROM ${tasks} GROUP BY status, name`,
        decodeStats
      )
      const groupCount = yield* count("count groups", sql`SELECT COUNT(*) AS n FROM ${groups}`)
      return ResultBrowser.statsFromCounts(
        rows.map((r) => ({ status: r.status ?? TaskState.PENDING, name: r.name, count: toNumber(r.n) })),
        groupCount
      )
    }).pipe(Effect.withSpan("ResultBrowser.stats"))

    const exportTasks = records("export tasks", pages("export tasks", tasks, "task_id", "asc", [], undefined))

    const exportGroups: Stream.Stream<GroupRecord.GroupRecord, ResultBrowser.BrowseError> = pages(
      "export groups",
      groups,
      "taskset_id",
      "asc",
      [],
      undefined
    ).pipe(
      Stream.flattenIterables,
      Stream.mapEffect((id) =>
        backend.restoreGroup(id).pipe(
          Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation: "export groups", cause }))
        )
      ),
      Stream.filterMap((group) => group)
    )

    const countExpired = Effect.gen(function*() {
      const now = yield* DateTime.now
      let expiredTasks = 0
      for (const rule of ResultBackend.cleanupRules(backend.options, now)) {
        // What cleanup deletes: READY records only (a row another writer stamped while unfinished stays).
        const clauses: Array<Statement.Fragment> = [sql`date_done < ${formatTimestamp(rule.before)}`, sql.in("status", READY)]
        if (rule.only !== undefined) clauses.push(sql.in("status", rule.only))
        if (rule.except !== undefined) clauses.push(sql`(status IS NULL OR NOT ${sql.in("status", rule.except)})`)
        expiredTasks += yield* count("count expired tasks", sql`SELECT COUNT(*) AS n FROM ${tasks} WHERE ${sql.and(clauses)}`)
      }
      let expiredGroups = 0
      if (backend.options.resultExpires !== null) {
        const before = DateTime.subtractDuration(now, backend.options.resultExpires)
        expiredGroups = yield* count(
          "count expired groups",
          sql`SELECT COUNT(*) AS n FROM ${groups} WHERE date_done < ${formatTimestamp(before)}`
        )
      }
      return { tasks: expiredTasks, groups: expiredGroups }
    }).pipe(Effect.withSpan("ResultBrowser.countExpired"))

    return {
      kind: backend.kind,
      list,
      stats,
      exportTasks,
      exportGroups,
      countExpired
    } satisfies ResultBrowser.Service
  })

const chunkOf = <A>(items: ReadonlyArray<A>) => Chunk.unsafeFromArray(items as Array<A>)

/**
 * The browser over the `SqlClient` and `ResultBackend` in context.
 *
 * @since 0.1.0
 * @category layers
 */
export const layer = (
  options: Options = {}
): Layer.Layer<
  ResultBrowser.ResultBrowser,
  TableNames.InvalidTableName,
  SqlClient.SqlClient | ResultBackend.ResultBackend
> => Layer.effect(ResultBrowser.ResultBrowser, make(options))
