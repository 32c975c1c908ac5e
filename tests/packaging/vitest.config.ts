import { defineProject, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      include: ["test/**/*.test.ts"],
      // Packing, `npm install` (better-sqlite3 may compile from source) and `tsc` take minutes on a cold cache.
      testTimeout: 600_000,
      hookTimeout: 1_200_000
    }
  })
)
