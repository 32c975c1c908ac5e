import { afterAll, beforeAll } from "@effect/vitest"
import * as ResultBackendConformance from "@taskmeta/testkit/ResultBackendConformance"
import * as MysqlBackend from "../src/MysqlBackend.js"
import { createMysqlDatabase, dropMysqlDatabase, mysqlDatabaseName, mysqlUrlFor } from "./helpers.js"

const database = mysqlDatabaseName("conf")
beforeAll(() => createMysqlDatabase(database))
afterAll(() => dropMysqlDatabase(database))

ResultBackendConformance.suite("mysql", (options) =>
  MysqlBackend.layer({ ...options, url: mysqlUrlFor(database), poolSize: 4 }))
