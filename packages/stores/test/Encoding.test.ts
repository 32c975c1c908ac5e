/**
 * `Stores.Options.encoding` reaches the SQL backends a URL selects, and
 * `TASKMETA_ENCODING` is read by `encodingConfig`. (That Python Celery reads
 * the pickles back is checked against real Celery in the CLI and worker
 * tests and in `@taskmeta/sql`.)
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as SqlClient from "@effect/sql/SqlClient"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fs from "node:fs"
import * as Os from "node:os"
import * as Path from "node:path"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import { dropPgSchema, PG } from "./helpers.js"
import * as ResultBackend from "@taskmeta/core/ResultBackend"

const dir = Fs.mkdtempSync(Path.join(Os.tmpdir(), "taskmeta-encoding-"))
const schema = `tm_encoding_${Math.random().toString(36).slice(2, 8)}`
afterAll(async () => {
  Fs.rmSync(dir, { recursive: true, force: true })
  await dropPgSchema(schema)
})

describe("Stores.encodingConfig", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(
      Effect.either(Stores.encodingConfig).pipe(
        Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env))))
      )
    )

  it("reads TASKMETA_ENCODING, json when unset or empty, and rejects anything else naming the variable", () => {
    expect(read({})).toEqual(Either.right("json"))
    expect(read({ TASKMETA_ENCODING: "" })).toEqual(Either.right("json"))
    expect(read({ TASKMETA_ENCODING: "pickle" })).toEqual(Either.right("pickle"))
    expect(read({ TASKMETA_ENCODING: " PICKLE " })).toEqual(Either.right("pickle"))
    expect(read({ TASKMETA_ENCODING: "json" })).toEqual(Either.right("json"))
    const bad = read({ TASKMETA_ENCODING: "yaml" })
    expect(Either.isLeft(bad) && String(bad.left)).toMatch(/TASKMETA_ENCODING.*expected json or pickle, got "yaml"/)
  })
})

const cases: ReadonlyArray<readonly [string, string, Stores.Options]> = [
  ["sqlite", "db+sqlite:///encoding.sqlite", { baseDirectory: dir }],
  ["postgres", PG, { tables: { schema } }]
]

for (const [label, url, options] of cases) {
  describe(`Stores.layerFromUrl encoding (${label})`, () => {
    it.live("pickle writes Celery's pickled result column, json writes JSON; both read back the same", () =>
      Effect.gen(function*() {
        const value = { big: 2n ** 70n, list: [1, "ü", null] }
        const store = (encoding: "json" | "pickle" | undefined, id: string) =>
          Effect.gen(function*() {
            const backend = yield* ResultBackend.ResultBackend
            yield* backend.store(id, value, "SUCCESS")
            return yield* backend.get(id)
          }).pipe(Effect.provide(Stores.layerFromUrl(url, { ...options, encoding })))
        const pickled = yield* store("pickle", `${label}-pickle`)
        const json = yield* store("json", `${label}-json`)
        const byDefault = yield* store(undefined, `${label}-default`)
        expect([pickled.result, json.result, byDefault.result]).toEqual([value, value, value])
        const parsed = Either.getOrThrow(BackendUrl.parse(url))
        if (parsed._tag !== "Sqlite" && parsed._tag !== "Postgres") throw new Error("not SQL")
        const rows = yield* Effect.flatMap(SqlClient.SqlClient, (sql) =>
          sql.unsafe<{ task_id: string; result: Uint8Array }>(
            `SELECT task_id, result FROM celery_taskmeta WHERE task_id LIKE '${label}-%' ORDER BY id`
          )).pipe(Effect.provide(Stores.clientLayer(parsed, options)))
        expect(rows.map((r) => [r.task_id, r.result[0]])).toEqual([
          [`${label}-pickle`, 0x80],
          [`${label}-json`, "{".charCodeAt(0)],
          [`${label}-default`, "{".charCodeAt(0)]
        ])
      }), 60_000)
  })
}
