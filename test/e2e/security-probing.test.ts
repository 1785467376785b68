import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { snapshot } from '../support/db-snapshot';

// Issue 9 §2: an agent (or key) of project A probing ids of project B learns nothing: every
// answer for B's real ids is exactly the answer for ids that exist nowhere, socket and HTTP
// alike, and nothing changes. The median times of both are printed next to each other.

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe.each(STORAGE_MODES)('cross-project probing (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  let a: { id: string; api_key: string };
  let b: { id: string; api_key: string };
  let probe: AgentSocket;
  let bTaskIds: string[];
  let bKeyId: string;

  beforeAll(async () => {
    t = await startTestApp(mode, { RATE_LIMIT_AGENT_PER_MINUTE: '100000', RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000' });
    api = new ApiClient(t.url, t.adminKey);
    a = await api.createProject('prober');
    b = await api.createProject('target');
    bTaskIds = [];
    for (let i = 0; i < 5; i++) bTaskIds.push((await api.addTask(b.id, { name: `secret task ${i}`, priority: 'urgent' })).id);
    const holder = await api.agent(b.api_key, 'b-holder');
    await holder.call('request_next_task', { agent_id: 'b-holder' });
    holder.close();
    bKeyId = (await api.request('GET', `/api/v1/projects/${b.id}/keys`, undefined, b.api_key)).body.keys[0].id;
    probe = await api.agent(a.api_key, 'prober');
  });
  afterAll(async () => {
    probe?.close();
    await t?.close();
  });

  const socketProbes: [string, (taskId: string) => [string, object]][] = [
    ['get_task_context', (task_id) => ['get_task_context', { task_id }]],
    ['report_task_progress', (task_id) => ['report_task_progress', { agent_id: 'prober', task_id, status: 'in_progress', progress: 10, message: 'x' }]],
    ['report_blocker', (task_id) => ['report_blocker', { agent_id: 'prober', task_id, blocker_description: 'x' }]],
    ['log_decision', (task_id) => ['log_decision', { agent_id: 'prober', task_id, decision: 'x' }]],
    ['log_artifact', (task_id) => ['log_artifact', { agent_id: 'prober', task_id, filename: 'f', content: 'c', artifact_type: 't' }]],
  ];

  it.each(socketProbes)("%s: B's task ids answer exactly like ids that exist nowhere", async (tool, build) => {
    const before = await snapshot(t);
    const real: number[] = [];
    const none: number[] = [];
    for (let round = 0; round < 4; round++) {
      for (const id of bTaskIds) {
        const [event, payload] = build(id);
        let t0 = performance.now();
        const onB = await probe.call(event, payload);
        real.push(performance.now() - t0);
        const ghost = randomUUID();
        const [event2, payload2] = build(ghost);
        t0 = performance.now();
        const nowhere = await probe.call(event2, payload2);
        none.push(performance.now() - t0);
        expect(onB).toMatchObject({ success: false, code: 'TASK_NOT_FOUND' });
        // The message names the id asked about; apart from that the answers are the same.
        expect(JSON.parse(JSON.stringify(onB).replaceAll(id, '<id>'))).toEqual(JSON.parse(JSON.stringify(nowhere).replaceAll(ghost, '<id>')));
      }
    }
    expect(await snapshot(t)).toEqual(before);
    console.log(`[probe ${mode}] ${tool}: median ${median(real).toFixed(2)} ms for B's ids, ${median(none).toFixed(2)} ms for unknown ids`);
  });

  it("HTTP: A's key on B's routes answers exactly like on a project that does not exist", async () => {
    const ghost = randomUUID();
    const routes: [string, string, object?][] = [
      ['GET', '/tasks'],
      ['POST', '/tasks', { name: 'x' }],
      ['GET', '/agents'],
      ['GET', '/status'],
      ['GET', '/keys'],
      ['POST', '/keys', { label: 'x' }],
      ['DELETE', `/keys/${bKeyId}`],
      ['GET', '/audit'],
      ['GET', '/board'],
      ['POST', '/board/sync'],
      ['GET', '/board/cards'],
    ];
    const before = await snapshot(t);
    for (const [method, suffix, body] of routes) {
      const onB = await api.request(method, `/api/v1/projects/${b.id}${suffix}`, body, a.api_key);
      const onGhost = await api.request(method, `/api/v1/projects/${ghost}${suffix}`, body, a.api_key);
      expect(onB.status, `${method} ${suffix}`).toBe(403);
      expect(onB, `${method} ${suffix}`).toEqual(onGhost);
    }
    // A's key id used on A's own route: B's key is "not found", like a random id.
    const mine = await api.request('DELETE', `/api/v1/projects/${a.id}/keys/${bKeyId}`, undefined, a.api_key);
    const random = await api.request('DELETE', `/api/v1/projects/${a.id}/keys/${randomUUID()}`, undefined, a.api_key);
    expect(mine.status).toBe(404);
    expect(mine).toEqual(random);
    expect(mine.body.code).toBe('KEY_NOT_FOUND');
    expect(await snapshot(t)).toEqual(before);
  });
});
