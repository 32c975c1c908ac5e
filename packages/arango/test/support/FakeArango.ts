/**
 * A loopback HTTP server (127.0.0.1, ephemeral port) that speaks the part of
 * ArangoDB's HTTP API arangojs uses for this backend, records every request,
 * and can be told to misbehave (503, write-write conflict, a dropped socket).
 *
 * It is NOT ArangoDB: `/_api/cursor` recognises only the exact statements the
 * backend sends (anything else is answered with AQL error 1501) and emulates
 * their meaning in JavaScript. It checks the wire format and the driver's
 * handling of answers; it says nothing about how a real server runs the AQL.
 */
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Aql from "../../src/internal/aql.js"
import * as ScanAql from "../../src/internal/scanAql.js"

export interface Recorded {
  readonly method: string
  readonly path: string
  readonly headers: http.IncomingHttpHeaders
  readonly body: any
}

export type Fault =
  | { readonly kind: "status"; readonly status: number; readonly body?: unknown; readonly contentType?: string }
  | { readonly kind: "arango"; readonly status: number; readonly errorNum: number; readonly errorMessage: string }
  | { readonly kind: "drop" }
  /** Answer this request normally (to aim the next fault at a later request). */
  | { readonly kind: "pass" }

type Doc = { _key: string; task?: unknown; expireAt?: number | null }

const parseMeta = (task: unknown): any => {
  if (typeof task === "string") {
    try {
      return JSON.parse(task)
    } catch {
      return null
    }
  }
  return task
}

// AQL's DATE_TIMESTAMP for the forms Celery writes: naive means UTC.
const timestamp = (text: string): number | null => {
  const zoned = /(Z|[+-]\d{2}:\d{2})$/.test(text) ? text : `${text}Z`
  const ms = Date.parse(zoned.replace(/(\.\d{3})\d+/, "$1"))
  return Number.isNaN(ms) ? null : ms
}

export class FakeArango {
  readonly requests: Array<Recorded> = []
  readonly databases = new Map<string, Map<string, Map<string, Doc>>>()
  readonly indexes: Array<{ collection: string; body: any }> = []
  readonly faults: Array<Fault> = []
  /**
   * Open cursors: what a query with a `batchSize` smaller than its result
   * left to fetch (`POST /_api/cursor/<id>[/<batchId>]`), until drained or
   * deleted (`DELETE /_api/cursor/<id>`).
   */
  readonly cursors = new Map<string, { rest: Array<unknown>; batchSize: number; nextBatchId: number }>()
  /** Ids of cursors a client deleted before draining them. */
  readonly killedCursors: Array<string> = []
  private server: http.Server | undefined
  private nextCursor = 0
  port = 0

