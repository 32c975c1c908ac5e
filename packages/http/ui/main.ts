/**
 * The taskmeta dashboard: plain DOM, no framework, bundled by esbuild into
 * the package (`scripts/build-ui.mjs`). Every stored value is put on the
 * page with `textContent` (never as HTML), and the page runs under a
 * content security policy without inline scripts or styles.
 *
 * Routes live in the hash, filters too (`#/tasks?state=FAILURE&name=…`), so
 * a view can be bookmarked and the back button works.
 */

import { pretty } from "./pretty.js"

// ---------------------------------------------------------------------------
// API shapes (see DashboardApi)
// ---------------------------------------------------------------------------

interface Task {
  readonly taskId: string
  readonly status: string
  readonly result: string
  readonly traceback: string | null
  readonly dateDone: string | null
  readonly name: string | null
  readonly args: string | null
  readonly kwargs: string | null
  readonly worker: string | null
  readonly retries: number | null
  readonly queue: string | null
}
interface TaskPage {
  readonly tasks: ReadonlyArray<Task>
  readonly next: string | null
}
interface TaskDetail {
  readonly task: Task
  readonly stored: { readonly encoding: "json" | "pickle" | null; readonly bytes: number | null }
}
interface Group {
  readonly groupId: string
  readonly dateDone: string
  readonly taskIds: ReadonlyArray<string>
}
interface Stamped {
  readonly status: string
  readonly message: string
  readonly started: string | null
  readonly completed: string | null
}
interface Run extends Stamped {
  readonly runId: string
  readonly pipelineId: string
  readonly inputData: string
  readonly created: string
}
interface RunTree {
  readonly run: Run
  readonly pipelineResults: ReadonlyArray<
    Stamped & {
      readonly id: string
      readonly index: number
      readonly object: string
      readonly tasks: ReadonlyArray<
        Stamped & {
          readonly id: string
          readonly taskName: string
          readonly config: string
          readonly results: ReadonlyArray<Stamped & { readonly id: string; readonly index: number; readonly object: string }>
        }
      >
    }
  >
}
interface WindowStats {
  readonly since: string
  readonly until: string
  readonly bucketSeconds: number
  readonly byState: Readonly<Record<string, number>>
  readonly failureRate: number | null
  readonly buckets: ReadonlyArray<{ readonly start: string; readonly byState: Readonly<Record<string, number>> }>
  readonly topFailing: ReadonlyArray<{ readonly name: string | null; readonly failures: number; readonly total: number }>
}
interface Summary {
  readonly kind: string
  readonly tasks: number
  readonly byState: Readonly<Record<string, number>>
  readonly oldestUnfinished: { readonly taskId: string; readonly status: string } | null
  readonly cleanupDue: { readonly tasks: number; readonly groups: number }
  readonly writable: boolean
}

// ---------------------------------------------------------------------------
// DOM helpers (text only)
// ---------------------------------------------------------------------------

type Child = Node | string | null | undefined | false

const h = <K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attributes: Record<string, string | undefined> = {},
  ...children: ReadonlyArray<Child | ReadonlyArray<Child>>
): HTMLElementTagNameMap[K] => {
  const element = document.createElement(tag)
  for (const [key, value] of Object.entries(attributes)) if (value !== undefined) element.setAttribute(key, value)
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue
    element.append(typeof child === "string" ? document.createTextNode(child) : child)
  }
  return element
}

const SVG = "http://www.w3.org/2000/svg"
const s = (tag: string, attributes: Record<string, string | number>, ...children: ReadonlyArray<Node>): SVGElement => {
  const element = document.createElementNS(SVG, tag)
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value))
  element.append(...children)
  return element
}

const app = (): HTMLElement => document.getElementById("app")!

const show = (...children: ReadonlyArray<Child>) => {
  const root = app()
  root.replaceChildren()
  for (const child of children) if (child) root.append(child)
}

// ---------------------------------------------------------------------------
// formatting
// ---------------------------------------------------------------------------

const READY = new Set(["SUCCESS", "FAILURE", "REVOKED"])
const STATE_ORDER = ["SUCCESS", "FAILURE", "REVOKED", "STARTED", "RECEIVED", "REJECTED", "RETRY", "PENDING"]
const stateColor = (state: string): string =>
  ({
    SUCCESS: "#2da44e",
    FAILURE: "#cf222e",
    REVOKED: "#6e7781",
    STARTED: "#0969da",
    RETRY: "#bf8700",
    RECEIVED: "#8250df",
    REJECTED: "#953800",
    PENDING: "#afb8c1"
  } as Record<string, string>)[state] ?? "#1b7c83"

