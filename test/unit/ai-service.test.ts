import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { AppConfig, parseConfig } from '../../src/config/app-config';
import { AiService, type BlockerContext, type TaskBrief } from '../../src/modules/ai/ai.service';
import { fallbackBlockerAnalysis, type BlockerAnalysis } from '../../src/modules/ai/fallback-blocker';
import { FakeAnthropic, type FakeReply } from '../support/fake-anthropic';

// AiService against a local FAKE of the Anthropic Messages API (test/support/fake-anthropic.ts):
// the real SDK, real HTTP, scripted answers.

const KEY = `test-key-${randomBytes(12).toString('hex')}`;
const MODEL = 'claude-fake-test-model';

const ctx: BlockerContext = {
  taskName: 'Build login',
  taskDescription: 'OAuth login page',
  description: 'The staging database refuses connections with 403 forbidden',
  severity: 'medium',
  agentName: 'Alice',
};

const brief: TaskBrief = {
  name: 'Build login',
  description: 'OAuth login page',
  priority: 'high',
  labels: ['frontend', 'auth'],
  acceptance_criteria: ['users can sign in with GitHub'],
  dependencies: [{ name: 'Design tokens' }],
};

const llmAnalysis: BlockerAnalysis = {
  root_cause: 'The staging DB user lacks the CONNECT grant',
  impact_assessment: 'Login work cannot be verified end to end',
  resolution_steps: ['Ask the DBA for CONNECT on staging', 'Use the local container meanwhile'],
  required_resources: ['DBA'],
  estimated_hours: 1.5,
  escalation_needed: false,
  prevention_measures: ['Provision grants with the environment'],
};

let fake: FakeAnthropic;

function service(env: Record<string, string> = {}): AiService {
  return new AiService(
    new AppConfig(
      parseConfig({
        ANTHROPIC_API_KEY: KEY,
        ANTHROPIC_BASE_URL: fake.url,
        ANTHROPIC_MODEL: MODEL,
        AI_TIMEOUT_MS: '2000',
        AI_MAX_RETRIES: '0',
        ...env,
      }),
    ),
  );
}

const fallbackFor = (c: BlockerContext) => ({ analysis: fallbackBlockerAnalysis(c.description, c.severity), source: 'fallback' });

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const { port } = srv.address() as { port: number };
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  fake = await FakeAnthropic.start({ apiKey: KEY });
});
afterAll(async () => fake?.close());
beforeEach(() => {
  fake.reset();
  fake.setBehaviour({ text: 'OK' });
});

