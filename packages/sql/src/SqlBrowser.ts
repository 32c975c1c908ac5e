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
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as ChangeFeed from "@taskmeta/core/ChangeFeed"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as ResultBrowser from "@taskmeta/core/ResultBrowser"
import type * as GroupRecord from "@taskmeta/schema/GroupRecord"
import type * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as TaskState from "@taskmeta/schema/TaskState"
import { formatTimestamp, parseTimestamp } from "./SqlBackend.js"
import { MYSQL_DATE_DONE } from "./internal/timestamps.js"
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
const BucketRow = Schema.Struct({ b: Count, status: Schema.NullOr(Schema.String), n: Count })
const StateRow = Schema.Struct({ status: Schema.NullOr(Schema.String), n: Count, first: Count })
const OldestRow = Schema.Struct({ task_id: Schema.String, status: Schema.NullOr(Schema.String), date_done: Schema.NullOr(Schema.String) })
const FormRow = Schema.Struct({ head: Schema.NullOr(Schema.String), size: Schema.NullOr(Count) })

const decodeRows = <A, I>(schema: Schema.Schema<A, I>) => {
  const decode = Schema.decodeUnknownEither(Schema.Array(schema))
  return (rows: ReadonlyArray<unknown>) => Either.mapLeft(decode(rows), (e) => new Error(e.message))
}
const decodeIds = decodeRows(IdRow)
const decodeCounts = decodeRows(CountRow)
const decodeStats = decodeRows(StatsRow)
const decodeBuckets = decodeRows(BucketRow)
const decodeStates = decodeRows(StateRow)
const decodeOldest = decodeRows(OldestRow)
const decodeForms = decodeRows(FormRow)

const toNumber = (n: number | bigint): number => (typeof n === "bigint" ? Number(n) : n)

const READY = Array.from(TaskState.READY_STATES)

/** Rows read per poll of the change feed, at most (each kind). */
const FEED_BATCH = 1000

