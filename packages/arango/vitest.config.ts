import { defineProject, mergeConfig } from "vitest/config"
import shared from "../../vitest.shared.js"

export default mergeConfig(
  shared,
  defineProject({
    test: {
      include: ["test/**/*.test.ts"],
      // The emulated conformance run sends ~2,000 HTTP requests over loopback;
      // on a busy machine the 1,000-id test alone can take several seconds.
      testTimeout: 30_000
    }
  })
)
