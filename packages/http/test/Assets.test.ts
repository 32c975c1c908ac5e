/**
 * The web UI is built into `src/internal/assets.ts` and committed (so the
 * package works from source and bundled without a build step of its own):
 * it must be what `scripts/build-ui.mjs` makes from `ui/` now.
 */
import { describe, expect, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..")

describe("the built UI", () => {
  it("src/internal/assets.ts matches a fresh build of ui/ (run pnpm --filter @taskmeta/http build:ui)", async () => {
    const { render } = await import(path.join(root, "scripts", "build-ui.mjs")) as { render: () => Promise<string> }
    const committed = fs.readFileSync(path.join(root, "src", "internal", "assets.ts"), "utf8")
    expect(committed === await render()).toBe(true)
  }, 60_000)

  it("the page loads no script but its own file, and the bundle never writes HTML from data", async () => {
    const assets = await import("../src/internal/assets.js")
    expect(assets.indexHtml).toContain("<script type=\"module\" src=\"/assets/app.js\"></script>")
    expect(assets.indexHtml.match(/<script/g)?.length).toBe(1)
    expect(assets.indexHtml).not.toMatch(/\son[a-z]+=/i)
    expect(assets.appJs).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/)
    expect(assets.appCss).not.toMatch(/@import|url\(http/)
  })
})
