import { KanbanErrorCode } from '../../../common/errors';
import type { Db } from '../../../infra/database/db';
import { dependenciesOf } from '../../tasks/task.queries';
import type { TaskRow } from '../../tasks/task.types';
import { TasksService } from '../../tasks/tasks.service';
import { KanbanError } from '../kanban-error';
import type {
  AssignParams,
  BoardComment,
  BoardProvider,
  BoardTask,
  ChecklistParams,
  CommentParams,
  CreateTaskParams,
  LabelParams,
  MoveTaskParams,
  TaskRefParams,
} from '../provider';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The built-in board: the project's tasks in Postgres are the cards, the task's status is the
 * column, comments live in board_comments. Nothing to sync and nothing that can be down.
 */
export class BuiltinBoardProvider implements BoardProvider {
  readonly kind = 'builtin' as const;
  private readonly tasks: TasksService;

  constructor(
    private readonly db: Db,
    private readonly projectId: string,
  ) {
    this.tasks = new TasksService(db);
  }

  async listTasks(): Promise<BoardTask[]> {
    const r = await this.db.query<TaskRow>('SELECT * FROM tasks WHERE project_id = $1 ORDER BY seq', [this.projectId]);
    const deps = await dependenciesOf(this.db, r.rows.map((t) => t.id));
    return r.rows.map((t) => toBoardTask(t, deps.get(t.id) ?? []));
  }

  async getTask(p: TaskRefParams): Promise<BoardTask | null> {
    if (!UUID.test(p.externalId)) return null;
    const r = await this.db.query<TaskRow>('SELECT * FROM tasks WHERE project_id = $1 AND id = $2', [this.projectId, p.externalId]);
    if (!r.rows[0]) return null;
    const deps = await dependenciesOf(this.db, [p.externalId]);
    return toBoardTask(r.rows[0], deps.get(p.externalId) ?? []);
  }

  async createTask(p: CreateTaskParams): Promise<BoardTask> {
    const view = await this.tasks.create(this.projectId, {
      name: p.name,
      description: p.description ?? '',
      priority: p.priority ?? 'medium',
      labels: p.labels ?? [],
      dependencies: p.dependencies ?? [],
      acceptance_criteria: [],
      checklist: (p.checklist ?? []).map((i) => i.text),
    });
    if (p.status && p.status !== 'todo') await this.moveTask({ externalId: view.id, status: p.status });
    if (p.checklist?.some((i) => i.done)) await this.setChecklist({ externalId: view.id, items: p.checklist });
    return (await this.getTask({ externalId: view.id }))!;
  }

  async moveTask(p: MoveTaskParams): Promise<void> {
    await this.update(p, "status = $3, completed_at = CASE WHEN $3 = 'done' THEN coalesce(completed_at, now()) ELSE NULL END", [p.status]);
  }

  async addComment(p: CommentParams): Promise<void> {
    this.ensureId(p);
    const r = await this.db.query('INSERT INTO board_comments (project_id, task_id, body) SELECT project_id, id, $3 FROM tasks WHERE project_id = $1 AND id = $2', [
      this.projectId,
      p.externalId,
      p.body,
    ]);
    if (r.rowCount === 0) throw notFound(p.externalId);
  }

  async listComments(p: TaskRefParams): Promise<BoardComment[]> {
    if (!UUID.test(p.externalId)) return [];
    const r = await this.db.query<{ body: string; created_at: Date }>('SELECT body, created_at FROM board_comments WHERE project_id = $1 AND task_id = $2 ORDER BY id', [
      this.projectId,
      p.externalId,
    ]);
    return r.rows.map((c) => ({ body: c.body, createdAt: c.created_at.toISOString() }));
  }

  async setChecklist(p: ChecklistParams): Promise<void> {
    await this.update(p, 'checklist = $3', [JSON.stringify(p.items.map((i) => ({ text: i.text, done: i.done })))]);
  }

  async addLabel(p: LabelParams): Promise<void> {
    await this.update(p, 'labels = CASE WHEN $3 = ANY(labels) THEN labels ELSE array_append(labels, $3) END', [p.label]);
  }

  async assign(p: AssignParams): Promise<void> {
    await this.update(p, 'assigned_to = $3', [p.assignee]);
  }

  private ensureId(p: TaskRefParams): void {
    if (!UUID.test(p.externalId)) throw notFound(p.externalId);
  }

  private async update(p: TaskRefParams, set: string, values: unknown[]): Promise<void> {
    this.ensureId(p);
    const r = await this.db.query(`UPDATE tasks SET ${set}, updated_at = now() WHERE project_id = $1 AND id = $2`, [this.projectId, p.externalId, ...values]);
    if (r.rowCount === 0) throw notFound(p.externalId);
  }
}

function notFound(id: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `builtin: no task ${id.slice(0, 64)} in this project`, { provider: 'builtin' });
}

function toBoardTask(t: TaskRow, deps: string[]): BoardTask {
  return {
    externalId: t.id,
    ref: t.name,
    name: t.name,
    description: t.description,
    status: t.status,
    priority: t.priority,
    labels: t.labels,
    dependencies: deps,
    assignee: t.assigned_to,
    checklist: t.checklist.map((i) => ({ text: i.text, done: i.done })),
    updatedAt: t.updated_at.toISOString(),
  };
}
