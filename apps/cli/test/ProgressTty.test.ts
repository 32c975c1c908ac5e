/**
 * The progress bar in a real terminal (issue 16): `taskmeta import` runs in a
 * tmux pane, and the pane is captured while it works. On a terminal the
 * bar shows the count, the total, the rate and the time left; when the
 * import ends, the bar is cleared and the summary stays.
 */
import { execFileSync, spawnSync } from "node:child_process"
import * as Fs from "node:fs"
import * as Path from "node:path"
import { fileURLToPath } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { has, tag } from "../../../testenv/requirements.js"
import { CLI, tempDir } from "./helpers.js"

const root = Path.resolve(Path.dirname(fileURLToPath(import.meta.url)), "../../..")
const tsx = Path.join(root, "apps/cli/node_modules/.bin/tsx")
const dir = tempDir("cli-tty")
const session = `taskmeta-progress-${process.pid}`
afterAll(() => {
  spawnSync("tmux", ["kill-session", "-t", session], { stdio: "ignore" })
  Fs.rmSync(dir, { recursive: true, force: true })
})

const LINES = 60_000

const line = (i: number) =>
  JSON.stringify({ kind: "task", task_id: `tty-${i}`, status: "SUCCESS", result: i, date_done: "2026-01-01T00:00:00.000123Z" })

const capture = () => execFileSync("tmux", ["capture-pane", "-p", "-t", session], { encoding: "utf8" })

describe.runIf(has("tmux"))(`taskmeta import in a terminal ${tag("tmux")}`, () => {
  it("draws a bar with the count, the share of the file read, the rate and the time left, then leaves the summary", async () => {
    const file = Path.join(dir, "in.jsonl")
    Fs.writeFileSync(file, Array.from({ length: LINES }, (_, i) => line(i)).join("\n") + "\n")
    const db = Path.join(dir, "tty.sqlite")
    const command = `${tsx} --conditions=source ${CLI} import ${file} --backend db+sqlite:///${db}; echo "exit=$?"; sleep 60`
    execFileSync("tmux", ["new-session", "-d", "-s", session, "-x", "140", "-y", "12", "env", "-u", "NO_COLOR", "sh", "-c", command])
    const seen: Array<string> = []
    let finished = ""
    for (let i = 0; i < 1200 && finished === ""; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      const pane = capture()
      for (const l of pane.split("\n")) if (l.startsWith("import ") && !seen.includes(l)) seen.push(l)
      if (/exit=\d+/.test(pane)) finished = pane
    }
    // While it ran: the bar (24 cells), the count, how much of the file is read, the rate and the time left.
    const BAR = /^import [=-]{24} ([\d,]+) records, (\d+)% of the input read, [\d,]+ records\/s, about \S+ left$/
    const bars = seen.filter((l) => BAR.test(l.trimEnd()))
    expect(bars.length).toBeGreaterThan(1)
    // it moved while it ran: a count between none and all, and a part of the file read
    expect(bars.some((l) => {
      const m = BAR.exec(l.trimEnd())!
      const n = Number(m[1].replace(/,/g, ""))
      return n > 0 && n < LINES && Number(m[2]) > 0 && Number(m[2]) < 100
    })).toBe(true)
    // At the end: exit 0, the summary, and no bar left on the screen.
    expect(finished).toContain("exit=0")
    expect(finished).toMatch(new RegExp(`imported ${LINES.toLocaleString("en-US")} tasks|imported ${LINES} tasks`))
    expect(finished.split("\n").some((l) => /^import [=-]{24} /.test(l))).toBe(false)
  }, 180_000)
})
