import type { Queryable } from '../../infra/database/db';
import { agentNotRegistered, type AgentRow } from '../agents/agent.queries';
import { claimSqlEligible } from './eligibility';
import { claimSqlScore } from './scoring';
import type { AssignmentRow, TaskRow } from './task.types';

// Named queries of the assignment engine. Every function takes the transaction it runs in.

/**
 * Distinct (priority, labels) pairs the claim looks at before falling back to scoring every todo
 * task: a board rarely has more, and past this the skip scan costs more than one pass.
 */
export const CLAIM_CLASS_LIMIT = 64;

/**
 * The best eligible task for these skills, locked (FOR UPDATE SKIP LOCKED), or null.
 *
 * A task's score depends only on its (priority, labels) "class", and a board holds few classes, so
 * instead of scoring and sorting every todo task on every claim (126 ms at 20,000 tasks) the claim
 * lists the classes with a skip scan of `tasks_todo_class`, scores them, and takes the oldest
 * eligible task of the best class (several classes when their scores tie) from the same index:
 * index probes instead of a sort of the whole board, with the same order as `rankTasks`. The
 * common case (the best class has a free task) is one statement, which also brings the task's
 * context (dependencies, decisions) for its answer.
 */
export async function claimBestTask(q: Queryable, projectId: string, skills: readonly string[]): Promise<{ task: TaskRow; context: TaskContext } | null> {
  const lowered = skills.map((s) => s.toLowerCase());
  const r = await q.query<TaskRow & { classes: ScoredClass[]; class_count: number; context: TaskContext | null }>(
    `WITH RECURSIVE classes AS (
       (SELECT priority, labels FROM tasks WHERE project_id = $1 AND status = 'todo' ORDER BY priority, labels LIMIT 1)
       UNION ALL
       SELECT n.priority, n.labels FROM classes c CROSS JOIN LATERAL (
         SELECT x.priority, x.labels FROM tasks x
          WHERE x.project_id = $1 AND x.status = 'todo' AND (x.priority, x.labels) > (c.priority, c.labels)
          ORDER BY x.priority, x.labels LIMIT 1) n
     ), scored AS (
       SELECT t.priority, t.labels, ${claimSqlScore(2)} AS score FROM (SELECT * FROM classes LIMIT ${CLAIM_CLASS_LIMIT + 1}) t
     ), summary AS (
       SELECT coalesce(json_agg(json_build_object('priority', priority, 'labels', labels, 'score', score::text)), '[]') AS classes,
              count(*)::int AS class_count, max(score) AS top FROM scored
     )
     SELECT s.classes, s.class_count, c.*, CASE WHEN c.id IS NULL THEN NULL ELSE ${CONTEXT_JSON('c.id')} END AS context
       FROM summary s
       LEFT JOIN LATERAL (
         SELECT t.* FROM scored k CROSS JOIN LATERAL (${CLAIM_FROM_CLASS('k')}) t
          WHERE k.score = s.top AND s.class_count <= ${CLAIM_CLASS_LIMIT}
          ORDER BY t.created_at, t.seq LIMIT 1
       ) c ON true`,
    [projectId, lowered],
  );
  const { classes, class_count: classCount, context, ...row } = r.rows[0];
  if (row.id) return { task: row, context: context! };
  if (classCount > CLAIM_CLASS_LIMIT) return withContext(q, await claimByFullScan(q, projectId, lowered));

  // The best class had nothing free: the next ones, best score first, classes whose scores tie
  // searched together and merged by age.
  const groups = new Map<string, { priority: string; labels: string[] }[]>();
  for (const k of [...classes].sort((a, b) => Number(b.score) - Number(a.score))) {
    const g = groups.get(k.score) ?? [];
    g.push({ priority: k.priority, labels: k.labels });
    groups.set(k.score, g);
  }
  for (const group of [...groups.values()].slice(1)) {
    const found = await q.query<TaskRow>(
      `SELECT c.* FROM jsonb_to_recordset($2::jsonb) AS k(priority text, labels text[])
       CROSS JOIN LATERAL (${CLAIM_FROM_CLASS('k')}) c
       ORDER BY c.created_at, c.seq
       LIMIT 1`,
      [projectId, JSON.stringify(group)],
    );
    if (found.rows[0]) return withContext(q, found.rows[0]);
  }
  return null;
}

