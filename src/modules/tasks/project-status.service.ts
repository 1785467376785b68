import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import { Presence } from '../../infra/shared-state/presence';

@Injectable()
export class ProjectStatusService {
  constructor(
    private readonly db: Db,
    private readonly presence: Presence,
  ) {}

  /** Counts over every task of the project, and the workers registered in it. */
  async status(projectId: string) {
    const t = await this.db.query<{ total: number; done: number; in_progress: number; blocked: number; todo: number }>(
      `SELECT count(*)::int AS total,
              count(*) FILTER (WHERE status = 'done')::int AS done,
              count(*) FILTER (WHERE status = 'in_progress')::int AS in_progress,
              count(*) FILTER (WHERE status = 'blocked')::int AS blocked,
              count(*) FILTER (WHERE status = 'todo')::int AS todo
       FROM tasks WHERE project_id = $1`,
      [projectId],
    );
    const w = await this.db.query<{ id: string; busy: boolean }>(
      `SELECT g.id, EXISTS (SELECT 1 FROM assignments a WHERE a.project_id = g.project_id AND a.agent_id = g.id AND a.state = 'active') AS busy
       FROM agents g WHERE g.project_id = $1`,
      [projectId],
    );
    const online = new Set((await this.presence.online(projectId)).map((e) => e.agentId));
    const tasks = t.rows[0];
    // available: connected (on any replica) and holding nothing.
    const workers = {
      total: w.rows.length,
      active: w.rows.filter((a) => a.busy).length,
      available: w.rows.filter((a) => !a.busy && online.has(a.id)).length,
      connected: w.rows.filter((a) => online.has(a.id)).length,
    };
    return {
      success: true,
      project: {
        total_tasks: tasks.total,
        completed: tasks.done,
        in_progress: tasks.in_progress,
        blocked: tasks.blocked,
        todo: tasks.todo,
        completion_percentage: tasks.total === 0 ? 0 : Math.round((tasks.done / tasks.total) * 1000) / 10,
      },
      workers,
      provider: 'builtin',
    };
  }

  /** Looks for states that should not exist: overdue leases, tasks held by nobody, two holders. */
  async assignmentHealth(projectId: string) {
    const r = await this.db.query<{ active: number; overdue: number; orphaned: number; mismatched: number }>(
      `SELECT
         (SELECT count(*)::int FROM assignments WHERE project_id = $1 AND state = 'active') AS active,
         (SELECT count(*)::int FROM assignments WHERE project_id = $1 AND state = 'active'
            AND lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0) < now()) AS overdue,
         (SELECT count(*)::int FROM tasks t WHERE t.project_id = $1 AND t.status IN ('in_progress', 'blocked')
            AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.state = 'active')) AS orphaned,
         (SELECT count(*)::int FROM tasks t JOIN assignments a ON a.task_id = t.id AND a.state = 'active'
            WHERE t.project_id = $1 AND (t.status NOT IN ('in_progress', 'blocked') OR t.assigned_to IS DISTINCT FROM a.agent_id)) AS mismatched`,
      [projectId],
    );
    const h = r.rows[0];
    const issues: string[] = [];
    if (h.overdue > 0) issues.push(`${h.overdue} lease(s) past expiry and grace, waiting for the sweeper`);
    if (h.orphaned > 0) issues.push(`${h.orphaned} task(s) in progress or blocked without a live assignment`);
    if (h.mismatched > 0) issues.push(`${h.mismatched} assignment(s) whose task disagrees on status or holder`);
    return {
      success: true,
      healthy: issues.length === 0,
      active_assignments: h.active,
      expired_leases: h.overdue,
      orphaned_tasks: h.orphaned,
      mismatched_assignments: h.mismatched,
      issues,
      checked_at: new Date().toISOString(),
    };
  }
}
