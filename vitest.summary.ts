/**
 * Prints one plain closing line after vitest's own summary:
 * `tests: N passed, N failed, N skipped`.
 */
import type { Reporter } from "vitest/reporters"

type Task = { readonly type: string; readonly mode?: string; readonly result?: { readonly state?: string }; readonly tasks?: ReadonlyArray<Task> }

export default class SummaryReporter implements Reporter {
  onFinished(files: ReadonlyArray<Task> = [], errors: ReadonlyArray<unknown> = []): void {
    let passed = 0
    let failed = errors.length
    let skipped = 0
    const visit = (task: Task): void => {
      if (task.type === "test") {
        const state = task.result?.state
        if (state === "pass") passed++
        else if (state === "fail") failed++
        else skipped++
      }
      for (const child of task.tasks ?? []) visit(child)
    }
    for (const file of files) {
      if (file.result?.state === "fail" && (file.tasks ?? []).length === 0) failed++
      visit(file)
    }
    // Defer past the default reporter's summary so this is the closing line.
    setImmediate(() => process.stdout.write(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`))
  }
}
