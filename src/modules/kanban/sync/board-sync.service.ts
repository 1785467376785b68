import { Injectable, Logger } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import type { PoolClient } from 'pg';
import { AppConfig } from '../../../config/app-config';
import { Db } from '../../../infra/database/db';
import { MetricsService } from '../../../infra/metrics/metrics.service';
import { recordEvent } from '../../events/outbox';
import type { ChecklistItem } from '../comments';
import { BoardRegistry } from '../board-registry';
import type { BoardPriority, BoardStatus, BoardTask } from '../provider';
import { planDependencies, planImport, type LocalTask } from './import-plan';

export interface SyncResult {
  created: number;
  updated: number;
  deferredMoves: number;
  dependencyChanges: number;
}

interface LocalRow {
  id: string;
  external_id: string;
  name: string;
  description: string;
  priority: BoardPriority;
  labels: string[];
  checklist: ChecklistItem[];
  status: BoardStatus;
  external_status: BoardStatus | null;
  held: boolean;
  pending: boolean;
}

/**
 * Imports external boards into Postgres: on an interval, when a webhook or an operator asks, and
 * when a project's board settings change. Run by the elected leader only. One transaction per
 * project with the imported tasks' rows locked, so a claim racing the import either sees the
 * import or is seen by it, and a task an agent holds is never moved (import-plan.ts).
 */
@Injectable()
export class BoardSyncService {
  private readonly logger = new Logger('Kanban');
  private readonly running = new Map<string, Promise<SyncResult>>();

  constructor(
    private readonly config: AppConfig,
    private readonly db: Db,
    private readonly boards: BoardRegistry,
    private readonly metrics: MetricsService,
  ) {}

  /** External boards whose sync was asked for or whose interval has passed. */
  async dueProjects(): Promise<string[]> {
    const r = await this.db.query<{ project_id: string }>(
      `SELECT b.project_id FROM project_boards b LEFT JOIN board_sync_state s ON s.project_id = b.project_id
       WHERE b.provider <> 'builtin' AND (
         s.last_started_at IS NULL
         OR (s.requested_at IS NOT NULL AND s.requested_at > s.last_started_at)
         OR s.last_started_at < now() - make_interval(secs => coalesce((b.config->>'sync_interval_seconds')::int, $1))
       )`,
      [this.config.kanban.syncIntervalMs / 1000],
    );
    return r.rows.map((x) => x.project_id);
  }

  /** Asks the leader to sync a project soon (any replica may call it). */
  async request(projectId: string): Promise<void> {
    await this.db.query(
      'INSERT INTO board_sync_state (project_id, requested_at) VALUES ($1, now()) ON CONFLICT (project_id) DO UPDATE SET requested_at = now()',
      [projectId],
    );
  }

  async syncDue(): Promise<void> {
    for (const p of await this.dueProjects()) await this.sync(p).catch(() => undefined); // recorded in board_sync_state
  }

  sync(projectId: string): Promise<SyncResult> {
    let run = this.running.get(projectId);
    if (!run) {
      run = this.syncProject(projectId).finally(() => this.running.delete(projectId));
      this.running.set(projectId, run);
    }
    return run;
  }

  private async syncProject(projectId: string): Promise<SyncResult> {
    const started = Date.now();
    await this.db.query(
      `INSERT INTO board_sync_state (project_id, last_started_at) VALUES ($1, now())
       ON CONFLICT (project_id) DO UPDATE SET last_started_at = now()`,
      [projectId],
    );
    const handle = await this.boards.handle(projectId);
    const provider = handle.settings.provider;
    try {
      const board = await handle.board.listTasks({ fresh: true });
      const result = await this.db.tx((c) => this.importBoard(c, projectId, board));
      await this.db.query(
        `UPDATE board_sync_state SET last_finished_at = now(), last_ok_at = now(), last_error = NULL, last_created = $2, last_updated = $3, last_duration_ms = $4 WHERE project_id = $1`,
        [projectId, result.created, result.updated, Date.now() - started],
      );
      this.metrics.boardSyncs.inc({ provider, result: 'ok' });
      if (result.created + result.updated > 0) this.logger.log(`board ${provider}:${projectId}: ${result.created} new, ${result.updated} updated task(s)`);
      return result;
    } catch (err) {
      const message = err instanceof Error ? err.message.slice(0, 500) : 'error';
      await this.db.query('UPDATE board_sync_state SET last_finished_at = now(), last_error = $2, last_duration_ms = $3 WHERE project_id = $1', [projectId, message, Date.now() - started]);
      this.metrics.boardSyncs.inc({ provider, result: 'error' });
      this.logger.warn(`board ${provider}:${projectId} sync failed: ${message}`);
      throw err;
    }
  }

