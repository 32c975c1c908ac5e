import { afterAll } from "@effect/vitest"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as PgBackend from "../src/PgBackend.js"
import { dropSchema, pgUrl, suffix } from "./helpers.js"

const schema = `tm_conf_${suffix()}`
afterAll(() => dropSchema(schema))

ResultBackendConformance.suite("postgres", (options) =>
  PgBackend.layer({ ...options, url: pgUrl, tables: { schema }, poolSize: 4 }))
