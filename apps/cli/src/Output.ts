/**
 * How the CLI prints: JSON lines for programs (one object per line, integers
 * beyond 2^53 with every digit), aligned tables and key/value blocks for
 * people.
 *
 * @since 0.1.0
 */
import * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import * as ExceptionInfo from "@taskmeta/schema/ExceptionInfo"
import * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import type * as Pipeline from "@taskmeta/schema/Pipeline"
import * as PipelineRun from "@taskmeta/schema/PipelineRun"
import * as TaskRecord from "@taskmeta/schema/TaskRecord"
import type * as ResultBrowser from "@taskmeta/core/ResultBrowser"

// ---------------------------------------------------------------------------
// JSON lines
// ---------------------------------------------------------------------------

const encodeTask = Schema.encodeSync(TaskRecord.TaskLine)
const encodeGroup = Schema.encodeSync(GroupRecord.GroupLine)

/**
 * `{"kind":"task","task_id",…}` on one line.
 *
 * @since 0.1.0
 * @category json
 */
export const taskLine = (record: TaskRecord.TaskRecord): string => Json.stringify(encodeTask(record) as unknown as Json.Json)

/**
 * `{"kind":"group","group_id","task_ids","date_done"}` on one line.
 *
 * @since 0.1.0
 * @category json
 */
export const groupLine = (group: GroupRecord.GroupRecord): string =>
  Json.stringify(encodeGroup(group) as unknown as Json.Json)

/**
 * The stats as one JSON object (snake_case, like the record lines).
 *
 * @since 0.1.0
 * @category json
 */
export const statsLine = (stats: ResultBrowser.Stats): string =>
  Json.stringify({
    kind: "stats",
    tasks: stats.tasks,
    groups: stats.groups,
    by_state: stats.byState,
    failure_rate: stats.failureRate,
    by_name: stats.byName.map((n) => ({
      name: n.name,
      total: n.total,
      by_state: n.byState,
      failure_rate: n.failureRate
    }))
  })

const iso = (d: DateTime.Utc | null): string | null => (d === null ? null : DateTime.formatIso(d))

/**
 * A pipeline run (its execution) as one JSON object carrying `run_id`.
 *
 * @since 0.1.0
 * @category json
 */
export const pipelineRunLine = (execution: Pipeline.PipelineExecution): string =>
  Json.stringify({
    kind: "pipeline_run",
    run_id: execution.runId,
    pipeline_id: execution.pipelineId,
    status: execution.status,
    message: execution.message,
    input_data: execution.inputData,
    created: DateTime.formatIso(execution.created),
    started: iso(execution.started),
    completed: iso(execution.completed)
  })

const encodeRun = Schema.encodeSync(PipelineRun.RunLine)

/**
 * A run's whole tree as one JSON object (`PipelineRun.RunLine`: the line
 * `export` prints and `import` reads).
 *
 * @since 0.1.0
 * @category json
 */
export const pipelineTreeLine = (tree: PipelineTree): string => Json.stringify(encodeRun(tree) as unknown as Json.Json)

/**
 * @since 0.1.0
 * @category models
 */
export interface PipelineTree {
  readonly execution: Pipeline.PipelineExecution
  readonly pipelineResults: ReadonlyArray<Pipeline.PipelineResult>
  readonly taskExecutions: ReadonlyArray<Pipeline.TaskExecution>
  readonly taskResults: ReadonlyArray<Pipeline.TaskResult>
}

// ---------------------------------------------------------------------------
// for people
// ---------------------------------------------------------------------------

/**
 * A stored value, short: the error envelope as `Type: message`, anything
 * else as compact JSON.
 *
 * @since 0.1.0
 * @category human
 */
export const value = (v: Json.Json): string => (ExceptionInfo.isEncoded(v) ? ExceptionInfo.format(v) : Json.stringify(v))

