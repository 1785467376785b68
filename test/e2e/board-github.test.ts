import { createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import { startTestApp, type TestApp } from '../support/app';
import { eventually } from '../support/eventually';
import { startFakeGitHub, type FakeGitHub } from '../support/fakes/fake-github';

// A project on a (fake) GitHub Projects v2 board: signed webhooks trigger imports, blockers label
// the issue `blocked/<severity>`, completion closes it.

const HOOK_SECRET = 'gh-webhook-secret-for-tests-0123';

describe('a project on GitHub Projects (fake GitHub API)', () => {
  let fake: FakeGitHub;
  let t: TestApp;
  let api: ApiClient;
  let project: { id: string; api_key: string };

  beforeAll(async () => {
    fake = await startFakeGitHub();
    t = await startTestApp('postgres', {
      PM_AGENT_BOARD_GH_TOKEN: fake.token,
      PM_AGENT_BOARD_GH_HOOK: HOOK_SECRET,
      KANBAN_SYNC_INTERVAL_SECONDS: '3600', // only settings changes and webhooks trigger imports here
      KANBAN_WRITEBACK_INTERVAL_MS: '100',
      LOG_LEVEL: 'error',
    });
    api = new ApiClient(t.url, t.adminKey);
    project = await api.createProject('github');
  });
  afterAll(async () => {
    await t?.close();
    await fake?.close();
  });

  const hook = (event: string, body: unknown, secret = HOOK_SECRET, projectId = project.id) => {
    const raw = JSON.stringify(body);
    const signature = `sha256=${createHmac('sha256', secret).update(raw).digest('hex')}`;
    return fetch(`${t.url}/api/v1/webhooks/github/${projectId}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-github-event': event, 'x-hub-signature-256': signature },
      body: raw,
    });
  };
  const requestedAt = async () =>
    (await t.db.query<{ requested_at: Date | null }>('SELECT requested_at FROM board_sync_state WHERE project_id = $1', [project.id])).rows[0]?.requested_at?.getTime() ?? 0;

  it('imports on configuration, then on a signed webhook only', async () => {
    const a = fake.seedIssue({ title: 'Fix checkout', status: 'Todo', labels: ['high'], body: 'Steps:\n- [ ] reproduce\n- [ ] fix' });
    const put = await api.request(
      'PUT',
      `/api/v1/projects/${project.id}/board`,
      { provider: 'github', api_url: fake.url, owner: fake.owner, repo: fake.repo, project_number: fake.projectNumber, token_env: 'PM_AGENT_BOARD_GH_TOKEN', webhook_secret_env: 'PM_AGENT_BOARD_GH_HOOK' },
      t.adminKey,
    );
    expect(put.status).toBe(200);
    const [task] = await eventually(async () => {
      const list = await api.listTasks(project.id);
      expect(list).toHaveLength(1);
      return list;
    }, 15_000);
    expect(task).toMatchObject({ name: 'Fix checkout', priority: 'high', status: 'todo', checklist: [{ text: 'reproduce', done: false }, { text: 'fix', done: false }] });
    await eventually(async () => expect((await api.request('GET', `/api/v1/projects/${project.id}/board`, undefined, t.adminKey)).body.sync.last_finished_at).not.toBeNull());

    const b = fake.seedIssue({ title: 'Add coupons', status: 'Todo' });
    const payload = { action: 'opened', issue: { node_id: b.id, number: b.number } };
    const before = await requestedAt();
    for (const [secret, pid] of [
      ['wrong-secret-0123456789', project.id],
      [HOOK_SECRET, '00000000-0000-4000-8000-000000000000'],
    ] as const) {
      const bad = await hook('issues', payload, secret, pid);
      expect(bad.status).toBe(401);
      expect(await bad.json()).toMatchObject({ code: 'WEBHOOK_SIGNATURE_INVALID' });
    }
    expect(await requestedAt()).toBe(before); // a refused webhook asks for nothing

    const ok = await hook('issues', payload);
    expect(ok.status).toBe(202);
    expect(await ok.json()).toEqual({ accepted: true, relevant: true });
    await eventually(async () => expect((await api.listTasks(project.id)).map((x) => x.name).sort()).toEqual(['Add coupons', 'Fix checkout']), 15_000);
    expect(a.id).not.toBe(b.id);
  });

  it('writes assignment, blocker (label blocked/high) and completion (closed, Done) back to the issue', async () => {
    const agent = await api.agent(project.api_key, 'agent-gh', [], 'Grace');
    const next = await agent.call('request_next_task', { agent_id: 'agent-gh' });
    expect(next.task.name).toBe('Fix checkout'); // high priority first
    const issue = () => fake.issue(fake.issue(1)!.id)!;
    await agent.call('report_blocker', { agent_id: 'agent-gh', task_id: next.task.id, blocker_description: 'staging is down', severity: 'high' });
    await eventually(async () => {
      const i = issue();
      expect(i.labels).toContain('blocked/high');
      expect(i.status).toBe('Blocked');
      expect(i.comments.some((c) => c.startsWith('🚫 BLOCKER (HIGH)\n\nReported by: Grace\nDescription: staging is down'))).toBe(true);
    }, 15_000);
    await agent.call('report_task_progress', { agent_id: 'agent-gh', task_id: next.task.id, status: 'completed', progress: 100, message: 'fixed' });
    await eventually(async () => {
      const i = issue();
      expect(i.state).toBe('CLOSED');
      expect(i.status).toBe('Done');
      expect(i.body).toContain('- [x] reproduce\n- [x] fix');
      expect(i.comments[0]).toMatch(/^📋 Task assigned to Grace at /);
      expect(i.comments.at(-1)).toBe('📊 Progress Update: 100% | Status: completed | fixed');
    }, 15_000);
  });
});
