/**
 * The shared conformance suites (`ResultBackend`, and `ResultBrowser` with
 * `ArangoBrowser`) against a real ArangoDB, whenever TASKMETA_TEST_ARANGO_URL
 * is set (e.g. `arangodb://127.0.0.1:8529`, or with `/database`). Each suite
 * uses its own collection `taskmeta_test_<random>[_browse]`, created by the
 * layer (`create: true`) and dropped at the end. A collection in the URL wins
 * over that name (URL parts win, as in Celery), so leave it out.
 */
import { afterAll, describe } from "@effect/vitest"
import * as Layer from "effect/Layer"
import { ResultBackendConformance, ResultBrowserConformance } from "@taskmeta/testkit"
import { Database } from "arangojs"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as ArangoBrowser from "../src/ArangoBrowser.js"
import * as ArangoConfig from "../src/ArangoConfig.js"
import { tag } from "../../../testenv/requirements.js"

const url = process.env.TASKMETA_TEST_ARANGO_URL

describe.runIf(url)(`real ArangoDB ${tag("arango")}`, () => {
  const collection = `taskmeta_test_${Math.random().toString(36).slice(2, 10)}`
  const input: ArangoConfig.Input = { url, collection, create: true }
  const browseInput: ArangoConfig.Input = { ...input, collection: `${collection}_browse` }

  afterAll(async () => {
    for (const each of [input, browseInput]) {
      const config = ArangoConfig.make(each)
      if (config._tag === "Left") continue
      const db = new Database(ArangoBackend.connectionOptions(config.right))
      try {
        await db.collection(config.right.collection).drop()
      } catch {
        // the collection may not exist if the layer never built
      } finally {
        db.close()
      }
    }
  })

  ResultBackendConformance.suite("arango", (options) => ArangoBackend.layer(input, options), { timeout: 60_000 })
  ResultBrowserConformance.suite(
    "arango",
    (options) => Layer.provideMerge(ArangoBrowser.layer(browseInput), ArangoBackend.layer(browseInput, options)),
    // ArangoDB filters dates with DATE_TIMESTAMP, to the millisecond.
    { timeout: 60_000, microsecondFilters: false }
  )
})