/**
 * A date for people: `2026-05-01 12:00:00Z` (UTC).
 *
 * @since 0.1.0
 * @category human
 */
export const date = (d: DateTime.Utc | null): string =>
  d === null ? "-" : DateTime.formatIso(d).replace("T", " ").replace(/\.\d+Z$/, "Z")

/**
 * How long ago, for people: `just now`, `45s ago`, `12m ago`, `3h ago`,
 * `5d ago` (`in 2m` for a time ahead of `now`).
 *
 * @since 0.1.0
 * @category human
 */
export const ago = (d: DateTime.Utc, now: DateTime.Utc): string => {
  const seconds = Math.round((DateTime.toEpochMillis(now) - DateTime.toEpochMillis(d)) / 1000)
  const span = Math.abs(seconds)
  const text = span < 5
    ? "just now"
    : span < 60
    ? `${span}s`
    : span < 3600
    ? `${Math.floor(span / 60)}m`
    : span < 86_400
    ? `${Math.floor(span / 3600)}h`
    : `${Math.floor(span / 86_400)}d`
  return text === "just now" ? text : seconds >= 0 ? `${text} ago` : `in ${text}`
}

const truncate = (text: string, width: number): string =>
  text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`

const oneLine = (text: string) => text.replace(/\s*\n\s*/g, " ")

/**
 * An aligned table with a header row. Cells are cut to `maxWidth`
 * (per column, default 60).
 *
 * @since 0.1.0
 * @category human
 */
export const table = (
  headers: ReadonlyArray<string>,
  rows: ReadonlyArray<ReadonlyArray<string>>,
  maxWidth: ReadonlyArray<number> = []
): string => {
  const cells = rows.map((row) => row.map((c, i) => truncate(oneLine(c), maxWidth[i] ?? 60)))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? "").length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]))).join("  ").trimEnd()
  return [line(headers), ...cells.map(line)].join("\n")
}

/**
 * The task table `list` and `group` print: the date with how long ago
 * (against `now`), and, given the terminal's `width`, the name and result
 * columns cut so that every line fits (the result keeps at least 12
 * characters).
 *
 * @since 0.1.0
 * @category human
 */
export const taskTable = (
  records: ReadonlyArray<TaskRecord.TaskRecord>,
  options: { readonly now?: DateTime.Utc | undefined; readonly width?: number | undefined } = {}
): string => {
  const when = (d: DateTime.Utc | null) =>
    d === null ? "-" : options.now === undefined ? date(d) : `${date(d)} (${ago(d, options.now)})`
  const rows = records.map((r) => [r.taskId, r.status, r.name ?? "-", when(r.dateDone), value(r.result)])
  const widths = [40, 12, 32, 32, 48]
  if (options.width !== undefined && options.width > 0) {
    // What the first four columns take (as printed, two spaces apart); the rest is the result's.
    const used = (i: number) => Math.max(["TASK ID", "STATUS", "NAME", "DATE DONE"][i].length, ...rows.map((r) => Math.min(r[i].length, widths[i])))
    const name = Math.max(8, Math.min(widths[2], options.width - used(0) - used(1) - used(3) - 12 - 8))
    widths[2] = name
    widths[4] = Math.max(12, options.width - used(0) - used(1) - Math.min(used(2), name) - used(3) - 8)
  }
  return table(["TASK ID", "STATUS", "NAME", "DATE DONE", "RESULT"], rows, widths)
}

/**
 * One task as a key/value block (`get`, `wait`).
 *
 * @since 0.1.0
 * @category human
 */
export const taskBlock = (r: TaskRecord.TaskRecord): string => {
  const rows: Array<readonly [string, string]> = [
    ["task id", r.taskId],
    ["status", r.status],
    ["result", value(r.result)],
    ["date done", date(r.dateDone)],
    ["name", r.name ?? "-"],
    ["args", r.args === null ? "-" : Json.stringify(r.args)],
    ["kwargs", r.kwargs === null ? "-" : Json.stringify(r.kwargs)],
    ["worker", r.worker ?? "-"],
    ["retries", r.retries === null ? "-" : String(r.retries)],
    ["queue", r.queue ?? "-"]
  ]
  const width = Math.max(...rows.map(([k]) => k.length))
  const out = rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`)
  if (r.traceback !== null) out.push(`traceback:`, ...r.traceback.trimEnd().split("\n").map((l) => `  ${l}`))
  return out.join("\n")
}

