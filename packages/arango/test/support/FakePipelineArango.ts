/**
 * FakeArango plus what the pipeline store uses: stream transactions
 * (`/_api/transaction/begin`, commit with PUT, abort with DELETE, the
 * `x-arango-trx-id` header) and the exact statements of
 * `src/internal/pipelineAql.ts`, emulated in JavaScript.
 *
 * It is NOT ArangoDB. Its transaction model is a small imitation of RocksDB's:
 * writes go to a per-transaction overlay and are applied at commit; a write
 * to a document another open transaction has written, or that a transaction
 * committed after this one began, fails at once with a write-write conflict
 * (errorNum 1200; a real server first waits up to its lock timeout); reads see
 * the transaction's own writes over the latest committed data (a real server
 * reads a snapshot). A failed statement leaves nothing of itself behind. It
 * checks the wire format and the driver's handling of answers, conflicts and
 * retries; it says nothing about how a real server plans or runs the AQL.
 */
import type * as http from "node:http"
import * as Aql from "../../src/internal/pipelineAql.js"
import { FakeArango } from "./FakeArango.js"

type Doc = Record<string, any>

class Failure {
  constructor(readonly status: number, readonly errorNum: number, readonly errorMessage: string) {}
}

const conflict = (what: string) => new Failure(409, 1200, `AQL: write-write conflict (${what}) (fake server)`)

interface Trx {
  readonly id: string
  readonly db: string
  readonly snapshot: number
  /** ref → document (null: removed) */
  readonly writes: Map<string, Doc | null>
}

const ref = (coll: string, key: string) => `${coll}\u0000${key}`

const PIPELINE_STATEMENTS = new Set([
  Aql.insertExecution,
  Aql.insertMany,
  Aql.getOne,
  Aql.listExecutions,
  Aql.list(false),
  Aql.list(true),
  Aql.lock,
  Aql.updateAt,
  Aql.update,
  Aql.advance,
  Aql.digest,
  Aql.cleanup
])

export class FakePipelineArango extends FakeArango {
  readonly transactions = new Map<string, Trx>()
  /** Every transaction ever begun, with how it ended. */
  readonly transactionLog: Array<{ id: string; collections: unknown; outcome: "open" | "committed" | "aborted" }> = []
  /** ref → commit sequence of the last committed write */
  private readonly versions = new Map<string, number>()
  /** ref → id of the open transaction holding a pending write */
  private readonly locks = new Map<string, string>()
  /**
   * Runs before each pipeline statement (after its transaction is looked up),
   * to stage what a concurrent writer would do at that moment.
   */
  beforeStatement: ((query: string, bindVars: Record<string, any>) => void) | undefined
  private sequence = 0
  private revision = 0
  private nextTrx = 0

  protected override route(method: string, url: URL, body: any, headers: http.IncomingHttpHeaders): [number, unknown] {
    const m = /^\/_db\/([^/]+)(\/.*)$/.exec(url.pathname)
    if (m === null) return super.route(method, url, body, headers)
    const dbName = decodeURIComponent(m[1])
    const path = m[2]
    try {
      if (path === "/_api/transaction/begin" && method === "POST") return this.begin(dbName, body)
      const t = /^\/_api\/transaction\/([^/]+)$/.exec(path)
      if (t !== null && (method === "PUT" || method === "DELETE")) {
        return this.finish(decodeURIComponent(t[1]), method === "PUT")
      }
      if (path === "/_api/cursor" && method === "POST" && PIPELINE_STATEMENTS.has(body?.query)) {
        const header = headers["x-arango-trx-id"]
        const result = this.statement(dbName, body.query, body.bindVars ?? {}, typeof header === "string" ? header : undefined)
        return [201, { error: false, code: 201, result, hasMore: false, cached: false, extra: { warnings: [], stats: {} } }]
      }
    } catch (e) {
      if (e instanceof Failure) {
        return [e.status, { error: true, code: e.status, errorNum: e.errorNum, errorMessage: e.errorMessage }]
      }
      throw e
    }
    return super.route(method, url, body, headers)
  }

  /** The committed documents of a collection. */
  docs(name: string, db = "celery"): Map<string, Doc> {
    return this.collection(db, name) as unknown as Map<string, Doc>
  }

