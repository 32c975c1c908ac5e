import { MemoryPipelineStore, PipelineStore } from "@taskmeta/core"
import { PipelineConformance } from "@taskmeta/testkit"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

PipelineConformance.suite("memory", MemoryPipelineStore.layer())

// A driver without the optional batch methods: `getRuns` and `restoreMany` go run by run.
PipelineConformance.suite(
  "memory, run by run",
  Layer.effect(
    PipelineStore.PipelineStore,
    Effect.flatMap(MemoryPipelineStore.makeDriver, ({ getRuns: _g, insertMany: _i, ...driver }) => PipelineStore.make(driver))
  )
)
