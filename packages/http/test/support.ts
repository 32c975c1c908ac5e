/**
 * What the dashboard tests share: the server in-process on a free loopback
 * port over a real store (a SQLite file in a temp directory, or a fresh
 * schema of the real PostgreSQL), plain HTTP requests with any headers, a
 * log sink to look for secrets in, and the fixture records.
 */
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as HttpServer from "@effect/platform/HttpServer"
import * as SqlClient from "@effect/sql/SqlClient"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Logger from "effect/Logger"
import * as PipelineStore from "@taskmeta/core/PipelineStore"
import * as ResultBackend from "@taskmeta/core/ResultBackend"
import * as UtcTime from "@taskmeta/schema/UtcTime"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"
import * as Stores from "@taskmeta/stores/Stores"
import * as fs from "node:fs"
import * as http from "node:http"
import * as os from "node:os"
import * as path from "node:path"
import * as DashboardServer from "../src/DashboardServer.js"

export const PG = process.env.TASKMETA_TEST_PG_URL ?? "postgres://postgres@127.0.0.1:5432/test"

/** The PostgreSQL URL with a password in it (trust authentication ignores it): it must never show. */
export const PASSWORD = "pw-Never-Shown-7f3a"
export const pgUrlWithPassword = (): string => {
  const u = new URL(PG)
  u.password = PASSWORD
  return u.toString()
}

export const suffix = () => `${process.pid}_${Math.random().toString(36).slice(2, 8)}`

export const tempDir = (name: string) => fs.mkdtempSync(path.join(os.tmpdir(), `taskmeta-http-${name}-`))

export const removeDir = (dir: string) => fs.rmSync(dir, { recursive: true, force: true })

/** Drops a test's PostgreSQL schema. */
export const dropPgSchema = async (schema: string) => {
  const url = Either.getOrThrow(BackendUrl.parse(PG))
  if (url._tag !== "Postgres") return
  await Effect.runPromise(
    Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)).pipe(
      Effect.provide(Stores.clientLayer(url))
    )
  )
}

/** The port the test server listens on. */
export class Port extends Context.Tag("test/Port")<Port, number>() {}

/** Every log line the layer writes (to look for secrets in). */
export const logLines: Array<string> = []

const capture = Logger.replace(
  Logger.defaultLogger,
  Logger.make(({ annotations, cause, logLevel, message }) => {
    logLines.push(`${logLevel.label} ${JSON.stringify(message)} ${JSON.stringify(Object.fromEntries(annotations))} ${String(cause)}`)
  })
)

/**
 * The dashboard on a free port of 127.0.0.1 over the store the URL names
 * (extended results on), with the store's services and the port in context.
 */
export const serve = (
  url: string,
  options: DashboardServer.Options = {},
  storeOptions: Stores.Options = {}
) =>
  Layer.mergeAll(
    DashboardServer.layer({ hosts: DashboardServer.hostsFor("127.0.0.1"), ...options }),
    Layer.effect(
      Port,
      Effect.map(HttpServer.HttpServer, (server) => (server.address as HttpServer.TcpAddress).port)
    )
  ).pipe(
    Layer.provideMerge(Stores.layerFromUrl(url, { resultExtended: true, ...storeOptions })),
    Layer.provideMerge(NodeHttpServer.layer(http.createServer, { host: "127.0.0.1", port: 0 })),
    Layer.provide(capture)
  )

export interface Reply {
  readonly status: number
  readonly headers: http.IncomingHttpHeaders
  readonly text: string
  readonly json: any
}

/** One HTTP request with exactly these headers (Host and Origin included). */
export const request = (
  port: number,
  method: string,
  pathname: string,
  options: { readonly headers?: Record<string, string> | undefined; readonly body?: string | undefined } = {}
): Promise<Reply> =>
  new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, method, path: pathname, headers: { host: `127.0.0.1:${port}`, ...options.headers } },
      (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (c: Buffer) => chunks.push(c))
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8")
          let json: unknown = undefined
          try {
            json = JSON.parse(text)
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json })
        })
      }
    )
    req.on("error", reject)
    req.setTimeout(20_000, () => req.destroy(new Error(`${method} ${pathname}: no answer in 20 s`)))
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })

