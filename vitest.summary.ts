/**
 * Prints plain closing lines after vitest's own summary: one per missing
 * outside dependency whose suites were skipped (what, how many tests, how to
 * enable them; see `testenv/requirements.ts`), then
 * `tests: N passed, N failed, N skipped`.
 */
import type { Reporter } from "vitest/reporters"
import { DEPENDENCIES, type Dependency, has, tag } from "./testenv/requirements.js"

type Task = {
  readonly type: string
  readonly name?: string
  readonly mode?: string
  readonly result?: { readonly state?: string }
  readonly tasks?: ReadonlyArray<Task>
}

export default class SummaryReporter implements Reporter {
  onFinished(files: ReadonlyArray<Task> = [], errors: ReadonlyArray<unknown> = []): void {
    let passed = 0
    let failed = errors.length
    let skipped = 0
    const dependencies = Object.keys(DEPENDENCIES) as Array<Dependency>
    const skippedFor = new Map<Dependency, number>()
    const visit = (task: Task, names: string): void => {
      const here = `${names} ${task.name ?? ""}`
      if (task.type === "test") {
        const state = task.result?.state
        if (state === "pass") passed++
        else if (state === "fail") failed++
        else {
          skipped++
          for (const d of dependencies) {
            if (here.includes(tag(d))) skippedFor.set(d, (skippedFor.get(d) ?? 0) + 1)
          }
        }
      }
      for (const child of task.tasks ?? []) visit(child, here)
    }
    for (const file of files) {
      if (file.result?.state === "fail" && (file.tasks ?? []).length === 0) failed++
      visit(file, "")
    }
    const lines: Array<string> = []
    for (const d of dependencies) {
      const n = skippedFor.get(d) ?? 0
      if (n > 0 && !has(d)) {
        lines.push(`skipped: ${n} test${n === 1 ? "" : "s"} that need ${DEPENDENCIES[d].title}; to run them: ${DEPENDENCIES[d].enable}`)
      }
    }
    lines.push(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`)
    // Defer past the default reporter's summary so these are the closing lines.
    setImmediate(() => process.stdout.write(lines.map((l) => `${l}\n`).join("")))
  }
}
