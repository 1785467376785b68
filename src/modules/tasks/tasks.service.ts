import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { AppError, TaskErrorCode } from '../../common/errors';
import { labelListSchema } from '../../common/schemas';
import { Db } from '../../infra/database/db';
import { recordEvent } from '../events/outbox';
import { PRIORITIES } from './scoring';
import { dependenciesOf } from './task.queries';
import { toTaskView, type TaskRow, type TaskView } from './task.types';

export const createTaskSchema = z.object({
  name: z.string().trim().min(1).max(500),
  description: z.string().max(20_000).optional().default(''),
  priority: z.enum(PRIORITIES).optional().default('medium'),
  labels: labelListSchema.optional().default([]),
  dependencies: z.array(z.uuid()).max(100).optional().default([]),
  estimated_hours: z.number().finite().min(0).max(10_000).nullable().optional(),
  parent_task_id: z.uuid().nullable().optional(),
  acceptance_criteria: z.array(z.string().trim().min(1).max(1000)).max(50).optional().default([]),
  checklist: z.array(z.string().trim().min(1).max(500)).max(100).optional().default([]),
  due_date: z.iso.datetime({ offset: true }).nullable().optional(),
});
export type CreateTaskInput = z.infer<typeof createTaskSchema>;

@Injectable()
export class TasksService {
  constructor(
    private readonly db: Db,
  ) {}

  async create(projectId: string, input: CreateTaskInput): Promise<TaskView> {
    const deps = [...new Set(input.dependencies)];
    return this.db.tx(async (c) => {
      const refs = [...deps, ...(input.parent_task_id ? [input.parent_task_id] : [])];
      if (refs.length > 0) {
        const found = await c.query<{ id: string }>('SELECT id FROM tasks WHERE project_id = $1 AND id = ANY($2::uuid[])', [projectId, refs]);
        const known = new Set(found.rows.map((r) => r.id));
        const missing = refs.filter((id) => !known.has(id));
        if (missing.length > 0) {
          throw new AppError(TaskErrorCode.INVALID_DEPENDENCY, `Unknown task id(s) in this project: ${missing.join(', ')}`);
        }
      }
      const id = randomUUID();
      const inserted = await c.query<TaskRow>(
        `INSERT INTO tasks (id, project_id, name, description, priority, labels, estimated_hours, parent_task_id, acceptance_criteria, checklist, due_date)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
        [
          id,
          projectId,
          input.name,
          input.description,
          input.priority,
          [...new Set(input.labels)],
          input.estimated_hours ?? null,
          input.parent_task_id ?? null,
          input.acceptance_criteria,
          JSON.stringify(input.checklist.map((text) => ({ text, done: false }))),
          input.due_date ?? null,
        ],
      );
      if (deps.length > 0) {
        await c.query('INSERT INTO task_dependencies (task_id, depends_on) SELECT $1, unnest($2::uuid[])', [id, deps]);
      }
      const task = toTaskView(inserted.rows[0], deps);
      await recordEvent(c, { type: 'task.created', projectId, aggregateId: id, payload: { task_id: id, name: task.name, priority: task.priority } });
      return task;
    });
  }

  async list(projectId: string): Promise<TaskView[]> {
    const r = await this.db.query<TaskRow>('SELECT * FROM tasks WHERE project_id = $1 ORDER BY seq', [projectId]);
    const deps = await dependenciesOf(this.db, r.rows.map((t) => t.id));
    return r.rows.map((t) => toTaskView(t, deps.get(t.id) ?? []));
  }
}
