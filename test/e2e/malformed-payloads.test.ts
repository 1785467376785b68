import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_NAMES } from '../../src/modules/connections/tool-schemas';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { settled, snapshot } from '../support/db-snapshot';

// Issue 2 §4: "every payload validated; failures answer {success:false, error,
// code:"VALIDATION_FAILED"} and change nothing". A malformed payload for every event.

const COUNTED = ['tasks', 'assignments', 'agents', 'progress_reports', 'blockers', 'decisions', 'artifacts', 'outbox'] as const;

async function counts(t: TestApp): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of COUNTED) out[table] = (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;
  return out;
}


const ME = 'agent-m';
const BAD_UUID = 'not-a-uuid';
const long = (n: number) => 'x'.repeat(n);

/** [label, payload, a word the error should name (the field)]. */
type Case = [string, unknown, string?];

/** Payloads that are never a valid object, for every tool. */
const NOT_AN_OBJECT: Case[] = [
  ['a number', 42],
  ['a string', 'x'],
  ['a boolean', true],
  ['an empty array', []],
  ['an array of values', [1, 2, 3]],
  // A binary attachment arrives as a Buffer: an object to JavaScript, but not a payload.
  ['binary data', Buffer.from(JSON.stringify({ agent_id: ME, echo: 'x' }))],
];