  private begin(db: string, body: any): [number, unknown] {
    if (!this.databases.has(db)) throw new Failure(404, 1228, "database not found")
    const id = String(++this.nextTrx + 1000)
    this.transactions.set(id, { id, db, snapshot: this.sequence, writes: new Map() })
    this.transactionLog.push({ id, collections: body?.collections, outcome: "open" })
    return [201, { error: false, code: 201, result: { id, status: "running" } }]
  }

  private finish(id: string, commit: boolean): [number, unknown] {
    const trx = this.transactions.get(id)
    if (trx === undefined) throw new Failure(404, 1655, "transaction not found")
    this.transactions.delete(id)
    if (commit) this.apply(trx.db, trx.writes)
    for (const r of trx.writes.keys()) if (this.locks.get(r) === id) this.locks.delete(r)
    const entry = this.transactionLog.find((t) => t.id === id)
    if (entry !== undefined) entry.outcome = commit ? "committed" : "aborted"
    return [200, { error: false, code: 200, result: { id, status: commit ? "committed" : "aborted" } }]
  }

  /** Commits a change to one document as another writer would (new `_rev`, newer than open transactions). */
  commitElsewhere(coll: string, key: string, change: (doc: Doc) => Doc, db = "celery") {
    const doc = this.docs(coll, db).get(key)
    if (doc === undefined) throw new Error(`no document ${coll}/${key}`)
    this.apply(db, new Map([[ref(coll, key), { ...change(doc), _rev: `_r${++this.revision}` }]]))
  }

  private apply(db: string, writes: Map<string, Doc | null>) {
    const seq = ++this.sequence
    for (const [r, doc] of writes) {
      const [coll, key] = r.split("\u0000")
      const docs = this.docs(coll, db)
      if (doc === null) docs.delete(key)
      else docs.set(key, doc)
      this.versions.set(r, seq)
    }
  }

  /** Runs one statement; its writes join the transaction, or are committed at once outside one. */
  private statement(db: string, query: string, vars: Record<string, any>, trxId: string | undefined): Array<unknown> {
    let trx: Trx | undefined
    if (trxId !== undefined) {
      trx = this.transactions.get(trxId)
      if (trx === undefined) throw new Failure(404, 1655, "transaction not found")
    }
    const database = this.databases.get(db)
    if (database === undefined) throw new Failure(404, 1228, "database not found")
    for (const [name, value] of Object.entries(vars)) {
      if (name.startsWith("@") && !database.has(value)) {
        throw new Failure(404, 1203, `AQL: collection or view not found: ${value} (while parsing)`)
      }
    }
    this.beforeStatement?.(query, vars)
    const owner = trx?.id ?? "implicit"
    const snapshot = trx?.snapshot ?? this.sequence
    const local = new Map<string, Doc | null>()
    const visible = (coll: string, key: string): Doc | undefined => {
      const r = ref(coll, key)
      if (local.has(r)) return local.get(r) ?? undefined
      if (trx?.writes.has(r)) return trx.writes.get(r) ?? undefined
      return this.docs(coll, db).get(key)
    }
    const scan = (coll: string): Array<Doc> => {
      const keys = new Set(this.docs(coll, db).keys())
      for (const map of [trx?.writes, local]) {
        if (map === undefined) continue
        for (const r of map.keys()) {
          const [c, k] = r.split("\u0000")
          if (c === coll) keys.add(k)
        }
      }
      return [...keys].map((k) => visible(coll, k)).filter((d): d is Doc => d !== undefined)
    }
    const write = (coll: string, key: string, doc: Doc | null) => {
      const r = ref(coll, key)
      const holder = this.locks.get(r)
      if (holder !== undefined && holder !== owner) throw conflict(`${coll}/${key} is written by transaction ${holder}`)
      if ((this.versions.get(r) ?? 0) > snapshot) throw conflict(`${coll}/${key} changed after the transaction began`)
      local.set(r, doc === null ? null : { ...doc, _key: key, _id: `${coll}/${key}`, _rev: `_r${++this.revision}` })
      return local.get(r)!
    }
    const insert = (coll: string, doc: Doc) => {
      if (typeof doc._key !== "string") throw new Failure(400, 1221, "illegal document key")
      if (visible(coll, doc._key) !== undefined) {
        throw new Failure(409, 1210, `unique constraint violated - in index primary of type primary over '_key'; conflicting key: ${doc._key}`)
      }
      return write(coll, doc._key, doc)
    }
    const parents = (d: Doc) => ({
      runId: d.runId ?? null,
      pipelineResultId: d.pipelineResultId ?? null,
      taskExecutionId: d.taskExecutionId ?? null
    })

    const result = this.evaluate(query, vars, { visible, scan, write, insert, parents })
    if (trx === undefined) {
      this.apply(db, local)
    } else {
      for (const [r, doc] of local) {
        trx.writes.set(r, doc)
        this.locks.set(r, trx.id)
      }
    }
    return result
  }

