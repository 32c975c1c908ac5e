import { describe, expect, it } from "@effect/vitest"
import * as ConfigProvider from "effect/ConfigProvider"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Redacted from "effect/Redacted"
import * as BackendUrl from "@taskmeta/stores/BackendUrl"

const parse = (url: string) => Either.getOrThrow(BackendUrl.parse(url))
const error = (url: string) => Either.match(BackendUrl.parse(url), { onLeft: (e) => e.message, onRight: () => "parsed" })

describe("BackendUrl.parse", () => {
  it("reads SQLite paths the SQLAlchemy way", () => {
    expect(parse("db+sqlite:///results.sqlite")).toMatchObject({ _tag: "Sqlite", filename: "results.sqlite", isAbsolute: false })
    expect(parse("sqlite:///sub/dir/r.db")).toMatchObject({ _tag: "Sqlite", filename: "sub/dir/r.db", isAbsolute: false })
    expect(parse("db+sqlite:////abs/path.sqlite")).toMatchObject({ _tag: "Sqlite", filename: "/abs/path.sqlite", isAbsolute: true })
    expect(parse("sqlite://")).toMatchObject({ _tag: "Sqlite", filename: ":memory:" })
    expect(parse("db+sqlite:///:memory:")).toMatchObject({ _tag: "Sqlite", filename: ":memory:" })
    expect(parse("sqlite+pysqlite:///x.db")).toMatchObject({ _tag: "Sqlite", filename: "x.db" })
  })

  it("reads PostgreSQL URLs with or without db+ and driver suffixes, keeping them Redacted", () => {
    for (const url of ["db+postgresql://u:pw@h:5432/db", "postgresql://u:pw@h:5432/db", "postgres://u:pw@h:5432/db", "db+postgresql+psycopg2://u:pw@h:5432/db"]) {
      const parsed = parse(url)
      expect(parsed._tag).toBe("Postgres")
      if (parsed._tag !== "Postgres") continue
      expect(Redacted.isRedacted(parsed.url)).toBe(true)
      expect(Redacted.value(parsed.url)).toBe("postgres://u:pw@h:5432/db")
      expect(parsed.display).not.toContain("pw")
      expect(String(parsed.url)).not.toContain("pw")
      expect(JSON.stringify(parsed)).not.toContain("pw")
    }
  })

  it("reads MySQL / MariaDB URLs with or without db+ and driver suffixes, keeping them Redacted", () => {
    for (
      const url of [
        "db+mysql://u:pw@h:3306/db",
        "mysql://u:pw@h:3306/db",
        "db+mysql+pymysql://u:pw@h:3306/db",
        "db+mysql+mysqldb://u:pw@h:3306/db",
        "mariadb://u:pw@h:3306/db"
      ]
    ) {
      const parsed = parse(url)
      expect(parsed._tag).toBe("Mysql")
      if (parsed._tag !== "Mysql") continue
      expect(Redacted.value(parsed.url)).toBe("mysql://u:pw@h:3306/db")
      expect(parsed.display).toBe(url.replace(":pw@", ":***@"))
      expect(BackendUrl.describe(parsed)).not.toContain("pw")
      expect(JSON.stringify(parsed)).not.toContain("pw")
    }
    expect(Redacted.value((parse("mysql+pymysql://u@h/db?charset=utf8mb4") as { url: Redacted.Redacted<string> }).url))
      .toBe("mysql://u@h/db?charset=utf8mb4")
    expect(error("db+mysql://u:hunter2@h:3306")).toMatch(/names its database/)
    expect(error("db+mysql://u:hunter2@h:3306")).not.toContain("hunter2")
    expect(error("mysql://u:hunter2@h:99999/db")).toMatch(/port/)
    expect(error("mysql://u:hunter2@h:99999/db")).not.toContain("hunter2")
  })

  it("reads memory:// and arangodb://", () => {
    expect(parse("memory://")._tag).toBe("Memory")
    const arango = parse("arangodb://root:secret@127.0.0.1:8529/celery/results")
    expect(arango._tag).toBe("Arango")
    expect(JSON.stringify(arango)).not.toContain("secret")
  })

  it("rejects what it does not know, without echoing the password", () => {
    expect(error("redis://u:hunter2@h/0")).toMatch(/unsupported scheme "redis"/)
    expect(error("redis://u:hunter2@h/0")).not.toContain("hunter2")
    expect(error("postgresql://u:hunter2@h:99999/db")).not.toContain("hunter2")
    expect(error("")).toMatch(/empty/)
    expect(error("results.sqlite")).toMatch(/no scheme/)
    expect(error("sqlite://host/x.db")).toMatch(/no host/)
    expect(error("memory://x")).toMatch(/memory/)
    expect(error("arangodb://h/a/b/c")).toMatch(/path/)
  })
})