interface ScoredClass {
  priority: string;
  labels: string[];
  score: string;
}

/** The best eligible task for these skills, locked, or null (claimBestTask without the context). */
export async function claimNextTask(q: Queryable, projectId: string, skills: readonly string[]): Promise<TaskRow | null> {
  return (await claimBestTask(q, projectId, skills))?.task ?? null;
}

/**
 * The oldest eligible task of class `k` (a row with priority and labels), locked. SKIP LOCKED lets
 * racing claims pass over each other's candidates instead of queueing; the re-check of
 * `status = 'todo'` on the locked row and the unique index stop any double hold.
 */
const CLAIM_FROM_CLASS = (k: string) => `
  SELECT t.* FROM tasks t
   WHERE ${claimSqlEligible(1)} AND t.priority = ${k}.priority AND t.labels = ${k}.labels
   ORDER BY t.created_at, t.seq
   LIMIT 1
   FOR UPDATE OF t SKIP LOCKED`;

async function withContext(q: Queryable, task: TaskRow | null): Promise<{ task: TaskRow; context: TaskContext } | null> {
  return task ? { task, context: await taskContext(q, task.id) } : null;
}

/** Scores every eligible todo task: boards with more classes than CLAIM_CLASS_LIMIT. */
async function claimByFullScan(q: Queryable, projectId: string, loweredSkills: string[]): Promise<TaskRow | null> {
  const r = await q.query<TaskRow>(
    `SELECT t.* FROM tasks t
     WHERE ${claimSqlEligible(1)}
     ORDER BY ${claimSqlScore(2)} DESC, t.created_at, t.seq
     LIMIT 1
     FOR UPDATE OF t SKIP LOCKED`,
    [projectId, loweredSkills],
  );
  return r.rows[0] ?? null;
}

/**
 * Loads and row-locks (serialising one agent's concurrent calls) a registered agent, with the
 * slots of the tasks it holds: what a claim needs of the agent, in one round trip.
 */
export async function lockAgentForClaim(q: Queryable, projectId: string, agentId: string): Promise<{ agent: AgentRow; heldSlots: number[] }> {
  const r = await q.query<AgentRow & { held_slots: number[] }>(
    `SELECT g.*, ARRAY(SELECT a.slot FROM assignments a WHERE a.project_id = g.project_id AND a.agent_id = g.id AND a.state = 'active' ORDER BY a.slot) AS held_slots
       FROM agents g WHERE g.project_id = $1 AND g.id = $2 FOR UPDATE OF g`,
    [projectId, agentId],
  );
  const row = r.rows[0];
  if (!row) throw agentNotRegistered(agentId);
  const { held_slots: heldSlots, ...agent } = row;
  return { agent, heldSlots };
}

export interface TaskContext {
  dependencies: { id: string; name: string; status: string }[];
  decisions: { task_id: string; decision: string; agent_id: string }[];
}

/** A task's dependencies (summaries) and the latest decisions on it and on them, as one JSON object, for the task id `id` (SQL). */
const CONTEXT_JSON = (id: string) => `json_build_object(
  'dependencies', coalesce((SELECT json_agg(json_build_object('id', dt.id, 'name', dt.name, 'status', dt.status) ORDER BY dt.seq)
                              FROM task_dependencies d JOIN tasks dt ON dt.id = d.depends_on WHERE d.task_id = ${id}), '[]'),
  'decisions', coalesce((SELECT json_agg(x) FROM (
                              SELECT dd.task_id, dd.decision, dd.agent_id FROM decisions dd
                               WHERE dd.task_id = ${id} OR dd.task_id IN (SELECT depends_on FROM task_dependencies WHERE task_id = ${id})
                               ORDER BY dd.created_at DESC LIMIT 20) x), '[]'))`;

/** A task's dependencies (summaries) and the latest decisions on it and on them, in one round trip. */
export async function taskContext(q: Queryable, taskId: string): Promise<TaskContext> {
  const r = await q.query<{ context: TaskContext }>(`SELECT ${CONTEXT_JSON('$1::uuid')} AS context`, [taskId]);
  return r.rows[0].context;
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
