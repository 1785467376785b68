import { Injectable, Logger } from '@nestjs/common';
import { KanbanErrorCode } from '../../../common/errors';
import { Db } from '../../../infra/database/db';
import { MetricsService } from '../../../infra/metrics/metrics.service';
import type { ChecklistItem } from '../comments';
import { BoardRegistry, type BoardHandle } from '../board-registry';
import { KanbanError } from '../kanban-error';
import type { BoardPriority, BoardStatus } from '../provider';
import type { WritebackOp } from './writeback-op';

interface Row {
  id: string;
  task_id: string;
  op: WritebackOp;
  attempts: number;
}

interface TaskState {
  id: string;
  name: string;
  description: string;
  priority: BoardPriority;
  labels: string[];
  checklist: ChecklistItem[];
  external_id: string | null;
  external_status: BoardStatus | null;
}

export interface DrainResult {
  applied: number;
  dead: number;
  /** Why draining stopped early (the board is down, the breaker is open...), if it did. */
  stoppedBy?: string;
}

/** Errors that no retry will fix: the write-back is set aside (dead) so the queue moves on. */
const PERMANENT = new Set<string>([KanbanErrorCode.BOARD_REJECTED, KanbanErrorCode.BOARD_NOT_FOUND]);

/**
 * Applies each project's queued write-backs to its board, strictly in order, one at a time. A
 * failure stops that project's queue where it is (nothing is skipped, nothing reordered) until the
 * board answers again; the breaker makes the wait cheap. Only the elected leader drains, so one
 * process writes to each board.
 *
 * Exactly once: a row is marked applied after the board accepted it. If a previous attempt may
 * have reached the board (attempts > 0), its comment is looked for before being added again.
 */
@Injectable()
export class BoardWritebackService {
  private readonly logger = new Logger('Kanban');
  private readonly running = new Map<string, Promise<DrainResult>>();

  constructor(
    private readonly db: Db,
    private readonly boards: BoardRegistry,
    private readonly metrics: MetricsService,
  ) {
    metrics.setSource('pm_agent_kanban_writebacks_pending', async () => {
      const r = await this.db.query<{ n: string }>('SELECT count(*) AS n FROM board_writebacks WHERE applied_at IS NULL');
      return Number(r.rows[0].n);
    });
  }

  /** Projects with write-backs waiting. */
  async pendingProjects(): Promise<string[]> {
    const r = await this.db.query<{ project_id: string }>('SELECT DISTINCT project_id FROM board_writebacks WHERE applied_at IS NULL');
    return r.rows.map((x) => x.project_id);
  }

  async drainAll(): Promise<void> {
    await Promise.all((await this.pendingProjects()).map((p) => this.drain(p)));
  }

  /** Drains one project's queue; concurrent calls for the same project share one run. */
  drain(projectId: string): Promise<DrainResult> {
    let run = this.running.get(projectId);
    if (!run) {
      run = this.drainProject(projectId).finally(() => this.running.delete(projectId));
      this.running.set(projectId, run);
    }
    return run;
  }

  private async drainProject(projectId: string): Promise<DrainResult> {
    const handle = await this.boards.handle(projectId);
    const result: DrainResult = { applied: 0, dead: 0 };
    if (handle.settings.provider === 'builtin') {
      // The project went back to the built-in board: its external queue has no board left to write to.
      await this.db.query(`UPDATE board_writebacks SET applied_at = now(), dead = true, last_error = 'project uses the built-in board' WHERE project_id = $1 AND applied_at IS NULL`, [projectId]);
      return result;
    }
    for (;;) {
      if (handle.breaker.state === 'open') return { ...result, stoppedBy: 'circuit open' };
      const r = await this.db.query<Row>('SELECT id, task_id, op, attempts FROM board_writebacks WHERE project_id = $1 AND applied_at IS NULL ORDER BY id LIMIT 50', [projectId]);
      if (r.rows.length === 0) return result;
      for (const row of r.rows) {
        try {
          await this.apply(handle, row);
          await this.db.query('UPDATE board_writebacks SET applied_at = now(), attempts = attempts + 1, last_attempt_at = now(), last_error = NULL WHERE id = $1', [row.id]);
          result.applied++;
          this.metrics.boardWritebacks.inc({ provider: handle.settings.provider, result: 'applied' });
        } catch (err) {
          const code = err instanceof KanbanError ? err.code : 'INTERNAL';
          const message = err instanceof Error ? err.message.slice(0, 500) : 'error';
          if (PERMANENT.has(code)) {
            await this.db.query('UPDATE board_writebacks SET applied_at = now(), dead = true, attempts = attempts + 1, last_attempt_at = now(), last_error = $2 WHERE id = $1', [row.id, message]);
            result.dead++;
            this.metrics.boardWritebacks.inc({ provider: handle.settings.provider, result: 'dead' });
            this.logger.warn(`write-back ${row.id} for task ${row.task_id} set aside: ${message}`);
            continue;
          }
          await this.db.query('UPDATE board_writebacks SET attempts = attempts + 1, last_attempt_at = now(), last_error = $2 WHERE id = $1', [row.id, message]);
          this.metrics.boardWritebacks.inc({ provider: handle.settings.provider, result: 'retry' });
          return { ...result, stoppedBy: message };
        }
      }
    }
  }

  private async apply(h: BoardHandle, row: Row): Promise<void> {
    const t = await this.db.query<TaskState>(
      'SELECT id, name, description, priority, labels, checklist, external_id, external_status FROM tasks WHERE id = $1 AND project_id = $2',
      [row.task_id, h.projectId],
    );
    const task = t.rows[0];
    if (!task) return; // deleted since: nothing to write
    const externalId = task.external_id ?? (await this.createCard(h, task));
    const op = row.op;
    if (op.kind === 'create') return;
    const board = h.board;
    const retried = row.attempts > 0;
    if (!retried || !(await board.listComments({ externalId })).some((c) => c.body === op.comment)) {
      await board.addComment({ externalId, body: op.comment });
    }
    if (task.external_status !== op.moveTo) {
      await board.moveTask({ externalId, status: op.moveTo });
      await this.db.query('UPDATE tasks SET external_status = $2 WHERE id = $1', [task.id, op.moveTo]);
    }
    if (op.checklist && task.checklist.length > 0) await board.setChecklist({ externalId, items: task.checklist });
    if (op.label) await board.addLabel({ externalId, label: op.label });
    if (op.assignee !== undefined) await board.assign({ externalId, assignee: op.assignee });
  }

  /** A task added through pm-agent to a project on an external board gets its card. */
  private async createCard(h: BoardHandle, task: TaskState): Promise<string> {
    const deps = await this.db.query<{ external_id: string }>(
      `SELECT d.external_id FROM task_dependencies td JOIN tasks d ON d.id = td.depends_on WHERE td.task_id = $1 AND d.external_id IS NOT NULL`,
      [task.id],
    );
    const card = await h.board.createTask({
      name: task.name,
      description: task.description,
      priority: task.priority,
      labels: task.labels,
      checklist: task.checklist,
      dependencies: deps.rows.map((d) => d.external_id),
    });
    await this.db.query('UPDATE tasks SET external_id = $2, external_ref = $3, external_status = $4, external_updated_at = $5 WHERE id = $1', [
      task.id,
      card.externalId,
      card.ref,
      card.status,
      card.updatedAt,
    ]);
    return card.externalId;
  }
}