  private evaluate(
    query: string,
    v: Record<string, any>,
    ops: {
      visible: (coll: string, key: string) => Doc | undefined
      scan: (coll: string) => Array<Doc>
      write: (coll: string, key: string, doc: Doc | null) => Doc
      insert: (coll: string, doc: Doc) => Doc
      parents: (d: Doc) => Record<string, unknown>
    }
  ): Array<unknown> {
    const coll = v["@collection"]
    const by = (...fields: Array<string>) => (a: Doc, b: Doc) => {
      for (const f of fields) {
        if (a[f] < b[f]) return -1
        if (a[f] > b[f]) return 1
      }
      return 0
    }
    switch (query) {
      case Aql.insertExecution:
        if (ops.visible(coll, v.key) !== undefined) return []
        ops.insert(coll, v.doc)
        return [true]
      case Aql.insertMany:
        for (const doc of v.docs) ops.insert(coll, doc)
        return []
      case Aql.getOne: {
        const d = ops.visible(coll, v.key)
        return d === undefined ? [] : [d]
      }
      case Aql.listExecutions:
        return ops.scan(coll).filter((d) => d.pipelineId === v.pipelineId).sort(by("created", "runId"))
      case Aql.list(false):
      case Aql.list(true):
        return ops.scan(coll)
          .filter((d) => d[v.field] === v.id && (v.statuses === undefined || v.statuses.includes(d.status)))
          .sort(by(v.order))
      case Aql.lock: {
        const d = ops.visible(coll, v.key)
        return d === undefined ? [] : [{ status: d.status, tally: d.tally ?? null, rev: d._rev, ...ops.parents(d) }]
      }
      case Aql.updateAt:
      case Aql.update: {
        const d = ops.visible(coll, v.key)
        if (d === undefined) throw new Failure(404, 1202, "document not found")
        if (query === Aql.updateAt && d._rev !== v.rev) throw new Failure(409, 1200, "conflict, _rev values do not match")
        ops.write(coll, v.key, { ...d, ...v.patch })
        return []
      }
      case Aql.advance: {
        const d = ops.visible(coll, v.key)
        if (d === undefined || !v.from.includes(d.status)) return []
        const next = ops.write(coll, v.key, { ...d, ...v.patch })
        return [{ previous: d.status, rev: next._rev, ...ops.parents(d) }]
      }
      case Aql.digest: {
        const runs = ops.scan(coll).filter((d) => d.pipelineId === v.pipelineId).map((d) => ({
          status: d.status,
          ran: d.started ?? d.created,
          runtime: d.started != null && d.completed != null ? d.completed - d.started : null
        }))
        const timed = runs.filter((r) => r.runtime !== null).map((r) => r.runtime as number)
        return [{
          total: runs.length,
          successes: runs.filter((r) => r.status === v.done).length,
          failures: runs.filter((r) => v.failures.includes(r.status)).length,
          lastRan: runs.length === 0 ? null : Math.max(...runs.map((r) => r.ran)),
          averageMs: timed.length === 0 ? null : timed.reduce((a, b) => a + b, 0) / timed.length
        }]
      }
      case Aql.cleanup: {
        const runs = ops.scan(v["@executions"])
          .filter((e) => e.completed != null && e.completed < v.before && v.finals.includes(e.status))
          .sort(by("completed"))
          .slice(0, v.limit)
        const ids = new Set(runs.map((e) => e.runId))
        for (const name of [v["@taskResults"], v["@taskExecutions"], v["@pipelineResults"]]) {
          for (const d of ops.scan(name)) if (ids.has(d.runId)) ops.write(name, d._key, null)
        }
        for (const e of runs) ops.write(v["@executions"], e._key, null)
        return runs.map((e) => e.runId)
      }
      default:
        throw new Failure(400, 1501, "AQL: syntax error, unexpected statement (fake server)")
    }
  }
}