const badge = (state: string) => h("span", { class: `badge state-${/^[A-Z_]+$/.test(state) ? state : "CUSTOM"}` }, state)

/** "12 s ago", "3 min ago"… with the instant in the title; refreshed by `tickTimes`. */
const relative = (iso: string | null): HTMLElement => {
  if (iso === null) return h("span", { class: "muted" }, "—")
  return h("time", { datetime: iso, title: iso }, ago(iso))
}
const ago = (iso: string): string => {
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000)
  if (Number.isNaN(seconds)) return iso
  const future = seconds < 0
  const n = Math.abs(seconds)
  const text = n < 60 ? `${n} s` : n < 3600 ? `${Math.floor(n / 60)} min` : n < 86400 ? `${Math.floor(n / 3600)} h` : `${Math.floor(n / 86400)} d`
  return future ? `in ${text}` : `${text} ago`
}
const tickTimes = () => {
  for (const element of Array.from(document.querySelectorAll("time[datetime]"))) {
    const iso = element.getAttribute("datetime")
    if (iso !== null) element.textContent = ago(iso)
  }
}

const preview = (json: string, max = 80): string => (json.length > max ? `${json.slice(0, max - 1)}…` : json)

const api = async <A>(path: string, init?: RequestInit): Promise<A> => {
  const response = await fetch(path, { credentials: "same-origin", ...init })
  const body = await response.json().catch(() => null) as { readonly message?: string } | null
  if (!response.ok) throw new Error(body?.message ?? `${response.status} ${response.statusText}`)
  return body as A
}

const failure = (error: unknown) =>
  h("p", { class: "error", role: "alert" }, error instanceof Error ? error.message : String(error))

// ---------------------------------------------------------------------------
// live updates
// ---------------------------------------------------------------------------

type Listener = (task: Task) => void
const listeners = new Set<Listener>()
let source: EventSource | undefined

const connect = () => {
  const live = document.getElementById("live")!
  source = new EventSource("/api/events")
  source.addEventListener("open", () => {
    live.textContent = "live"
    live.className = "live on"
  })
  source.addEventListener("error", () => {
    live.textContent = "reconnecting…"
    live.className = "live off"
  })
  source.addEventListener("task", (event) => {
    const task = JSON.parse((event as MessageEvent<string>).data) as Task
    for (const listener of listeners) listener(task)
  })
}

// ---------------------------------------------------------------------------
// routing
// ---------------------------------------------------------------------------

interface Route {
  readonly path: ReadonlyArray<string>
  readonly params: URLSearchParams
}

