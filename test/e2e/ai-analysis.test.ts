import { randomBytes } from 'node:crypto';
import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fallbackBlockerAnalysis, type BlockerAnalysis } from '../../src/modules/ai/fallback-blocker';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { ApiClient, type AgentSocket } from '../support/client';
import { eventually } from '../support/eventually';
import { FakeAnthropic, type FakeRequest } from '../support/fake-anthropic';

// The LLM path end to end, against a local FAKE of the Anthropic Messages API
// (test/support/fake-anthropic.ts): report_blocker and request_next_task never wait for the
// model; the analysis arrives later through outbox → bus → AiConsumer.

const KEY = `test-key-${randomBytes(16).toString('hex')}`;
const MODEL = 'claude-fake-e2e-model';
const LLM_SLEEP_MS = 5000;

const isBlockerPrompt = (r: FakeRequest) => r.prompt.startsWith('An autonomous coding agent is blocked');
const isInstructionsFor = (taskName: string) => (r: FakeRequest) =>
  r.prompt.startsWith('Write concise implementation instructions') && r.prompt.includes(`\nTask: ${taskName}\n`);
/** The fake model's brief for a task: recognisable, and naming the task it was asked about. */
const fakeBrief = (prompt: string) => {
  const name = /^Task: (.*)$/m.exec(prompt)?.[1] ?? '?';
  return `## Task\nFAKE-LLM-BRIEF for "${name}"\n\n## Implementation steps\n1. Follow the fake model\n\n## Definition of done\n- Tests pass\n\n## Risks\n- None`;
};

// Everything this process writes (Nest logs, the SDK's logger, console), to prove the key never appears.
const output: string[] = [];
const restoreOutput: (() => void)[] = [];
function captureOutput(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write;
    stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
      output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
    };
    restoreOutput.push(() => (stream.write = original));
  }
  for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
    const original = console[m];
    console[m] = (...args: unknown[]) => {
      output.push(format(...args));
      original.apply(console, args);
    };
    restoreOutput.push(() => (console[m] = original));
  }
}

let previousSdkLog: string | undefined;
beforeAll(() => {
  captureOutput();
  // The SDK's own logger at its most verbose (it logs requests and responses): still no key.
  previousSdkLog = process.env.ANTHROPIC_LOG;
  process.env.ANTHROPIC_LOG = 'debug';
});
afterAll(() => {
  for (const restore of restoreOutput.splice(0)) restore();
  if (previousSdkLog === undefined) delete process.env.ANTHROPIC_LOG;
  else process.env.ANTHROPIC_LOG = previousSdkLog;
  // Checked after every app has shut down, so shutdown logs count too.
  const all = output.join('');
  expect(all).toContain('blocker analysis fell back: API error 500'); // the capture did see the app's logs
  expect(all).not.toContain(KEY);
});

