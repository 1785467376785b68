import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import { startTestApp, type StorageMode, type TestApp } from '../support/app';
import { eventually } from '../support/eventually';
import { startFakePlanka, type FakePlanka } from '../support/fakes/fake-planka';

// A project on a (fake) Planka board end to end: the leader imports the board, agents work the
// tasks from Postgres, their progress reaches the cards through the ordered write-back queue.

const commentsOf = (fake: FakePlanka, cardId: string): string[] =>
  [...fake.actions.values()]
    .filter((a) => a.cardId === cardId && a.type === 'commentCard')
    .sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : 1))
    .map((a) => String(a.data.text));

const listName = (fake: FakePlanka, cardId: string): string | undefined => fake.listOf(cardId);

async function setUp(mode: StorageMode, env: Record<string, string> = {}) {
  const fake = await startFakePlanka();
  const token = fake.issueToken();
  const t = await startTestApp(mode, {
    PM_AGENT_BOARD_PLANKA_TOKEN: token,
    KANBAN_WRITEBACK_INTERVAL_MS: '100',
    KANBAN_HTTP_MAX_RETRIES: '0',
    LOG_LEVEL: 'error',
    ...env,
  });
  const api = new ApiClient(t.url, t.adminKey);
  const project = await api.createProject('planka');
  return { fake, token, t, api, project };
}

async function configure(api: ApiClient, projectId: string, fake: FakePlanka, extra: Record<string, unknown> = {}) {
  const r = await api.request('PUT', `/api/v1/projects/${projectId}/board`, { provider: 'planka', url: fake.url, board_id: fake.boardId, token_env: 'PM_AGENT_BOARD_PLANKA_TOKEN', ...extra }, api.adminKey);
  expect(r.status).toBe(200);
  return r.body;
}

/** Asks for a sync and waits until one started after the request has finished without error. */
async function syncNow(s: { api: ApiClient; project: { id: string; api_key: string }; t: TestApp }): Promise<void> {
  const asked = (await s.t.db.query<{ now: Date }>('SELECT now() AS now')).rows[0].now;
  await s.api.request('POST', `/api/v1/projects/${s.project.id}/board/sync`, undefined, s.project.api_key);
  await eventually(async () => {
    const r = await s.t.db.query<{ last_started_at: Date; last_finished_at: Date | null; last_error: string | null }>(
      'SELECT last_started_at, last_finished_at, last_error FROM board_sync_state WHERE project_id = $1',
      [s.project.id],
    );
    const st = r.rows[0];
    expect(st.last_started_at.getTime()).toBeGreaterThan(asked.getTime());
    expect(st.last_finished_at!.getTime()).toBeGreaterThanOrEqual(st.last_started_at.getTime());
    expect(st.last_error).toBeNull();
  }, 15_000);
}

