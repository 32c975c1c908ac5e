/**
 * The shared pipeline conformance suite against a real ArangoDB, whenever
 * TASKMETA_TEST_ARANGO_URL is set (e.g. `arangodb://127.0.0.1:8529`, or with
 * `/database`). Each run uses its own four collections
 * `taskmeta_ci_<random>_…`, created with their indexes by the layer
 * (`create: true`) and dropped at the end.
 *
 * Kept in its own file: a second conformance suite in one file with one of
 * them under `describe.runIf(false)` made the `it.layer` hooks time out.
 */
import { afterAll, describe } from "@effect/vitest"
import { PipelineConformance } from "@taskmeta/testkit"
import { Database } from "arangojs"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as ArangoConfig from "../src/ArangoConfig.js"
import * as ArangoPipelineStore from "../src/ArangoPipelineStore.js"
import { tag } from "../../../testenv/requirements.js"

const url = process.env.TASKMETA_TEST_ARANGO_URL

describe.runIf(url)(`real ArangoDB ${tag("arango")}`, () => {
  const prefix = `taskmeta_ci_${Math.random().toString(36).slice(2, 10)}_`
  const input: ArangoConfig.Input = { url, create: true }

  afterAll(async () => {
    const config = ArangoConfig.make(input)
    const names = ArangoPipelineStore.collectionNames({ prefix })
    if (config._tag === "Left" || names._tag === "Left") return
    const db = new Database(ArangoBackend.connectionOptions(config.right))
    try {
      for (const name of Object.values(names.right)) {
        try {
          await db.collection(name).drop()
        } catch {
          // the collection may not exist if the layer never built
        }
      }
    } finally {
      db.close()
    }
  })

  // The store's default retry policy (`ArangoPipelineStore.defaultRetry`): concurrent reports conflict (1200).
  PipelineConformance.suite("arango", ArangoPipelineStore.layer(input, { prefix }), { timeout: 120_000 })
})
