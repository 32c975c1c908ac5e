/**
 * The hot statements on a node-postgres pool, as named prepared statements:
 * each text is parsed and planned once per connection.
 */
import { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type * as Pg from "pg"
import type { Executor } from "./executor.js"

/** @internal */
export const make = (pool: Pg.Pool, options: { readonly prepare: boolean }): Executor => {
  // One name per text for the pool's lifetime (node-postgres refuses a name reused for another text).
  const names = new Map<string, string>()
  const nameOf = (text: string): string | undefined => {
    if (!options.prepare) return undefined
    let name = names.get(text)
    if (name === undefined) {
      name = `taskmeta_${names.size + 1}`
      names.set(text, name)
    }
    return name
  }
  return {
    run: (text, values) =>
      Effect.async<ReadonlyArray<Record<string, unknown>>, SqlError>((resume) => {
        const name = nameOf(text)
        pool.query<Record<string, unknown>>(
          name === undefined ? { text, values: values as Array<unknown> } : { name, text, values: values as Array<unknown> },
          (error, result) => {
            if (error) resume(Effect.fail(new SqlError({ cause: error, message: "Failed to execute statement" })))
            else resume(Effect.succeed(result.rows))
          }
        )
      })
  }
}
