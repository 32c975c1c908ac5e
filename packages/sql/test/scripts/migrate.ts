// Child process for the migration tests: runs the migrations for the given
// dialect and target, prints the steps it applied as JSON.
import * as MysqlClient from "@effect/sql-mysql2/MysqlClient"
import * as PgClient from "@effect/sql-pg/PgClient"
import * as SqliteClient from "@effect/sql-sqlite-node/SqliteClient"
import type * as SqlClient from "@effect/sql/SqlClient"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as SqlMigrations from "../../src/SqlMigrations.js"

const [dialect, target, url] = process.argv.slice(2)
// mysql: `target` is the database, `url` the server's URL for it.
const client: Layer.Layer<SqlClient.SqlClient, unknown> = dialect === "pg"
  ? PgClient.layer({ url: Redacted.make(url) })
  : dialect === "mysql"
  ? MysqlClient.layer({ url: Redacted.make(url) })
  : SqliteClient.layer({ filename: target })
const tables = dialect === "pg"
  ? { schema: target, tasks: "celery_taskmeta", groups: "celery_tasksetmeta" }
  : { schema: undefined, tasks: "celery_taskmeta", groups: "celery_tasksetmeta" }
Effect.runPromise(SqlMigrations.run(tables).pipe(Effect.provide(client))).then(
  (applied) => {
    process.stdout.write(JSON.stringify(applied) + "\n")
    process.exit(0)
  },
  (e) => {
    process.stderr.write(String(e) + "\n")
    process.exit(1)
  }
)