function casesFor(taskId: string): Record<string, Case[]> {
  const progress = { agent_id: ME, task_id: taskId, status: 'in_progress', progress: 10, message: 'm' };
  const blocker = { agent_id: ME, task_id: taskId, blocker_description: 'stuck', severity: 'low' };
  const decision = { agent_id: ME, task_id: taskId, decision: 'use postgres' };
  const artifact = { agent_id: ME, task_id: taskId, filename: 'a.md', content: '# a', artifact_type: 'doc', description: 'd' };
  const register = { agent_id: ME, name: 'Renamed', role: 'tester', skills: ['qa'] };
  return {
    register_agent: [
      ...NOT_AN_OBJECT,
      ['an array holding a valid payload', [register]],
      ['null (no fields)', null, 'agent_id'],
      ['an empty object', {}, 'agent_id'],
      ['missing role', { agent_id: ME, name: 'A' }, 'role'],
      ['missing name', { agent_id: ME, role: 'dev' }, 'name'],
      ['missing agent_id', { name: 'A', role: 'dev' }, 'agent_id'],
      ['agent_id a number', { ...register, agent_id: 5 }, 'agent_id'],
      ['agent_id empty', { ...register, agent_id: '' }, 'agent_id'],
      ['agent_id with spaces', { ...register, agent_id: 'agent m' }, 'agent_id'],
      ['agent_id over 128 characters', { ...register, agent_id: long(129) }, 'agent_id'],
      ['name a number', { ...register, name: 5 }, 'name'],
      ['name blank', { ...register, name: '   ' }, 'name'],
      ['name over 200 characters', { ...register, name: long(201) }, 'name'],
      ['role over 100 characters', { ...register, role: long(101) }, 'role'],
      ['role an object', { ...register, role: { r: 1 } }, 'role'],
      ['skills a string', { ...register, skills: 'python' }, 'skills'],
      ['skills with a number', { ...register, skills: ['python', 3] }, 'skills'],
      ['a skill over 64 characters', { ...register, skills: [long(65)] }, 'skills'],
      ['more than 50 skills', { ...register, skills: Array.from({ length: 51 }, (_, i) => `s${i}`) }, 'skills'],
      ['skills null', { ...register, skills: null }, 'skills'],
      ['capacity 0', { ...register, capacity: 0 }, 'capacity'],
      ['capacity a string', { ...register, capacity: '2' }, 'capacity'],
      ['capacity fractional', { ...register, capacity: 1.5 }, 'capacity'],
      ['request_id a number', { ...register, request_id: 7 }, 'request_id'],
      ['request_id over 128 characters', { ...register, request_id: long(129) }, 'request_id'],
    ],
    request_next_task: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null, 'agent_id'],
      ['an empty object', {}, 'agent_id'],
      ['agent_id a number', { agent_id: 1 }, 'agent_id'],
      ['agent_id an array', { agent_id: [ME] }, 'agent_id'],
      ['agent_id empty', { agent_id: '' }, 'agent_id'],
      ['agent_id over 128 characters', { agent_id: long(129) }, 'agent_id'],
      ['request_id a number', { agent_id: ME, request_id: 1 }, 'request_id'],
      ['request_id empty', { agent_id: ME, request_id: '' }, 'request_id'],
    ],
    report_task_progress: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null],
      ['an empty object', {}],
      ["progress 'abc'", { ...progress, progress: 'abc' }, 'progress'],
      ["progress '50' (a string)", { ...progress, progress: '50' }, 'progress'],
      ['progress null', { ...progress, progress: null }, 'progress'],
      ['progress an object', { ...progress, progress: { p: 1 } }, 'progress'],
      ["status 'done'", { ...progress, status: 'done' }, 'status'],
      ["status 'todo'", { ...progress, status: 'todo' }, 'status'],
      ['status missing', { agent_id: ME, task_id: taskId, progress: 10 }, 'status'],
      ['status a number', { ...progress, status: 1 }, 'status'],
      ['task_id not a uuid', { ...progress, task_id: BAD_UUID }, 'task_id'],
      ['task_id missing', { agent_id: ME, status: 'in_progress', progress: 10 }, 'task_id'],
      ['task_id a number', { ...progress, task_id: 123 }, 'task_id'],
      ['agent_id missing', { task_id: taskId, status: 'in_progress', progress: 10 }, 'agent_id'],
      ['message over 10000 characters', { ...progress, message: long(10_001) }, 'message'],
      ['message a number', { ...progress, message: 5 }, 'message'],
      ['message null', { ...progress, message: null }, 'message'],
      ["lease_token 'abc'", { ...progress, lease_token: 'abc' }, 'lease_token'],
      ['lease_token negative', { ...progress, lease_token: -1 }, 'lease_token'],
      ['lease_token fractional', { ...progress, lease_token: 1.5 }, 'lease_token'],
      ['request_id an object', { ...progress, request_id: { id: 1 } }, 'request_id'],
    ],
    report_blocker: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null],
      ['an empty object', {}],
      ["severity 'extreme'", { ...blocker, severity: 'extreme' }, 'severity'],
      ['severity upper case', { ...blocker, severity: 'HIGH' }, 'severity'],
      ['severity a number', { ...blocker, severity: 3 }, 'severity'],
      ['blocker_description missing', { agent_id: ME, task_id: taskId }, 'blocker_description'],
      ['blocker_description blank', { ...blocker, blocker_description: '  ' }, 'blocker_description'],
      ['blocker_description over 10000 characters', { ...blocker, blocker_description: long(10_001) }, 'blocker_description'],
      ['blocker_description a number', { ...blocker, blocker_description: 404 }, 'blocker_description'],
      ['task_id not a uuid', { ...blocker, task_id: BAD_UUID }, 'task_id'],
      ['task_id missing', { agent_id: ME, blocker_description: 'x' }, 'task_id'],
      ['agent_id a number', { ...blocker, agent_id: 7 }, 'agent_id'],
      ["lease_token 'abc'", { ...blocker, lease_token: 'abc' }, 'lease_token'],
    ],
    get_project_status: [...NOT_AN_OBJECT, ['false', false]],
    get_agent_status: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null, 'agent_id'],
      ['an empty object', {}, 'agent_id'],
      ['agent_id a number', { agent_id: 5 }, 'agent_id'],
      ['agent_id empty', { agent_id: '' }, 'agent_id'],
      ['agent_id over 128 characters', { agent_id: long(129) }, 'agent_id'],
      ['agent_id null', { agent_id: null }, 'agent_id'],
    ],
    list_registered_agents: [...NOT_AN_OBJECT, ['false', false]],
    ping: [
      ...NOT_AN_OBJECT,
      ['echo a number', { echo: 5 }, 'echo'],
      ['echo an object', { echo: { text: 'hi' } }, 'echo'],
      ['echo an array', { echo: ['hi'] }, 'echo'],
      ['echo null', { echo: null }, 'echo'],
      ['echo over 1000 characters', { echo: long(1001) }, 'echo'],
    ],
    get_task_context: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null, 'task_id'],
      ['an empty object', {}, 'task_id'],
      ['task_id not a uuid', { task_id: BAD_UUID }, 'task_id'],
      ['task_id a number', { task_id: 123 }, 'task_id'],
      ['task_id an array', { task_id: [taskId] }, 'task_id'],
      ['task_id with SQL', { task_id: "' OR 1=1 --" }, 'task_id'],
    ],
    log_decision: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null],
      ['an empty object', {}],
      ['decision missing', { agent_id: ME, task_id: taskId }, 'decision'],
      ['decision blank', { ...decision, decision: '' }, 'decision'],
      ['decision a number', { ...decision, decision: 5 }, 'decision'],
      ['decision over 10000 characters', { ...decision, decision: long(10_001) }, 'decision'],
      ['task_id not a uuid', { ...decision, task_id: BAD_UUID }, 'task_id'],
      ['agent_id missing', { task_id: taskId, decision: 'x' }, 'agent_id'],
      ['request_id a number', { ...decision, request_id: 3 }, 'request_id'],
    ],
    log_artifact: [
      ...NOT_AN_OBJECT,
      ['null (no fields)', null],
      ['an empty object', {}],
      ['filename missing', { ...artifact, filename: undefined }, 'filename'],
      ['filename blank', { ...artifact, filename: ' ' }, 'filename'],
      ['filename over 255 characters', { ...artifact, filename: long(256) }, 'filename'],
      ['content missing', { ...artifact, content: undefined }, 'content'],
      ['content a number', { ...artifact, content: 5 }, 'content'],
      ['content over 512 KiB', { ...artifact, content: long(512 * 1024 + 1) }, 'content'],
      ['artifact_type missing', { ...artifact, artifact_type: undefined }, 'artifact_type'],
      ['artifact_type over 64 characters', { ...artifact, artifact_type: long(65) }, 'artifact_type'],
      ['description over 2000 characters', { ...artifact, description: long(2001) }, 'description'],
      ['description a number', { ...artifact, description: 1 }, 'description'],
      ['task_id not a uuid', { ...artifact, task_id: BAD_UUID }, 'task_id'],
      ['agent_id a number', { ...artifact, agent_id: 9 }, 'agent_id'],
    ],
    check_assignment_health: [...NOT_AN_OBJECT, ['false', false]],
  };
}

