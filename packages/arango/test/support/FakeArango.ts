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
import * as http from "node:http"
import type { AddressInfo } from "node:net"
import * as Aql from "../../src/internal/aql.js"

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
  private server: http.Server | undefined
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
      const result = this.run(body.query, body.bindVars, docs)
      if (result === undefined) {
        return [400, { error: true, code: 400, errorNum: 1501, errorMessage: "AQL: syntax error, unexpected statement (fake server)" }]
      }
      return [201, { error: false, code: 201, result, hasMore: false, cached: false, extra: { warnings: [], stats: {} } }]
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
}

/** A port nothing listens on: bound, then released. */
export const closedPort = (): Promise<number> =>
  new Promise((resolve) => {
    const s = http.createServer()
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as AddressInfo).port
      s.close(() => resolve(port))
    })
  })