/** How far back a poll of the change feed looks for rows made READY (writers' clocks may lag). */
const FEED_SLACK = Duration.seconds(2)

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
        // The records of the next pages are read while a page is handed on (in order): over a
        // pool the page of ids and the reads overlap instead of waiting one after another.
        Stream.mapEffect((page) =>
          backend.getMany(page).pipe(Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation, cause }))), {
          concurrency: READ_AHEAD
        }),
        Stream.flattenIterables
      )

    const filterClauses = (filter: ResultBrowser.Filter): ReadonlyArray<Statement.Fragment> => {
      const clauses: Array<Statement.Fragment> = []
      if (filter.states !== undefined && filter.states.length > 0) clauses.push(sql.in("status", filter.states))
      if (filter.name !== undefined) clauses.push(sql`name = ${filter.name}`)
      if (filter.worker !== undefined) clauses.push(sql`worker = ${filter.worker}`)
      if (filter.queue !== undefined) clauses.push(sql`queue = ${filter.queue}`)
      if (filter.text !== undefined && filter.text !== "") {
        // The stored bytes: JSON text, or the UTF-8 strings inside a pickle.
        const text = filter.text
        clauses.push(sql.onDialectOrElse({
          pg: () => sql`(strpos(traceback, ${text}) > 0 OR position(convert_to(${text}, 'UTF8') in result) > 0)`,
          // Byte comparisons: case-sensitive whatever the column's collation.
          mysql: () =>
            sql`(INSTR(CAST(traceback AS BINARY), CAST(${text} AS BINARY)) > 0 OR INSTR(result, CAST(${text} AS BINARY)) > 0)`,
          orElse: () => sql`(instr(traceback, ${text}) > 0 OR instr(result, CAST(${text} AS BLOB)) > 0)`
        }))
      }
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
      // A page of groups in one read, and one chunk downstream (a copy writes it as one batch).
      Stream.mapEffect((page) =>
        backend.findGroups(page).pipe(
          Effect.map((found) => Chunk.unsafeFromArray(found.flatMap((group) => Option.isSome(group) ? [group.value] : []))),
          Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation: "export groups", cause }))
        )
      ),
      Stream.flattenChunks
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

    const cursor = (text: string) => {
      const n = Number(text)
      return /^[0-9]{1,15}$/.test(text) && Number.isSafeInteger(n)
        ? Effect.succeed(n)
        : Effect.fail(new ResultBrowser.InvalidQuery({ field: "cursor", reason: "is not a cursor of this store" }))
    }

    /** One page of (id, key) rows by `id` descending, and the cursor after it. */
    const idPage = (
      operation: string,
      from: Statement.Fragment,
      key: "task_id" | "taskset_id",
      where: ReadonlyArray<Statement.Fragment>,
      after: string | undefined,
      limit: number
    ) =>
      Effect.gen(function*() {
        const size = Math.max(1, Math.floor(limit))
        const clauses = after === undefined ? where : [...where, sql`id < ${yield* cursor(after)}`]
        const rows = yield* query(
          operation,
          sql`SELECT id, ${sql(key)} AS ${sql("key")} FROM ${from} ${
            clauses.length > 0 ? sql`WHERE ${sql.and(clauses)}` : sql``
          } ORDER BY id DESC LIMIT ${size + 1}`,
          decodeIds
        )
        const kept = rows.slice(0, size)
        return {
          ids: kept.map((r) => r.key),
          next: rows.length > size ? String(toNumber(kept[kept.length - 1].id)) : null
        }
      })

    const page = (pageQuery: ResultBrowser.PageQuery) =>
      Effect.gen(function*() {
        const { ids, next } = yield* idPage("list tasks", tasks, "task_id", filterClauses(pageQuery), pageQuery.after, pageQuery.limit)
        const records = ids.length === 0 ? [] : yield* backend.getMany(ids).pipe(
          Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation: "list tasks", cause }))
        )
        return { records, next }
      }).pipe(Effect.withSpan("ResultBrowser.page"))

    const groupPage = (groupQuery: ResultBrowser.GroupQuery) =>
      Effect.gen(function*() {
        const { ids, next } = yield* idPage("list groups", groups, "taskset_id", [], groupQuery.after, groupQuery.limit)
        const found = ids.length === 0 ? [] : yield* backend.findGroups(ids).pipe(
          Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation: "list groups", cause }))
        )
        return { records: found.flatMap((g) => Option.isSome(g) ? [g.value] : []), next }
      }).pipe(Effect.withSpan("ResultBrowser.groups"))

    const window = (windowQuery: ResultBrowser.WindowQuery) =>
      Effect.gen(function*() {
        const issue = ResultBrowser.windowIssue(windowQuery)
        if (issue !== undefined) return yield* issue
        const width = sql.literal(String(windowQuery.bucketSeconds))
        const bucket = sql.onDialectOrElse({
          pg: () => sql`floor(extract(epoch from date_done) / ${width})::bigint`,
          // Seconds since the epoch of a naive-UTC DATETIME, without the session's time zone (UNIX_TIMESTAMP uses it).
          mysql: () => sql`TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', date_done) DIV ${width}`,
          orElse: () => sql`CAST(strftime('%s', date_done) AS INTEGER) / ${width}`
        })
        const where = sql`${sql.in("status", READY)} AND date_done >= ${formatTimestamp(windowQuery.since)} AND date_done < ${
          formatTimestamp(windowQuery.until)
        }`
        const buckets = yield* query(
          "count tasks per interval",
          sql`SELECT ${bucket} AS b, status, COUNT(*) AS n FROM ${tasks} WHERE ${where} GROUP BY 1, 2`,
          decodeBuckets
        )
        const names = yield* query(
          "count tasks per name",
          sql`SELECT status, name, COUNT(*) AS n FROM ${tasks} WHERE ${where} GROUP BY status, name`,
          decodeStats
        )
        return ResultBrowser.windowFromCounts(
          windowQuery,
          buckets.map((r) => ({ bucket: toNumber(r.b), status: r.status ?? TaskState.PENDING, count: toNumber(r.n) })),
          names.map((r) => ({ status: r.status ?? TaskState.PENDING, name: r.name, count: toNumber(r.n) }))
        )
      }).pipe(Effect.withSpan("ResultBrowser.window"))

    const summary = Effect.gen(function*() {
      const rows = yield* query(
        "count tasks by state",
        sql`SELECT status, COUNT(*) AS n, MIN(id) AS ${sql("first")} FROM ${tasks} GROUP BY status`,
        decodeStates
      )
      const byState: Record<string, number> = {}
      let firstUnfinished: number | undefined
      for (const row of rows) {
        const status = row.status ?? TaskState.PENDING
        byState[status] = (byState[status] ?? 0) + toNumber(row.n)
        const first = toNumber(row.first)
        if (TaskState.isUnready(status) && (firstUnfinished === undefined || first < firstUnfinished)) firstUnfinished = first
      }
      let oldestUnfinished: ResultBrowser.Summary["oldestUnfinished"] = null
      if (firstUnfinished !== undefined) {
        const [row] = yield* query(
          "find the oldest unfinished task",
          sql`SELECT task_id, status, ${
            sql.onDialectOrElse({
              pg: () => sql`to_char(date_done, 'YYYY-MM-DD HH24:MI:SS.US')`,
              mysql: () => sql.literal(MYSQL_DATE_DONE),
              orElse: () => sql`date_done`
            })
          } AS date_done FROM ${tasks} WHERE id = ${firstUnfinished}`,
          decodeOldest
        )
        if (row !== undefined) {
          oldestUnfinished = {
            taskId: row.task_id,
            status: row.status ?? TaskState.PENDING,
            stamped: row.date_done === null ? null : Option.getOrNull(parseTimestamp(row.date_done))
          }
        }
      }
      return { byState: ResultBrowser.orderStates(byState), oldestUnfinished } satisfies ResultBrowser.Summary
    }).pipe(Effect.withSpan("ResultBrowser.summary"))

    const storedForm = (taskId: string) =>
      Effect.map(
        query(
          "read a task",
          sql.onDialectOrElse({
            pg: () =>
              sql`SELECT encode(substring(result from 1 for 1), 'hex') AS head, octet_length(result) AS size FROM ${tasks} WHERE task_id = ${taskId}`,
            mysql: () =>
              sql`SELECT HEX(SUBSTRING(result, 1, 1)) AS head, OCTET_LENGTH(result) AS size FROM ${tasks} WHERE task_id = ${taskId}`,
            orElse: () =>
              sql`SELECT hex(substr(result, 1, 1)) AS head, length(CAST(result AS BLOB)) AS size FROM ${tasks} WHERE task_id = ${taskId}`
          }),
          decodeForms
        ),
        ([row]): ResultBrowser.StoredForm | undefined =>
          row === undefined
            ? undefined
            : row.size === null
            ? { encoding: null, bytes: null }
            : { encoding: row.head?.toLowerCase() === "80" ? "pickle" : "json", bytes: toNumber(row.size) }
      )

    const newestId = Effect.map(
      query("start the change feed", sql`SELECT COALESCE(MAX(id), 0) AS n FROM ${tasks}`, decodeCounts),
      (rows) => rows.length === 0 ? 0 : toNumber(rows[0].n)
    )

    const readMany = (operation: string) => (ids: ReadonlyArray<string>) =>
      Effect.forEach(chunked(ids, pageSize), (chunk) => backend.getMany(chunk), { concurrency: 1 }).pipe(
        Effect.map((pages) => pages.flat()),
        Effect.mapError((cause) => new ResultBrowser.BrowseError({ operation, cause }))
      )

    // New rows by `id`, rows made READY by `date_done` (since the last poll, less the slack);
    // pushed READY ids on PostgreSQL. The feed re-reads the unfinished rows it has given.
    const changes = (changesOptions?: ResultBrowser.ChangesOptions) =>
      ChangeFeed.make<readonly [number, DateTime.Utc]>({
        start: Effect.zip(newestId, DateTime.now),
        poll: ([lastId, lastPoll]) =>
          Effect.gen(function*() {
            const now = yield* DateTime.now
            const fresh = yield* query(
              "poll new tasks",
              sql`SELECT id, task_id AS ${sql("key")} FROM ${tasks} WHERE id > ${lastId} ORDER BY id LIMIT ${FEED_BATCH}`,
              decodeIds
            )
            const done = yield* query(
              "poll finished tasks",
              sql`SELECT id, task_id AS ${sql("key")} FROM ${tasks} WHERE date_done >= ${
                formatTimestamp(DateTime.subtractDuration(lastPoll, FEED_SLACK))
              } AND ${sql.in("status", READY)} ORDER BY date_done DESC LIMIT ${FEED_BATCH}`,
              decodeIds
            )
            const ids = Array.from(new Set([...fresh.map((r) => r.key), ...done.map((r) => r.key)]))
            const records = ids.length === 0 ? [] : yield* readMany("read changed tasks")(ids)
            const nextId = fresh.length === 0 ? lastId : toNumber(fresh[fresh.length - 1].id)
            // A full batch of new rows: the rest come at the next poll, from the same place.
            return [records.filter((r) => r !== undefined), [nextId, fresh.length === FEED_BATCH ? lastPoll : now]] as const
          }),
        read: readMany("read changed tasks"),
        push: backend.notifications,
        interval: changesOptions?.pollInterval ?? "1 second"
      })

    return {
      kind: backend.kind,
      list,
      stats,
      exportTasks,
      exportGroups,
      countExpired,
      page,
      groups: groupPage,
      window,
      summary,
      storedForm,
      changes
    } satisfies ResultBrowser.Service
  })

/** Pages of records read at once while listing or exporting. */
const READ_AHEAD = 3

const chunkOf = <A>(items: ReadonlyArray<A>) => Chunk.unsafeFromArray(items as Array<A>)

const chunked = <A>(items: ReadonlyArray<A>, size: number): Array<ReadonlyArray<A>> => {
  const out: Array<ReadonlyArray<A>> = []
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size))
  return out
}

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
