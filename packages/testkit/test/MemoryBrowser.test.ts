import { MemoryBrowser } from "@taskmeta/core"
import { ResultBrowserConformance } from "@taskmeta/testkit"

ResultBrowserConformance.suite("memory", (options) => MemoryBrowser.layer(options))
