/**
 * The shared conformance suite against a real ArangoDB, whenever
 * TASKMETA_TEST_ARANGO_URL is set (e.g. `arangodb://127.0.0.1:8529`, or with
 * `/database`). Each run uses its own collection `taskmeta_test_<random>`,
 * created by the layer (`create: true`) and dropped at the end. A collection
 * in the URL wins over that name (URL parts win, as in Celery), so leave it out.
 */
import { afterAll, describe } from "@effect/vitest"
import { ResultBackendConformance } from "@taskmeta/testkit"
import { Database } from "arangojs"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as ArangoConfig from "../src/ArangoConfig.js"

const url = process.env.TASKMETA_TEST_ARANGO_URL

describe.runIf(url)("real ArangoDB (TASKMETA_TEST_ARANGO_URL)", () => {
  const collection = `taskmeta_test_${Math.random().toString(36).slice(2, 10)}`
  const input: ArangoConfig.Input = { url, collection, create: true }

  afterAll(async () => {
    const config = ArangoConfig.make(input)
    if (config._tag === "Left") return
    const db = new Database(ArangoBackend.connectionOptions(config.right))
    try {
      await db.collection(config.right.collection).drop()
    } catch {
      // the collection may not exist if the layer never built
    } finally {
      db.close()
    }
  })

  ResultBackendConformance.suite("arango", (options) => ArangoBackend.layer(input, options), { timeout: 60_000 })
})
