/**
 * What the benchmark's parent process (`run.ts`) and its store processes
 * (`store-process.ts`) share: the loop that times each call, percentiles,
 * and the result every store writes.
 */
import * as Effect from "effect/Effect"

/** The default PostgreSQL of `pnpm bench` (override with TASKMETA_BENCH_PG_URL). */
export const DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"

/** The value every benchmark store writes. */
export const result = { value: 12345, items: ["a", "b", "c"], ok: true }

/** Record `i` of store process `k` in the multi-process row (`store-process.ts`, `multiprocess.ts`). */
export const processTaskId = (run: string, k: number, i: number): string => `${run}-mp-p${k}-${i}`

/** The `p` quantile (0–1) of `xs`; 0 when empty. */
export const percentile = (xs: ReadonlyArray<number>, p: number): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? 0 : s[Math.min(s.length - 1, Math.floor(p * s.length))]
}

/**
 * Runs `op(0)` … `op(total - 1)` from `concurrency` workers, each a plain
 * generator loop timing its own calls (the same measurement the raw drivers'
 * loops make): the harness costs well under a microsecond per call, so what
 * is measured is the code under test. Returns the wall time in seconds.
 */
export const parallel = <E>(
  concurrency: number,
  total: number,
  op: (i: number) => Effect.Effect<unknown, E>,
  latencies?: Array<number>
): Effect.Effect<number, E> =>
  Effect.gen(function*() {
    let next = 0
    const worker = Effect.gen(function*() {
      for (let i = next++; i < total; i = next++) {
        const s = performance.now()
        yield* op(i)
        latencies?.push(performance.now() - s)
      }
    })
    const t0 = performance.now()
    if (concurrency === 1) yield* worker
    else yield* Effect.all(Array.from({ length: concurrency }, () => worker), { concurrency: "unbounded", discard: true })
    return (performance.now() - t0) / 1000
  })