describe('the fake Anthropic Messages API (request/response shape)', () => {
  const post = (body: unknown, headers: Record<string, string>) =>
    fetch(`${fake.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const valid = { model: MODEL, max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] };

  it('401 authentication_error without a key or with a wrong one; the key is accepted as x-api-key or bearer', async () => {
    const v = { 'anthropic-version': '2023-06-01' };
    for (const headers of [v, { ...v, 'x-api-key': 'wrong' }, { ...v, authorization: 'Bearer wrong' }, { ...v, authorization: KEY }]) {
      const res = await post(valid, headers);
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error', message: expect.any(String) } });
    }
    for (const headers of [{ ...v, 'x-api-key': KEY }, { ...v, authorization: `Bearer ${KEY}` }]) {
      expect((await post(valid, headers)).status).toBe(200);
    }
  });

  it('400 invalid_request_error without anthropic-version or with an invalid body', async () => {
    const noVersion = await post(valid, { 'x-api-key': KEY });
    expect(noVersion.status).toBe(400);
    expect(await noVersion.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message: 'anthropic-version: header is required' } });
    const h = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' };
    const bad: [unknown, string][] = [
      [{ ...valid, model: undefined }, 'model: Field required'],
      [{ ...valid, max_tokens: undefined }, 'max_tokens: Field required'],
      [{ ...valid, max_tokens: 0 }, 'max_tokens: Input should be greater than or equal to 1'],
      [{ ...valid, messages: [] }, 'messages: at least one message is required'],
      [{ ...valid, messages: [{ role: 'system', content: 'x' }] }, "messages.0.role: Input should be 'user' or 'assistant'"],
      [{ ...valid, messages: [{ role: 'user' }] }, 'messages.0.content: Field required'],
      [{ ...valid, max_token: 5 }, 'max_token: Extra inputs are not permitted'],
    ];
    for (const [body, message] of bad) {
      const res = await post(body, h);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'invalid_request_error', message } });
    }
  });

  it('200 with a Messages API object; scripted 429 carries retry-after and rate_limit_error', async () => {
    const h = { 'x-api-key': KEY, 'anthropic-version': '2023-06-01' };
    fake.setBehaviour({ text: (prompt) => `echo: ${prompt}` });
    const ok = await post(valid, h);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('request-id')).toMatch(/^req_/);
    expect(await ok.json()).toEqual({
      id: expect.stringMatching(/^msg_/),
      type: 'message',
      role: 'assistant',
      model: MODEL,
      content: [{ type: 'text', text: 'echo: hi' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: expect.any(Number), output_tokens: expect.any(Number), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
    });
    fake.enqueue({ status: 429, retryAfterSeconds: 7 });
    const limited = await post(valid, h);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    expect(await limited.json()).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(fake.completed).toBe(2);
  });
});

describe('AiService.analyzeBlocker against the fake', () => {
  it('valid JSON → source llm with the parsed fields; the request is a proper Messages API call', async () => {
    fake.setBehaviour({ text: JSON.stringify(llmAnalysis) });
    const r = await service().analyzeBlocker(ctx);
    expect(r).toEqual({ analysis: llmAnalysis, source: 'llm' });

    expect(fake.requests).toHaveLength(1);
    const req = fake.requests[0];
    expect(req).toMatchObject({ method: 'POST', path: '/v1/messages', status: 200 });
    // @anthropic-ai/sdk 1.x sends the key as a bearer token (its documented behaviour), with the API version.
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.headers['anthropic-version']).toMatch(/^\d{4}-\d\d-\d\d$/);
    expect(req.headers['content-type']).toMatch(/^application\/json/);
    expect(req.body).toEqual({ model: MODEL, max_tokens: 1500, messages: [{ role: 'user', content: expect.any(String) }] });
    expect(req.prompt).toContain(`Blocker: ${ctx.description}`);
    expect(req.prompt).toContain('Task: Build login');
    expect(req.prompt).toContain('Task description: OAuth login page');
    expect(req.prompt).toContain('Reported by: Alice');
    expect(req.prompt).toContain('Severity: medium');
    expect(req.prompt).toContain('resolution_steps');
    // The key travels in its header only.
    expect(req.rawBody).not.toContain(KEY);
    expect(JSON.stringify(r)).not.toContain(KEY);
  });

  it.each([
    ['prose around it', `Here is my analysis:\n${JSON.stringify(llmAnalysis)}\nHope this helps.`],
    ['a ```json code fence', '```json\n' + JSON.stringify(llmAnalysis, null, 2) + '\n```'],
    ['extra keys', JSON.stringify({ ...llmAnalysis, confidence: 0.8 })],
    ['a one-element array', JSON.stringify([llmAnalysis])],
  ])('JSON wrapped in %s → parsed, source llm', async (_what, text) => {
    fake.setBehaviour({ text });
    expect(await service().analyzeBlocker(ctx)).toEqual({ analysis: llmAnalysis, source: 'llm' });
  });

  const badAnswers: [string, FakeReply][] = [
    ['malformed JSON text', { text: '{"root_cause": "db", "resolution_steps": ["a",' }],
    ['no JSON at all', { text: 'I cannot help with that.' }],
    ['JSON missing fields', { text: JSON.stringify({ root_cause: 'db', resolution_steps: ['a'] }) }],
    ['JSON with wrong types', { text: JSON.stringify({ ...llmAnalysis, estimated_hours: 'two', escalation_needed: 'no' }) }],
    ['empty resolution_steps', { text: JSON.stringify({ ...llmAnalysis, resolution_steps: [] }) }],
    ['two JSON objects', { text: `${JSON.stringify(llmAnalysis)}\nor maybe\n${JSON.stringify(llmAnalysis)}` }],
    ['a malformed HTTP body', { rawBody: '{"id":"msg_1","type":"message","content":[{"type":"te' }],
    ['429 rate_limit_error', { status: 429, retryAfterSeconds: 1 }],
    ['500 api_error', { status: 500 }],
    ['529 overloaded_error', { status: 529 }],
    ['400 invalid_request_error', { status: 400, message: 'prompt is too long' }],
  ];
  it.each(badAnswers)('%s → deterministic fallback, no throw', async (_what, reply) => {
    fake.setBehaviour(reply);
    const r = await service().analyzeBlocker(ctx);
    expect(r).toEqual(fallbackFor(ctx));
    expect(fake.requests).toHaveLength(1);
  });

  it('fallback estimates 2 h for low, 4 h otherwise, and escalates high and critical', async () => {
    fake.setBehaviour({ status: 500 });
    const ai = service();
    const got = [];
    for (const severity of ['low', 'medium', 'high', 'critical'] as const) {
      const r = await ai.analyzeBlocker({ ...ctx, severity });
      expect(r.source).toBe('fallback');
      got.push([severity, r.analysis.estimated_hours, r.analysis.escalation_needed]);
    }
    expect(got).toEqual([
      ['low', 2, false],
      ['medium', 4, false],
      ['high', 4, true],
      ['critical', 4, true],
    ]);
  });

  it('429 then success with AI_MAX_RETRIES=1: the SDK honours retry-after and the answer is the LLM one', async () => {
    fake.enqueue({ status: 429, retryAfterSeconds: 1 });
    fake.setBehaviour({ text: JSON.stringify(llmAnalysis) });
    const t0 = Date.now();
    const r = await service({ AI_MAX_RETRIES: '1' }).analyzeBlocker(ctx);
    expect(r).toEqual({ analysis: llmAnalysis, source: 'llm' });
    expect(fake.requests.map((q) => q.status)).toEqual([429, 200]);
    expect(fake.requests[1].receivedAt - fake.requests[0].receivedAt).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('500 on every attempt with AI_MAX_RETRIES=1 → two requests, then the fallback', async () => {
    fake.setBehaviour({ status: 500 });
    const r = await service({ AI_MAX_RETRIES: '1' }).analyzeBlocker(ctx);
    expect(r).toEqual(fallbackFor(ctx));
    expect(fake.requests.map((q) => q.status)).toEqual([500, 500]);
  });

  it('a hanging API → fallback after AI_TIMEOUT_MS, the request is abandoned', async () => {
    fake.setBehaviour({ hang: true });
    const t0 = Date.now();
    const r = await service({ AI_TIMEOUT_MS: '300' }).analyzeBlocker(ctx);
    const took = Date.now() - t0;
    expect(r).toEqual(fallbackFor(ctx));
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(3000);
    await expect.poll(() => fake.requests[0]?.aborted).toBe(true);
    expect(fake.completed).toBe(0);
  });

  it('an answer slower than AI_TIMEOUT_MS → fallback', async () => {
    fake.setBehaviour({ text: JSON.stringify(llmAnalysis), delayMs: 1500 });
    expect(await service({ AI_TIMEOUT_MS: '300' }).analyzeBlocker(ctx)).toEqual(fallbackFor(ctx));
  });

  it('connection refused → fallback', async () => {
    const port = await closedPort();
    const r = await service({ ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` }).analyzeBlocker(ctx);
    expect(r).toEqual(fallbackFor(ctx));
  });

  it('a wrong API key (401 authentication_error) → fallback', async () => {
    fake.setBehaviour({ text: JSON.stringify(llmAnalysis) });
    const r = await service({ ANTHROPIC_API_KEY: 'test-key-wrong' }).analyzeBlocker(ctx);
    expect(r).toEqual(fallbackFor(ctx));
    expect(fake.requests.map((q) => q.status)).toEqual([401]);
  });

  it('no key → fallback without any request', async () => {
    fake.setBehaviour({ text: JSON.stringify(llmAnalysis) });
    const ai = service({ ANTHROPIC_API_KEY: '' });
    expect(ai.enabled).toBe(false);
    expect(await ai.analyzeBlocker({ ...ctx, severity: 'low' })).toEqual(fallbackFor({ ...ctx, severity: 'low' }));
    expect(await ai.prepareInstructions(brief)).toBeNull();
    expect(fake.requests).toHaveLength(0);
  });
});

describe('AiService.prepareInstructions against the fake', () => {
  const instructions = '## Task\nBuild the login page.\n\n## Implementation steps\n1. Add the OAuth callback\n2. Test it';

  it('success → the model text (trimmed); the prompt carries the task', async () => {
    fake.setBehaviour({ text: `\n${instructions}\n\n` });
    expect(await service().prepareInstructions(brief)).toBe(instructions);
    const req = fake.requests[0];
    expect(req.body).toMatchObject({ model: MODEL, max_tokens: 2000 });
    expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(req.prompt).toContain('Task: Build login');
    expect(req.prompt).toContain('Priority: high');
    expect(req.prompt).toContain('Labels: frontend, auth');
    expect(req.prompt).toContain('Acceptance criteria: users can sign in with GitHub');
    expect(req.prompt).toContain('Depends on: Design tokens');
  });

  it.each<[string, FakeReply]>([
    ['500', { status: 500 }],
    ['529', { status: 529 }],
    ['429', { status: 429, retryAfterSeconds: 1 }],
    ['a too short answer', { text: 'ok' }],
    ['a malformed HTTP body', { rawBody: 'not json' }],
    ['a hang', { hang: true }],
  ])('%s → null (the deterministic brief is used), no throw', async (_what, reply) => {
    fake.setBehaviour(reply);
    expect(await service({ AI_TIMEOUT_MS: '300' }).prepareInstructions(brief)).toBeNull();
  });

  it('connection refused → null', async () => {
    const port = await closedPort();
    expect(await service({ ANTHROPIC_BASE_URL: `http://127.0.0.1:${port}` }).prepareInstructions(brief)).toBeNull();
  });
});