const route = (): Route => {
  const hash = location.hash.replace(/^#/, "") || "/"
  const [path, query] = hash.split("?", 2) as [string, string | undefined]
  return { path: path.split("/").filter((p) => p !== "").map(decodeURIComponent), params: new URLSearchParams(query ?? "") }
}

const link = (path: string, text: string, attributes: Record<string, string> = {}) =>
  h("a", { href: `#${path}`, ...attributes }, text)

const taskLink = (id: string) => link(`/task/${encodeURIComponent(id)}`, id, { class: "mono" })

let cleanupView: (() => void) | undefined

const render = () => {
  cleanupView?.()
  cleanupView = undefined
  listeners.clear()
  const { params, path } = route()
  for (const a of Array.from(document.querySelectorAll("nav a"))) {
    a.classList.toggle("active", a.getAttribute("data-nav") === (path[0] === undefined ? "overview" : navOf(path[0])))
  }
  const view = path[0] === undefined
    ? overview()
    : path[0] === "tasks"
    ? tasks(params)
    : path[0] === "task" && path[1] !== undefined
    ? task(path[1])
    : path[0] === "groups"
    ? groups()
    : path[0] === "group" && path[1] !== undefined
    ? group(path[1])
    : path[0] === "pipelines"
    ? pipelines()
    : path[0] === "run" && path[1] !== undefined
    ? run(path[1])
    : Promise.resolve(show(h("p", {}, "No such page. "), link("/", "Back to the overview")))
  view.catch((error) => show(failure(error)))
}

const navOf = (first: string) =>
  first === "task" ? "tasks" : first === "group" ? "groups" : first === "run" ? "pipelines" : first

// ---------------------------------------------------------------------------
// overview
// ---------------------------------------------------------------------------

const WINDOWS: ReadonlyArray<readonly [string, number, number]> = [
  ["1 h", 3600, 60],
  ["6 h", 6 * 3600, 300],
  ["24 h", 24 * 3600, 900]
]

const overview = async () => {
  const { params } = route()
  const choice = WINDOWS.find(([label]) => label === params.get("window")) ?? WINDOWS[0]
  const [, span, bucket] = choice
  const until = new Date()
  const since = new Date(until.getTime() - span * 1000)
  const [summary, stats] = await Promise.all([
    api<Summary>("/api/summary"),
    api<WindowStats>(`/api/stats?since=${since.toISOString()}&until=${until.toISOString()}&bucket=${bucket}`)
  ])
  const cards = h(
    "section",
    { class: "cards", "data-testid": "state-counts" },
    h("div", { class: "card" }, h("div", { class: "label" }, "tasks"), h("div", { class: "value" }, String(summary.tasks))),
    ...orderStates(summary.byState).map(([state, n]) =>
      h(
        "a",
        { class: "card", href: `#/tasks?state=${encodeURIComponent(state)}`, "data-state": state },
        h("div", { class: "label" }, badge(state)),
        h("div", { class: "value" }, String(n))
      )
    )
  )
  const picker = h(
    "div",
    { class: "picker" },
    "Window: ",
    ...WINDOWS.map(([label]) =>
      link(`/?window=${encodeURIComponent(label)}`, label, label === choice[0] ? { class: "active" } : {})
    )
  )
  const perMinute = 60 / stats.bucketSeconds
  const rate = stats.failureRate === null ? "—" : `${(stats.failureRate * 100).toFixed(1)} %`
  show(
    h("h1", {}, "Overview ", h("span", { class: "muted small" }, `${summary.kind} store`)),
    cards,
    h(
      "p",
      { class: "facts" },
      "Oldest unfinished: ",
      summary.oldestUnfinished === null
        ? h("span", { class: "muted" }, "none")
        : h("span", {}, taskLink(summary.oldestUnfinished.taskId), " ", badge(summary.oldestUnfinished.status)),
      " · Cleanup due: ",
      `${summary.cleanupDue.tasks} tasks, ${summary.cleanupDue.groups} groups`,
      " ",
      summary.writable ? cleanupButton() : null
    ),
    picker,
    h(
      "section",
      { class: "plots" },
      h(
        "figure",
        { "data-testid": "plot-results" },
        h("figcaption", {}, `Results per minute by state (last ${choice[0]})`),
        barPlot(stats, perMinute)
      ),
      h(
        "figure",
        { "data-testid": "plot-failure-rate" },
        h("figcaption", {}, `Failure rate (last ${choice[0]}: ${rate})`),
        ratePlot(stats)
      )
    ),
    h("h2", {}, "Failing most"),
    stats.topFailing.length === 0
      ? h("p", { class: "muted" }, "No failures in this window.")
      : h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "task name"), h("th", {}, "failures"), h("th", {}, "finished"), h("th", {}, "rate"))),
        h(
          "tbody",
          {},
          ...stats.topFailing.map((f) =>
            h(
              "tr",
              {},
              h(
                "td",
                {},
                f.name === null
                  ? h("span", { class: "muted" }, "(no name)")
                  : link(`/tasks?state=FAILURE&name=${encodeURIComponent(f.name)}`, f.name)
              ),
              h("td", {}, String(f.failures)),
              h("td", {}, String(f.total)),
              h("td", {}, `${((f.failures / f.total) * 100).toFixed(1)} %`)
            )
          )
        )
      )
  )
  // Live: refresh the numbers at most every 5 s while results come in.
  let pending: ReturnType<typeof setTimeout> | undefined
  listeners.add(() => {
    if (pending !== undefined) return
    pending = setTimeout(() => {
      pending = undefined
      if (route().path.length === 0) render()
    }, 5000)
  })
  cleanupView = () => {
    if (pending !== undefined) clearTimeout(pending)
  }
}

const orderStates = (counts: Readonly<Record<string, number>>) =>
  Object.entries(counts).sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
