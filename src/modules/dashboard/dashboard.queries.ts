import type { Queryable } from '../../infra/database/db';
import type { BlockerAnalysis } from '../ai/fallback-blocker';

// Read-only SQL behind the live dashboard. Every list is bounded: the refresher runs these once a
// second per watched project, so a project with a long history must not make them grow.

/** The statuses the tasks table allows (its CHECK constraint), in board order. */
export const TASK_STATUSES = ['todo', 'in_progress', 'blocked', 'done'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export const MAX_CARDS_PER_COLUMN = 500;
export const MAX_AGENTS = 500;
export const MAX_BLOCKERS = 100;

export interface CardRow {
  id: string;
  name: string;
  status: TaskStatus;
  priority: 'low' | 'medium' | 'high' | 'urgent';
  labels: string[];
  assigned_to: string | null;
  progress: number | null;
  lease_expires_at: Date | null;
  completed_at: Date | null;
}

export interface AgentRow {
  id: string;
  name: string;
  role: string;
  capacity: number;
  total_completed: number;
}

export interface HeldRow {
  agent_id: string;
  task_id: string;
  task_name: string;
  task_status: TaskStatus;
  progress: number;
  lease_expires_at: Date;
}

export interface BlockerRow {
  id: string;
  task_id: string;
  task_name: string;
  agent_id: string;
  agent_name: string | null;
  severity: 'low' | 'medium' | 'high' | 'critical';
  description: string;
  suggestions: string[];
  analysis: BlockerAnalysis | null;
  created_at: Date;
}

export interface ThroughputRow {
  last_hour: number;
  last_24h: number;
  /** Completions by hours ago (0 = the last 60 minutes), only the hours that have some. */
  buckets: { ago: number; n: number }[];
}

export async function projectName(q: Queryable, projectId: string): Promise<string | null> {
  const r = await q.query<{ name: string }>('SELECT name FROM projects WHERE id = $1', [projectId]);
  return r.rows[0]?.name ?? null;
}

/** Up to 500 projects for the admin's picker, newest first. */
export async function listProjects(q: Queryable): Promise<{ id: string; name: string }[]> {
  const r = await q.query<{ id: string; name: string }>('SELECT id, name FROM projects ORDER BY created_at DESC, id LIMIT 500');
  return r.rows;
}

export async function statusCounts(q: Queryable, projectId: string): Promise<Record<TaskStatus, number>> {
  const r = await q.query<{ status: TaskStatus; n: number }>('SELECT status, count(*)::int AS n FROM tasks WHERE project_id = $1 GROUP BY status', [projectId]);
  const counts: Record<TaskStatus, number> = { todo: 0, in_progress: 0, blocked: 0, done: 0 };
  for (const row of r.rows) counts[row.status] = row.n;
  return counts;
}

/**
 * The first cards of every column: one LIMITed scan per status (a top-N sort on the
 * (project_id, status) index) rather than a window over the whole project. Open columns by
 * priority then age; done by most recently completed.
 */
export async function boardCards(q: Queryable, projectId: string, perColumn = MAX_CARDS_PER_COLUMN): Promise<CardRow[]> {
  const r = await q.query<CardRow>(
    `SELECT c.* FROM unnest($2::text[]) AS s(status)
     CROSS JOIN LATERAL (
       SELECT t.id, t.name, t.status, t.priority, t.labels, t.assigned_to, a.progress, a.lease_expires_at, t.completed_at
       FROM tasks t
       LEFT JOIN assignments a ON a.task_id = t.id AND a.state = 'active'
       WHERE t.project_id = $1 AND t.status = s.status
       ORDER BY CASE WHEN t.status = 'done' THEN t.completed_at END DESC NULLS LAST,
                CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END,
                t.created_at, t.seq
       LIMIT $3
     ) c`,
    [projectId, TASK_STATUSES, perColumn],
  );
  return r.rows;
}

export async function agents(q: Queryable, projectId: string): Promise<{ rows: AgentRow[]; total: number }> {
  const [r, n] = await Promise.all([
    q.query<AgentRow>('SELECT id, name, role, capacity, total_completed FROM agents WHERE project_id = $1 ORDER BY name, id LIMIT $2', [projectId, MAX_AGENTS]),
    q.query<{ n: number }>('SELECT count(*)::int AS n FROM agents WHERE project_id = $1', [projectId]),
  ]);
  return { rows: r.rows, total: n.rows[0].n };
}

/** Active assignments (at most one per agent slot, so bounded by the agents' capacities). */
export async function heldTasks(q: Queryable, projectId: string): Promise<HeldRow[]> {
  const r = await q.query<HeldRow>(
    `SELECT a.agent_id, a.task_id, t.name AS task_name, t.status AS task_status, a.progress, a.lease_expires_at
     FROM assignments a JOIN tasks t ON t.id = a.task_id
     WHERE a.project_id = $1 AND a.state = 'active'
     ORDER BY a.agent_id, a.slot`,
    [projectId],
  );
  return r.rows;
}

/**
 * Blockers of tasks that are blocked right now, worst first. Nothing marks a blocker resolved yet,
 * so a task's status (unblocked once progress resumes) decides whether its blockers still count.
 */
export async function openBlockers(q: Queryable, projectId: string): Promise<BlockerRow[]> {
  const r = await q.query<BlockerRow>(
    `SELECT b.id, b.task_id, t.name AS task_name, b.agent_id, g.name AS agent_name, b.severity, b.description, b.suggestions, b.analysis, b.created_at
     FROM blockers b
     JOIN tasks t ON t.id = b.task_id AND t.status = 'blocked'
     LEFT JOIN agents g ON g.project_id = b.project_id AND g.id = b.agent_id
     WHERE b.project_id = $1 AND b.resolved_at IS NULL
     ORDER BY CASE b.severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 ELSE 3 END, b.created_at DESC
     LIMIT $2`,
    [projectId, MAX_BLOCKERS],
  );
  return r.rows;
}

export async function throughput(q: Queryable, projectId: string): Promise<ThroughputRow> {
  const r = await q.query<{ ago: number; n: number }>(
    `SELECT floor(extract(epoch FROM (now() - completed_at)) / 3600)::int AS ago, count(*)::int AS n
     FROM tasks
     WHERE project_id = $1 AND status = 'done' AND completed_at > now() - interval '24 hours'
     GROUP BY 1 ORDER BY 1`,
    [projectId],
  );
  const buckets = r.rows.filter((b) => b.ago >= 0 && b.ago < 24);
  return {
    last_hour: buckets.find((b) => b.ago === 0)?.n ?? 0,
    last_24h: buckets.reduce((s, b) => s + b.n, 0),
    buckets,
  };
}
