import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// Leases with a small scale: 0.005 × the defaults gives 0.9 s + 0.3 s grace before the first
// report, 1.2 s + 0.3 s after it, 1.5 s + 0.3 s at 25–75 %. The finishing stage (> 75 %) is made
// long on purpose (36000 s × 0.005 = 180 s): a holder that has reported > 75 % keeps its task
// while a test inspects it, however slow the machine. Nothing here asserts on durations; the
// sleeps only give the sweeper (every 100 ms) the chance to act.
const LEASE_ENV = {
  LEASE_TIMEOUT_SCALE: '0.005',
  LEASE_SWEEP_INTERVAL_MS: '100',
  LEASE_FINISHING_SECONDS: '36000',
  LEASE_FINISHING_GRACE_SECONDS: '600',
};
const STALE = { success: false, status: 'stale_completion', code: 'STALE_COMPLETION' };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(STORAGE_MODES)('leases (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const sockets: AgentSocket[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode, LEASE_ENV);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    await t?.close();
  });

  async function agent(apiKey: string, id: string): Promise<AgentSocket> {
    const s = await api.agent(apiKey, id);
    sockets.push(s);
    return s;
  }
  const progress = (s: AgentSocket, taskId: string, extra: Record<string, unknown>) =>
    s.call('report_task_progress', { agent_id: s.agentId, task_id: taskId, status: 'in_progress', message: '', ...extra });

  /** Everything a refused call must leave untouched. */
  async function footprint(taskId: string) {
    const q = async (sql: string) => (await t.db.query(sql, [taskId])).rows;
    return {
      task: await q('SELECT status, assigned_to, checklist, recovery_info, completed_at, actual_hours FROM tasks WHERE id = $1'),
      assignments: await q('SELECT id, agent_id, state, progress, report_count, lease_expires_at, last_message FROM assignments WHERE task_id = $1 ORDER BY id'),
      reports: await q('SELECT count(*)::int AS n FROM progress_reports WHERE task_id = $1'),
      blockers: await q('SELECT count(*)::int AS n FROM blockers WHERE task_id = $1'),
      // State changes write their event in the same transaction (board comments follow later,
      // from those events, so the events are what to compare).
      events: await q(
        `SELECT count(*)::int AS n FROM outbox WHERE aggregate_id = $1::text AND event_type IN ('task.progress', 'task.completed', 'task.blocked', 'task.assigned')`,
      ),
      completed: (await t.db.query('SELECT id, total_completed FROM agents WHERE project_id = (SELECT project_id FROM tasks WHERE id = $1) ORDER BY id', [taskId]))
        .rows,
    };
  }

  it('an expired lease hands the task on with recovery notes; the old holder is fenced off', async () => {
    const p = await api.createProject('expiry');
    const task = await api.addTask(p.id, { name: 'Port the parser', description: 'to the new AST', checklist: ['lexer', 'parser', 'tests', 'docs'] });
    const a = await agent(p.api_key, 'A');
    const b = await agent(p.api_key, 'B');

    const taken = await a.call('request_next_task', { agent_id: 'A' });
    expect(taken.task.id).toBe(task.id);
    const aToken: string = taken.task.lease.token;
    expect(await progress(a, task.id, { progress: 30, message: 'lexer done, parser half way', lease_token: aToken })).toMatchObject({
      success: true,
    });

    // B finds nothing while A holds the only task, and so waits.
    expect(await b.call('request_next_task', { agent_id: 'B' })).toMatchObject({ success: false, message: 'No suitable tasks available at this time' });

    // A goes silent: the sweeper takes the task back, tells A, and wakes B.
    const revoked = a.next('task_revoked', 20_000);
    const woken = b.next('tasks_available', 20_000);
    expect(await revoked).toMatchObject({ task_id: task.id, reason: 'lease_expired' });
    expect(await woken).toMatchObject({ project_id: p.id, eligible_tasks: 1 });

    const [back] = await api.listTasks(p.id);
    expect(back).toMatchObject({ id: task.id, status: 'todo', assigned_to: null });
    expect(back.recovery_info).toMatchObject({ previous_agent: 'A', previous_progress: 30, reason: 'lease_expired' });
    const expired = await t.db.query(`SELECT state, end_reason FROM assignments WHERE task_id = $1`, [task.id]);
    expect(expired.rows).toEqual([{ state: 'expired', end_reason: 'lease_expired' }]);

    // B gets the same task, with the notes.
    const next = await b.call('request_next_task', { agent_id: 'B' });
    expect(next.success).toBe(true);
    expect(next.task.id).toBe(task.id);
    expect(next.task.recovery_info).toEqual({
      previous_agent: 'A',
      previous_progress: 30,
      time_spent_minutes: expect.any(Number),
      reason: 'lease_expired',
      last_message: 'lexer done, parser half way',
      recovered_at: expect.any(String),
    });
    expect(next.task.recovery_info.time_spent_minutes).toBeGreaterThanOrEqual(0);
    expect(next.task.implementation_context).toMatchObject({ previous_progress: 30, recovery_info: { previous_agent: 'A' } });
    expect(next.task.instructions).toContain('Picking up where someone left off');
    expect(next.task.instructions).toContain('A stopped at 30%');
    expect(next.task.instructions).toContain('lexer done, parser half way');
    const bToken: string = next.task.lease.token;
    expect(BigInt(bToken)).toBeGreaterThan(BigInt(aToken));

    // B past 75 %: from here B's lease is long (see LEASE_ENV), so B keeps the task while we look.
    expect(await progress(b, task.id, { progress: 80, message: 'parser ported', lease_token: bToken })).toMatchObject({ success: true });

    const before = await footprint(task.id);
    expect(before.task[0]).toMatchObject({ status: 'in_progress', assigned_to: 'B' });

    // A comes back: its completion, progress and blocker are all refused and change nothing.
    const staleDone = await a.call('report_task_progress', { agent_id: 'A', task_id: task.id, status: 'completed', progress: 100, message: 'finished!' });
    expect(staleDone).toMatchObject(STALE);
    const staleDoneWithToken = await a.call('report_task_progress', {
      agent_id: 'A',
      task_id: task.id,
      status: 'completed',
      progress: 100,
      message: 'finished!',
      lease_token: aToken,
    });
    expect(staleDoneWithToken).toMatchObject(STALE);
    expect(await progress(a, task.id, { progress: 60, message: 'still on it', lease_token: aToken })).toMatchObject(STALE);
    expect(await progress(a, task.id, { progress: 60, message: 'still on it' })).toMatchObject(STALE);
    expect(await a.call('report_blocker', { agent_id: 'A', task_id: task.id, blocker_description: 'cannot push', lease_token: aToken })).toMatchObject(
      STALE,
    );

    // The real holder with a wrong token is refused the same way.
    expect(await progress(b, task.id, { progress: 90, message: 'old token', lease_token: aToken })).toMatchObject(STALE);
    expect(await progress(b, task.id, { progress: 90, message: 'made-up token', lease_token: String(BigInt(bToken) + 1000n) })).toMatchObject(STALE);
    expect(
      await b.call('report_task_progress', { agent_id: 'B', task_id: task.id, status: 'completed', progress: 100, message: 'x', lease_token: aToken }),
    ).toMatchObject(STALE);

    expect(await footprint(task.id)).toEqual(before);
    const st = await a.call('get_agent_status', { agent_id: 'A' });
    expect(st.agent).toMatchObject({ status: 'available', current_tasks: [], total_completed: 0 });

    // B, with its token, finishes the task.
    expect(
      await b.call('report_task_progress', { agent_id: 'B', task_id: task.id, status: 'completed', progress: 100, message: 'done', lease_token: bToken }),
    ).toMatchObject({ success: true, message: 'Progress updated successfully' });
    const [done] = await api.listTasks(p.id);
    expect(done).toMatchObject({ status: 'done', assigned_to: 'B' });
    const agents = await t.db.query('SELECT id, total_completed FROM agents WHERE project_id = $1 ORDER BY id', [p.id]);
    expect(agents.rows).toEqual([
      { id: 'A', total_completed: 0 },
      { id: 'B', total_completed: 1 },
    ]);
  });

  it('progress reports renew the lease; a holder that keeps reporting is never recovered', async () => {
    const p = await api.createProject('renewal');
    const task = await api.addTask(p.id, { name: 'Long job' });
    const c = await agent(p.api_key, 'C');
    const revocations = c.record('task_revoked');

    const taken = await c.call('request_next_task', { agent_id: 'C' });
    expect(taken.task.id).toBe(task.id);
    let last = Date.parse(taken.task.lease.expires_at);
    const token: string = taken.task.lease.token;

    // Well past the first lease (0.9 s + 0.3 s) and each later one, reporting every 150 ms.
    for (let i = 1; i <= 18; i++) {
      await sleep(150);
      const r = await progress(c, task.id, { progress: i * 4, message: `step ${i}`, lease_token: token });
      expect(r).toMatchObject({ success: true, task_status: 'in_progress', lease: { token } });
      const expires = Date.parse(r.lease.expires_at);
      expect(expires).toBeGreaterThan(last);
      const row = await t.db.query<{ lease_expires_at: Date; report_count: number; progress: number }>(
        `SELECT lease_expires_at, report_count, progress FROM assignments WHERE task_id = $1 AND state = 'active'`,
        [task.id],
      );
      expect(row.rows).toHaveLength(1);
      expect(row.rows[0].lease_expires_at.getTime()).toBe(expires);
      expect(row.rows[0]).toMatchObject({ report_count: i, progress: i * 4 });
      last = expires;
    }

    expect(revocations).toEqual([]);
    const [still] = await api.listTasks(p.id);
    expect(still).toMatchObject({ status: 'in_progress', assigned_to: 'C', recovery_info: null });
    const all = await t.db.query(`SELECT agent_id, state FROM assignments WHERE task_id = $1`, [task.id]);
    expect(all.rows).toEqual([{ agent_id: 'C', state: 'active' }]);
  });

  it('a blocker keeps the holder: the task is blocked and still assigned', async () => {
    const p = await api.createProject('blocked');
    const task = await api.addTask(p.id, { name: 'Deploy' });
    const d = await agent(p.api_key, 'D');
    const e = await agent(p.api_key, 'E');
    const taken = await d.call('request_next_task', { agent_id: 'D' });
    const token: string = taken.task.lease.token;
    // Past 75 % first, so D's lease is the long one while the blocker is looked at.
    expect(await progress(d, task.id, { progress: 80, message: 'built', lease_token: token })).toMatchObject({ success: true });

    const blocked = await d.call('report_blocker', {
      agent_id: 'D',
      task_id: task.id,
      blocker_description: 'The staging cluster rejects our credentials',
      severity: 'high',
      lease_token: token,
    });
    expect(blocked).toMatchObject({ success: true, message: 'Blocker reported and suggestions provided' });
    expect(blocked.suggestions.length).toBeGreaterThan(0);

    const [row] = await api.listTasks(p.id);
    expect(row).toMatchObject({ status: 'blocked', assigned_to: 'D' });
    const active = await t.db.query(`SELECT agent_id, fencing_token::text AS token FROM assignments WHERE task_id = $1 AND state = 'active'`, [task.id]);
    expect(active.rows).toEqual([{ agent_id: 'D', token }]);
    const blockers = await t.db.query('SELECT agent_id, severity FROM blockers WHERE task_id = $1', [task.id]);
    expect(blockers.rows).toEqual([{ agent_id: 'D', severity: 'high' }]);

    // Nobody else can take it; D still holds it and can carry on with the same token.
    expect(await e.call('request_next_task', { agent_id: 'E' })).toMatchObject({ success: false });
    const again = await d.call('request_next_task', { agent_id: 'D' });
    expect(again.task).toMatchObject({ id: task.id, lease: { token } });
    expect((await d.call('get_agent_status', { agent_id: 'D' })).agent).toMatchObject({ status: 'working', current_tasks: [task.id] });
    expect(await progress(d, task.id, { progress: 85, message: 'unblocked', lease_token: token })).toMatchObject({
      success: true,
      task_status: 'in_progress',
    });
  });
});