const rank = (state: string) => {
  const i = STATE_ORDER.indexOf(state)
  return i === -1 ? 2.5 : i
}

const W = 640
const H = 180
const PAD = 44

const barPlot = (stats: WindowStats, scale: number): SVGElement => {
  const n = Math.max(1, stats.buckets.length)
  const totals = stats.buckets.map((b) => Object.values(b.byState).reduce((a, c) => a + c, 0) * scale)
  const max = Math.max(1, ...totals)
  const width = (W - PAD) / n
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 20}`, role: "img", "aria-label": "results per minute by state" })
  const states = Array.from(new Set(stats.buckets.flatMap((b) => Object.keys(b.byState)))).sort((a, b) => rank(a) - rank(b))
  stats.buckets.forEach((bucket, i) => {
    let y = H
    for (const state of states) {
      const value = (bucket.byState[state] ?? 0) * scale
      if (value === 0) continue
      const height = (value / max) * (H - 10)
      y -= height
      const rect = s("rect", {
        x: PAD + i * width,
        y,
        width: Math.max(1, width - 1),
        height,
        fill: stateColor(state),
        "data-state": state
      })
      rect.append(s("title", {}, document.createTextNode(`${bucket.start} ${state}: ${value.toFixed(1)}/min`)))
      svg.append(rect)
    }
  })
  svg.append(...axes(stats, max.toFixed(max < 10 ? 1 : 0)))
  const legend = s("g", {})
  states.forEach((state, i) => {
    legend.append(
      s("rect", { x: PAD + i * 110, y: H + 8, width: 10, height: 10, fill: stateColor(state) }),
      s("text", { x: PAD + 14 + i * 110, y: H + 17, class: "tick" }, document.createTextNode(state))
    )
  })
  svg.append(legend)
  return svg
}

const ratePlot = (stats: WindowStats): SVGElement => {
  const n = Math.max(1, stats.buckets.length)
  const width = (W - PAD) / n
  const svg = s("svg", { viewBox: `0 0 ${W} ${H + 20}`, role: "img", "aria-label": "failure rate" })
  const points: Array<string> = []
  stats.buckets.forEach((bucket, i) => {
    const failures = bucket.byState["FAILURE"] ?? 0
    const finished = failures + (bucket.byState["SUCCESS"] ?? 0)
    if (finished === 0) return
    points.push(`${(PAD + (i + 0.5) * width).toFixed(1)},${(H - (failures / finished) * (H - 10)).toFixed(1)}`)
  })
  if (points.length > 0) {
    svg.append(s("polyline", { points: points.join(" "), fill: "none", stroke: stateColor("FAILURE"), "stroke-width": 2 }))
    for (const point of points) {
      const [x, y] = point.split(",")
      svg.append(s("circle", { cx: x, cy: y, r: 2, fill: stateColor("FAILURE") }))
    }
  } else {
    svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" }, document.createTextNode("nothing finished")))
  }
  svg.append(...axes(stats, "100 %"))
  return svg
}

const axes = (stats: WindowStats, top: string): ReadonlyArray<SVGElement> => {
  const time = (iso: string) => new Date(iso).toISOString().slice(11, 16)
  return [
    s("line", { x1: PAD, y1: H, x2: W, y2: H, stroke: "#8c959f" }),
    s("line", { x1: PAD, y1: 10, x2: PAD, y2: H, stroke: "#8c959f" }),
    s("text", { x: PAD - 4, y: 14, "text-anchor": "end", class: "tick" }, document.createTextNode(top)),
    s("text", { x: PAD - 4, y: H, "text-anchor": "end", class: "tick" }, document.createTextNode("0")),
    s("text", { x: PAD, y: H + 30, class: "tick" }, document.createTextNode(`${time(stats.since)} UTC`)),
    s("text", { x: W, y: H + 30, "text-anchor": "end", class: "tick" }, document.createTextNode(`${time(stats.until)} UTC`))
  ]
}

const cleanupButton = () => {
  const button = h("button", { type: "button" }, "Clean up…")
  button.addEventListener("click", async () => {
    try {
      const dry = await post<{ tasks: number; groups: number }>("/api/cleanup", { dryRun: true })
      if (!confirm(`Delete ${dry.tasks} expired tasks and ${dry.groups} groups?`)) return
      const done = await post<{ tasks: number; groups: number }>("/api/cleanup", { dryRun: false })
      alert(`Deleted ${done.tasks} tasks and ${done.groups} groups.`)
      render()
    } catch (error) {
      alert(error instanceof Error ? error.message : String(error))
    }
  })
  return button
}

const post = <A>(path: string, body: unknown) =>
  api<A>(path, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })

// ---------------------------------------------------------------------------
// tasks
// ---------------------------------------------------------------------------

const FILTERS = ["state", "name", "worker", "queue", "text", "since", "until"] as const

const tasks = async (params: URLSearchParams) => {
  const query = new URLSearchParams()
  for (const key of FILTERS) for (const value of params.getAll(key)) if (value !== "") query.append(key, value)
  const form = h("form", { class: "filters", "data-testid": "filters" })
  const field = (key: (typeof FILTERS)[number], label: string, placeholder: string) =>
    h("label", {}, label, h("input", { name: key, value: params.get(key) ?? "", placeholder }))
  const state = h(
    "select",
    { name: "state" },
    h("option", { value: "" }, "any state"),
    ...STATE_ORDER.map((st) => {
      const option = h("option", { value: st }, st)
      option.selected = params.get("state") === st
      return option
    })
  )
  form.append(
    h("label", {}, "state", state),
    field("name", "name", "task name"),
    field("worker", "worker", "worker"),
    field("queue", "queue", "queue"),
    field("text", "text", "in result or traceback"),
    field("since", "done since", "ISO-8601"),
    h("button", { type: "submit" }, "Filter"),
    link("/tasks", "clear")
  )
  form.addEventListener("submit", (event) => {
    event.preventDefault()
    const next = new URLSearchParams()
    for (const [key, value] of new FormData(form)) if (typeof value === "string" && value.trim() !== "") next.append(key, value.trim())
    location.hash = `#/tasks${next.size > 0 ? `?${next}` : ""}`
  })
  const body = h("tbody", {})
  const table = h(
    "table",
    { class: "grid", "data-testid": "task-table" },
    h(
      "thead",
      {},
      h("tr", {}, ...["task id", "state", "name", "result", "worker", "queue", "done"].map((t) => h("th", {}, t)))
    ),
    body
  )
  const more = h("button", { type: "button", class: "more" }, "More")
  const rows = new Map<string, HTMLTableRowElement>()
  const row = (t: Task, fresh = false) => {
    const tr = h(
      "tr",
      { "data-task-id": t.taskId, "data-state": t.status, class: fresh ? "fresh" : undefined },
      h("td", {}, taskLink(t.taskId)),
      h("td", {}, badge(t.status)),
      h("td", {}, t.name ?? ""),
      h("td", { class: "mono result" }, preview(t.result)),
      h("td", {}, t.worker ?? ""),
      h("td", {}, t.queue ?? ""),
      h("td", {}, relative(t.dateDone))
    )
    return tr
  }
  let next: string | null = null
  const load = async () => {
    const q = new URLSearchParams(query)
    if (next !== null) q.set("after", next)
    const page = await api<TaskPage>(`/api/tasks?${q}`)
    for (const t of page.tasks) {
      if (rows.has(t.taskId)) continue
      const tr = row(t)
      rows.set(t.taskId, tr)
      body.append(tr)
    }
    next = page.next
    more.hidden = next === null
    empty.hidden = rows.size > 0
  }
  more.addEventListener("click", () => void load().catch((e) => more.replaceWith(failure(e))))
  const empty = h("p", { class: "muted" }, "No tasks match.")
  await load()
  show(h("h1", {}, "Tasks"), form, table, empty, more)
  // Live rows: a record matching the filters goes on top, or replaces its row.
  const states = query.getAll("state").map((x) => x.toUpperCase())
  const text = query.get("text")
  const since = query.get("since")
  const until = query.get("until")
  listeners.add((t) => {
    if (states.length > 0 && !states.includes(t.status)) {
      rows.get(t.taskId)?.remove()
      rows.delete(t.taskId)
      return
    }
    for (const key of ["name", "worker", "queue"] as const) {
      const wanted = query.get(key)
      if (wanted !== null && t[key] !== wanted) return
    }
    if (text !== null && !t.result.includes(text) && !(t.traceback ?? "").includes(text)) return
    if ((since !== null || until !== null) && (t.dateDone === null || !READY.has(t.status))) return
    if (since !== null && Date.parse(t.dateDone!) < Date.parse(since)) return
    if (until !== null && Date.parse(t.dateDone!) >= Date.parse(until)) return
    const tr = row(t, true)
    const old = rows.get(t.taskId)
    if (old !== undefined) old.replaceWith(tr)
    else body.prepend(tr)
    rows.set(t.taskId, tr)
    empty.hidden = true
  })
}

