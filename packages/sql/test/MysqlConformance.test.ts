import { describe } from "@effect/vitest"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as MysqlBackend from "../src/MysqlBackend.js"
import {
  HAS_MYSQL,
  MYSQL_TAG,
  mysqlDatabaseForSuite,
  mysqlUrlFor
} from "./helpers.js"

const database = mysqlDatabaseForSuite("conf")

describe.runIf(HAS_MYSQL)(`MariaDB ${MYSQL_TAG}`, () => {
  ResultBackendConformance.suite("mysql", (options) =>
    MysqlBackend.layer({ ...options, url: mysqlUrlFor(database), poolSize: 4 }))
})
