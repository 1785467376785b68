import jwt from 'jsonwebtoken';
import { secretKid } from '../../src/modules/auth/verification-keys';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { settled, snapshot } from '../support/db-snapshot';
import { eventually } from '../support/eventually';

// The Socket.IO contract of issue 2 §4 (namespace /agents), with the fields of BEHAVIOUR.md.

const JWT_SECRET = 'socket-contract-secret-0123456789-abcdefghijklmnop';
const OTHER_SECRET = 'some-other-secret-that-is-also-long-enough-0123456789';
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;
const UNKNOWN_UUID = '00000000-0000-4000-8000-000000000000';


function expectToolError(answer: any, code: string): void {
  expect(answer).toMatchObject({ success: false, code });
  expect(typeof answer.error).toBe('string');
  expect(answer.error.length).toBeGreaterThan(0);
}

/** Signs like the server does; the kid names the server's secret unless `opts.keyid` says otherwise. */
function sign(payload: object, secret: string, opts: jwt.SignOptions = {}): string {
  return jwt.sign(payload, secret, { algorithm: 'HS256', issuer: 'pm-agent', audience: 'pm-agent/agents', keyid: secretKid(JWT_SECRET), ...opts });
}

describe.each(STORAGE_MODES)('socket contract (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const open: AgentSocket[] = [];

  /** A registered agent socket, closed after the test. */
  async function agent(apiKey: string, agentId: string, skills: string[] = [], name = agentId): Promise<AgentSocket> {
    const s = await api.agent(apiKey, agentId, skills, name);
    open.push(s);
    return s;
  }
  /** A connected socket whose agent never called register_agent. */
  async function unregistered(apiKey: string, agentId: string): Promise<AgentSocket> {
    const s = await api.connect(await api.token(apiKey, agentId));
    s.agentId = agentId;
    open.push(s);
    return s;
  }

  beforeAll(async () => {
    t = await startTestApp(mode, { PM_AGENT_JWT_SECRET: JWT_SECRET, RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000', RATE_LIMIT_AGENT_PER_MINUTE: '100000' });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  afterAll(async () => t?.close());

  describe('handshake', () => {
    let projectId: string;
    beforeAll(async () => {
      projectId = (await api.createProject('handshake')).id;
    });

    const claims = (pid: string) => ({ pid, typ: 'agent' });
    const cases: [string, () => Record<string, unknown> | undefined][] = [
      ['no auth at all', () => undefined],
      ['auth without a token', () => ({})],
      ['an empty token', () => ({ token: '' })],
      ['a token that is not a string', () => ({ token: 12345 })],
      ['a garbage token', () => ({ token: 'garbage.not.ajwt' })],
      ['a token signed with another secret', () => ({ token: sign(claims(projectId), OTHER_SECRET, { subject: 'agent-1', keyid: secretKid(OTHER_SECRET) }) })],
      ["a token naming our key but signed with another secret", () => ({ token: sign(claims(projectId), OTHER_SECRET, { subject: 'agent-1' }) })],
      ['a token without a kid', () => ({ token: jwt.sign(claims(projectId), JWT_SECRET, { algorithm: 'HS256', issuer: 'pm-agent', audience: 'pm-agent/agents', subject: 'agent-1' }) })],
      ['a token without the API key it came from', () => ({ token: sign(claims(projectId), JWT_SECRET, { subject: 'agent-1' }) })],
      ['an expired token', () => ({ token: sign({ ...claims(projectId), exp: Math.floor(Date.now() / 1000) - 120 }, JWT_SECRET, { subject: 'agent-1' }) })],
      ['an unsigned (alg none) token', () => ({ token: jwt.sign(claims(projectId), '', { algorithm: 'none', subject: 'agent-1', issuer: 'pm-agent', audience: 'pm-agent/agents' }) })],
      ['a token for another audience', () => ({ token: sign(claims(projectId), JWT_SECRET, { subject: 'agent-1', audience: 'someone-else' }) })],
      ['a token without a project', () => ({ token: sign({ typ: 'agent' }, JWT_SECRET, { subject: 'agent-1' }) })],
      ['a token without a subject', () => ({ token: sign(claims(projectId), JWT_SECRET) })],
    ];

    it.each(cases)('%s → connect_error with a message and data.code INVALID_TOKEN', async (_label, auth) => {
      const err = await api.connectError(auth());
      expect(err).toBeInstanceOf(Error);
      expect(typeof err.message).toBe('string');
      expect(err.message.length).toBeGreaterThan(0);
      expect(err.data?.code).toBe('INVALID_TOKEN');
    });

    it('an expired token says so', async () => {
      const err = await api.connectError({ token: sign({ pid: projectId, typ: 'agent', exp: Math.floor(Date.now() / 1000) - 120 }, JWT_SECRET, { subject: 'a' }) });
      expect(err.message).toMatch(/expired/i);
    });

    it('a token issued by POST /api/v1/agents/auth connects', async () => {
      const p = await api.createProject('handshake ok');
      const s = await api.connect(await api.token(p.api_key, 'agent-ok'));
      open.push(s);
      expect(s.socket.connected).toBe(true);
      expect(await s.call('ping')).toMatchObject({ success: true });
    });
  });

  describe('tools', () => {
    it('register_agent: "Agent <name> registered successfully"; re-registering updates the agent', async () => {
      const p = await api.createProject('register');
      const s = await unregistered(p.api_key, 'agent-r');
      const r = await s.call('register_agent', { agent_id: 'agent-r', name: 'Robin', role: 'backend', skills: ['python', 'sql'] });
      expect(r).toEqual({ success: true, message: 'Agent Robin registered successfully', agent_id: 'agent-r' });

      const again = await s.call('register_agent', { agent_id: 'agent-r', name: 'Robin II', role: 'fullstack', skills: ['go'] });
      expect(again).toMatchObject({ success: true, message: 'Agent Robin II registered successfully', agent_id: 'agent-r' });
      const list = await s.call('list_registered_agents');
      expect(list.total).toBe(1);
      expect(list.agents[0]).toMatchObject({ id: 'agent-r', name: 'Robin II', role: 'fullstack', skills: ['go'] });

      // skills defaults to [].
      const s2 = await unregistered(p.api_key, 'agent-n');
      expect(await s2.call('register_agent', { agent_id: 'agent-n', name: 'Nobody', role: 'qa' })).toMatchObject({ success: true });
      expect((await s2.call('get_agent_status', { agent_id: 'agent-n' })).agent.skills).toEqual([]);
    });

    it('get_agent_status: fields of a registered agent, with and without an assignment; an unregistered agent is not found', async () => {
      const p = await api.createProject('agent status');
      const task = await api.addTask(p.id, { name: 'Status task' });
      const s = await agent(p.api_key, 'agent-s', ['docs'], 'Sam');

      const idle = await s.call('get_agent_status', { agent_id: 'agent-s' });
      expect(idle).toMatchObject({
        success: true,
        agent: { id: 'agent-s', name: 'Sam', role: 'developer', skills: ['docs'], status: 'available', current_tasks: [], total_completed: 0, performance_score: 1 },
      });
      expect(idle.current_assignment).toBeUndefined();

      await s.call('request_next_task', { agent_id: 'agent-s' });
      const busy = await s.call('get_agent_status', { agent_id: 'agent-s' });
      expect(busy.agent).toMatchObject({ status: 'working', current_tasks: [task.id] });
      expect(busy.current_assignment).toMatchObject({ task_id: task.id, task_name: 'Status task', assigned_at: expect.stringMatching(ISO) });
      expect(busy.current_assignment.instructions).toContain('Task Assignment for Sam');

      const ghost = await unregistered(p.api_key, 'ghost-1');
      const missing = await ghost.call('get_agent_status', { agent_id: 'ghost-1' });
      expectToolError(missing, 'AGENT_NOT_REGISTERED');
      expect(missing.message).toBe('Agent ghost-1 not found');
    });

    it('list_registered_agents: {agents:[{id,name,role,status,skills,current_tasks,total_completed}], total}', async () => {
      const p = await api.createProject('list agents');
      await api.addTask(p.id, { name: 'one' });
      const a = await agent(p.api_key, 'agent-a', ['x'], 'Ann');
      await agent(p.api_key, 'agent-b', [], 'Ben');
      await a.call('request_next_task', { agent_id: 'agent-a' });

      const r = await a.call('list_registered_agents');
      expect(r).toMatchObject({ success: true, total: 2 });
      expect(r.agents).toHaveLength(2);
      const byId = Object.fromEntries(r.agents.map((x: any) => [x.id, x]));
      expect(byId['agent-a']).toMatchObject({ id: 'agent-a', name: 'Ann', role: 'developer', status: 'working', skills: ['x'], current_tasks: 1, total_completed: 0 });
      expect(byId['agent-b']).toMatchObject({ id: 'agent-b', name: 'Ben', role: 'developer', status: 'available', skills: [], current_tasks: 0, total_completed: 0 });
      for (const x of r.agents) {
        for (const f of ['id', 'name', 'role', 'status', 'skills', 'current_tasks', 'total_completed']) expect(x, `field ${f}`).toHaveProperty(f);
      }
      // An empty payload object answers the same.
      expect((await a.call('list_registered_agents', {})).total).toBe(2);
    });

    it('get_project_status: project counts, workers and provider', async () => {
      const p = await api.createProject('project status');
      for (const name of ['t1', 't2', 't3', 't4']) await api.addTask(p.id, { name });
      const a = await agent(p.api_key, 'agent-1');
      const b = await agent(p.api_key, 'agent-2');

      const empty = await a.call('get_project_status');
      expect(empty).toMatchObject({
        success: true,
        project: { total_tasks: 4, completed: 0, in_progress: 0, blocked: 0, completion_percentage: 0 },
        workers: { total: 2, active: 0, available: 2 },
        provider: expect.any(String),
      });

      const ta = await a.call('request_next_task', { agent_id: 'agent-1' });
      const tb = await b.call('request_next_task', { agent_id: 'agent-2' });
      expect(ta.task.id).not.toBe(tb.task.id);
      expect(await a.call('report_task_progress', { agent_id: 'agent-1', task_id: ta.task.id, status: 'completed', progress: 100, message: 'done' })).toMatchObject({
        success: true,
      });
      expect(await b.call('report_blocker', { agent_id: 'agent-2', task_id: tb.task.id, blocker_description: 'stuck', severity: 'low' })).toMatchObject({
        success: true,
      });

      const st = await b.call('get_project_status', {});
      expect(st).toMatchObject({
        success: true,
        project: { total_tasks: 4, completed: 1, in_progress: 0, blocked: 1, completion_percentage: 25 },
        workers: { total: 2, active: 1, available: 1 },
        provider: 'builtin',
      });
    });

    it('ping: online, provider, echo (default "pong") and a timestamp', async () => {
      const p = await api.createProject('ping');
      const s = await agent(p.api_key, 'agent-p');
      for (const payload of [undefined, {}]) {
        const r = await s.call('ping', payload);
        expect(r).toEqual({ success: true, status: 'online', provider: 'builtin', echo: 'pong', timestamp: expect.stringMatching(ISO) });
      }
      expect(await s.call('ping', { echo: 'marco' })).toMatchObject({ success: true, status: 'online', echo: 'marco' });
      expect(await s.call('ping', { echo: '' })).toMatchObject({ success: true, echo: '' });
    });

    it('log_decision, log_artifact and get_task_context (task, dependencies, decisions, artifacts)', async () => {
      const p = await api.createProject('context');
      const dep = await api.addTask(p.id, { name: 'Design schema' });
      const task = await api.addTask(p.id, { name: 'Write migrations', dependencies: [dep.id], labels: ['db'] });
      const s = await agent(p.api_key, 'agent-c', [], 'Cleo');

      const d = await s.call('log_decision', { agent_id: 'agent-c', task_id: task.id, decision: 'Use UUID primary keys' });
      expect(d).toMatchObject({ success: true, decision_id: expect.stringMatching(/^[0-9a-f-]{36}$/), message: expect.any(String) });

      const content = 'CREATE TABLE users (id uuid PRIMARY KEY);';
      const art = await s.call('log_artifact', {
        agent_id: 'agent-c',
        task_id: task.id,
        filename: 'schema.sql',
        content,
        artifact_type: 'sql',
        description: 'first draft',
      });
      expect(art).toMatchObject({ success: true, artifact_id: expect.stringMatching(/^[0-9a-f-]{36}$/), message: expect.stringContaining('schema.sql') });
      // agent_id is optional for log_artifact (BEHAVIOUR.md lists none).
      expect(await s.call('log_artifact', { task_id: task.id, filename: 'notes.md', content: '# notes', artifact_type: 'doc' })).toMatchObject({ success: true });

      const ctx = await s.call('get_task_context', { task_id: task.id });
      expect(ctx.success).toBe(true);
      expect(ctx.task).toMatchObject({ id: task.id, name: 'Write migrations', status: 'todo', dependencies: [dep.id], labels: ['db'] });
      expect(ctx.context.dependencies).toEqual([{ id: dep.id, name: 'Design schema', status: 'todo' }]);
      expect(ctx.context.decisions).toHaveLength(1);
      expect(ctx.context.decisions[0]).toMatchObject({ id: d.decision_id, agent_id: 'agent-c', decision: 'Use UUID primary keys' });
      expect(ctx.context.artifacts).toHaveLength(2);
      expect(ctx.context.artifacts[0]).toMatchObject({
        id: art.artifact_id,
        agent_id: 'agent-c',
        filename: 'schema.sql',
        artifact_type: 'sql',
        description: 'first draft',
      });
      expect(ctx.context).toHaveProperty('recovery_info', null);

      const stored = await t.db.query<{ content: string }>('SELECT content FROM artifacts WHERE id = $1', [art.artifact_id]);
      expect(stored.rows[0].content).toBe(content);

      expectToolError(await s.call('get_task_context', { task_id: UNKNOWN_UUID }), 'TASK_NOT_FOUND');
      expectToolError(await s.call('log_decision', { agent_id: 'agent-c', task_id: UNKNOWN_UUID, decision: 'x' }), 'TASK_NOT_FOUND');
      expectToolError(await s.call('log_artifact', { task_id: UNKNOWN_UUID, filename: 'a', content: 'b', artifact_type: 'c' }), 'TASK_NOT_FOUND');
    });

    it('check_assignment_health: healthy with the counts', async () => {
      const p = await api.createProject('health');
      await api.addTask(p.id, { name: 'h1' });
      const s = await agent(p.api_key, 'agent-h');
      const before = await s.call('check_assignment_health');
      expect(before).toMatchObject({ success: true, healthy: true, active_assignments: 0, issues: [] });
      await s.call('request_next_task', { agent_id: 'agent-h' });
      const after = await s.call('check_assignment_health', {});
      expect(after).toMatchObject({ success: true, healthy: true, active_assignments: 1, expired_leases: 0, orphaned_tasks: 0, issues: [] });
    });

    it('report_blocker: suggestions, the task becomes blocked, and a board comment in the original format', async () => {
      const p = await api.createProject('blocker');
      const task = await api.addTask(p.id, { name: 'Integrate payments' });
      const s = await agent(p.api_key, 'agent-x', [], 'Xena');
      const next = await s.call('request_next_task', { agent_id: 'agent-x' });
      expect(next.task.id).toBe(task.id);

      const description = 'Waiting on the payments API credentials';
      const r = await s.call('report_blocker', { agent_id: 'agent-x', task_id: task.id, blocker_description: description, severity: 'high' });
      expect(r).toMatchObject({ success: true, message: 'Blocker reported and suggestions provided' });
      expect(Array.isArray(r.suggestions)).toBe(true);
      expect(r.suggestions.length).toBeGreaterThan(0);
      for (const sug of r.suggestions) expect(typeof sug).toBe('string');

      const [listed] = await api.listTasks(p.id);
      expect(listed).toMatchObject({ id: task.id, status: 'blocked', assigned_to: 'agent-x' });
      // The holder keeps the task.
      expect((await s.call('get_agent_status', { agent_id: 'agent-x' })).agent.current_tasks).toEqual([task.id]);

      const blockers = await t.db.query<{ severity: string; description: string }>('SELECT severity, description FROM blockers WHERE task_id = $1', [task.id]);
      expect(blockers.rows).toEqual([{ severity: 'high', description }]);

      // The board is written off the agent's path (a consumer of the outbox event).
      const blockerComments = async (n: number): Promise<string[]> =>
        eventually(async () => {
          const rows = await t.db.query<{ body: string }>('SELECT body FROM board_comments WHERE task_id = $1 ORDER BY id', [task.id]);
          const found = rows.rows.map((c) => c.body).filter((b) => b.startsWith('🚫 BLOCKER'));
          expect(found.length).toBeGreaterThanOrEqual(n);
          return found;
        }, 30_000);
      const [body] = await blockerComments(1);
      expect(body.startsWith('🚫 BLOCKER (HIGH)')).toBe(true);
      expect(body).toContain('\nReported by: Xena');
      expect(body).toContain(`\nDescription: ${description}`);
      expect(body).toMatch(/\n📋 AI Suggestions:\n./);
      for (const sug of r.suggestions) expect(body).toContain(sug);
      expect(body).not.toContain('\\n');

      // severity defaults to medium.
      const r2 = await s.call('report_blocker', { agent_id: 'agent-x', task_id: task.id, blocker_description: 'Still unclear which currency' });
      expect(r2).toMatchObject({ success: true, message: 'Blocker reported and suggestions provided' });
      const both = await blockerComments(2);
      expect(both).toHaveLength(2);
      expect(both[1].startsWith('🚫 BLOCKER (MEDIUM)')).toBe(true);
    });

    it("a payload agent_id other than the token's → FORBIDDEN and nothing changes", async () => {
      const p = await api.createProject('forbidden');
      const task = await api.addTask(p.id, { name: 'owned' });
      await api.addTask(p.id, { name: 'free' });
      const s = await agent(p.api_key, 'alice', [], 'Alice');
      const held = await s.call('request_next_task', { agent_id: 'alice' });
      expect(held.task.id).toBe(task.id);
      await agent(p.api_key, 'bob', [], 'Bob');

      const before = await settled(t);
      const calls: [string, Record<string, unknown>][] = [
        ['register_agent', { agent_id: 'bob', name: 'Mallory', role: 'attacker' }],
        ['register_agent', { agent_id: 'mallory', name: 'Mallory', role: 'attacker' }],
        ['request_next_task', { agent_id: 'bob' }],
        ['report_task_progress', { agent_id: 'bob', task_id: task.id, status: 'completed', progress: 100, message: 'stolen' }],
        ['report_blocker', { agent_id: 'bob', task_id: task.id, blocker_description: 'sabotage' }],
        ['get_agent_status', { agent_id: 'bob' }],
        ['log_decision', { agent_id: 'bob', task_id: task.id, decision: 'x' }],
        ['log_artifact', { agent_id: 'bob', task_id: task.id, filename: 'f', content: 'c', artifact_type: 't' }],
      ];
      for (const [event, payload] of calls) {
        const answer = await s.call(event, payload);
        expectToolError(answer, 'FORBIDDEN');
      }
      expect(await snapshot(t)).toEqual(before);
      expect((await s.call('get_agent_status', { agent_id: 'alice' })).agent).toMatchObject({ name: 'Alice', current_tasks: [task.id] });
    });

    it('calls before register_agent → AGENT_NOT_REGISTERED and nothing changes', async () => {
      const p = await api.createProject('unregistered');
      const task = await api.addTask(p.id, { name: 'waiting' });
      const s = await unregistered(p.api_key, 'newbie');

      const before = await settled(t);
      const calls: [string, Record<string, unknown>][] = [
        ['request_next_task', { agent_id: 'newbie' }],
        ['report_task_progress', { agent_id: 'newbie', task_id: task.id, status: 'in_progress', progress: 10, message: 'x' }],
        ['report_blocker', { agent_id: 'newbie', task_id: task.id, blocker_description: 'x' }],
        ['get_agent_status', { agent_id: 'newbie' }],
        ['log_decision', { agent_id: 'newbie', task_id: task.id, decision: 'x' }],
        ['log_artifact', { agent_id: 'newbie', task_id: task.id, filename: 'f', content: 'c', artifact_type: 't' }],
      ];
      for (const [event, payload] of calls) {
        expectToolError(await s.call(event, payload), 'AGENT_NOT_REGISTERED');
      }
      expect(await snapshot(t)).toEqual(before);

      // After registering, the same socket works.
      expect(await s.call('register_agent', { agent_id: 'newbie', name: 'Newbie', role: 'dev' })).toMatchObject({ success: true });
      expect((await s.call('request_next_task', { agent_id: 'newbie' })).task.id).toBe(task.id);
    });

    it('an unknown event with an ack → UNKNOWN_TOOL; without an ack it is ignored', async () => {
      const p = await api.createProject('unknown');
      const s = await agent(p.api_key, 'agent-u');
      const before = await settled(t);
      for (const event of ['launch_missiles', 'constructor', 'toString', '__proto__', 'hasOwnProperty', 'PING', 'x'.repeat(300)]) {
        expectToolError(await s.call(event, { agent_id: 'agent-u' }), 'UNKNOWN_TOOL');
      }
      expectToolError(await s.call('no_such_tool'), 'UNKNOWN_TOOL');
      s.socket.emit('no_such_tool_without_ack', { anything: true });
      expect(await s.call('ping', { echo: 'still here' })).toMatchObject({ success: true, echo: 'still here' });
      expect(s.socket.connected).toBe(true);
      expect(await snapshot(t)).toEqual(before);
    });

    it("cross-project isolation: an agent of project A never sees B's tasks or agents", async () => {
      const A = await api.createProject('A');
      const B = await api.createProject('B');
      const aTask = await api.addTask(A.id, { name: 'A only', priority: 'low' });
      const bTasks = [];
      for (let i = 0; i < 4; i++) bTasks.push(await api.addTask(B.id, { name: `B ${i}`, priority: 'urgent', labels: ['x'] }));

      const b1 = await agent(B.api_key, 'b-1', ['x']);
      await agent(B.api_key, 'b-2');
      await agent(B.api_key, 'shared', [], 'Shared in B');
      const bHeld = await b1.call('request_next_task', { agent_id: 'b-1' });
      expect(bTasks.map((x) => x.id)).toContain(bHeld.task.id);

      const a1 = await agent(A.api_key, 'a-1', ['x']);
      const bTask = bHeld.task.id;
      const bFree = bTasks.find((x) => x.id !== bTask).id;

      const before = await settled(t);
      expectToolError(await a1.call('get_task_context', { task_id: bTask }), 'TASK_NOT_FOUND');
      expectToolError(await a1.call('get_task_context', { task_id: bFree }), 'TASK_NOT_FOUND');
      for (const task_id of [bTask, bFree]) {
        expectToolError(await a1.call('report_task_progress', { agent_id: 'a-1', task_id, status: 'completed', progress: 100, message: 'x' }), 'TASK_NOT_FOUND');
        expectToolError(await a1.call('report_blocker', { agent_id: 'a-1', task_id, blocker_description: 'x' }), 'TASK_NOT_FOUND');
        expectToolError(await a1.call('log_decision', { agent_id: 'a-1', task_id, decision: 'x' }), 'TASK_NOT_FOUND');
        expectToolError(await a1.call('log_artifact', { agent_id: 'a-1', task_id, filename: 'f', content: 'c', artifact_type: 't' }), 'TASK_NOT_FOUND');
      }
      expect(await snapshot(t)).toEqual(before);

      const agentsA = await a1.call('list_registered_agents');
      expect(agentsA).toMatchObject({ success: true, total: 1 });
      expect(agentsA.agents.map((x: any) => x.id)).toEqual(['a-1']);
      const statusA = await a1.call('get_project_status');
      expect(statusA).toMatchObject({
        project: { total_tasks: 1, completed: 0, in_progress: 0, blocked: 0 },
        workers: { total: 1, active: 0, available: 1 },
      });
      expect((await a1.call('check_assignment_health')).active_assignments).toBe(0);

      // A's agent gets A's task (B's are urgent and match its skills, and still never offered).
      const aNext = await a1.call('request_next_task', { agent_id: 'a-1' });
      expect(aNext.task.id).toBe(aTask.id);
      // Another A agent, with B's todo tasks still free: nothing for it.
      const a2 = await agent(A.api_key, 'a-2', ['x']);
      const none = await a2.call('request_next_task', { agent_id: 'a-2' });
      expect(none).toMatchObject({ success: false, message: 'No suitable tasks available at this time' });
      // The same agent id in A is another agent than B's 'shared'.
      const sharedA = await agent(A.api_key, 'shared', [], 'Shared in A');
      expect(await sharedA.call('request_next_task', { agent_id: 'shared' })).toMatchObject({ success: false });
      expect((await sharedA.call('get_agent_status', { agent_id: 'shared' })).agent.name).toBe('Shared in A');

      const bList = await api.listTasks(B.id);
      for (const task of bList) {
        expect(task.assigned_to === null || task.assigned_to === 'b-1').toBe(true);
      }
      expect(bList.filter((x) => x.status === 'todo')).toHaveLength(3);
      const statusB = await b1.call('get_project_status');
      expect(statusB).toMatchObject({ project: { total_tasks: 4, in_progress: 1 }, workers: { total: 3, active: 1, available: 2 } });
      const agentsB = await b1.call('list_registered_agents');
      expect(agentsB.agents.map((x: any) => x.id).sort()).toEqual(['b-1', 'b-2', 'shared']);
      expect(agentsB.agents.find((x: any) => x.id === 'shared').name).toBe('Shared in B');
    });
  });
});
