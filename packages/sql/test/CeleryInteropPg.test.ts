/**
 * Python Celery 5.2 and taskmeta on one PostgreSQL schema: Celery writes and
 * taskmeta reads every field as Celery's own get_task_meta / restore_group do;
 * taskmeta writes in the Celery-compatible mode (`encoding: "pickle"`) and
 * Celery reads it back equal. A fresh schema per test; Celery is pointed at it
 * through `?options=-csearch_path=<schema>` in its SQLAlchemy URL. Celery's URL
 * carries a password (trust authentication ignores it) that Celery pickles
 * into its group rows: it must never come out of taskmeta.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Redacted from "effect/Redacted"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as PgBackend from "../src/PgBackend.js"
import * as Harness from "./celery/harness.js"
import * as Scenarios from "./celery/scenarios.js"
import { dropSchema, PG_URL, pgQuery, suffix } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

const SECRET = `Pw-${suffix()}-s3cr3t`

const schemas: Array<string> = []
afterAll(async () => {
  for (const schema of schemas) await dropSchema(schema)
})

const freshSchema = (label: string) =>
  Effect.promise(async () => {
    const schema = `tm_celery_${label}_${suffix()}`
    schemas.push(schema)
    await pgQuery(`CREATE SCHEMA "${schema}"`)
    return schema
  })

/** The server's URL with the password set (node-postgres form). */
const withPassword = () => {
  const url = new URL(PG_URL.replace(/^postgres(ql)?:/, "http:"))
  url.password = SECRET
  return `postgresql:${url.href.slice("http:".length)}`
}

/** Celery's SQLAlchemy URL for a schema. */
const celeryUrl = (schema: string) => `db+${withPassword()}?options=-csearch_path%3D${schema}`

describe.runIf(has("celery"))(`Celery 5.2 ⇄ taskmeta on PostgreSQL ${tag("celery")}`, () => {
  it.live("Celery writes (its own tables) → taskmeta reads every field as get_task_meta does; no password leaks", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema("reads")
      const url = celeryUrl(schema)
      const { written, groupId, groupBytes, logs } = yield* Scenarios.celeryWritesTaskmetaReads({
        celeryUrl: url,
        schema,
        secret: SECRET,
        // with the same password-bearing URL
        backend: (encoding) =>
          PgBackend.layer({
            url: Redacted.make(withPassword()),
            tables: { schema },
            encoding,
            resultExtended: true,
            poolSize: 2,
            listen: false
          })
      })
      expect(logs.length).toBeGreaterThan(0) // the migrations log, so the capture works
      // Celery's group pickle stored as a task's result (as a chord header would be):
      // shown as an inert description with the URL password redacted.
      yield* Effect.promise(() =>
        pgQuery(
          `INSERT INTO "${schema}".celery_taskmeta (id, task_id, status, result) ` +
            `VALUES (nextval('"${schema}".task_id_sequence'), $1, 'SUCCESS', $2)`,
          ["group-as-result", groupBytes]
        )
      )
      const record = yield* Effect.flatMap(ResultBackend.ResultBackend, (b) => b.get("group-as-result")).pipe(
        Effect.provide(PgBackend.layer({ url: Redacted.make(withPassword()), tables: { schema }, poolSize: 1, listen: false }))
      )
      const text = JSON.stringify(record.result, Scenarios.bigints)
      expect(text).toContain("_unpickle_appattr")
      expect(text).toContain(groupId)
      expect(text).toContain(":***@")
      expect(text).not.toContain(SECRET)
      yield* Scenarios.argsBytesMatchCelery({
        celeryUrl: url,
        schema,
        backend: PgBackend.layer({
          url: Redacted.make(withPassword()),
          tables: { schema },
          encoding: "pickle",
          resultExtended: true,
          poolSize: 1,
          listen: false
        }),
        celeryTaskId: written.tasks["extended-big"].task_id
      })
    }), 120_000)

  it.live("taskmeta writes in Celery mode (tables taskmeta created) → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema("own")
      const options = { url: Redacted.make(withPassword()), tables: { schema }, poolSize: 2, listen: false } as const
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(schema),
        schema,
        backend: PgBackend.layer({ ...options, encoding: "pickle", resultExtended: true }),
        jsonBackend: PgBackend.layer(options),
        prefix: "tm-own"
      })
    }), 120_000)

  it.live("taskmeta writes in Celery mode on tables Celery created first → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const schema = yield* freshSchema("celerymade")
      yield* Harness.create(celeryUrl(schema))
      const options = { url: Redacted.make(withPassword()), tables: { schema }, poolSize: 2, listen: false } as const
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(schema),
        schema,
        backend: PgBackend.layer({ ...options, encoding: "pickle", resultExtended: true }),
        jsonBackend: PgBackend.layer(options),
        prefix: "tm-celery-tables"
      })
    }), 120_000)
})
