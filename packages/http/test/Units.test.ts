/**
 * The small pure parts: the Prometheus text (label escaping, custom
 * states), the OTLP settings from the environment, the guard's checks
 * (credentials, origins, Host names) and the UI's JSON re-indenter.
 */
import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Redacted from "effect/Redacted"
import * as Metrics from "../src/Metrics.js"
import * as Telemetry from "../src/Telemetry.js"
import * as DashboardServer from "../src/DashboardServer.js"
import * as Guard from "../src/internal/guard.js"

describe("Metrics.render", () => {
  it("escapes label values and adds up the unfinished states", () => {
    const text = Metrics.render({
      byState: { SUCCESS: 3, "PRO\"GRESS\\\n": 2, STARTED: 4, RETRY: 1 },
      oldestUnfinishedAge: 12.5,
      cleanupDue: { tasks: 7, groups: 0 },
      scrapeSeconds: 0.01
    })
    expect(text).toContain("taskmeta_tasks{state=\"PRO\\\"GRESS\\\\\\n\"} 2\n")
    expect(text).toContain("taskmeta_tasks_unfinished 5\n")
    expect(text).toContain("taskmeta_tasks_pending 0\n")
    expect(text).toContain("taskmeta_oldest_unfinished_task_age_seconds 12.5\n")
    expect(text).toContain("taskmeta_cleanup_due{kind=\"task\"} 7\n")
    expect(text.endsWith("\n")).toBe(true)
    // Every sample line is `name{labels} value`, every family has HELP and TYPE.
    for (const line of text.trim().split("\n")) expect(line).toMatch(/^(# (HELP|TYPE) \S+ .+|[a-z_]+(\{.*\})? \S+)$/)
  })

  it("leaves the oldest-unfinished gauge out when nothing is unfinished", () => {
    const text = Metrics.render({ byState: {}, oldestUnfinishedAge: null, cleanupDue: { tasks: 0, groups: 0 }, scrapeSeconds: 0 })
    expect(text).not.toContain("taskmeta_oldest_unfinished_task_age_seconds")
  })
})

describe("Telemetry.config", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(Effect.withConfigProvider(Telemetry.config("svc"), ConfigProvider.fromMap(new Map(Object.entries(env)))))

  it("is off without an endpoint", () => {
    expect(Option.isNone(read({}))).toBe(true)
  })

  it("appends /v1/traces to the base endpoint, prefers the traces endpoint, reads name, protocol and headers", () => {
    expect(read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" })).toEqual(Option.some({
      url: "http://collector:4318/v1/traces",
      serviceName: "svc",
      protocol: "http/protobuf",
      headers: {}
    }))
    const all = Option.getOrThrow(read({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://other:4318/custom",
      OTEL_SERVICE_NAME: "mine",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "api-key=a%3Db,x=1"
    }))
    expect(all).toEqual({ url: "http://other:4318/custom", serviceName: "mine", protocol: "http/json", headers: { "api-key": "a=b", x: "1" } })
  })
})

describe("the guard", () => {
  const credentials = { username: "ops", password: Redacted.make("p:w") }
  const basic = (text: string) => `Basic ${Buffer.from(text).toString("base64")}`

  it("accepts exactly the credentials (a colon in the password included)", () => {
    expect(Guard.authorized(basic("ops:p:w"), credentials)).toBe(true)
    expect(Guard.authorized(`basic ${Buffer.from("ops:p:w").toString("base64")}`, credentials)).toBe(true)
    expect(Guard.authorized(basic("ops:p"), credentials)).toBe(false)
    expect(Guard.authorized(basic("op:p:w"), credentials)).toBe(false)
    expect(Guard.authorized(basic("opsp:w"), credentials)).toBe(false)
    expect(Guard.authorized(undefined, credentials)).toBe(false)
    expect(Guard.authorized("Bearer ops:p:w", credentials)).toBe(false)
  })

  it("names Hosts without their port; loopback binds answer to loopback names only", () => {
    expect(Guard.hostname("LocalHost:5555")).toBe("localhost")
    expect(Guard.hostname("[::1]:80")).toBe("[::1]")
    expect(Guard.hostname("127.0.0.1")).toBe("127.0.0.1")
    expect(DashboardServer.hostsFor("127.0.0.1")).toContain("localhost")
    expect(DashboardServer.hostsFor("::1")).toContain("[::1]")
    expect(DashboardServer.hostsFor("0.0.0.0")).toBeUndefined()
    expect(DashboardServer.hostsFor("192.0.2.10")).toBeUndefined()
  })
})

describe("the UI's JSON re-indenter", () => {
  it("keeps every digit and every string as written", async () => {
    const { pretty } = await import("../ui/pretty.js")
    expect(pretty("{\"a\":[12345678901234567890,{}],\"b\":\"x,\\\"y\\\":[z]\",\"c\":[]}")).toBe(
      "{\n  \"a\": [\n    12345678901234567890,\n    {}\n  ],\n  \"b\": \"x,\\\"y\\\":[z]\",\n  \"c\": []\n}"
    )
    expect(pretty("null")).toBe("null")
  })
})
