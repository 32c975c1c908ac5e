/**
 * A group (Celery's TaskSet): an id and the ordered ids of its members.
 *
 * @since 0.1.0
 */
import type * as DateTime from "effect/DateTime"
import * as Schema from "effect/Schema"
import { TaskId } from "./TaskRecord.js"
import * as UtcTime from "./UtcTime.js"

/**
 * @since 0.1.0
 * @category models
 */
export interface GroupRecord {
  readonly groupId: string
  readonly taskIds: ReadonlyArray<string>
  readonly dateDone: DateTime.Utc
}

/**
 * @since 0.1.0
 * @category schemas
 */
export const GroupId = TaskId.annotations({ identifier: "GroupId" })

/**
 * @since 0.1.0
 * @category schemas
 */
export const GroupRecord: Schema.Schema<GroupRecord, {
  readonly groupId: string
  readonly taskIds: ReadonlyArray<string>
  readonly dateDone: string
}> = Schema.Struct({
  groupId: GroupId,
  taskIds: Schema.Array(TaskId),
  dateDone: UtcTime.DateTimeUtcFromIso
}).annotations({ identifier: "GroupRecord" })

/**
 * @since 0.1.0
 * @category models
 */
export interface GroupLine {
  readonly kind: "group"
  readonly group_id: string
  readonly task_ids: ReadonlyArray<string>
  readonly date_done: string
}

/**
 * Schema from the CLI's JSON line shape to a `GroupRecord`.
 *
 * @since 0.1.0
 * @category schemas
 */
export const GroupLine: Schema.Schema<GroupRecord, GroupLine> = Schema.transform(
  Schema.Struct({
    kind: Schema.Literal("group"),
    group_id: GroupId,
    task_ids: Schema.Array(TaskId),
    date_done: UtcTime.DateTimeUtcFromIso
  }),
  Schema.typeSchema(GroupRecord),
  {
    strict: true,
    decode: (line) => ({ groupId: line.group_id, taskIds: line.task_ids, dateDone: line.date_done }),
    encode: (group) => ({
      kind: "group" as const,
      group_id: group.groupId,
      task_ids: group.taskIds,
      date_done: group.dateDone
    })
  }
).annotations({ identifier: "GroupLine" })