export const get = (pathname: string, headers?: Record<string, string>) =>
  Effect.flatMap(Port, (port) => Effect.promise(() => request(port, "GET", pathname, { headers })))

export const send = (method: string, pathname: string, body?: unknown, headers?: Record<string, string>) =>
  Effect.flatMap(Port, (port) =>
    Effect.promise(() =>
      request(port, method, pathname, {
        headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
        body: body === undefined ? undefined : JSON.stringify(body)
      })
    ))

/**
 * Opens the event stream and resolves with the first `task` event whose
 * data satisfies `until` (or rejects after `timeoutMs`); `opened` resolves
 * once the server has answered with its first bytes.
 */
export const listen = (
  port: number,
  pathname: string,
  until: (task: any) => boolean,
  timeoutMs = 15_000
) => {
  let markOpen: () => void = () => {}
  const opened = new Promise<void>((resolve) => (markOpen = resolve))
  const event = new Promise<any>((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: pathname, headers: { host: `127.0.0.1:${port}` } }, (res) => {
      let buffer = ""
      res.setEncoding("utf8")
      res.on("data", (chunk: string) => {
        markOpen()
        buffer += chunk
        for (let end = buffer.indexOf("\n\n"); end !== -1; end = buffer.indexOf("\n\n")) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          const lines = block.split("\n")
          if (!lines.includes("event: task")) continue
          const data = JSON.parse(lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n"))
          if (until(data)) {
            clearTimeout(timer)
            req.destroy()
            resolve(data)
            return
          }
        }
      })
    })
    const timer = setTimeout(() => {
      req.destroy()
      reject(new Error(`no matching event within ${timeoutMs} ms`))
    }, timeoutMs)
    req.on("error", (error) => {
      if (!String(error).includes("aborted")) reject(error)
    })
  })
  return { opened, event }
}

/**
 * The fixture: a SUCCESS, a FAILURE with a traceback, a STARTED task, a
 * task on another worker and queue, a group of two, and a pipeline run.
 */
export const seed = Effect.gen(function*() {
  const backend = yield* ResultBackend.ResultBackend
  const pipelines = yield* PipelineStore.PipelineStore
  const request = { worker: "w1@host", queue: "celery", retries: 0, args: [16, 16], kwargs: {} }
  yield* backend.store("t-success", 256, "SUCCESS", { ...request, name: "multiply_two_numbers" })
  // Finished now, at a known microsecond (457): the API prints it with six fraction digits.
  const now = yield* Clock.currentTimeMillis
  yield* UtcTime.withClockAt(UtcTime.make(now, 457))(backend.store(
    "t-failure",
    { exc_type: "ZeroDivisionError", exc_message: ["division by zero"], exc_module: "builtins" },
    "FAILURE",
    {
      ...request,
      name: "divide_two_numbers",
      args: [16, 0],
      traceback: "Traceback (most recent call last):\n  File \"tasks.py\", line 3, in divide\nZeroDivisionError: division by zero\n"
    }
  ))
  yield* backend.store("t-started", { pid: 42, hostname: "w1@host" }, "STARTED", { ...request, name: "slow" })
  yield* backend.store("t-other", 12345678901234567890n, "SUCCESS", {
    ...request,
    name: "multiply_two_numbers",
    worker: "w2@host",
    queue: "priority"
  })
  yield* backend.saveGroup("g-1", ["t-success", "t-failure"])
  yield* pipelines.build({
    runId: "run-1",
    pipelineId: "ingest",
    inputData: { files: 1 },
    pipelineResults: [{ object: "a.csv", tasks: [{ taskName: "parse", results: [{ object: 1 }, { object: 2 }] }] }]
  })
  yield* pipelines.report("TaskResult", "run-1:0:t0:0", "DONE")
  yield* pipelines.report("TaskResult", "run-1:0:t0:1", "RUNTIME_ERROR", { message: "bad row" })
})
