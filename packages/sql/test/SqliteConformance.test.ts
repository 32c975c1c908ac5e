import * as path from "node:path"
import { afterAll } from "@effect/vitest"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as SqliteBackend from "../src/SqliteBackend.js"
import { removeDir, tempDir } from "./helpers.js"

const dir = tempDir("conformance")
afterAll(() => removeDir(dir))

ResultBackendConformance.suite("sqlite", (options) =>
  SqliteBackend.layer({ ...options, filename: path.join(dir, "results.sqlite") }))
