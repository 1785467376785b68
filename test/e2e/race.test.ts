import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// 50 agents race request_next_task for 20 tasks, 20 times over: every task goes to exactly one
// agent, the other 30 get a clean "no task" answer, and the database agrees.
const AGENTS = 50;
const TASKS = 20;
const ROUNDS = 20;
const PRIORITIES = ['low', 'medium', 'high', 'urgent'] as const;
// 50 calls arrive together; on a busy machine the last answers of a round can take a while
// (PGlite runs one transaction at a time). Generous, and not a timing assertion.
const CALL_TIMEOUT_MS = 60_000;

describe.each(STORAGE_MODES)('race for tasks (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;

  beforeAll(async () => {
    // 1000 sockets from 127.0.0.1 within a minute or two: lift the per-address handshake limit.
    // PGlite runs one transaction at a time, so 50 simultaneous calls queue; with a pool of 10 the
    // 40 waiting for a client can reach the pool's 10 s connect timeout on a loaded machine. A
    // client per racer moves the queueing into PGlite itself, which has no such timeout.
    t = await startTestApp(mode, { RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000', ...(mode === 'embedded' ? { DATABASE_POOL_MAX: String(AGENTS + 5) } : {}) });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => t?.close());

  /** Token, socket and registration for each agent (the first token alone, so the API key is verified once). */
  async function connectAgents(apiKey: string, agentIds: string[]): Promise<AgentSocket[]> {
    const tokens = [await api.token(apiKey, agentIds[0])];
    tokens.push(...(await Promise.all(agentIds.slice(1).map((id) => api.token(apiKey, id)))));
    const sockets = await Promise.all(tokens.map((token) => api.connect(token)));
    await Promise.all(
      sockets.map(async (s, i) => {
        s.agentId = agentIds[i];
        const r = await s.call('register_agent', { agent_id: agentIds[i], name: agentIds[i], role: 'developer', skills: ['backend'] }, CALL_TIMEOUT_MS);
        expect(r).toMatchObject({ success: true });
      }),
    );
    return sockets;
  }

  it(`${AGENTS} agents racing for ${TASKS} tasks get ${TASKS} distinct tasks and ${AGENTS - TASKS} clean "no task" answers, ${ROUNDS} rounds`, async () => {
    let assignments = 0;
    let duplicates = 0;
    let noTask = 0;
    const started = Date.now();

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
      const sockets = await connectAgents(project.api_key, agentIds);

      try {
        // All at once: every request is on the wire before any answer is awaited.
        const answers = await Promise.all(sockets.map((s) => s.call('request_next_task', { agent_id: s.agentId }, CALL_TIMEOUT_MS)));

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
      `race (${mode}): ${ROUNDS} rounds × ${AGENTS} agents for ${TASKS} tasks: ${assignments} assignments, ${duplicates} duplicates, ` +
        `${noTask} "no task" answers (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    expect(assignments).toBe(ROUNDS * TASKS);
    expect(duplicates).toBe(0);
    expect(noTask).toBe(ROUNDS * (AGENTS - TASKS));
  }, 600_000);
});
