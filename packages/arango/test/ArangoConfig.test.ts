import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import { inspect } from "node:util"
import * as ArangoBackend from "../src/ArangoBackend.js"
import * as ArangoConfig from "../src/ArangoConfig.js"

const ok = (input: ArangoConfig.Input) => Either.getOrThrow(ArangoConfig.make(input))
const bad = (input: ArangoConfig.Input) => {
  const result = ArangoConfig.make(input)
  expect(Either.isLeft(result)).toBe(true)
  return (result as Either.Left<ArangoConfig.ArangoConfigError, unknown>).left
}

describe("ArangoConfig", () => {
  it("has Celery's defaults, with TLS verification on", () => {
    const c = ok({})
    expect([c.host, c.port, c.database, c.collection, c.httpProtocol, c.verify, c.create, c.ttlIndex]).toEqual([
      "127.0.0.1",
      8529,
      "celery",
      "celery",
      "http",
      true,
      false,
      false
    ])
    expect(c.username).toBeUndefined()
    expect(c.password).toBeUndefined()
    expect(ArangoConfig.serverUrl(c)).toBe("http://127.0.0.1:8529")
  })

  it("parses arangodb://user:pass@host:port/database/collection, credentials redacted", () => {
    const c = ok({ url: "arangodb://alice:p%40ss%3Aword@db.example:9000/results/tasks" })
    expect([c.host, c.port, c.database, c.collection]).toEqual(["db.example", 9000, "results", "tasks"])
    expect(Redacted.isRedacted(c.username) && Redacted.value(c.username)).toBe("alice")
    expect(Redacted.isRedacted(c.password) && Redacted.value(c.password)).toBe("p@ss:word")
    expect(inspect(c, { depth: 5 })).not.toContain("p@ss")
    expect(JSON.stringify(c)).not.toContain("p@ss")
    expect(ArangoConfig.describe(c)).toBe("arangodb://<redacted>@db.example:9000/results/tasks")
  })

  it("lets URL parts win over settings, and settings fill the rest (Celery's rule)", () => {
    const c = ok({ url: "arangodb://h1/dbx", host: "h2", port: 1234, database: "dby", collection: "cz" })
    expect([c.host, c.port, c.database, c.collection]).toEqual(["h1", 1234, "dbx", "cz"])
  })

  it("accepts an empty path, a trailing slash, IPv6 and https options", () => {
    expect(ok({ url: "arangodb://" }).host).toBe("127.0.0.1")
    expect(ok({ url: "arangodb://h/" }).database).toBe("celery")
    expect(ok({ url: "arangodb://h/d/c/" }).collection).toBe("c")
    const v6 = ok({ url: "arangodb://[::1]:8530/d/c" })
    expect(ArangoConfig.serverUrl(v6)).toBe("http://[::1]:8530")
    const tls = ok({ url: "arangodb://h/d/c?httpProtocol=https&verify=false" })
    expect([tls.httpProtocol, tls.verify]).toEqual(["https", false])
    expect(ArangoConfig.serverUrl(ok({ host: "h", httpProtocol: "https" }))).toBe("https://h:8529")
  })

  it("rejects bad URLs and settings with typed errors that never show the password", () => {
    const secret = "hunter2-very-secret"
    const cases: Array<[ArangoConfig.Input, string]> = [
      [{ url: `redis://u:${secret}@h/d/c` }, "url"],
      [{ url: `arangodb://u:${secret}@h:99999/d/c` }, "url"],
      [{ url: `arangodb://u:${secret}@h/d/c/extra` }, "url path"],
      [{ url: `arangodb://u:${secret}@h/d//c` }, "url path"],
      [{ url: `arangodb://u:${secret}@h/d/c?verfy=false` }, "url"],
      [{ url: `arangodb://u:${secret}@h/d/c?httpProtocol=ftp` }, "url httpProtocol"],
      [{ url: `arangodb://u:${secret}@h/d/c?verify=maybe` }, "url verify"],
      [{ url: `arangodb://u:%ZZ${secret}@h/d/c` }, "url password"],
      [{ url: `arangodb://u:${secret}@h/1db/c` }, "database"],
      [{ url: `arangodb://u:${secret}@h/d/_system` }, "collection"],
      [{ port: 0 }, "port"],
      [{ host: "a b" }, "host"],
      [{ httpProtocol: "ftp" as "http" }, "httpProtocol"],
      [{ keyPrefix: "no spaces" }, "keyPrefix"],
      [{ requestTimeout: "forever" as Duration.DurationInput }, "requestTimeout"]
    ]
    for (const [input, field] of cases) {
      const error = bad(input)
      expect(error._tag).toBe("ArangoConfigError")
      expect(error.field).toBe(field)
      for (const shown of [error.message, String(error), JSON.stringify(error), inspect(error)]) {
        expect(shown).not.toContain(secret)
      }
    }
  })

  it("normalises the global key prefix as Celery does", () => {
    expect(ok({ keyPrefix: "prod" }).keyPrefix).toBe("prod_")
    expect(ok({ keyPrefix: "prod:" }).keyPrefix).toBe("prod:")
    expect(ok({}).keyPrefix).toBe("")
  })

  it("gives arangojs credentials through auth, its own retries off, TLS as configured", () => {
    const options = ArangoBackend.connectionOptions(ok({ url: "arangodb://u:pw@h:1/d/c?httpProtocol=https&verify=false" }))
    expect(options).toEqual({
      url: "https://h:1",
      databaseName: "d",
      auth: { username: "u", password: "pw" },
      maxRetries: false,
      retryOnConflict: 0,
      agentOptions: { connect: { rejectUnauthorized: false } }
    })
    const plain = ArangoBackend.connectionOptions(ok({ requestTimeout: "2 seconds" }))
    expect(plain).toEqual({
      url: "http://127.0.0.1:8529",
      databaseName: "celery",
      maxRetries: false,
      retryOnConflict: 0,
      timeout: 2000
    })
  })

  it.effect("reads the settings through Config, with secrets redacted", () =>
    Effect.gen(function*() {
      const provider = ConfigProvider.fromMap(
        new Map([
          ["ARANGO.url", "arangodb://bob:s3cret@h:7000/d"],
          ["ARANGO.collection", "results"],
          ["ARANGO.create", "true"],
          ["ARANGO.ttlIndex", "true"],
          ["ARANGO.requestTimeout", "5 seconds"]
        ])
      )
      const c = yield* Effect.withConfigProvider(ArangoConfig.config.pipe(Effect.orDie), ConfigProvider.nested(provider, "ARANGO"))
      expect([c.host, c.port, c.database, c.collection, c.create, c.ttlIndex]).toEqual(["h", 7000, "d", "results", true, true])
      expect(Duration.toMillis(c.requestTimeout!)).toBe(5000)
      expect(Redacted.value(c.password!)).toBe("s3cret")
      const badProvider = ConfigProvider.fromMap(new Map([["url", "arangodb://bob:s3cret@h/d/c/x"]]))
      const error = yield* Effect.flip(Effect.withConfigProvider(ArangoConfig.config, badProvider))
      expect(String(error)).toContain("url")
      expect(String(error)).not.toContain("s3cret")
    }))
})
