/**
 * What `import`, `copy` and `export` share beyond the library's `Transfer`:
 * reading JSON lines into entries (numbered by line, strictly UTF-8), the
 * one-line summaries, and stopping on Ctrl-C at a batch boundary.
 */
import * as Cause from "effect/Cause"
import * as Chunk from "effect/Chunk"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as GroupRecord from "@taskmeta/schema/GroupRecord"
import * as Json from "@taskmeta/schema/Json"
import * as PipelineRun from "@taskmeta/schema/PipelineRun"
import * as TaskRecord from "@taskmeta/schema/TaskRecord"
import * as Transfer from "@taskmeta/stores/Transfer"

// ---------------------------------------------------------------------------
// lines
// ---------------------------------------------------------------------------

/**
 * A line of input: its number (from 1), its text, and how many bytes of the
 * input it and the lines before it take (for progress over a file).
 */
export interface Line {
  readonly _tag: "Line"
  readonly n: number
  readonly text: string
  readonly end: number
}

/** A line that is not UTF-8 text: its number. */
export class NotUtf8 extends Schema.TaggedError<NotUtf8>("@taskmeta/cli/NotUtf8")("NotUtf8", {
  line: Schema.Number,
  end: Schema.Number
}) {
  override get message(): string {
    return `line ${this.line}: not valid UTF-8 text`
  }
}

/**
 * The lines of a byte stream as text, each checked to be UTF-8 (a decoder
 * that replaced invalid bytes with U+FFFD would import a different id or
 * result than the one written). A line ends at `\n`; a `\r` before it is
 * dropped. A line that is not UTF-8 is a `NotUtf8` element, so a caller can
 * skip it or stop there.
 */
export const utf8Lines = <E, R>(bytes: Stream.Stream<Uint8Array, E, R>): Stream.Stream<Line | NotUtf8, E, R> =>
  Stream.suspend(() => {
    const decoder = new TextDecoder("utf-8", { fatal: true })
    let carry = new Uint8Array(0)
    let n = 0
    let offset = 0
    const split = (chunk: Uint8Array): Array<Uint8Array> => {
      const joined = carry.length === 0 ? chunk : new Uint8Array(carry.length + chunk.length)
      if (joined !== chunk) {
        joined.set(carry)
        joined.set(chunk, carry.length)
      }
      const out: Array<Uint8Array> = []
      let start = 0
      for (let i = joined.indexOf(10); i !== -1; i = joined.indexOf(10, start)) {
        out.push(joined.subarray(start, i))
        start = i + 1
      }
      carry = joined.slice(start)
      return out
    }
    const decode = (bytes: Uint8Array): Line | NotUtf8 => {
      n++
      offset += bytes.length + 1
      try {
        const text = decoder.decode(bytes)
        return { _tag: "Line", n, text: text.endsWith("\r") ? text.slice(0, -1) : text, end: offset }
      } catch {
        return new NotUtf8({ line: n, end: offset })
      }
    }
    return bytes.pipe(
      Stream.mapConcat(split),
      Stream.concat(Stream.suspend(() => (carry.length > 0 ? Stream.make(carry) : Stream.empty))),
      Stream.map(decode)
    )
  })

const RecordLine = Schema.Union(TaskRecord.TaskLine, GroupRecord.GroupLine, PipelineRun.RunLine)
const decodeLine = Schema.decodeUnknownEither(RecordLine, { onExcessProperty: "error" })

/**
 * The record of one line of text, or why it is not one. A well-formed task
 * line (nearly every line of an export) takes `TaskRecord.fromLine`; the
 * rest is decoded by the line schemas, which say what is wrong.
 */
export const parseLine = (text: string): Either.Either<Transfer.Item, string> =>
  Either.flatMap(
    Either.mapLeft(Json.parse(text), (e) => e.reason),
    (json) => {
      const task = TaskRecord.fromLine(json)
      if (task !== undefined) return Either.right(Transfer.Item.Task({ record: task }))
      return Either.match(decodeLine(json), {
        onLeft: (e) => {
          const [issue] = ParseResult.ArrayFormatter.formatErrorSync(e)
          const where = issue === undefined || issue.path.length === 0 ? "" : `${issue.path.join(".")}: `
          return Either.left(`not a task, group or pipeline run line (${where}${issue?.message ?? "unexpected shape"})`)
        },
        onRight: (record) =>
          Either.right(
            "taskId" in record
              ? Transfer.Item.Task({ record })
              : "groupId" in record
              ? Transfer.Item.Group({ group: record })
              : Transfer.Item.Run({ run: record })
          )
      })
    }
  )

/** A line that is not a record: its number and why. */
export class BadLine extends Schema.TaggedError<BadLine>("@taskmeta/cli/BadLine")("BadLine", {
  line: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `line ${this.line}: ${this.reason}`
  }
}

/** An entry with where its line ends in the input (bytes). */
export interface Read extends Transfer.Entry {
  readonly end: number
}

/**
 * The entries of JSON lines (blank lines skipped). A bad line fails the
 * stream with `BadLine` after the entries before it, or — given `onSkip` —
 * is handed there and left out. Lines are parsed a chunk at a time.
 */