describe.each(STORAGE_MODES)('AI analysis off the agent path, against a fake Anthropic API (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  let fake: FakeAnthropic;
  /** Every answer and push the agents received, to check none carries the key. */
  const seenByAgents: unknown[] = [];
  const call = async (agent: AgentSocket, tool: string, payload?: unknown) => {
    const answer = await agent.call(tool, payload);
    seenByAgents.push(answer);
    return answer;
  };

  beforeAll(async () => {
    fake = await FakeAnthropic.start({ apiKey: KEY, behaviour: { text: 'OK' } });
    t = await startTestApp(mode, {
      ANTHROPIC_API_KEY: KEY,
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_MODEL: MODEL,
      AI_TIMEOUT_MS: '15000',
      AI_MAX_RETRIES: '0',
      LOG_LEVEL: 'verbose',
    });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    // The fake first: a still-sleeping request is cut, so the app's shutdown does not wait for it.
    await fake?.close();
    await t?.close();
  });

  const prepared = (taskId: string) => t.db.query<{ prepared_instructions: string | null }>('SELECT prepared_instructions FROM tasks WHERE id = $1', [taskId]);

  it('(a) report_blocker answers with the deterministic suggestions before the LLM (sleeping 5 s) has answered; the LLM analysis is then stored, pushed and on the board', async () => {
    const llm: BlockerAnalysis = {
      root_cause: 'The staging role has no CONNECT grant',
      impact_assessment: 'Integration tests against staging cannot run',
      resolution_steps: ['Ask the DBA to grant CONNECT to the app role', 'Run against the local container meanwhile'],
      required_resources: ['DBA'],
      estimated_hours: 1,
      escalation_needed: false,
      prevention_measures: ['Provision grants together with the environment'],
    };
    fake.setBehaviour((r) => (isBlockerPrompt(r) ? { text: JSON.stringify(llm), delayMs: LLM_SLEEP_MS } : { text: fakeBrief(r.prompt) }));
    const project = await api.createProject('ai-a');
    const task = await api.addTask(project.id, { name: 'Connect staging DB', description: 'Wire the app to the staging database' });
    const agent = await api.agent(project.api_key, 'agent-a', [], 'Alice');
    // The in-process bus delivers one event at a time: let the task's instructions be prepared first.
    await eventually(async () => expect((await prepared(task.id)).rows[0].prepared_instructions).toBeTruthy());
    const next = await call(agent, 'request_next_task', { agent_id: 'agent-a' });
    expect(next.task.id).toBe(task.id);

    const pushes = agent.record('blocker_analysis');
    const description = 'The staging database refuses connections: permission denied for the app role';
    const t0 = performance.now();
    const ack = await call(agent, 'report_blocker', {
      agent_id: 'agent-a',
      task_id: task.id,
      blocker_description: description,
      severity: 'high',
      lease_token: next.task.lease.token,
    });
    const answerMs = performance.now() - t0;
    const ackAt = Date.now();
    const deterministic = fallbackBlockerAnalysis(description, 'high');
    expect(ack).toEqual({
      success: true,
      blocker_id: expect.any(String),
      suggestions: deterministic.resolution_steps,
      analysis: deterministic,
      message: 'Blocker reported and suggestions provided',
    });
    expect(deterministic).toMatchObject({ estimated_hours: 4, escalation_needed: true });
    // Nothing from the model has come back when the agent has its answer.
    expect(fake.requests.filter(isBlockerPrompt).filter((r) => r.answeredAt !== undefined)).toEqual([]);
    expect(pushes).toEqual([]);
    expect(answerMs).toBeLessThan(2000); // far below the model's 5 s, with slack for a loaded machine

    // The consumer's call reaches the fake and stays pending; the agent is not held up meanwhile.
    const req = await fake.waitForRequest(isBlockerPrompt, 5000);
    expect(req.body).toMatchObject({ model: MODEL, max_tokens: 1500, messages: [{ role: 'user' }] });
    expect(req.prompt).toContain(`Blocker: ${description}`);
    expect(req.prompt).toContain('Task: Connect staging DB');
    expect(req.prompt).toContain('Reported by: Alice');
    expect(req.prompt).toContain('Severity: high');
    const p0 = performance.now();
    const status = await call(agent, 'get_agent_status', { agent_id: 'agent-a' });
    const statusMs = performance.now() - p0;
    expect(status.success).toBe(true);
    expect(req.answeredAt).toBeUndefined();
    expect(fake.pending).toContain(req);

    const push = await eventually(async () => {
      if (pushes.length === 0) throw new Error('no blocker_analysis push yet');
      return pushes[0];
    }, 10_000);
    const pushAt = Date.now();
    seenByAgents.push(push);
    expect(push).toEqual({ task_id: task.id, blocker_id: ack.blocker_id, analysis: llm, source: 'llm', at: expect.any(String) });
    expect(req.answeredAt).toBeGreaterThan(ackAt);
    expect(pushAt).toBeGreaterThanOrEqual(req.answeredAt!);
    expect(pushes).toHaveLength(1);
    console.log(
      `[ai-analysis ${mode}] report_blocker answered in ${answerMs.toFixed(1)} ms; get_agent_status meanwhile in ${statusMs.toFixed(1)} ms; ` +
        `fake LLM got the request ${req.receivedAt - ackAt} ms after the answer and replied ${req.answeredAt! - ackAt} ms after it; ` +
        `blocker_analysis push ${pushAt - ackAt} ms after it`,
    );

    const row = await t.db.query<{ analysis: unknown; suggestions: unknown }>('SELECT analysis, suggestions FROM blockers WHERE id = $1', [ack.blocker_id]);
    expect(row.rows[0]).toEqual({ analysis: { ...llm, source: 'llm' }, suggestions: llm.resolution_steps });
    const comments = await eventually(async () => {
      const r = await t.db.query<{ body: string }>('SELECT body FROM board_comments WHERE task_id = $1 ORDER BY id', [task.id]);
      if (!r.rows.some((c) => c.body.startsWith('🤖 AI blocker analysis'))) throw new Error('no AI comment yet');
      return r.rows.map((c) => c.body);
    });
    expect(comments.filter((b) => b.startsWith('🤖 AI blocker analysis'))).toEqual([
      ['🤖 AI blocker analysis', '', `Root cause: ${llm.root_cause}`, '', `1. ${llm.resolution_steps[0]}`, `2. ${llm.resolution_steps[1]}`].join('\n'),
    ]);
    expect(comments.some((b) => b.startsWith('🚫 BLOCKER (HIGH)'))).toBe(true);
  });

  it('(b) the fake answers 500: the push still comes, with the deterministic analysis and source fallback; no call fails', async () => {
    fake.setBehaviour({ status: 500 });
    const before = fake.requests.length;
    const project = await api.createProject('ai-b');
    const task = await api.addTask(project.id, { name: 'Fix flaky suite', description: 'CI is red half the time' });
    const agent = await api.agent(project.api_key, 'agent-b', [], 'Bob');
    const pushes = agent.record('blocker_analysis');
    const next = await call(agent, 'request_next_task', { agent_id: 'agent-b' });
    expect(next.success).toBe(true);
    // The instructions request failed (500) or is still to come: either way the deterministic brief.
    expect(next.task.instructions).toMatch(/^# Task Assignment for Bob\n/);
    const description = 'The integration test fails intermittently on CI';
    const ack = await call(agent, 'report_blocker', { agent_id: 'agent-b', task_id: task.id, blocker_description: description, severity: 'low' });
    const deterministic = fallbackBlockerAnalysis(description, 'low');
    expect(ack).toMatchObject({ success: true, suggestions: deterministic.resolution_steps });

    const push = await eventually(async () => {
      if (pushes.length === 0) throw new Error('no blocker_analysis push yet');
      return pushes[0];
    });
    seenByAgents.push(push);
    expect(push).toEqual({ task_id: task.id, blocker_id: ack.blocker_id, analysis: deterministic, source: 'fallback', at: expect.any(String) });
    expect(deterministic).toMatchObject({ estimated_hours: 2, escalation_needed: false });
    const blockerCalls = fake.requests.slice(before).filter(isBlockerPrompt);
    expect(blockerCalls.map((r) => r.status)).toEqual([500]);

    const row = await t.db.query<{ analysis: unknown }>('SELECT analysis FROM blockers WHERE id = $1', [ack.blocker_id]);
    expect(row.rows[0].analysis).toEqual({ ...deterministic, source: 'fallback' });
    const comments = await t.db.query<{ body: string }>('SELECT body FROM board_comments WHERE task_id = $1', [task.id]);
    expect(comments.rows.some((c) => c.body.startsWith('🤖'))).toBe(false);
    expect((await prepared(task.id)).rows[0].prepared_instructions).toBeNull();

    const progress = await call(agent, 'report_task_progress', { agent_id: 'agent-b', task_id: task.id, status: 'completed', progress: 100, message: 'fixed' });
    expect(progress).toMatchObject({ success: true });
  });

  it('(c) instructions are prepared ahead by the LLM; request_next_task never waits on it', async () => {
    fake.setBehaviour((r) => ({ text: fakeBrief(r.prompt) }));
    const project = await api.createProject('ai-c');
    const agent = await api.agent(project.api_key, 'agent-c', [], 'Carol');
    const first = await api.addTask(project.id, { name: 'Write the importer', description: 'CSV to tasks', labels: ['backend'] });

    const req = await fake.waitForRequest(isInstructionsFor('Write the importer'));
    expect(req.body).toMatchObject({ model: MODEL, max_tokens: 2000 });
    expect(req.prompt).toContain('Description: CSV to tasks');
    expect(req.prompt).toContain('Labels: backend');
    const stored = await eventually(async () => {
      const text = (await prepared(first.id)).rows[0].prepared_instructions;
      if (!text) throw new Error('instructions not prepared yet');
      return text;
    });
    expect(stored).toBe(fakeBrief(req.prompt));

    const got = await call(agent, 'request_next_task', { agent_id: 'agent-c' });
    expect(got.task.id).toBe(first.id);
    expect(got.task.instructions).toBe(`# Task Assignment for Carol\n\n${fakeBrief(req.prompt)}`);
    expect(got.task.instructions).toContain('FAKE-LLM-BRIEF for "Write the importer"');
    const done = await call(agent, 'report_task_progress', {
      agent_id: 'agent-c',
      task_id: first.id,
      status: 'completed',
      progress: 100,
      message: 'done',
      lease_token: got.task.lease.token,
    });
    expect(done.success).toBe(true);

    // A second task while the model sleeps 5 s: the agent gets the deterministic brief at once.
    fake.setBehaviour((r) => ({ text: fakeBrief(r.prompt), delayMs: LLM_SLEEP_MS }));
    const second = await api.addTask(project.id, { name: 'Write the exporter', description: 'Tasks to CSV' });
    const slow = await fake.waitForRequest(isInstructionsFor('Write the exporter'));
    const t0 = performance.now();
    const now = await call(agent, 'request_next_task', { agent_id: 'agent-c' });
    const ms = performance.now() - t0;
    console.log(`[ai-analysis ${mode}] request_next_task answered in ${ms.toFixed(1)} ms while the fake LLM prepares its instructions (sleeping ${LLM_SLEEP_MS} ms)`);
    expect(slow.answeredAt).toBeUndefined();
    expect(now.task.id).toBe(second.id);
    expect(now.task.instructions).toMatch(/^# Task Assignment for Carol\n/);
    expect(now.task.instructions).toContain('## Implementation steps');
    expect(now.task.instructions).toContain('1. Read the task and the code it touches');
    expect(now.task.instructions).not.toContain('FAKE-LLM-BRIEF');
    expect(ms).toBeLessThan(2000);
    expect((await prepared(second.id)).rows[0].prepared_instructions).toBeNull();
  });

  it('the API key appears only in the requests to the fake, in their auth header', async () => {
    expect(fake.requests.length).toBeGreaterThan(0);
    for (const r of fake.requests) {
      expect(r.headers.authorization ?? `Bearer ${String(r.headers['x-api-key'])}`).toBe(`Bearer ${KEY}`);
      expect(r.rawBody).not.toContain(KEY);
    }
    expect(JSON.stringify(seenByAgents)).not.toContain(KEY);
    // No table holds it (blockers, comments, outbox payloads, prepared instructions…).
    const tables = await t.db.query<{ table_name: string }>(
      "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'",
    );
    expect(tables.rows.length).toBeGreaterThan(5);
    for (const { table_name } of tables.rows) {
      const rows = await t.db.query(`SELECT * FROM "${table_name}"`);
      expect(JSON.stringify(rows.rows), table_name).not.toContain(KEY);
    }
    expect(output.join('')).not.toContain(KEY);
  });
});