  private async importBoard(c: PoolClient, projectId: string, board: BoardTask[]): Promise<SyncResult> {
    const local = await c.query<LocalRow>(
      `SELECT t.id, t.external_id, t.name, t.description, t.priority, t.labels, t.checklist, t.status, t.external_status,
              EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.state = 'active') AS held,
              EXISTS (SELECT 1 FROM board_writebacks w WHERE w.task_id = t.id AND w.applied_at IS NULL) AS pending
       FROM tasks t WHERE t.project_id = $1 AND t.external_id IS NOT NULL
       ORDER BY t.seq FOR UPDATE OF t`,
      [projectId],
    );
    const locals: LocalTask[] = local.rows.map((r) => ({
      id: r.id,
      externalId: r.external_id,
      name: r.name,
      description: r.description,
      priority: r.priority,
      labels: r.labels,
      checklist: r.checklist.map((i) => ({ text: i.text, done: i.done })),
      status: r.status,
      externalStatus: r.external_status,
      dependencies: [],
      held: r.held,
      pendingWritebacks: r.pending,
    }));
    const plan = planImport(board, locals);
    const idOf = new Map(locals.map((l) => [l.externalId, l.id]));
    for (const b of plan.creates) {
      const id = randomUUID();
      const inserted = await c.query<{ id: string }>(
        `INSERT INTO tasks (id, project_id, name, description, priority, labels, checklist, status, completed_at, external_id, external_ref, external_status, external_updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $8 = 'done' THEN now() END, $9, $10, $8, $11)
         ON CONFLICT (project_id, external_id) WHERE external_id IS NOT NULL DO NOTHING RETURNING id`,
        [id, projectId, b.name.slice(0, 500), b.description, b.priority, b.labels, JSON.stringify(b.checklist), b.status, b.externalId, b.ref, b.updatedAt],
      );
      if (inserted.rows.length === 0) continue;
      idOf.set(b.externalId, id);
      await recordEvent(c, { type: 'task.created', projectId, aggregateId: id, payload: { task_id: id, name: b.name, priority: b.priority, external_ref: b.ref } });
    }
    for (const u of plan.updates) {
      const sets: string[] = ['external_status = $2', 'external_ref = $3', 'updated_at = now()'];
      const values: unknown[] = [u.id, u.externalStatus, u.ref];
      const add = (col: string, v: unknown): void => {
        values.push(v);
        sets.push(`${col} = $${values.length}`);
      };
      if (u.fields.name !== undefined) add('name', u.fields.name.slice(0, 500));
      if (u.fields.description !== undefined) add('description', u.fields.description);
      if (u.fields.priority !== undefined) add('priority', u.fields.priority);
      if (u.fields.labels !== undefined) add('labels', u.fields.labels);
      if (u.fields.checklist !== undefined) add('checklist', JSON.stringify(u.fields.checklist));
      if (u.status !== undefined) {
        add('status', u.status);
        sets.push(`completed_at = CASE WHEN $${values.length} = 'done' THEN coalesce(completed_at, now()) ELSE NULL END`);
        // A card a human put back in the pool loses its assignee.
        sets.push(`assigned_to = CASE WHEN $${values.length} IN ('todo', 'done') THEN NULL ELSE assigned_to END`);
      }
      await c.query(`UPDATE tasks SET ${sets.join(', ')} WHERE id = $1`, values);
    }
    const ids = [...idOf.values()];
    const current = new Map<string, string[]>();
    if (ids.length > 0) {
      const d = await c.query<{ task_id: string; depends_on: string }>('SELECT task_id, depends_on FROM task_dependencies WHERE task_id = ANY($1::uuid[])', [ids]);
      for (const row of d.rows) current.set(row.task_id, [...(current.get(row.task_id) ?? []), row.depends_on]);
    }
    const deps = planDependencies(board, idOf, current);
    for (const [taskId, dependsOn] of deps) {
      await c.query('DELETE FROM task_dependencies WHERE task_id = $1', [taskId]);
      if (dependsOn.length > 0) await c.query('INSERT INTO task_dependencies (task_id, depends_on) SELECT $1, unnest($2::uuid[]) ON CONFLICT DO NOTHING', [taskId, dependsOn]);
    }
    return { created: plan.creates.length, updated: plan.updates.length, deferredMoves: plan.deferredMoves, dependencyChanges: deps.size };
  }
}