// ---------------------------------------------------------------------------
// one task
// ---------------------------------------------------------------------------

const task = async (id: string) => {
  let detail: TaskDetail
  try {
    detail = await api<TaskDetail>(`/api/tasks/${encodeURIComponent(id)}`)
  } catch (error) {
    show(h("h1", {}, "Task ", h("span", { class: "mono" }, id)), failure(error))
    return
  }
  const summary = await api<Summary>("/api/summary").catch(() => undefined)
  const draw = (t: Task, stored: TaskDetail["stored"]) => {
    const pickled = stored.encoding === "pickle"
    const meta: ReadonlyArray<readonly [string, Child]> = [
      ["state", badge(t.status)],
      ["name", t.name ?? h("span", { class: "muted" }, "—")],
      ["worker", t.worker ?? h("span", { class: "muted" }, "—")],
      ["queue", t.queue ?? h("span", { class: "muted" }, "—")],
      ["retries", t.retries === null ? h("span", { class: "muted" }, "—") : String(t.retries)],
      ["done", t.dateDone === null ? h("span", { class: "muted" }, "not finished") : h("span", {}, relative(t.dateDone), ` (${t.dateDone})`)],
      ["stored as", stored.encoding === null ? "nothing (null)" : `${stored.encoding}, ${stored.bytes} bytes`]
    ]
    const forget = summary?.writable === true
      ? (() => {
        const button = h("button", { type: "button", class: "danger" }, "Forget this task")
        button.addEventListener("click", async () => {
          if (!confirm(`Delete the record of ${t.taskId}?`)) return
          try {
            await api(`/api/tasks/${encodeURIComponent(t.taskId)}`, { method: "DELETE" })
            location.hash = "#/tasks"
          } catch (error) {
            alert(error instanceof Error ? error.message : String(error))
          }
        })
        return button
      })()
      : null
    show(
      h("h1", {}, "Task ", h("span", { class: "mono", "data-testid": "task-id" }, t.taskId)),
      h("dl", { class: "meta" }, ...meta.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
      h("h2", {}, READY.has(t.status) && t.status !== "SUCCESS" ? "Error" : "Result"),
      pickled
        ? h(
          "p",
          { class: "notice", "data-testid": "pickle-notice" },
          "Stored as a Python pickle (Celery's format) and decoded by taskmeta's safe decoder: nothing was imported or ",
          "run. Python objects show as inert {\"__pickle__\": …} descriptions."
        )
        : null,
      h("pre", { class: "result", "data-testid": "result" }, pretty(t.result)),
      t.traceback === null ? null : h("h2", {}, "Traceback"),
      t.traceback === null ? null : h("pre", { class: "traceback", "data-testid": "traceback" }, t.traceback),
      h("h2", {}, "Arguments"),
      h("pre", { class: "args", "data-testid": "args" }, `args   ${t.args === null ? "—" : pretty(t.args)}\nkwargs ${t.kwargs === null ? "—" : pretty(t.kwargs)}`),
      forget
    )
  }
  draw(detail.task, detail.stored)
  listeners.add((t) => {
    if (t.taskId === id) draw(t, detail.stored)
  })
}

// ---------------------------------------------------------------------------
// groups
// ---------------------------------------------------------------------------

const groups = async () => {
  const page = await api<{ groups: ReadonlyArray<Group>; next: string | null }>("/api/groups?limit=100")
  show(
    h("h1", {}, "Groups"),
    page.groups.length === 0
      ? h("p", { class: "muted" }, "No groups.")
      : h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, h("th", {}, "group id"), h("th", {}, "members"), h("th", {}, "saved"))),
        h(
          "tbody",
          {},
          ...page.groups.map((g) =>
            h(
              "tr",
              { "data-group-id": g.groupId },
              h("td", {}, link(`/group/${encodeURIComponent(g.groupId)}`, g.groupId, { class: "mono" })),
              h("td", {}, String(g.taskIds.length)),
              h("td", {}, relative(g.dateDone))
            )
          )
        )
      ),
    page.next === null ? null : h("p", { class: "muted" }, "The 100 most recent groups are shown.")
  )
}

