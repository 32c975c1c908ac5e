/**
 * OpenTelemetry: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the demo worker
 * and `taskmeta serve` export their spans over OTLP/HTTP to a receiver in
 * this test (a plain HTTP server taking `POST /v1/traces`, JSON or
 * protobuf). The spans are named after the service methods.
 */
import { afterAll, describe, expect, it } from "@effect/vitest"
import { spawn } from "node:child_process"
import * as http from "node:http"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { CLI, run, WORKER } from "../../../apps/cli/test/helpers.js"
import { removeDir, request, tempDir } from "./support.js"

const dir = tempDir("otlp")
afterAll(() => removeDir(dir))

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..")
const tsx = path.join(root, "node_modules", ".bin", "tsx")

interface Received {
  readonly contentType: string
  readonly body: Buffer
}

/** The OTLP receiver: every `POST /v1/traces` body, answered 200 as the protocol asks. */
const receiver = async () => {
  const received: Array<Received> = []
  const server = http.createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      if (req.method === "POST" && req.url === "/v1/traces") {
        received.push({ contentType: String(req.headers["content-type"]), body: Buffer.concat(chunks) })
        res.writeHead(200, { "content-type": String(req.headers["content-type"] ?? "application/json") })
        res.end(String(req.headers["content-type"]).includes("json") ? "{}" : "")
      } else {
        res.writeHead(404)
        res.end()
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const port = (server.address() as { port: number }).port
  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(resolve))
    }
  }
}

/** Span names and the service names in OTLP/JSON bodies. */
const fromJson = (bodies: ReadonlyArray<Received>) => {
  const spans: Array<{ name: string; attributes: Record<string, unknown> }> = []
  const services = new Set<string>()
  for (const { body } of bodies) {
    const data = JSON.parse(body.toString("utf8")) as {
      resourceSpans: Array<{
        resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> }
        scopeSpans: Array<{ spans: Array<{ name: string; attributes: Array<{ key: string; value: Record<string, unknown> }> }> }>
      }>
    }
    for (const rs of data.resourceSpans) {
      for (const a of rs.resource.attributes) if (a.key === "service.name") services.add(String(a.value.stringValue))
      for (const ss of rs.scopeSpans) {
        for (const span of ss.spans) {
          spans.push({
            name: span.name,
            attributes: Object.fromEntries(span.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
          })
        }
      }
    }
  }
  return { names: new Set(spans.map((s) => s.name)), spans, services }
}

describe("OpenTelemetry over OTLP/HTTP", () => {
  it("a worker run exports spans named after the service methods (OTLP/JSON)", async () => {
    const otlp = await receiver()
    try {
      const worker = await run(WORKER, ["--for", "2s", "--backend", "db+sqlite:///traced.sqlite"], {
        cwd: dir,
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint,
          OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
          OTEL_SERVICE_NAME: "demo-worker-under-test"
        }
      })
      expect(worker.code, worker.stderr).toBe(0)
      expect(otlp.received.length).toBeGreaterThan(0)
      expect(otlp.received.every((r) => r.contentType.includes("application/json"))).toBe(true)
      const { names, services, spans } = fromJson(otlp.received)
      expect(services).toEqual(new Set(["demo-worker-under-test"]))
      for (const name of ["ResultBackend.store", "ResultBackend.saveGroup", "PipelineStore.build", "PipelineStore.report", "sql.execute"]) {
        expect(names.has(name), `${name} in ${[...names].join(", ")}`).toBe(true)
      }
      // Attributes are ids and small values, never payloads.
      const store = spans.find((s) => s.name === "ResultBackend.store")!
      expect(typeof store.attributes.taskId).toBe("string")
      expect(JSON.stringify(store.attributes)).not.toContain("ZeroDivisionError")
    } finally {
      await otlp.close()
    }
  }, 90_000)

  it("taskmeta serve exports its request and store spans (OTLP/protobuf, the default)", async () => {
    const otlp = await receiver()
    const seeded = await run(WORKER, ["--for", "1s", "--backend", "db+sqlite:///served.sqlite"], { cwd: dir })
    expect(seeded.code, seeded.stderr).toBe(0)
    const child = spawn(tsx, ["--conditions=source", CLI, "serve", "--backend", "db+sqlite:///served.sqlite", "--port", "0"], {
      cwd: dir,
      env: { ...process.env, OTEL_EXPORTER_OTLP_ENDPOINT: otlp.endpoint, OTEL_SERVICE_NAME: "serve-under-test" },
      stdio: ["ignore", "pipe", "pipe"]
    })
    try {
      let output = ""
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${output}`)), 30_000)
        const onData = (chunk: Buffer) => {
          output += chunk.toString("utf8")
          const match = /http:\/\/127\.0\.0\.1:(\d+)\//.exec(output)
          if (match !== null) {
            clearTimeout(timer)
            resolve(Number(match[1]))
          }
        }
        child.stdout.on("data", onData)
        child.stderr.on("data", onData)
      })
      expect((await request(port, "GET", "/api/tasks?limit=5")).status).toBe(200)
      expect((await request(port, "GET", "/api/summary")).status).toBe(200)
      // The exporter sends every second; wait (bounded) for a batch holding the request's spans.
      const wanted = ["DashboardServer.tasks.list", "ResultBrowser.page", "ResultBrowser.summary"]
      const text = () => Buffer.concat(otlp.received.map((r) => r.body)).toString("latin1")
      for (let i = 0; i < 100 && !wanted.every((w) => text().includes(w)); i++) await new Promise((r) => setTimeout(r, 100))
      expect(otlp.received.length).toBeGreaterThan(0)
      expect(otlp.received.every((r) => r.contentType.includes("protobuf"))).toBe(true)
      // Protobuf strings are stored as UTF-8 bytes: the names can be found in the bodies.
      for (const name of [...wanted, "serve-under-test"]) expect(text(), name).toContain(name)
    } finally {
      child.kill("SIGTERM")
      await new Promise((resolve) => child.once("exit", resolve))
      await otlp.close()
    }
  }, 90_000)
})
