/**
 * Run-time failures keep their causes (issue 14, finding 7): the message of
 * a typed error names the driver's reason and code, not only "Failed to
 * execute statement".
 */
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import { SqlError } from "@effect/sql/SqlError"
import { afterAll, describe, expect, it } from "@effect/vitest"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import { StoreError } from "@taskmeta/core/BackendError"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as path from "node:path"
import * as SqlBackend from "../src/SqlBackend.js"
import * as SqliteBackend from "../src/SqliteBackend.js"
import { removeDir, tempDir } from "./helpers.js"

const dir = tempDir("causes")
afterAll(() => removeDir(dir))

describe("causes in messages", () => {
  it.effect("a store into a read-only SQLite database says SQLITE_READONLY", () =>
    Effect.gen(function*() {
      const filename = path.join(dir, "readonly.sqlite")
      // The tables exist (a writable open migrates), then a read-only client opens the file.
      yield* Effect.provide(ResultBackend.ResultBackend, SqliteBackend.layer({ filename }))
      const readOnly = SqlBackend.layer({ migrate: false }).pipe(
        Layer.provide(SqliteClient.layer({ filename, readonly: true }))
      )
      const error = yield* Effect.flip(
        Effect.flatMap(ResultBackend.ResultBackend, (backend) => backend.store("t", 1, "SUCCESS")).pipe(
          Effect.provide(readOnly)
        )
      )
      expect(error._tag).toBe("StoreError")
      expect(error.message).toContain("could not store SUCCESS for task t")
      expect(error.message).toContain("SQLITE_READONLY")
    }))

  it("a lost connection's code reaches the message through the client's wrapper", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" })
    const error = new StoreError({
      taskId: "t",
      status: "SUCCESS",
      cause: new SqlError({ message: "Failed to acquire connection", cause: refused })
    })
    expect(error.message).toBe(
      "could not store SUCCESS for task t: Failed to acquire connection: connect ECONNREFUSED 127.0.0.1:1"
    )
  })
})
