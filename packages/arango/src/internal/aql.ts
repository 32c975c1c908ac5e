/**
 * Every AQL statement the backend sends. Values and the collection name are
 * always bind variables (`@@collection` for the collection); nothing a
 * caller supplies is ever spliced into query text.
 */

/** Reads the meta of a document in either form (JSON text since Celery 5.3.4, an object before). */
export const META = (doc: string) => `(IS_STRING(${doc}.task) ? JSON_PARSE(${doc}.task) : ${doc}.task)`

/**
 * Upserts a task record unless the stored one is SUCCESS (the sticky rule,
 * decided inside the statement from `OLD`). Returns `true` when the document
 * now holds `@task` (written, or the identical text was already there, as
 * after a retried write), `false` when a stored SUCCESS was kept.
 */
export const putTask = (ttl: boolean): string => {
  const extra = ttl ? ", expireAt: @expireAt" : ""
  return [
    "UPSERT { _key: @key }",
    `INSERT { _key: @key, task: @task${extra} }`,
    `UPDATE (${META("OLD")}.status == "SUCCESS" && OLD.task != @task ? {} : { task: @task${extra} })`,
    "IN @@collection",
    "RETURN NEW.task == @task"
  ].join("\n")
}

/** Reads many task documents in one query; the caller aligns them by key. */
export const getMany = [
  "FOR doc IN @@collection",
  "FILTER doc._key IN @keys",
  "RETURN [doc._key, doc.task]"
].join("\n")

/** Reads one document's `task`. */
export const getOne = [
  "FOR doc IN @@collection",
  "FILTER doc._key == @key",
  "LIMIT 1",
  "RETURN doc.task"
].join("\n")

/** Removes one document; a missing key matches nothing and is not an error. */
export const removeOne = [
  "FOR doc IN @@collection",
  "FILTER doc._key == @key",
  "REMOVE doc IN @@collection"
].join("\n")

/** Upserts a group. */
export const putGroup = (ttl: boolean): string => {
  const extra = ttl ? ", expireAt: @expireAt" : ""
  return [
    "UPSERT { _key: @key }",
    `INSERT { _key: @key, task: @task${extra} }`,
    `UPDATE { task: @task${extra} }`,
    "IN @@collection"
  ].join("\n")
}

/**
 * The task documents cleanup may remove: state in `@states` (READY states
 * only), `date_done` before `@before` (epoch millis). Shared by the cleanup
 * and by the browser's count of what a cleanup would remove, so the two
 * cannot drift apart.
 */
export const expiredTasks: ReadonlyArray<string> = [
  "FOR doc IN @@collection",
  "  FILTER STARTS_WITH(doc._key, @prefix)",
  `  LET meta = ${META("doc")}`,
  "  FILTER IS_OBJECT(meta) && meta.status IN @states && IS_STRING(meta.date_done)",
  "  LET done = DATE_TIMESTAMP(meta.date_done)",
  "  FILTER done != null && done < @before"
]

/** The group documents cleanup may remove: `date_done` before `@before`; groups without a date are kept. */
export const expiredGroups: ReadonlyArray<string> = [
  "FOR doc IN @@collection",
  "  FILTER STARTS_WITH(doc._key, @prefix)",
  `  LET meta = ${META("doc")}`,
  "  FILTER IS_OBJECT(meta) && IS_STRING(meta.date_done)",
  "  LET done = DATE_TIMESTAMP(meta.date_done)",
  "  FILTER done != null && done < @before"
]

/**
 * Removes at most `@limit` task documents whose state is in `@states` (READY
 * states only) and whose `date_done` is before `@before` (epoch millis), in
 * one transaction; returns how many. Dates are compared as instants
 * (DATE_TIMESTAMP understands naive UTC, `Z` and offsets); a record without a
 * readable date is never removed.
 */
export const cleanupTasks = [
  "LET removed = (",
  ...expiredTasks.map((line) => `  ${line}`),
  "    LIMIT @limit",
  "    REMOVE doc IN @@collection",
  "    RETURN 1",
  ")",
  "RETURN LENGTH(removed)"
].join("\n")

/** Removes at most `@limit` groups saved before `@before`; groups without a date are kept. */
export const cleanupGroups = [
  "LET removed = (",
  ...expiredGroups.map((line) => `  ${line}`),
  "    LIMIT @limit",
  "    REMOVE doc IN @@collection",
  "    RETURN 1",
  ")",
  "RETURN LENGTH(removed)"
].join("\n")
