import { createRequire } from "node:module"
import * as Schema from "effect/Schema"

/**
 * The package's version, read from its package.json: `src/internal/` (run from source) and
 * `dist/internal/` (the built CLI) are both two directories below it, and npm ships package.json
 * with every package, so the version printed is always the one installed.
 */
export const version: string = Schema.decodeUnknownSync(Schema.Struct({ version: Schema.String }))(
  createRequire(import.meta.url)("../../package.json")
).version