const group = async (id: string) => {
  const detail = await api<{ group: Group; members: ReadonlyArray<Task> }>(`/api/groups/${encodeURIComponent(id)}`)
  const ready = detail.members.filter((m) => READY.has(m.status)).length
  show(
    h("h1", {}, "Group ", h("span", { class: "mono" }, detail.group.groupId)),
    h("p", {}, `${detail.members.length} tasks, ${ready} ready · saved `, relative(detail.group.dateDone)),
    h(
      "table",
      { class: "grid" },
      h("thead", {}, h("tr", {}, ...["task id", "state", "name", "result", "done"].map((t) => h("th", {}, t)))),
      h(
        "tbody",
        {},
        ...detail.members.map((t) =>
          h(
            "tr",
            { "data-task-id": t.taskId },
            h("td", {}, taskLink(t.taskId)),
            h("td", {}, badge(t.status)),
            h("td", {}, t.name ?? ""),
            h("td", { class: "mono result" }, preview(t.result)),
            h("td", {}, relative(t.dateDone))
          )
        )
      )
    )
  )
}

// ---------------------------------------------------------------------------
// pipelines
// ---------------------------------------------------------------------------

const pipelines = async () => {
  const list = await api<{ runs: ReadonlyArray<Run>; truncated: boolean }>("/api/pipelines/runs?limit=100")
  show(
    h("h1", {}, "Pipeline runs"),
    list.runs.length === 0
      ? h("p", { class: "muted" }, "No pipeline runs.")
      : h(
        "table",
        { class: "grid" },
        h("thead", {}, h("tr", {}, ...["run id", "pipeline", "status", "created", "completed"].map((t) => h("th", {}, t)))),
        h(
          "tbody",
          {},
          ...list.runs.map((r) =>
            h(
              "tr",
              { "data-run-id": r.runId },
              h("td", {}, link(`/run/${encodeURIComponent(r.runId)}`, r.runId, { class: "mono" })),
              h("td", {}, r.pipelineId),
              h("td", {}, badge(r.status)),
              h("td", {}, relative(r.created)),
              h("td", {}, relative(r.completed))
            )
          )
        )
      ),
    list.truncated ? h("p", { class: "muted" }, "The 100 most recent runs are shown.") : null
  )
}