describe.each(['postgres', 'embedded'] as const)('a project on a Planka board (%s storage)', (mode) => {
  let s: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    s = await setUp(mode);
  });
  afterAll(async () => {
    await s?.t.close();
    await s?.fake.close();
  });

  it('imports the board, serves its tasks to agents and writes their work back in order', async () => {
    const { fake, api, project } = s;
    const schema = fake.seedCard({ name: 'Schema', list: 'To Do', tasks: [{ name: 'tables', position: 1 }, { name: 'indexes', position: 2 }] });
    fake.seedCard({ name: 'API', list: 'To Do', description: `REST endpoints\n\nDepends on: #${schema.id}` });
    fake.seedCard({ name: 'Old work', list: 'Done' });

    const body = await configure(api, project.id, fake, { assignees: { 'agent-1': fake.users[1].username } });
    expect(body.board).toMatchObject({ provider: 'planka', token_env: 'PM_AGENT_BOARD_PLANKA_TOKEN' });
    expect(JSON.stringify(body)).not.toContain(s.token);

    const tasks = await eventually(async () => {
      const list = await api.listTasks(project.id);
      expect(list).toHaveLength(3);
      return list;
    }, 15_000);
    const byName = new Map(tasks.map((x) => [x.name, x]));
    expect(byName.get('Schema')).toMatchObject({ status: 'todo', checklist: [{ text: 'tables', done: false }, { text: 'indexes', done: false }] });
    expect(byName.get('API')!.dependencies).toEqual([byName.get('Schema')!.id]);
    expect(byName.get('Old work')!.status).toBe('done');

    const agent = await api.agent(project.api_key, 'agent-1', [], 'Alice');
    expect(await agent.call('ping', {})).toMatchObject({ provider: 'planka' });
    const next = await agent.call('request_next_task', { agent_id: 'agent-1' });
    expect(next.task).toMatchObject({ name: 'Schema' }); // API waits for Schema
    await agent.call('report_task_progress', { agent_id: 'agent-1', task_id: next.task.id, status: 'in_progress', progress: 50, message: 'tables done' });
    await agent.call('report_task_progress', { agent_id: 'agent-1', task_id: next.task.id, status: 'completed', progress: 100, message: 'all done' });

    await eventually(async () => {
      const comments = commentsOf(fake, schema.id);
      expect(comments).toHaveLength(3);
      expect(comments[0]).toMatch(/^📋 Task assigned to Alice at \d{4}-/);
      expect(comments[1]).toBe('📊 Progress Update: 50% | Status: in_progress | tables done');
      expect(comments[2]).toBe('📊 Progress Update: 100% | Status: completed | all done');
      expect(listName(fake, schema.id)).toBe('Done');
      const items = [...fake.tasks.values()].filter((x) => x.cardId === schema.id).sort((a, b) => a.position - b.position);
      expect(items.map((x) => x.isCompleted)).toEqual([true, true]);
    }, 15_000);
    // The mapped board user was put on the card at assignment.
    expect([...fake.cardMemberships.values()].filter((m) => m.cardId === schema.id).map((m) => m.userId)).toEqual([fake.users[1].id]);

    await eventually(async () => {
      const state = await api.request('GET', `/api/v1/projects/${project.id}/board`, undefined, api.adminKey);
      expect(state.body).toMatchObject({ breaker: 'closed', writebacks: { pending: 0, dead: 0 }, sync: { last_error: null } });
    });
    const cards = await api.request('GET', `/api/v1/projects/${project.id}/board/cards`, undefined, project.api_key);
    expect(cards.body.cards.find((c: { externalId: string }) => c.externalId === schema.id)).toMatchObject({ status: 'done' });
  });

  it('follows a human moving a free card, never a card an agent holds, and imports new cards once', async () => {
    const { fake, api, project } = s;
    const free = fake.seedCard({ name: 'Free card', list: 'To Do' });
    const held = fake.seedCard({ name: 'Held card', list: 'To Do' });
    await syncNow(s);
    const byName = async (name: string) => (await api.listTasks(project.id)).find((x) => x.name === name);
    const freeId = (await byName('Free card')).id as string;
    const heldId = (await byName('Held card')).id as string;

    // A human drags the free card to Done: the task follows.
    fake.cards.get(free.id)!.listId = fake.listNamed('Done').id;
    await syncNow(s);
    expect(await byName('Free card')).toMatchObject({ id: freeId, status: 'done' });

    // An agent takes the held card (finishing whatever else comes first), then a human drags it to Done.
    const agent = await api.agent(project.api_key, 'agent-2', [], 'Bob');
    let got: { id: string } | undefined;
    for (let i = 0; i < 4 && got?.id !== heldId; i++) {
      got = (await agent.call('request_next_task', { agent_id: 'agent-2' })).task;
      if (got && got.id !== heldId) await agent.call('report_task_progress', { agent_id: 'agent-2', task_id: got.id, status: 'completed', progress: 100, message: 'x' });
    }
    expect(got?.id).toBe(heldId);
    fake.cards.get(held.id)!.listId = fake.listNamed('Done').id;
    await syncNow(s);
    expect(await byName('Held card')).toMatchObject({ status: 'in_progress', assigned_to: 'agent-2' });

    // Importing again adds nothing: one task per card.
    await syncNow(s);
    const names = (await api.listTasks(project.id)).map((x) => x.name);
    expect(names.filter((n) => n === 'Free card')).toHaveLength(1);
    expect(names).toHaveLength(fake.cards.size);
  });

  it('creates the card for a task added through pm-agent', async () => {
    const { fake, api, project } = s;
    const task = await api.addTask(project.id, { name: 'Added via API', priority: 'urgent', checklist: ['one'] });
    const card = await eventually(async () => {
      const c = [...fake.cards.values()].find((x) => x.name === 'Added via API');
      expect(c).toBeDefined();
      return c!;
    }, 15_000);
    expect(listName(fake, card.id)).toBe('To Do');
    await eventually(async () => {
      const [row] = (await s.t.db.query<{ external_id: string }>('SELECT external_id FROM tasks WHERE id = $1', [task.id])).rows;
      expect(row.external_id).toBe(card.id);
    });
    // The next import recognises it instead of creating a second task.
    await syncNow(s);
    expect((await api.listTasks(project.id)).filter((x) => x.name === 'Added via API')).toHaveLength(1);
  });
});

