import { fileURLToPath } from "node:url"
import { defineConfig } from "vitest/config"

// Every package's vitest.config.ts merges this. Workspace packages resolve each other's src/*.ts
// through the "source" export condition, as tsc does (tsconfig.base.json), so tests need no build.
// Tests run in Vite's server (SSR) environment, whose conditions are `ssr.resolve.conditions`; setting
// them replaces Vite's defaults for it, so those are listed again after "source".
export default defineConfig({
  test: {
    // Probes PostgreSQL (starting an embedded one when none answers), Celery, MariaDB, ArangoDB.
    globalSetup: [fileURLToPath(new URL("./testenv/globalSetup.ts", import.meta.url))]
  },
  ssr: {
    resolve: {
      conditions: ["source", "module", "node", "development|production"]
    }
  }
})