  constructor(databases: Record<string, ReadonlyArray<string>> = { celery: ["celery"] }) {
    for (const [db, collections] of Object.entries(databases)) {
      this.databases.set(db, new Map(collections.map((c) => [c, new Map<string, Doc>()])))
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  /** The query and bind variables of each recorded `/_api/cursor` request. */
  get queries(): Array<{ query: string; bindVars: Record<string, unknown> }> {
    return this.requests.filter((r) => r.path.endsWith("/_api/cursor")).map((r) => ({
      query: r.body.query,
      bindVars: r.body.bindVars
    }))
  }

  collection(db = "celery", name = "celery"): Map<string, Doc> {
    const c = this.databases.get(db)?.get(name)
    if (c === undefined) throw new Error(`no collection ${db}/${name}`)
    return c
  }

  start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Array<Buffer> = []
      req.on("data", (c: Buffer) => chunks.push(c))
      req.on("end", () => {
        const raw = Buffer.concat(chunks).toString("utf8")
        let body: any = undefined
        try {
          body = raw === "" ? undefined : JSON.parse(raw)
        } catch {
          body = raw
        }
        const url = new URL(req.url ?? "/", "http://127.0.0.1")
        this.requests.push({ method: req.method ?? "GET", path: url.pathname, headers: req.headers, body })
        const fault = this.faults.shift()
        if (fault !== undefined && fault.kind !== "pass") return this.fail(req, res, fault)
        try {
          const [status, answer] = this.route(req.method ?? "GET", url, body, req.headers)
          this.send(res, status, answer)
        } catch (e) {
          this.send(res, 500, { error: true, code: 500, errorNum: 4, errorMessage: String(e) })
        }
      })
    })
    return new Promise((resolve) => {
      this.server!.listen(0, "127.0.0.1", () => {
        this.port = (this.server!.address() as AddressInfo).port
        resolve()
      })
    })
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      if (this.server === undefined) return resolve()
      this.server.closeAllConnections()
      this.server.close(() => resolve())
    })
  }

  private fail(req: http.IncomingMessage, res: http.ServerResponse, fault: Fault) {
    switch (fault.kind) {
      case "drop":
        req.socket.destroy()
        return
      case "status":
        res.writeHead(fault.status, { "content-type": fault.contentType ?? "text/plain" })
        res.end(typeof fault.body === "string" ? fault.body : fault.body === undefined ? "" : JSON.stringify(fault.body))
        return
      case "arango":
        return this.send(res, fault.status, {
          error: true,
          code: fault.status,
          errorNum: fault.errorNum,
          errorMessage: fault.errorMessage
        })
    }
  }

  protected send(res: http.ServerResponse, status: number, body: unknown) {
    const text = JSON.stringify(body)
    res.writeHead(status, { "content-type": "application/json; charset=utf-8", "content-length": Buffer.byteLength(text) })
    res.end(text)
  }

  protected notFound(errorNum: number, errorMessage: string): [number, unknown] {
    return [404, { error: true, code: 404, errorNum, errorMessage }]
  }

  /** Answers one request; subclasses (FakePipelineArango) handle more of the API first. */
  protected route(method: string, url: URL, body: any, _headers: http.IncomingHttpHeaders): [number, unknown] {
    const m = /^\/_db\/([^/]+)(\/.*)$/.exec(url.pathname)
    if (m === null) return this.notFound(404, "unknown path")
    const dbName = decodeURIComponent(m[1])
    const path = m[2]
    const db = this.databases.get(dbName)
    if (path === "/_api/database" && method === "POST") {
      if (this.databases.has(body.name)) return [409, { error: true, code: 409, errorNum: 1207, errorMessage: "duplicate database name" }]
      this.databases.set(body.name, new Map())
      return [201, { error: false, code: 201, result: true }]
    }
    if (db === undefined) return this.notFound(1228, "database not found")
    if (path === "/_api/database/current") {
      return [200, { error: false, code: 200, result: { name: dbName, id: "1", path: "", isSystem: false } }]
    }
    const coll = /^\/_api\/collection\/([^/]+)$/.exec(path)
    if (coll !== null && method === "GET") {
      const name = decodeURIComponent(coll[1])
      if (!db.has(name)) return this.notFound(1203, "collection or view not found")
      return [200, { error: false, code: 200, name, type: 2, status: 3, isSystem: false }]
    }
    if (path === "/_api/collection" && method === "POST") {
      if (db.has(body.name)) return [409, { error: true, code: 409, errorNum: 1207, errorMessage: "duplicate name" }]
      db.set(body.name, new Map())
      return [200, { error: false, code: 200, name: body.name, type: 2, status: 3 }]
    }
    if (path === "/_api/index" && method === "POST") {
      this.indexes.push({ collection: url.searchParams.get("collection") ?? "", body })
      return [201, { error: false, code: 201, id: "celery/1", isNewlyCreated: true, ...body }]
    }
    if (path === "/_api/cursor" && method === "POST") {
      const name = body?.bindVars?.["@collection"]
      const docs = typeof name === "string" ? db.get(name) : undefined
      if (docs === undefined) {
        return [404, { error: true, code: 404, errorNum: 1203, errorMessage: `AQL: collection or view not found: ${name} (while parsing)` }]
      }
      const result = this.run(body.query, body.bindVars, docs) ?? this.runScan(body.query, body.bindVars, docs)
      if (result === undefined) {
        return [400, { error: true, code: 400, errorNum: 1501, errorMessage: "AQL: syntax error, unexpected statement (fake server)" }]
      }
      const batchSize = typeof body.batchSize === "number" && body.batchSize > 0 ? body.batchSize : undefined
      if (batchSize !== undefined && result.length > batchSize) {
        const id = String(++this.nextCursor + 5000)
        this.cursors.set(id, { rest: result.slice(batchSize), batchSize, nextBatchId: 2 })
        return [201, {
          error: false,
          code: 201,
          result: result.slice(0, batchSize),
          hasMore: true,
          id,
          nextBatchId: "2",
          cached: false,
          extra: { warnings: [], stats: {} }
        }]
      }
      return [201, { error: false, code: 201, result, hasMore: false, cached: false, extra: { warnings: [], stats: {} } }]
    }
    const more = /^\/_api\/cursor\/([^/]+)(?:\/([^/]+))?$/.exec(path)
    if (more !== null && (method === "POST" || method === "PUT" || method === "DELETE")) {
      const id = decodeURIComponent(more[1])
      const cursor = this.cursors.get(id)
      if (cursor === undefined) return this.notFound(1600, "cursor not found")
      if (method === "DELETE") {
        this.cursors.delete(id)
        this.killedCursors.push(id)
        return [202, { error: false, code: 202, id }]
      }
      if (more[2] !== undefined && more[2] !== String(cursor.nextBatchId)) {
        return [400, { error: true, code: 400, errorNum: 1600, errorMessage: "batch id out of order (fake server)" }]
      }
      const result = cursor.rest.splice(0, cursor.batchSize)
      const hasMore = cursor.rest.length > 0
      cursor.nextBatchId++
      if (!hasMore) this.cursors.delete(id)
      return [200, {
        error: false,
        code: 200,
        result,
        hasMore,
        id,
        ...(hasMore ? { nextBatchId: String(cursor.nextBatchId) } : {}),
        cached: false,
        extra: { warnings: [], stats: {} }
      }]
    }
    return this.notFound(404, `unknown path ${path}`)
  }

  /** The meaning of each statement the backend sends; `undefined` for anything else. */
  private run(query: string, vars: any, docs: Map<string, Doc>): Array<unknown> | undefined {
    const ttl = query.includes("@expireAt")
    switch (query) {
      case Aql.putTask(ttl): {
        const old = docs.get(vars.key)
        if (old === undefined) {
          docs.set(vars.key, { _key: vars.key, task: vars.task, ...(ttl ? { expireAt: vars.expireAt } : {}) })
        } else {
          const sticky = parseMeta(old.task)?.status === "SUCCESS" && old.task !== vars.task
          if (!sticky) {
            old.task = vars.task
            if (ttl) old.expireAt = vars.expireAt
          }
        }
        return [docs.get(vars.key)!.task === vars.task]
      }
      case Aql.putGroup(ttl): {
        const old = docs.get(vars.key)
        if (old === undefined) docs.set(vars.key, { _key: vars.key, task: vars.task, ...(ttl ? { expireAt: vars.expireAt } : {}) })
        else {
          old.task = vars.task
          if (ttl) old.expireAt = vars.expireAt
        }
        return []
      }
      case Aql.getMany:
        return [...docs.values()].filter((d) => vars.keys.includes(d._key)).map((d) => [d._key, d.task ?? null])
      case Aql.getOne: {
        const d = docs.get(vars.key)
        return d === undefined ? [] : [d.task ?? null]
      }
      case Aql.removeOne:
        docs.delete(vars.key)
        return []
      case Aql.cleanupTasks:
      case Aql.cleanupGroups: {
        const tasks = query === Aql.cleanupTasks
        let n = 0
        for (const [key, d] of docs) {
          if (n >= vars.limit) break
          if (!key.startsWith(vars.prefix)) continue
          const meta = parseMeta(d.task)
          if (meta === null || typeof meta !== "object" || Array.isArray(meta)) continue
          if (tasks && !vars.states.includes(meta.status)) continue
          if (typeof meta.date_done !== "string") continue
          const done = timestamp(meta.date_done)
          if (done === null || !(done < vars.before)) continue
          docs.delete(key)
          n++
        }
        return [n]
      }
      default:
        return undefined
    }
  }

  /** The meaning of each statement `ArangoScan` sends (`internal/scanAql.ts`); `undefined` for anything else. */
  private runScan(query: string, vars: any, docs: Map<string, Doc>): Array<unknown> | undefined {
    const all = [...docs.values()] as Array<Record<string, any>>
    const count = (keep: (d: Record<string, any>, meta: any) => boolean) =>
      all.filter((d) => keep(d, parseMeta(d.task))).length
    if (query === ScanAql.tasks("newest", scanFilters(vars)) || query === ScanAql.tasks("oldest", scanFilters(vars))) {
      const rows = all.filter((d) => d._key.startsWith(vars.prefix)).map((d) => {
        const meta = parseMeta(d.task)
        return { key: d._key as string, task: d.task ?? null, meta, done: doneOf(meta) }
      }).filter(({ done, meta }) => {
        const status = meta !== null && typeof meta === "object" ? meta.status : null
        const name = meta !== null && typeof meta === "object" ? meta.name : null
        if ("states" in vars && !vars.states.includes(status)) return false
        if ("name" in vars && name !== vars.name) return false
        if ("since" in vars && (done === null || done < vars.since)) return false
        if ("until" in vars && (done === null || !(done < vars.until))) return false
        return true
      })
      // unfinished (null) after finished in ascending order; newest is the exact reverse
      const oldest = (a: typeof rows[number], b: typeof rows[number]) =>
        (a.done === null ? 1 : 0) - (b.done === null ? 1 : 0) || ascending(a, b)
      rows.sort(query === ScanAql.tasks("newest", scanFilters(vars)) ? (a, b) => oldest(b, a) : oldest)
      return ("limit" in vars ? rows.slice(0, vars.limit) : rows).map((r) => [r.key, r.task])
    }
    switch (query) {
      case ScanAql.groups:
        return all.filter((d) => d._key.startsWith(vars.prefix)).map((d) => {
          const meta = parseMeta(d.task)
          const done = meta !== null && typeof meta === "object" && typeof meta.date_done === "string"
            ? timestamp(meta.date_done)
            : null
          return { key: d._key as string, task: d.task ?? null, done }
        }).sort(ascending).map((r) => [r.key, r.task])
      case ScanAql.counts: {
        const tasks = new Map<string, { status: string; name: string | null; n: number }>()
        for (const d of all) {
          if (!d._key.startsWith(vars.taskPrefix)) continue
          const meta = parseMeta(d.task)
          if (meta === null || typeof meta !== "object" || Array.isArray(meta)) continue
          if (typeof meta.status !== "string" || meta.status === "") continue
          const name = typeof meta.name === "string" ? meta.name : null
          const k = JSON.stringify([meta.status, name])
          const entry = tasks.get(k) ?? { status: meta.status, name, n: 0 }
          entry.n++
          tasks.set(k, entry)
        }
        return [{ tasks: [...tasks.values()], groups: count((d) => d._key.startsWith(vars.groupPrefix)) }]
      }
      case ScanAql.countExpiredTasks:
      case ScanAql.countExpiredGroups: {
        const forTasks = query === ScanAql.countExpiredTasks
        return [count((d, meta) => {
          if (!d._key.startsWith(vars.prefix)) return false
          if (meta === null || typeof meta !== "object" || Array.isArray(meta)) return false
          if (forTasks && !vars.states.includes(meta.status)) return false
          if (typeof meta.date_done !== "string") return false
          const done = timestamp(meta.date_done)
          return done !== null && done < vars.before
        })]
      }
      case ScanAql.pipelineIds:
        return [...new Set(all.map((d) => d.pipelineId).filter((id) => typeof id === "string"))]
      default:
        return undefined
    }
  }
}

