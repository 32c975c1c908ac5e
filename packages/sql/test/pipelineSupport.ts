/**
 * Helpers for the SQL pipeline store tests (not a test file itself).
 */
import * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Tracer from "effect/Tracer"
import * as PipelineMigrations from "@taskmeta/sql/PipelineMigrations"

/** A unique, valid table prefix for one test file. */
export const uniquePrefix = (label: string): string =>
  `t_${label}_${Math.random().toString(36).slice(2, 8)}_`

/** Drops the pipeline tables of a prefix (children first). */
export const dropTables = (prefix: string) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const names = PipelineMigrations.tableNames(prefix)
    if (names._tag === "Left") return
    const t = names.right
    for (const table of [t.taskResults, t.taskExecutions, t.pipelineResults, t.executions, t.migrations]) {
      yield* sql`DROP TABLE IF EXISTS ${sql(table)}`
    }
  })

/**
 * Runs `effect` and returns the SQL texts of the statements it executed
 * (read from the `db.query.text` span attribute @effect/sql sets).
 */
export const captureStatements = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.tracerWith((base) => {
    const texts: Array<string> = []
    const tracer = Tracer.make({
      span: (name, parent, context, links, startTime, kind, options) => {
        const span = base.span(name, parent, context, links, startTime, kind, options)
        const attribute = span.attribute.bind(span)
        return Object.assign(span, {
          attribute: (key: string, value: unknown) => {
            if (key === "db.query.text") texts.push(String(value))
            attribute(key, value)
          }
        })
      },
      context: (f, fiber) => base.context(f, fiber)
    })
    return Effect.withTracer(effect, tracer).pipe(Effect.map((value) => [value, texts] as const))
  })
