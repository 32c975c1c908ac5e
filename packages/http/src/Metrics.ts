/**
 * `/metrics`: the store's gauges in the Prometheus text exposition format
 * (version 0.0.4), read from the store at each scrape.
 *
 * | metric | meaning |
 * |---|---|
 * | `taskmeta_tasks{state}` | task records by state |
 * | `taskmeta_tasks_pending`, `taskmeta_tasks_started` | PENDING / STARTED records |
 * | `taskmeta_tasks_unfinished` | records in an UNREADY state |
 * | `taskmeta_oldest_unfinished_task_age_seconds` | how long the oldest unfinished task has been unfinished (see `Metrics.Observed`) |
 * | `taskmeta_cleanup_due{kind}` | task / group records a cleanup now would delete |
 * | `taskmeta_scrape_duration_seconds` | how long reading the store took |
 *
 * @since 0.1.0
 */
import * as TaskState from "@taskmeta/schema/TaskState"

/**
 * What one scrape read.
 *
 * @since 0.1.0
 * @category models
 */
export interface Observed {
  readonly byState: Readonly<Record<string, number>>
  /**
   * The oldest unfinished task's age in seconds: from the time its row
   * carries (Celery stamps every write), else from when this server first
   * saw it unfinished (taskmeta stamps READY writes only). `null`: none.
   */
  readonly oldestUnfinishedAge: number | null
  readonly cleanupDue: { readonly tasks: number; readonly groups: number }
  readonly scrapeSeconds: number
}

/**
 * The content type of the text format.
 *
 * @since 0.1.0
 * @category constants
 */
export const contentType = "text/plain; version=0.0.4; charset=utf-8"

/**
 * A label value escaped as the text format asks (backslash, quote, newline).
 *
 * @since 0.1.0
 * @category format
 */
export const escapeLabel = (value: string): string =>
  value.replace(/\\/g, "\\\\").replace(/"/g, "\\\"").replace(/\n/g, "\\n")

const number = (n: number): string => Number.isFinite(n) ? String(n) : n > 0 ? "+Inf" : n < 0 ? "-Inf" : "NaN"

/**
 * The exposition text.
 *
 * @since 0.1.0
 * @category format
 */
export const render = (observed: Observed): string => {
  const lines: Array<string> = []
  const gauge = (name: string, help: string, samples: ReadonlyArray<readonly [string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`)
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${number(value)}`)
  }
  const byState = observed.byState
  gauge(
    "taskmeta_tasks",
    "Task records stored, by state.",
    Object.entries(byState).map(([state, n]) => [`{state="${escapeLabel(state)}"}`, n] as const)
  )
  gauge("taskmeta_tasks_pending", "Task records in state PENDING.", [["", byState[TaskState.PENDING] ?? 0]])
  gauge("taskmeta_tasks_started", "Task records in state STARTED.", [["", byState[TaskState.STARTED] ?? 0]])
  gauge(
    "taskmeta_tasks_unfinished",
    "Task records in an unfinished state (PENDING, RECEIVED, STARTED, REJECTED, RETRY).",
    [["", Object.entries(byState).reduce((sum, [state, n]) => TaskState.isUnready(state) ? sum + n : sum, 0)]]
  )
  if (observed.oldestUnfinishedAge !== null) {
    gauge(
      "taskmeta_oldest_unfinished_task_age_seconds",
      "Age of the oldest unfinished task: since its row's stamp, else since this server first saw it unfinished.",
      [["", observed.oldestUnfinishedAge]]
    )
  }
  gauge("taskmeta_cleanup_due", "Records a cleanup now would delete, by kind.", [
    ["{kind=\"task\"}", observed.cleanupDue.tasks],
    ["{kind=\"group\"}", observed.cleanupDue.groups]
  ])
  gauge("taskmeta_scrape_duration_seconds", "Time spent reading the store for this scrape.", [[
    "",
    observed.scrapeSeconds
  ]])
  return `${lines.join("\n")}\n`
}