/** What `ScanAql.tasks` text a request's bind variables select (the filters it sets). */
const scanFilters = (vars: any): ScanAql.TaskFilters => ({
  states: "states" in vars,
  name: "name" in vars,
  since: "since" in vars,
  until: "until" in vars,
  limit: "limit" in vars
})

const READY = ["SUCCESS", "FAILURE", "REVOKED"]

/** `done` of scanAql: the READY `date_done` as an instant, else null. */
const doneOf = (meta: any): number | null =>
  meta !== null && typeof meta === "object" && READY.includes(meta.status) && typeof meta.date_done === "string"
    ? timestamp(meta.date_done)
    : null

/** AQL's order for null-or-number (null first), then the key (binary order here; a server may use ICU collation). */
const ascending = (a: { done: number | null; key: string }, b: { done: number | null; key: string }) => {
  if (a.done !== b.done) {
    if (a.done === null) return -1
    if (b.done === null) return 1
    return a.done - b.done
  }
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0
}

/** A FakeArango listening for the scope, stopped when it closes. */
export const acquire = (
  databases?: Record<string, ReadonlyArray<string>>
): Effect.Effect<FakeArango, never, Scope.Scope> =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const fake = new FakeArango(databases)
      await fake.start()
      return fake
    }),
    (fake) => Effect.promise(() => fake.stop())
  )

/** A port nothing listens on: bound, then released. */
export const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = http.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port
      s.close(() => resolve(port))
    })
  })
