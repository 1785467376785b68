import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// 50 agents race request_next_task for 20 tasks, 20 times over: every task goes to exactly one
// agent, the other 30 get a clean "no task" answer, and the database agrees.
const AGENTS = 50;
const TASKS = 20;
const ROUNDS = 20;
const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;

describe.each(STORAGE_MODES)('race for tasks (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => t?.close());

  it(`${AGENTS} agents racing for ${TASKS} tasks get ${TASKS} distinct tasks and ${AGENTS - TASKS} clean "no task" answers, ${ROUNDS} rounds`, async () => {
    let assignments = 0;
    let duplicates = 0;
    let noTask = 0;

    for (let round = 0; round < ROUNDS; round++) {
      // A fresh project per round (tokens are bound to a project, so the sockets are new too).
      const project = await api.createProject(`race ${round}`);
      const created = await Promise.all(
        Array.from({ length: TASKS }, (_, i) =>
          api.addTask(project.id, { name: `task ${round}.${i}`, priority: PRIORITIES[i % PRIORITIES.length], labels: i % 2 ? ['backend'] : [] }),
        ),
      );
      const taskIds = new Set(created.map((x) => x.id as string));
      const agentIds = Array.from({ length: AGENTS }, (_, i) => `racer-${round}-${i}`);
      const sockets: AgentSocket[] = await api.agents(project.api_key, agentIds, ['backend']);

      try {
        // All at once: every request is on the wire before any answer is awaited.
        const answers = await Promise.all(sockets.map((s) => s.call('request_next_task', { agent_id: s.agentId })));

        const winners = answers.map((a, i) => ({ a, agent: agentIds[i] })).filter((x) => x.a.success === true);
        const losers = answers.filter((a) => a.success !== true);
        for (const l of losers) {
          expect(l).toEqual({ success: false, message: 'No suitable tasks available at this time', retry_after_seconds: expect.any(Number) });
          expect(l.retry_after_seconds).toBeGreaterThan(0);
        }
        const claimed = winners.map((w) => w.a.task.id as string);
        const distinct = new Set(claimed);
        duplicates += claimed.length - distinct.size;
        assignments += claimed.length;
        noTask += losers.length;

        expect(winners).toHaveLength(TASKS);
        expect(losers).toHaveLength(AGENTS - TASKS);
        expect(distinct.size).toBe(TASKS);
        expect([...distinct].every((id) => taskIds.has(id))).toBe(true);
        for (const w of winners) expect(w.a.task.lease.token).toMatch(/^\d+$/);
        expect(new Set(winners.map((w) => w.a.task.lease.token)).size).toBe(TASKS);

        // The database agrees: one active assignment per task, each task in progress with its holder.
        const doubled = await t.db.query(
          `SELECT task_id, count(*)::int AS n FROM assignments WHERE project_id = $1 AND state = 'active' GROUP BY task_id HAVING count(*) > 1`,
          [project.id],
        );
        expect(doubled.rows).toEqual([]);
        const active = await t.db.query<{ task_id: string; agent_id: string }>(
          `SELECT task_id, agent_id FROM assignments WHERE project_id = $1 AND state = 'active'`,
          [project.id],
        );
        const holderOf = new Map(winners.map((w) => [w.a.task.id as string, w.agent]));
        expect(active.rows).toHaveLength(TASKS);
        expect(new Set(active.rows.map((r) => r.agent_id)).size).toBe(TASKS);
        for (const r of active.rows) expect(r.agent_id).toBe(holderOf.get(r.task_id));

        const tasks = await t.db.query<{ id: string; status: string; assigned_to: string | null }>(
          'SELECT id, status, assigned_to FROM tasks WHERE project_id = $1',
          [project.id],
        );
        expect(tasks.rows).toHaveLength(TASKS);
        for (const task of tasks.rows) {
          expect(task.status).toBe('in_progress');
          expect(task.assigned_to).toBe(holderOf.get(task.id));
        }
      } finally {
        for (const s of sockets) s.close();
      }
    }

    console.log(
      `race (${mode}): ${ROUNDS} rounds × ${AGENTS} agents for ${TASKS} tasks: ${assignments} assignments, ${duplicates} duplicates, ${noTask} "no task" answers`,
    );
    expect(assignments).toBe(ROUNDS * TASKS);
    expect(duplicates).toBe(0);
    expect(noTask).toBe(ROUNDS * (AGENTS - TASKS));
  }, 240_000);
});