describe('Planka down: the breaker opens, agents keep working, write-backs drain once and in order', () => {
  let s: Awaited<ReturnType<typeof setUp>>;
  beforeAll(async () => {
    s = await setUp('postgres', { KANBAN_BREAKER_RESET_MS: '1500', KANBAN_BREAKER_FAILURES: '5' });
  });
  afterAll(async () => {
    await s?.t.close();
    await s?.fake.close();
  });

  it('measures agent calls with the board up and down, and drains the queue exactly once after recovery', async () => {
    const { fake, api, project } = s;
    const cards = Array.from({ length: 12 }, (_, i) => fake.seedCard({ name: `card ${i}`, list: 'To Do' }));
    await configure(api, project.id, fake);
    await eventually(async () => expect(await api.listTasks(project.id)).toHaveLength(12), 15_000);
    const agent = await api.agent(project.api_key, 'agent-1', [], 'Alice');

    /** One full task cycle: claim, two progress reports, completion; returns per-call latencies. */
    const cycle = async (): Promise<{ taskId: string; ms: number[] }> => {
      const ms: number[] = [];
      const timed = async (ev: string, p: object) => {
        const t0 = performance.now();
        const r = await agent.call(ev, p);
        ms.push(performance.now() - t0);
        return r;
      };
      const n = await timed('request_next_task', { agent_id: 'agent-1' });
      expect(n.success).toBe(true);
      await timed('report_task_progress', { agent_id: 'agent-1', task_id: n.task.id, status: 'in_progress', progress: 30, message: 'a' });
      await timed('report_task_progress', { agent_id: 'agent-1', task_id: n.task.id, status: 'in_progress', progress: 60, message: 'b' });
      await timed('report_task_progress', { agent_id: 'agent-1', task_id: n.task.id, status: 'completed', progress: 100, message: 'c' });
      return { taskId: n.task.id, ms };
    };
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

    const up: number[] = [];
    for (let i = 0; i < 4; i++) up.push(...(await cycle()).ms);
    const applied = async () =>
      Number((await s.t.db.query<{ n: string }>('SELECT count(*) AS n FROM board_writebacks WHERE project_id = $1 AND applied_at IS NOT NULL AND NOT dead', [project.id])).rows[0].n);
    // Every event of the 4 cycles reached the board (the outbox relay and the queue may still be carrying some).
    await eventually(async () => expect(await applied()).toBe(4 * 4), 15_000);

    fake.setDown(true);
    const down: number[] = [];
    const doneWhileDown: string[] = [];
    for (let i = 0; i < 6; i++) {
      const c = await cycle();
      down.push(...c.ms);
      doneWhileDown.push(c.taskId);
    }
    const state = await eventually(async () => {
      const r = (await api.request('GET', `/api/v1/projects/${project.id}/board`, undefined, api.adminKey)).body;
      expect(r.breaker).toBe('open');
      expect(r.writebacks.pending).toBe(6 * 4); // assignment, two progress reports, completion per task
      return r;
    }, 15_000);
    const callsWhileOpen = fake.requests.length;
    await new Promise((r) => setTimeout(r, 700));
    expect(fake.requests.length - callsWhileOpen).toBeLessThanOrEqual(1); // open: no hammering of a dead board
    console.log(
      `[board down] agent call median ${median(down).toFixed(1)} ms (max ${Math.max(...down).toFixed(1)}) vs board up ${median(up).toFixed(1)} ms (max ${Math.max(...up).toFixed(1)}); ${state.writebacks.pending} write-backs queued`,
    );

    fake.setDown(false);
    await eventually(async () => expect((await api.request('GET', `/api/v1/projects/${project.id}/board`, undefined, api.adminKey)).body.writebacks).toEqual({ pending: 0, dead: 0 }), 20_000);
    expect(await applied()).toBe(10 * 4);
    const idOf = new Map((await api.listTasks(project.id)).map((x) => [x.id, x]));
    for (const taskId of doneWhileDown) {
      const card = cards.find((c) => c.name === idOf.get(taskId).name)!;
      const comments = commentsOf(fake, card.id);
      expect(comments).toHaveLength(4);
      expect(comments[0]).toMatch(/^📋 Task assigned to Alice/);
      expect(comments.slice(1)).toEqual([
        '📊 Progress Update: 30% | Status: in_progress | a',
        '📊 Progress Update: 60% | Status: in_progress | b',
        '📊 Progress Update: 100% | Status: completed | c',
      ]);
      expect(listName(fake, card.id)).toBe('Done');
    }
  });
});