const run = async (id: string) => {
  const tree = await api<RunTree>(`/api/pipelines/runs/${encodeURIComponent(id)}`)
  const message = (m: string) => (m === "null" ? null : h("span", { class: "mono muted" }, ` ${preview(m, 60)}`))
  const r = tree.run
  show(
    h("h1", {}, "Run ", h("span", { class: "mono" }, r.runId)),
    h(
      "p",
      {},
      `pipeline ${r.pipelineId} · `,
      badge(r.status),
      " · created ",
      relative(r.created),
      " · completed ",
      relative(r.completed),
      message(r.message)
    ),
    h("pre", { class: "args" }, `input ${pretty(r.inputData)}`),
    h(
      "ul",
      { class: "tree", "data-testid": "run-tree" },
      ...tree.pipelineResults.map((pr) =>
        h(
          "li",
          {},
          h("span", {}, `[${pr.index}] `, h("span", { class: "mono" }, preview(pr.object, 60)), " ", badge(pr.status), message(pr.message)),
          h(
            "ul",
            {},
            ...pr.tasks.map((te) =>
              h(
                "li",
                {},
                h("span", {}, te.taskName, " ", badge(te.status), message(te.message)),
                h(
                  "ul",
                  {},
                  ...te.results.map((tr) =>
                    h("li", {}, h("span", { class: "mono" }, `[${tr.index}] ${preview(tr.object, 60)}`), " ", badge(tr.status), message(tr.message))
                  )
                )
              )
            )
          )
        )
      )
    )
  )
}

// ---------------------------------------------------------------------------
// start
// ---------------------------------------------------------------------------

window.addEventListener("hashchange", render)
window.addEventListener("DOMContentLoaded", () => {
  connect()
  render()
  setInterval(tickTimes, 5000)
})
