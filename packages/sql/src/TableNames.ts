/**
 * The names of the tables (and the PostgreSQL schema) a SQL backend uses:
 * Celery's `celery_taskmeta` / `celery_tasksetmeta` by default, configurable
 * per backend instance (Celery's `configure(schema, name)`), validated as
 * plain SQL identifiers so they can be quoted into statements safely.
 *
 * @since 0.1.0
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"

/**
 * @since 0.1.0
 * @category models
 */
export interface TableNames {
  /**
   * PostgreSQL schema (on MySQL / MariaDB: the database); `undefined` uses the
   * connection's `search_path` (database) as Celery does.
   */
  readonly schema: string | undefined
  /** The task table [database_table_names.task]. Default `celery_taskmeta`. */
  readonly tasks: string
  /** The group table [database_table_names.group]. Default `celery_tasksetmeta`. */
  readonly groups: string
}

/**
 * @since 0.1.0
 * @category models
 */
export interface Input {
  readonly schema?: string | undefined
  readonly tasks?: string | undefined
  readonly groups?: string | undefined
}

/**
 * @since 0.1.0
 * @category constants
 */
export const defaults: TableNames = { schema: undefined, tasks: "celery_taskmeta", groups: "celery_tasksetmeta" }

/**
 * An identifier is a letter or `_` followed by letters, digits or `_`, at
 * most 63 characters (PostgreSQL's limit).
 *
 * @since 0.1.0
 * @category validation
 */
export const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * A schema or table name that is not a plain identifier.
 *
 * @since 0.1.0
 * @category errors
 */
export class InvalidTableName extends Schema.TaggedError<InvalidTableName>("@taskmeta/sql/InvalidTableName")(
  "InvalidTableName",
  { field: Schema.String, value: Schema.String }
) {
  override get message(): string {
    return `${this.field} ${JSON.stringify(this.value.slice(0, 80))} is not a valid identifier (letters, digits and _, not starting with a digit, at most 63 characters)`
  }
}

/**
 * Validates the names, filling in Celery's defaults.
 *
 * @since 0.1.0
 * @category constructors
 */
export const make = (input: Input = {}): Either.Either<TableNames, InvalidTableName> => {
  const names = {
    schema: input.schema,
    tasks: input.tasks ?? defaults.tasks,
    groups: input.groups ?? defaults.groups
  }
  for (const field of ["schema", "tasks", "groups"] as const) {
    const value = names[field]
    if (value !== undefined && !IDENTIFIER.test(value)) return Either.left(new InvalidTableName({ field, value }))
  }
  if (names.tasks === names.groups) return Either.left(new InvalidTableName({ field: "groups", value: names.groups }))
  return Either.right(names)
}

/**
 * A quoted identifier (the name must be valid).
 *
 * @since 0.1.0
 * @category sql
 */
export const quote = (name: string): string => `"${name}"`

/**
 * A quoted identifier for MySQL / MariaDB (backticks; the name must be valid).
 *
 * @since 0.1.0
 * @category sql
 */
export const quoteMysql = (name: string): string => `\`${name}\``

/**
 * A database-qualified, quoted name for MySQL / MariaDB, where `schema` names
 * the database (unqualified without one: the connection's database).
 *
 * @since 0.1.0
 * @category sql
 */
export const qualifyMysql = (names: TableNames, name: string): string =>
  names.schema === undefined ? quoteMysql(name) : `${quoteMysql(names.schema)}.${quoteMysql(name)}`

/**
 * A SQL string literal, for names and taskmeta's own constants in DDL and
 * utility statements that take no parameters.
 *
 * @since 0.1.0
 * @category sql
 */
export const literal = (text: string): string => `'${text.replace(/'/g, "''")}'`

/**
 * A schema-qualified, quoted name (unqualified without a schema).
 *
 * @since 0.1.0
 * @category sql
 */
export const qualify = (names: TableNames, name: string): string =>
  names.schema === undefined ? quote(name) : `${quote(names.schema)}.${quote(name)}`

/**
 * A derived identifier (an index or trigger name) kept within 63 characters:
 * long names are cut and suffixed with a hash so they stay unique.
 *
 * @since 0.1.0
 * @category sql
 */
export const derive = (...parts: ReadonlyArray<string>): string => {
  const name = parts.join("_")
  if (name.length <= 63) return name
  let h = 2166136261
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 16777619) >>> 0
  return `${name.slice(0, 54)}_${h.toString(16).padStart(8, "0")}`
}
