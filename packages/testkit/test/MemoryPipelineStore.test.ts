import { MemoryPipelineStore } from "@taskmeta/core"
import { PipelineConformance } from "@taskmeta/testkit"

PipelineConformance.suite("memory", MemoryPipelineStore.layer())
