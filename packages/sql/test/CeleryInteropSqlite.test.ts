/**
 * Python Celery 5.2 and taskmeta on one SQLite file: Celery writes and taskmeta
 * reads every field as Celery's own get_task_meta / restore_group do; taskmeta
 * writes in the Celery-compatible mode (`encoding: "pickle"`) and Celery reads
 * it back equal. A fresh file per test.
 */
import * as path from "node:path"
import { afterAll, describe, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as SqliteBackend from "../src/SqliteBackend.js"
import * as Harness from "./celery/harness.js"
import * as Scenarios from "./celery/scenarios.js"
import { removeDir, tempDir } from "./helpers.js"
import { has, tag } from "../../../testenv/requirements.js"

const dir = tempDir("celery-interop-sqlite")
afterAll(() => removeDir(dir))

const fileFor = (name: string) => path.join(dir, `${name}.sqlite`)
const celeryUrl = (file: string) => `db+sqlite:///${file}` // an absolute path gives sqlite:////…

describe.runIf(has("celery"))(`Celery 5.2 ⇄ taskmeta on SQLite ${tag("celery")}`, () => {
  it.live("Celery writes (its own tables) → taskmeta reads every field as get_task_meta does", () =>
    Effect.gen(function*() {
      const file = fileFor("celery-writes")
      const { written } = yield* Scenarios.celeryWritesTaskmetaReads({
        celeryUrl: celeryUrl(file),
        backend: (encoding) => SqliteBackend.layer({ filename: file, encoding, resultExtended: true })
      })
      yield* Scenarios.argsBytesMatchCelery({
        celeryUrl: celeryUrl(file),
        backend: SqliteBackend.layer({ filename: file, encoding: "pickle", resultExtended: true }),
        celeryTaskId: written.tasks["extended-big"].task_id
      })
    }), 120_000)

  it.live("taskmeta writes in Celery mode (tables taskmeta created) → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const file = fileFor("taskmeta-writes")
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(file),
        backend: SqliteBackend.layer({ filename: file, encoding: "pickle", resultExtended: true }),
        jsonBackend: SqliteBackend.layer({ filename: file }),
        prefix: "tm-own"
      })
    }), 120_000)

  it.live("taskmeta writes in Celery mode on tables Celery created first → Celery reads it back equal", () =>
    Effect.gen(function*() {
      const file = fileFor("celery-created")
      yield* Harness.create(celeryUrl(file))
      yield* Scenarios.taskmetaWritesCeleryReads({
        celeryUrl: celeryUrl(file),
        backend: SqliteBackend.layer({ filename: file, encoding: "pickle", resultExtended: true }),
        jsonBackend: SqliteBackend.layer({ filename: file }),
        prefix: "tm-celery-tables"
      })
    }), 120_000)
})