export const entries = <E, R>(
  bytes: Stream.Stream<Uint8Array, E, R>,
  onSkip?: (bad: BadLine) => Effect.Effect<void>
): Stream.Stream<Read, E | BadLine, R> =>
  Stream.suspend(() => {
    const parse = (line: Line | NotUtf8): Either.Either<Read, BadLine> | undefined => {
      if (line._tag === "NotUtf8") return Either.left(new BadLine({ line: line.line, reason: "not valid UTF-8 text" }))
      if (line.text.trim() === "") return undefined
      return Either.match(parseLine(line.text), {
        onLeft: (reason) => Either.left(new BadLine({ line: line.n, reason })),
        onRight: (item) => Either.right({ at: line.n, item, end: line.end })
      })
    }
    const parsed = utf8Lines(bytes).pipe(
      Stream.mapChunks((lines) => Chunk.filterMap(lines, (line) => Option.fromNullable(parse(line))))
    )
    if (onSkip !== undefined) {
      return parsed.pipe(
        Stream.mapChunksEffect((chunk) => {
          const [bad, good] = Chunk.partitionMap(chunk, (r) => r)
          return Chunk.isEmpty(bad) ? Effect.succeed(good) : Effect.as(Effect.forEach(bad, onSkip, { discard: true }), good)
        })
      )
    }
    // Stop at the first bad line: the entries before it go on, then the stream fails with it.
    let bad: BadLine | undefined
    return parsed.pipe(
      Stream.takeUntil(Either.isLeft),
      Stream.mapChunks((chunk) =>
        Chunk.filterMap(chunk, (r) => {
          if (Either.isRight(r)) return Option.some(r.right)
          bad = r.left
          return Option.none()
        })
      ),
      Stream.concat(Stream.suspend(() => (bad === undefined ? Stream.empty : Stream.fail(bad))))
    )
  })

// ---------------------------------------------------------------------------
// summaries
// ---------------------------------------------------------------------------

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`

const total = (c: Transfer.Counts) => c.new + c.changed + c.unchanged + c.kept

/**
 * `4 tasks, 1 group and 2 pipeline runs (5 new, 1 changed, 1 unchanged)`
 * (with `, 2 left as they were …` when the target kept records of its own).
 */
export const counts = (report: Transfer.Report): string => {
  const sum = (k: keyof Transfer.Counts) => report.tasks[k] + report.groups[k] + report.runs[k]
  const kept = sum("kept")
  return `${plural(total(report.tasks), "task")}, ${plural(total(report.groups), "group")} and ${
    plural(total(report.runs), "pipeline run")
  } (${sum("new")} new, ${sum("changed")} changed, ${sum("unchanged")} unchanged` +
    (kept > 0 ? `, ${kept} left as they were: a stored SUCCESS is final, a stored pipeline run is never rewritten` : "") +
    ")"
}

/**
 * The summary of an import or a copy: what it did (or, in a dry run, would
 * do), where it stopped if it was interrupted, and the lines it skipped.
 */
export const summary = (verb: "imported" | "copied", report: Transfer.Report, where = ""): string => {
  const done = report.dryRun ? `would have ${verb}` : verb
  const head = report.stopped
    ? `interrupted after ${verb === "imported" ? "line" : "record"} ${report.through}: ${done} `
    : `${report.dryRun ? `would ${verb === "imported" ? "import" : "copy"}` : verb} `
  return head + counts(report) + where +
    (report.invalid > 0 ? `; skipped ${plural(report.invalid, "invalid line")}` : "") +
    (report.dryRun ? " (dry run: nothing was written)" : "")
}

// ---------------------------------------------------------------------------
// Ctrl-C
// ---------------------------------------------------------------------------

/**
 * Runs `work` so that an interruption (Ctrl-C: the runtime interrupts the
 * main fiber) does not cut it off: `stop` completes, `work` finishes what
 * it started (it should end at a batch boundary and report), and then the
 * interruption goes on (the process exits 130).
 */
export const stoppable = <A, E, R>(
  work: (stop: Effect.Effect<void>) => Effect.Effect<A, E, R>
): Effect.Effect<A, E, R> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.gen(function*() {
      const stop = yield* Deferred.make<void>()
      // A daemon: a child of this fiber would be interrupted with it. It is always awaited below.
      const fiber = yield* Effect.forkDaemon(restore(work(Deferred.await(stop))))
      const exit = yield* Effect.exit(restore(Fiber.join(fiber)))
      if (Exit.isSuccess(exit)) return exit.value
      if (Option.isSome(yield* Fiber.poll(fiber)) || !Cause.isInterruptedOnly(exit.cause)) return yield* exit
      // Interrupted while the work runs: stop it at a batch boundary, wait, then stay interrupted.
      yield* Deferred.succeed(stop, undefined)
      const finished = yield* Fiber.await(fiber)
      if (Exit.isFailure(finished) && !Cause.isInterruptedOnly(finished.cause)) return yield* finished
      return yield* Effect.interrupt
    })
  )
