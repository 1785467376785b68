import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// Which task an agent gets: dependency and parent gating, 0.6 × skill + 0.4 × priority with ties
// to the oldest, one task per agent, and the tasks_available wake-up for agents told to wait.

const NO_TASK = { success: false, message: 'No suitable tasks available at this time', retry_after_seconds: expect.any(Number) };
const PRIORITY_WEIGHT = { urgent: 1.0, high: 0.8, medium: 0.5, low: 0.2 } as const;
type Priority = keyof typeof PRIORITY_WEIGHT;

/** The score of ARCHITECTURE §4, computed independently of the server. */
function score(skills: string[], task: { labels: string[]; priority: Priority }): number {
  const match = task.labels.length === 0 ? 0 : task.labels.filter((l) => skills.includes(l)).length / task.labels.length;
  return 0.6 * match + 0.4 * PRIORITY_WEIGHT[task.priority];
}

describe.each(STORAGE_MODES)('dependencies and scoring (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const sockets: AgentSocket[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  async function agent(apiKey: string, id: string, skills: string[] = []): Promise<AgentSocket> {
    const s = await api.agent(apiKey, id, skills);
    sockets.push(s);
    return s;
  }
  const request = (s: AgentSocket) => s.call('request_next_task', { agent_id: s.agentId });
  const complete = (s: AgentSocket, taskId: string) =>
    s.call('report_task_progress', { agent_id: s.agentId, task_id: taskId, status: 'completed', progress: 100, message: 'done' });
  async function statusOf(taskId: string): Promise<{ status: string; assigned_to: string | null }> {
    const r = await t.db.query<{ status: string; assigned_to: string | null }>('SELECT status, assigned_to FROM tasks WHERE id = $1', [taskId]);
    return r.rows[0];
  }

  it('a task is handed out only once every dependency is done; the last completion wakes a waiting agent', async () => {
    const p = await api.createProject('deps');
    // The dependent task is the most attractive one on the board, so only the gate keeps it back.
    const a1 = await api.addTask(p.id, { name: 'schema', priority: 'low' });
    const a2 = await api.addTask(p.id, { name: 'migrations', priority: 'low' });
    const b = await api.addTask(p.id, { name: 'api', priority: 'urgent', dependencies: [a1.id, a2.id] });
    expect(b).toMatchObject({ status: 'todo', dependencies: expect.arrayContaining([a1.id, a2.id]) });
    expect(b.dependencies).toHaveLength(2);

    const x = await agent(p.api_key, 'dep-x');
    const y = await agent(p.api_key, 'dep-y');
    const w = await agent(p.api_key, 'dep-w');
    expect((await request(x)).task.id).toBe(a1.id);
    expect((await request(y)).task.id).toBe(a2.id);
    expect(await request(w)).toEqual(NO_TASK);

    // One of two dependencies done: still gated.
    expect(await complete(x, a1.id)).toMatchObject({ success: true });
    expect(await request(w)).toEqual(NO_TASK);
    expect(await statusOf(b.id)).toEqual({ status: 'todo', assigned_to: null });

    // The last one done: the waiting agent is woken and gets it.
    const woken = w.next('tasks_available');
    expect(await complete(y, a2.id)).toMatchObject({ success: true });
    expect(await woken).toMatchObject({ project_id: p.id, eligible_tasks: 1 });
    const got = await request(w);
    expect(got.success).toBe(true);
    expect(got.task).toMatchObject({ id: b.id, name: 'api', dependencies: expect.arrayContaining([a1.id, a2.id]) });
    expect(got.task.implementation_context.dependencies).toEqual(
      expect.arrayContaining([
        { id: a1.id, name: 'schema', status: 'done' },
        { id: a2.id, name: 'migrations', status: 'done' },
      ]),
    );
    expect(got.task.instructions).toContain('Dependencies to review');
    expect(await statusOf(b.id)).toEqual({ status: 'in_progress', assigned_to: 'dep-w' });
  });

  it('a parent with open subtasks is not handed out until they are done', async () => {
    const p = await api.createProject('parents');
    const parent = await api.addTask(p.id, { name: 'epic', priority: 'urgent' });
    const sub1 = await api.addTask(p.id, { name: 'sub 1', priority: 'low', parent_task_id: parent.id });
    const sub2 = await api.addTask(p.id, { name: 'sub 2', priority: 'low', parent_task_id: parent.id });
    expect(sub1.parent_task_id).toBe(parent.id);

    const x = await agent(p.api_key, 'par-x');
    const y = await agent(p.api_key, 'par-y');
    const w = await agent(p.api_key, 'par-w');
    expect((await request(x)).task.id).toBe(sub1.id);
    expect((await request(y)).task.id).toBe(sub2.id);
    expect(await request(w)).toEqual(NO_TASK);

    expect(await complete(x, sub1.id)).toMatchObject({ success: true });
    expect(await request(w)).toEqual(NO_TASK);
    expect(await statusOf(parent.id)).toEqual({ status: 'todo', assigned_to: null });

    const woken = w.next('tasks_available');
    expect(await complete(y, sub2.id)).toMatchObject({ success: true });
    expect(await woken).toMatchObject({ project_id: p.id, eligible_tasks: 1 });
    expect((await request(w)).task.id).toBe(parent.id);
  });

  it('skill match and priority choose the task (0.6 × skill + 0.4 × priority)', async () => {
    const p = await api.createProject('scoring');
    const skills = ['backend'];
    const specs: { name: string; labels: string[]; priority: Priority }[] = [
      { name: 'urgent frontend', labels: ['frontend'], priority: 'urgent' }, // 0.6·0 + 0.4·1.0 = 0.40
      { name: 'low backend', labels: ['backend'], priority: 'low' }, // 0.6·1 + 0.4·0.2 = 0.68
      { name: 'low backend+db+api', labels: ['backend', 'database', 'api'], priority: 'low' }, // 0.6·⅓ + 0.08 = 0.28
      { name: 'high unlabelled', labels: [], priority: 'high' }, // 0 + 0.4·0.8 = 0.32
    ];
    const created = [];
    for (const s of specs) created.push(await api.addTask(p.id, s));

    // The order the formula predicts (all created at different moments, so no ties here).
    const expected = created
      .map((task, i) => ({ id: task.id as string, name: specs[i].name, s: score(skills, specs[i]) }))
      .sort((a, b) => b.s - a.s)
      .map((x) => x.name);
    expect(expected).toEqual(['low backend', 'urgent frontend', 'high unlabelled', 'low backend+db+api']);

    // Each backend agent takes the best task left.
    const got: string[] = [];
    for (let i = 0; i < specs.length; i++) {
      const a = await agent(p.api_key, `be-${i}`, skills);
      const r = await request(a);
      expect(r.success).toBe(true);
      got.push(r.task.name);
    }
    expect(got).toEqual(expected);

    // An agent without the skill sees only priority: the urgent task would have come first.
    const p2 = await api.createProject('scoring 2');
    const lowBackend = await api.addTask(p2.id, { name: 'low backend', labels: ['backend'], priority: 'low' });
    const urgent = await api.addTask(p2.id, { name: 'urgent frontend', labels: ['frontend'], priority: 'urgent' });
    expect(score(['design'], { labels: ['frontend'], priority: 'urgent' })).toBeGreaterThan(score(['design'], { labels: ['backend'], priority: 'low' }));
    const designer = await agent(p2.api_key, 'designer', ['design']);
    expect((await request(designer)).task.id).toBe(urgent.id);
    const backend = await agent(p2.api_key, 'backender', ['backend']);
    expect((await request(backend)).task.id).toBe(lowBackend.id);
  });

  it('ties go to the oldest task', async () => {
    const p = await api.createProject('ties');
    const skills = ['backend', 'frontend'];
    const weaker = await api.addTask(p.id, { name: 'weaker', labels: [], priority: 'medium' }); // 0.20, oldest
    const older = await api.addTask(p.id, { name: 'older', labels: ['frontend'], priority: 'medium' }); // 0.80
    const newer = await api.addTask(p.id, { name: 'newer', labels: ['backend'], priority: 'medium' }); // 0.80
    expect(score(skills, { labels: ['frontend'], priority: 'medium' })).toBe(score(skills, { labels: ['backend'], priority: 'medium' }));

    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await request(await agent(p.api_key, `tie-${i}`, skills))).task.id);
    expect(ids).toEqual([older.id, newer.id, weaker.id]);
  });

  it('one task per agent: asking again returns the held task', async () => {
    const p = await api.createProject('one each');
    const t1 = await api.addTask(p.id, { name: 'first', priority: 'high' });
    const t2 = await api.addTask(p.id, { name: 'second', priority: 'high' });
    const a = await agent(p.api_key, 'solo');
    const first = await request(a);
    expect(first.task.id).toBe(t1.id);
    const again = await request(a);
    expect(again.success).toBe(true);
    expect(again.task).toMatchObject({ id: t1.id, lease: { token: first.task.lease.token } });

    const active = await t.db.query<{ task_id: string }>(`SELECT task_id FROM assignments WHERE project_id = $1 AND agent_id = 'solo' AND state = 'active'`, [p.id]);
    expect(active.rows).toEqual([{ task_id: t1.id }]);
    expect(await statusOf(t2.id)).toEqual({ status: 'todo', assigned_to: null });
    const st = await a.call('get_agent_status', { agent_id: 'solo' });
    expect(st.agent.current_tasks).toEqual([t1.id]);

    // Once the held task is done, the next request gets the second one.
    expect(await complete(a, t1.id)).toMatchObject({ success: true });
    expect((await request(a)).task.id).toBe(t2.id);
  });

  it('adding a task over HTTP wakes a waiting agent with tasks_available', async () => {
    const p = await api.createProject('wake');
    const a = await agent(p.api_key, 'sleeper');
    expect(await request(a)).toEqual(NO_TASK);
    const woken = a.next('tasks_available');
    const task = await api.addTask(p.id, { name: 'new work' }, p.api_key);
    expect(await woken).toEqual({ project_id: p.id, eligible_tasks: 1, at: expect.any(String) });
    expect((await request(a)).task.id).toBe(task.id);
  });

  it('dependencies on an unknown or another project’s task are rejected with INVALID_DEPENDENCY', async () => {
    const p = await api.createProject('deps bad');
    const other = await api.createProject('deps other');
    const foreign = await api.addTask(other.id, { name: 'elsewhere' });
    const local = await api.addTask(p.id, { name: 'here' });
    const path = `/api/v1/projects/${p.id}/tasks`;

    const unknown = await api.request('POST', path, { name: 'x', dependencies: ['00000000-0000-4000-8000-000000000000'] }, t.adminKey);
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ code: 'INVALID_DEPENDENCY', error: expect.any(String) });

    const crossProject = await api.request('POST', path, { name: 'y', dependencies: [local.id, foreign.id] }, p.api_key);
    expect(crossProject.status).toBe(400);
    expect(crossProject.body).toMatchObject({ code: 'INVALID_DEPENDENCY' });

    const foreignParent = await api.request('POST', path, { name: 'z', parent_task_id: foreign.id }, t.adminKey);
    expect(foreignParent.status).toBe(400);
    expect(foreignParent.body).toMatchObject({ code: 'INVALID_DEPENDENCY' });

    // Nothing was created.
    expect((await api.listTasks(p.id)).map((x) => x.name)).toEqual(['here']);
    const deps = await t.db.query('SELECT 1 FROM task_dependencies d JOIN tasks t ON t.id = d.task_id WHERE t.project_id = $1', [p.id]);
    expect(deps.rows).toHaveLength(0);
  });
});
