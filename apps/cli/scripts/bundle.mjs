/**
 * The `taskmeta` bin: `dist/bin.js` (tsc's output) and everything it
 * imports, the workspace packages and Effect included, bundled by esbuild
 * into `dist/bundle/` (ESM, code-split; no source maps, which would be
 * 8 MB: to debug, run the unbundled `node --enable-source-maps dist/bin.js`,
 * whose maps lead to `src/`).
 *
 * Why: Node 20 spends most of a CLI start loading and linking ES modules,
 * about a thousand files for `taskmeta --version` (effect, @effect/cli and
 * its config parsers, fast-check through effect/Schema); one tree-shaken
 * file and a few chunks start 2–3× faster (`pnpm bench`, start-up rows).
 * The library packages are not bundled: consumers import their tsc output.
 *
 * Left outside the bundle, loaded from node_modules as dependencies of
 * this package: the native SQLite driver and the network clients, each
 * loaded only when a backend of its kind is opened.
 */
import * as esbuild from "esbuild"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

await esbuild.build({
  absWorkingDir: root,
  entryPoints: ["dist/bin.js"],
  outdir: "dist/bundle",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  external: ["better-sqlite3", "pg", "pg-native", "mysql2", "arangojs"],
  // CommonJS code in the bundle (the config-file parsers @effect/cli loads)
  // calls require for Node's built-ins; an ES module has none of its own.
  banner: { js: "import { createRequire as __taskmetaCreateRequire } from \"node:module\"; const require = __taskmetaCreateRequire(import.meta.url);" },
  logLevel: "warning"
})
