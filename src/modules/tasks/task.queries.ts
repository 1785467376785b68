import type { Queryable } from '../../infra/database/db';
import { claimSqlEligible } from './eligibility';
import { claimSqlScore } from './scoring';
import type { AssignmentRow, TaskRow } from './task.types';

// Named queries of the assignment engine. Every function takes the transaction it runs in.

export async function claimNextTask(q: Queryable, projectId: string, skills: readonly string[]): Promise<TaskRow | null> {
  // SKIP LOCKED lets racing claims pass over each other's candidates instead of queueing; the
  // re-check of `status = 'todo'` on the locked row and the unique index stop any double hold.
  const r = await q.query<TaskRow>(
    `SELECT t.* FROM tasks t
     WHERE ${claimSqlEligible(1)}
     ORDER BY ${claimSqlScore(2)} DESC, t.created_at, t.seq
     LIMIT 1
     FOR UPDATE OF t SKIP LOCKED`,
    [projectId, skills.map((s) => s.toLowerCase())],
  );
  return r.rows[0] ?? null;
}

export async function countEligible(q: Queryable, projectId: string): Promise<number> {
  const r = await q.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks t WHERE ${claimSqlEligible(1)}`, [projectId]);
  return r.rows[0]?.n ?? 0;
}

export async function activeAssignmentsOf(q: Queryable, projectId: string, agentId: string): Promise<AssignmentRow[]> {
  const r = await q.query<AssignmentRow>(
    `SELECT * FROM assignments WHERE project_id = $1 AND agent_id = $2 AND state = 'active' ORDER BY slot`,
    [projectId, agentId],
  );
  return r.rows;
}

export async function lockTask(q: Queryable, projectId: string, taskId: string): Promise<TaskRow | null> {
  const r = await q.query<TaskRow>('SELECT * FROM tasks WHERE id = $1 AND project_id = $2 FOR UPDATE', [taskId, projectId]);
  return r.rows[0] ?? null;
}

export async function findTask(q: Queryable, projectId: string, taskId: string): Promise<TaskRow | null> {
  const r = await q.query<TaskRow>('SELECT * FROM tasks WHERE id = $1 AND project_id = $2', [taskId, projectId]);
  return r.rows[0] ?? null;
}

export async function lockActiveAssignment(q: Queryable, taskId: string): Promise<AssignmentRow | null> {
  const r = await q.query<AssignmentRow>(`SELECT * FROM assignments WHERE task_id = $1 AND state = 'active' FOR UPDATE`, [taskId]);
  return r.rows[0] ?? null;
}

export async function dependenciesOf(q: Queryable, taskIds: readonly string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>(taskIds.map((id) => [id, []]));
  if (taskIds.length === 0) return out;
  const r = await q.query<{ task_id: string; depends_on: string }>(
    'SELECT task_id, depends_on FROM task_dependencies WHERE task_id = ANY($1::uuid[]) ORDER BY task_id, depends_on',
    [taskIds],
  );
  for (const row of r.rows) out.get(row.task_id)?.push(row.depends_on);
  return out;
}

export async function dependencySummaries(q: Queryable, taskId: string): Promise<{ id: string; name: string; status: string }[]> {
  const r = await q.query<{ id: string; name: string; status: string }>(
    `SELECT t.id, t.name, t.status FROM task_dependencies d JOIN tasks t ON t.id = d.depends_on
     WHERE d.task_id = $1 ORDER BY t.seq`,
    [taskId],
  );
  return r.rows;
}

export async function waitingAgents(q: Queryable, projectId: string): Promise<string[]> {
  const r = await q.query<{ id: string }>('SELECT id FROM agents WHERE project_id = $1 AND waiting_since IS NOT NULL', [projectId]);
  return r.rows.map((x) => x.id);
}

export async function addBoardComment(q: Queryable, projectId: string, taskId: string, body: string): Promise<void> {
  await q.query('INSERT INTO board_comments (project_id, task_id, body) VALUES ($1, $2, $3)', [projectId, taskId, body]);
}