const TOOLS = [
  'register_agent',
  'request_next_task',
  'report_task_progress',
  'report_blocker',
  'get_project_status',
  'get_agent_status',
  'list_registered_agents',
  'ping',
  'get_task_context',
  'log_decision',
  'log_artifact',
  'check_assignment_health',
] as const;

const NO_RATE_LIMIT = { RATE_LIMIT_AGENT_PER_MINUTE: '1000000', RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000' };

describe.each(STORAGE_MODES)('malformed payloads (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  let s: AgentSocket;
  let heldTask: string;
  let initialCounts: Record<string, number>;

  beforeAll(async () => {
    t = await startTestApp(mode, NO_RATE_LIMIT);
    api = new ApiClient(t.url, t.adminKey);
    const p = await api.createProject('malformed');
    const held = await api.addTask(p.id, { name: 'held', priority: 'urgent', checklist: ['a', 'b'] });
    await api.addTask(p.id, { name: 'free', dependencies: [held.id] });
    s = await api.agent(p.api_key, ME, ['qa'], 'Mal');
    const next = await s.call('request_next_task', { agent_id: ME });
    expect(next.task.id).toBe(held.id);
    heldTask = held.id;
    expect(await s.call('log_decision', { agent_id: ME, task_id: heldTask, decision: 'baseline' })).toMatchObject({ success: true });
    await settled(t);
    initialCounts = await counts(t);
  });
  afterAll(async () => {
    s?.close();
    await t?.close();
  });

  it('covers every tool the gateway serves', () => {
    expect(Object.keys(casesFor(heldTask)).sort()).toEqual([...TOOLS].sort());
    expect([...TOOL_NAMES].sort()).toEqual([...TOOLS].sort());
  });

  it.each(TOOLS)('%s: every malformed payload → VALIDATION_FAILED, nothing changes, the socket stays usable', async (tool) => {
    const cases = casesFor(heldTask)[tool];
    expect(cases.length).toBeGreaterThanOrEqual(5);
    const before = await snapshot(t);
    for (const [label, payload, field] of cases) {
      const answer = await s.call(tool, payload);
      expect(answer, `${tool} with ${label}`).toEqual({ success: false, error: expect.any(String), code: 'VALIDATION_FAILED' });
      expect(answer.error.length, `${tool} with ${label}`).toBeGreaterThan(0);
      if (field) expect(answer.error, `${tool} with ${label}: the error names the field`).toContain(field);
    }
    expect(await snapshot(t)).toEqual(before);
    expect(s.socket.connected).toBe(true);
    expect(await s.call('ping')).toMatchObject({ success: true, status: 'online', echo: 'pong' });
  });

  it('after all of that: row counts as at the start, the held task untouched, and valid calls still work', async () => {
    expect(await counts(t)).toEqual(initialCounts);
    const [held] = (await api.listTasks((await t.db.query<{ project_id: string }>('SELECT project_id FROM tasks WHERE id = $1', [heldTask])).rows[0].project_id)).filter(
      (x) => x.id === heldTask,
    );
    expect(held).toMatchObject({ status: 'in_progress', assigned_to: ME });
    expect(held.checklist.every((i: { done: boolean }) => !i.done)).toBe(true);
    const st = await s.call('get_agent_status', { agent_id: ME });
    expect(st.agent).toMatchObject({ name: 'Mal', role: 'developer', skills: ['qa'], current_tasks: [heldTask] });
    // The payloads that differ only in one bad field are accepted once that field is fixed.
    expect(await s.call('report_task_progress', { agent_id: ME, task_id: heldTask, status: 'in_progress', progress: 10, message: 'm' })).toMatchObject({
      success: true,
    });
    expect(await s.call('ping', { echo: 'ok' })).toMatchObject({ success: true, echo: 'ok' });
    expect(await s.call('get_project_status')).toMatchObject({ success: true });
    expect(await s.call('list_registered_agents')).toMatchObject({ success: true, total: 1 });
    expect(await s.call('check_assignment_health')).toMatchObject({ success: true, healthy: true });
  });

  describe('a message over the socket size limit', () => {
    let small: TestApp;
    let smallApi: ApiClient;
    let project: { id: string; api_key: string };
    const sockets: AgentSocket[] = [];

    beforeAll(async () => {
      small = await startTestApp(mode, { ...NO_RATE_LIMIT, MAX_MESSAGE_BYTES: '65536' });
      smallApi = new ApiClient(small.url, small.adminKey);
      project = await smallApi.createProject('size limit');
      await smallApi.addTask(project.id, { name: 'one' });
      await smallApi.addTask(project.id, { name: 'two' });
    });
    afterEach(() => {
      for (const x of sockets.splice(0)) x.close();
    });
    afterAll(async () => small?.close());

    it('~100 KB does not crash the server; the sender may be dropped, other agents keep working', async () => {
      const big = await smallApi.agent(project.api_key, 'big', [], 'Big');
      const other = await smallApi.agent(project.api_key, 'other', [], 'Other');
      sockets.push(big, other);
      const before = await settled(small);

      const disconnected = new Promise<{ disconnected: string }>((resolve) => big.socket.once('disconnect', (reason) => resolve({ disconnected: reason })));
      const outcome = await Promise.race([
        big.call('log_decision', { agent_id: 'big', task_id: '00000000-0000-4000-8000-000000000000', decision: 'y'.repeat(100_000) }, 20_000).then(
          (answer) => ({ answer }),
          (error: Error) => ({ error: error.message }),
        ),
        disconnected,
      ]);
      if ('answer' in outcome) {
        // Delivered after all: it must still be refused (the decision is over its limit).
        expect(outcome.answer).toMatchObject({ success: false, code: 'VALIDATION_FAILED' });
      } else {
        // Dropped by socket.io: the client sees a disconnect, not a hang.
        expect(outcome).not.toHaveProperty('error', expect.stringMatching(/timed out/i));
        await disconnected;
        expect(big.socket.connected).toBe(false);
      }
      expect(await snapshot(small)).toEqual(before);

      // The server and the other agent carry on.
      expect((await smallApi.request('GET', '/health/live')).status).toBe(200);
      expect((await smallApi.request('GET', '/health/ready')).status).toBe(200);
      expect(other.socket.connected).toBe(true);
      expect(await other.call('ping', { echo: 'alive' })).toMatchObject({ success: true, echo: 'alive' });
      const next = await other.call('request_next_task', { agent_id: 'other' });
      expect(next).toMatchObject({ success: true, task: { name: expect.any(String) } });
      expect(await other.call('report_task_progress', { agent_id: 'other', task_id: next.task.id, status: 'completed', progress: 100, message: 'done' })).toMatchObject({
        success: true,
      });

      // The dropped agent can come back (a new socket, same token flow) and work.
      const again = await smallApi.agent(project.api_key, 'big', [], 'Big');
      sockets.push(again);
      expect(await again.call('ping')).toMatchObject({ success: true, echo: 'pong' });
      expect(await again.call('request_next_task', { agent_id: 'big' })).toMatchObject({ success: true });
      // Just under the limit is fine.
      expect(await again.call('ping', { echo: 'z'.repeat(900) })).toMatchObject({ success: true });
      expect(await again.call('log_decision', { agent_id: 'big', task_id: next.task.id, decision: 'd'.repeat(9_000) })).toMatchObject({ success: true });
    });
  });
});