describe("BackendUrl.redact", () => {
  it("hides the password and keeps the rest", () => {
    expect(BackendUrl.redact("postgresql://app:s3cr3t@db.example:5432/results")).toBe("postgresql://app:***@db.example:5432/results")
    expect(BackendUrl.redact("postgresql://app@db/results")).toBe("postgresql://app@db/results")
    expect(BackendUrl.redact("postgresql://app:p@ss/word@db/results")).toBe("postgresql://app:***@db/results")
    expect(BackendUrl.redact("db+sqlite:///results.sqlite")).toBe("db+sqlite:///results.sqlite")
    expect(BackendUrl.redact("db+postgresql://u:pa/ss@host/db")).toBe("db+postgresql://u:***@host/db")
    expect(BackendUrl.redact("postgresql://u:p@ss@host:5432/db")).toBe("postgresql://u:***@host:5432/db")
  })

  it("hides a password or token in the query too (issue 14, finding 4: node-postgres uses ?password=)", () => {
    expect(BackendUrl.redact("db+postgresql://u@host/db?password=hunter2")).toBe("db+postgresql://u@host/db?password=***")
    expect(BackendUrl.redact("postgresql://u@host/db?sslmode=require&PASSWORD=hunter2&application_name=x")).toBe(
      "postgresql://u@host/db?sslmode=require&PASSWORD=***&application_name=x"
    )
    expect(BackendUrl.redact("postgresql://u:pw@host/db?sslpassword=k3y")).toBe("postgresql://u:***@host/db?sslpassword=***")
    expect(BackendUrl.redact("postgresql://u@host/db?application_name=pass")).toBe("postgresql://u@host/db?application_name=pass")
  })

  it("never shows the password in a parse error", () => {
    const bad = BackendUrl.parse("db+postgresql://u:pa/ss@host:notaport/db")
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) expect(bad.left.message).not.toContain("pa/ss")
    const unsupported = BackendUrl.parse("mssql://u:secret@h/db")
    expect(Either.isLeft(unsupported)).toBe(true)
    if (Either.isLeft(unsupported)) expect(unsupported.left.message).not.toContain("secret")
    const mysql = BackendUrl.parse("db+mysql://u:pa/ss@host:notaport/db")
    expect(Either.isLeft(mysql)).toBe(true)
    if (Either.isLeft(mysql)) expect(mysql.left.message).not.toContain("pa/ss")
  })
})

describe("BackendUrl.config", () => {
  const read = (env: Record<string, string>) =>
    Effect.runSync(Effect.either(Effect.withConfigProvider(BackendUrl.config, ConfigProvider.fromMap(new Map(Object.entries(env))))))

  it("takes TASKMETA_BACKEND_URL first", () => {
    const url = read({ TASKMETA_BACKEND_URL: "db+sqlite:///own.sqlite", CELERY_RESULT_BACKEND: "db+sqlite:///celery.sqlite" })
    expect(Either.getOrThrow(url)).toMatchObject({ _tag: "Sqlite", filename: "own.sqlite" })
  })

  it("falls back to Celery's CELERY_RESULT_BACKEND", () => {
    const url = read({ CELERY_RESULT_BACKEND: "db+postgresql://app:s3cret@db/celery" })
    expect(Either.getOrThrow(url)).toMatchObject({ _tag: "Postgres" })
  })

  it("else the default SQLite file", () => {
    expect(Either.getOrThrow(read({}))).toMatchObject({ _tag: "Sqlite", filename: "results.sqlite" })
  })

  it("a bad URL names its variable and never its password", () => {
    const bad = read({ CELERY_RESULT_BACKEND: "redis://:s3cret@cache:6379/0" })
    expect(Either.isLeft(bad)).toBe(true)
    if (Either.isLeft(bad)) {
      expect(String(bad.left)).toContain("CELERY_RESULT_BACKEND")
      expect(String(bad.left)).not.toContain("s3cret")
    }
  })
})
