import { MemoryBackend } from "@taskmeta/core"
import { ResultBackendConformance } from "@taskmeta/testkit"

ResultBackendConformance.suite("memory", (options) => MemoryBackend.layer(options))