const percent = (rate: number | null) => (rate === null ? "-" : `${(rate * 100).toFixed(1)}%`)

/**
 * `stats` for people.
 *
 * @since 0.1.0
 * @category human
 */
export const statsBlock = (stats: ResultBrowser.Stats): string => {
  const finished = (stats.byState.SUCCESS ?? 0) + (stats.byState.FAILURE ?? 0) + (stats.byState.REVOKED ?? 0)
  const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`
  const head = `${plural(stats.tasks, "task")}, ${plural(stats.groups, "group")}; failure rate ${percent(stats.failureRate)}` +
    (finished > 0 ? ` (${stats.byState.FAILURE ?? 0} of ${finished} finished)` : "")
  if (stats.tasks === 0) return head
  const states = table(["STATE", "COUNT"], Object.entries(stats.byState).map(([s, n]) => [s, String(n)]))
  const names = table(
    ["NAME", "TOTAL", "SUCCESS", "FAILURE", "OTHER", "FAILURE RATE"],
    stats.byName.map((n) => {
      const success = n.byState.SUCCESS ?? 0
      const failure = n.byState.FAILURE ?? 0
      return [
        n.name ?? "(no name)",
        String(n.total),
        String(success),
        String(failure),
        String(n.total - success - failure),
        percent(n.failureRate)
      ]
    })
  )
  return `${head}\n\n${states}\n\n${names}`
}

/**
 * A run's tree for people:
 *
 * ```
 * run-1  demo_pipeline  DONE  started … completed …
 * ├─ [0] {"file":"a.csv"}  DONE
 * │  ├─ load  DONE
 * │  │  └─ [0] "row-1"  DONE
 * ```
 *
 * @since 0.1.0
 * @category human
 */
export const pipelineTree = (tree: PipelineTree): string => {
  const e = tree.execution
  const lines = [
    `${e.runId}  ${e.pipelineId}  ${e.status}  created ${date(e.created)}  started ${date(e.started)}  completed ${
      date(e.completed)
    }${e.message === null ? "" : `  ${truncate(value(e.message), 60)}`}`
  ]
  const msg = (m: Json.Json) => (m === null ? "" : `  ${truncate(oneLine(value(m)), 60)}`)
  tree.pipelineResults.forEach((pr, i) => {
    const lastPr = i === tree.pipelineResults.length - 1
    lines.push(`${lastPr ? "└─" : "├─"} [${pr.index}] ${truncate(value(pr.object), 40)}  ${pr.status}${msg(pr.message)}`)
    const pad1 = lastPr ? "   " : "│  "
    const tes = tree.taskExecutions.filter((te) => te.pipelineResultId === pr.id)
    tes.forEach((te, j) => {
      const lastTe = j === tes.length - 1
      lines.push(`${pad1}${lastTe ? "└─" : "├─"} ${te.taskName}  ${te.status}${msg(te.message)}`)
      const pad2 = pad1 + (lastTe ? "   " : "│  ")
      const trs = tree.taskResults.filter((tr) => tr.taskExecutionId === te.id)
      trs.forEach((tr, k) => {
        lines.push(
          `${pad2}${k === trs.length - 1 ? "└─" : "├─"} [${tr.index}] ${truncate(value(tr.object), 40)}  ${tr.status}${
            msg(tr.message)
          }`
        )
      })
    })
  })
  return lines.join("\n")
}
