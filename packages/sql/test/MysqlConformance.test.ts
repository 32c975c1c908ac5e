import { afterAll, beforeAll, describe } from "@effect/vitest"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as MysqlBackend from "../src/MysqlBackend.js"
import {
  createMysqlDatabase,
  dropMysqlDatabase,
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseName,
  mysqlUrlFor
} from "./helpers.js"

const database = mysqlDatabaseName("conf")
beforeAll(() => createMysqlDatabase(database))
afterAll(() => dropMysqlDatabase(database))

describe.runIf(HAS_MYSQL)(`MariaDB ${MYSQL_TAG}`, () => {
  ResultBackendConformance.suite("mysql", (options) =>
    MysqlBackend.layer({ ...options, url: mysqlUrlFor(database), poolSize: 4 }))
})
