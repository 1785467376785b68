import { createHmac } from 'node:crypto';
import { LinearWebhookClient } from '@linear/sdk/webhooks';
import { GraphQLObjectType, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KanbanErrorCode } from '../../src/common/errors';
import { BoardHttp } from '../../src/modules/kanban/http/board-http';
import { KanbanError } from '../../src/modules/kanban/kanban-error';
import * as documents from '../../src/modules/kanban/linear/linear.documents';
import { linearWebhookHint, verifyLinearSignature } from '../../src/modules/kanban/linear/linear-webhook';
import { LinearProvider, linearAuthFailedBody, linearRateLimitedBody } from '../../src/modules/kanban/linear/linear.provider';
import { boardProviderContract } from '../support/board-contract';
import { startFakeLinear, type FakeLinear, type FakeLinearOptions } from '../support/fakes/fake-linear';
import { loadLinearSchema, loadLinearSdkDocuments } from '../support/linear-schema';

/** A provider against a fresh fake, with retries that do not really sleep (the waits are recorded). */
async function setup(p: { fake?: FakeLinearOptions; apiKey?: (fake: FakeLinear) => string; http?: Partial<ConstructorParameters<typeof BoardHttp>[0]> } = {}) {
  const fake = await startFakeLinear(p.fake);
  const sleeps: number[] = [];
  const http = new BoardHttp({
    provider: 'linear',
    baseUrl: fake.url,
    rateLimitedBody: linearRateLimitedBody,
    authFailedBody: linearAuthFailedBody,
    retryBaseMs: 1,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
    ...p.http,
  });
  const provider = new LinearProvider({ http, apiKey: p.apiKey ? p.apiKey(fake) : fake.apiKey, teamId: fake.teamId });
  return { fake, provider, sleeps, close: async () => (await provider.close(), await fake.close()) };
}

const failureOf = (op: Promise<unknown>): Promise<KanbanError> =>
  op.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: unknown) => {
      expect(e).toBeInstanceOf(KanbanError);
      return e as KanbanError;
    },
  );

boardProviderContract('linear (fake API)', async () => {
  const fake = await startFakeLinear();
  const http = new BoardHttp({ provider: 'linear', baseUrl: fake.url, rateLimitedBody: linearRateLimitedBody });
  return {
    provider: new LinearProvider({ http, apiKey: fake.apiKey, teamId: fake.teamId }),
    assignee: 'alice@example.com',
    otherAssignee: 'bob@example.com',
    cleanup: () => fake.close(),
  };
});

describe('Linear schema derived from @linear/sdk', () => {
  const schema = loadLinearSchema();

  it('validates every one of the SDK’s own operation documents with zero errors', () => {
    const docs = loadLinearSdkDocuments();
    expect(docs.length).toBeGreaterThan(300);
    const failures = docs.flatMap((d) => validate(schema, parse(d.source)).map((e) => `${d.name}: ${e.message}`));
    expect(failures).toEqual([]);
    // They cover both roots, so the check is not only about queries.
    expect(docs.some((d) => /^\s*mutation /.test(d.source))).toBe(true);
  });

  it('refuses a misspelt field, an unknown argument and a wrongly typed variable', () => {
    const errs = (q: string) => validate(schema, parse(q)).map((e) => e.message);
    expect(errs('query { issue(id: "x") { titel } }')).toEqual([expect.stringContaining('Cannot query field "titel" on type "Issue"')]);
    expect(errs('query { issues(frist: 10) { nodes { id } } }')).toEqual([expect.stringContaining('Unknown argument "frist"')]);
    expect(errs('mutation M($i: IssueUpdateInput!) { issueCreate(input: $i) { success } }')).toEqual([expect.stringContaining('used in position expecting type "IssueCreateInput!"')]);
    expect(errs('query { issue(id: "x") { title } }')).toEqual([]);
  });

  it('recovers interfaces, enums, nullability and arguments', () => {
    const issue = schema.getType('Issue') as GraphQLObjectType;
    expect(issue.getInterfaces().map((i) => i.name)).toContain('Node');
    expect(String(issue.getFields().identifier.type)).toBe('String!');
    expect(String(issue.getFields().assignee.type)).toBe('User');
    expect(issue.getFields().labels.args.map((a) => a.name)).toEqual(expect.arrayContaining(['first', 'after', 'filter']));
    expect(String(schema.getMutationType()!.getFields().issueUpdate.args.find((a) => a.name === 'id')!.type)).toBe('String!');
    const relationType = schema.getType('IssueRelationType');
    expect(relationType && 'getValues' in relationType ? relationType.getValues().map((v) => v.name) : []).toContain('blocks');
  });
});

describe('Linear provider documents', () => {
  const schema = loadLinearSchema();
  const entries: [string, string][] = Object.entries(documents as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string');

  it('exports the documents the provider sends', () => {
    expect(entries.length).toBeGreaterThanOrEqual(15);
  });

  it.each(entries)('%s is one named operation that validates against Linear’s schema', (_name, source) => {
    const doc = parse(source);
    const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
    expect(ops).toHaveLength(1);
    expect(ops[0].name?.value).toMatch(/^Linear[A-Z]\w+$/);
    expect(validate(schema, doc).map((e) => e.message)).toEqual([]);
  });

  it('gives every operation its own name', () => {
    const names = entries.map(([, s]) => (parse(s).definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION) as OperationDefinitionNode).name!.value);
    expect(new Set(names).size).toBe(names.length);
  });
});

describe('Linear provider behaviour', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup();
  });
  afterAll(async () => {
    await env.close();
  });

  it('leaves canceled issues out of the list but reads one fetched directly as done', async () => {
    const tasks = await env.provider.listTasks();
    const refs = tasks.map((t) => t.ref);
    expect(refs).toContain('ENG-10');
    expect(refs).not.toContain('ENG-11');
    expect(refs.some((r) => r.startsWith('DES-'))).toBe(false);
    expect(tasks.find((t) => t.ref === 'ENG-10')).toMatchObject({ status: 'done', priority: 'high', name: 'Set up CI' });
    expect(await env.provider.getTask({ externalId: env.fake.issue('ENG-11')!.id })).toMatchObject({ ref: 'ENG-11', status: 'done', priority: 'low' });
  });

  it('answers null for an issue of another team', async () => {
    expect(await env.provider.getTask({ externalId: env.fake.issue('DES-1')!.id })).toBeNull();
  });

  it('moves an issue to the workflow state named for the status', async () => {
    const t = await env.provider.createTask({ name: 'Walk the states' });
    expect(env.fake.stateOf(env.fake.issue(t.externalId)!).name).toBe('Backlog');
    await env.provider.moveTask({ externalId: t.externalId, status: 'in_progress' });
    expect(env.fake.stateOf(env.fake.issue(t.externalId)!).name).toBe('In Progress');
    await env.provider.moveTask({ externalId: t.externalId, status: 'todo' });
    expect(env.fake.stateOf(env.fake.issue(t.externalId)!).name).toBe('Todo');
    await env.provider.moveTask({ externalId: t.externalId, status: 'done' });
    expect(env.fake.stateOf(env.fake.issue(t.externalId)!)).toMatchObject({ name: 'Done', type: 'completed' });
  });

  it('stores priority as Linear’s number and the assignee by user id', async () => {
    const t = await env.provider.createTask({ name: 'Numbers', priority: 'urgent' });
    expect(env.fake.issue(t.externalId)!.priority).toBe(1);
    await env.provider.assign({ externalId: t.externalId, assignee: 'Bob Brown' });
    const bob = env.fake.users.find((u) => u.email === 'bob@example.com')!;
    expect(env.fake.issue(t.externalId)!.assigneeId).toBe(bob.id);
    expect((await env.provider.getTask({ externalId: t.externalId }))!.assignee).toBe('bob@example.com');
  });

  it('refuses an assignee no workspace user matches, without naming them', async () => {
    const t = await env.provider.createTask({ name: 'Nobody' });
    const err = await failureOf(env.provider.assign({ externalId: t.externalId, assignee: 'mallory@example.com' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_REJECTED);
    expect(err.message).not.toContain('mallory');
  });

  it('creates blocks relations for dependencies and reads them back as external ids', async () => {
    const a = await env.provider.createTask({ name: 'Blocker' });
    const b = await env.provider.createTask({ name: 'Blocked one', dependencies: [a.externalId] });
    expect(env.fake.relations).toContainEqual(expect.objectContaining({ type: 'blocks', issueId: a.externalId, relatedIssueId: b.externalId }));
    expect(b.dependencies).toEqual([a.externalId]);
    // A blocker that gets canceled is no longer waited for (it is not listed either).
    env.fake.setState(a.externalId, 'Canceled');
    expect((await env.provider.getTask({ externalId: b.externalId }))!.dependencies).toEqual([]);
  });

  it('drops a dependency that is not on the board instead of failing after the issue exists', async () => {
    const before = env.fake.issues.length;
    const t = await env.provider.createTask({ name: 'Orphan dep', dependencies: ['00000000-0000-4000-8000-000000000000'] });
    expect(env.fake.issues.length).toBe(before + 1);
    expect(t.dependencies).toEqual([]);
  });

  it('reads "Depends on:" lines naming issues of the same team as dependencies', async () => {
    const ci = env.fake.issue('ENG-10')!;
    const seeded = env.fake.seedIssue({ title: 'Deploy', description: 'Ship it.\n\nDepends on: ENG-10, DES-1, #9999' });
    const got = await env.provider.getTask({ externalId: seeded.id });
    expect(got!.dependencies).toEqual([ci.id]);
    const listed = (await env.provider.listTasks()).find((t) => t.externalId === seeded.id);
    expect(listed!.dependencies).toEqual([ci.id]);
  });

  it('reads labels and blockers past the first nested page', async () => {
    const names = Array.from({ length: 25 }, (_, i) => `area-${i}`);
    const seeded = env.fake.seedIssue({ title: 'Many labels', labels: names });
    const deps: string[] = [];
    for (let i = 0; i < 22; i++) deps.push((await env.provider.createTask({ name: `dep ${i}` })).externalId);
    const beforeLabels = env.fake.operations('LinearIssueLabels').length;
    const t = await env.provider.createTask({ name: 'Many deps', dependencies: deps });
    expect([...t.dependencies].sort()).toEqual([...deps].sort());
    const got = await env.provider.getTask({ externalId: seeded.id });
    expect([...got!.labels].sort()).toEqual([...names].sort());
    expect(env.fake.operations('LinearIssueLabels').length).toBeGreaterThan(beforeLabels);
    expect(env.fake.operations('LinearIssueInverseRelations').length).toBeGreaterThan(0);
  });

  it('reuses workspace labels, creates missing ones for the team, and never uses another team’s', async () => {
    const t = await env.provider.createTask({ name: 'Labels' });
    const creates = env.fake.operations('LinearIssueLabelCreate').length;
    await env.provider.addLabel({ externalId: t.externalId, label: 'security' });
    expect(env.fake.operations('LinearIssueLabelCreate').length).toBe(creates);
    await env.provider.addLabel({ externalId: t.externalId, label: 'design-only' });
    expect(env.fake.operations('LinearIssueLabelCreate').length).toBe(creates + 1);
    const made = env.fake.labels.filter((l) => l.name === 'design-only');
    expect(made.map((l) => l.teamId).sort()).toEqual([env.fake.team('DES').id, env.fake.teamId].sort());
    expect((await env.provider.getTask({ externalId: t.externalId }))!.labels.sort()).toEqual(['design-only', 'security']);
  });

  it('looks team states up once and keeps them', async () => {
    const before = env.fake.operations('LinearTeamStates').length;
    const t = await env.provider.createTask({ name: 'Cached states', status: 'in_progress' });
    await env.provider.moveTask({ externalId: t.externalId, status: 'blocked' });
    await env.provider.listTasks();
    expect(env.fake.operations('LinearTeamStates').length).toBe(before);
    expect((await env.provider.getTask({ externalId: t.externalId }))!.status).toBe('blocked');
  });

  it('answers BOARD_NOT_FOUND for changes to an unknown issue', async () => {
    const unknown = '00000000-0000-4000-8000-000000000000';
    for (const op of [
      () => env.provider.setChecklist({ externalId: unknown, items: [{ text: 'a', done: false }] }),
      () => env.provider.addLabel({ externalId: unknown, label: 'bug' }),
      () => env.provider.assign({ externalId: unknown, assignee: 'alice@example.com' }),
      () => env.provider.listComments({ externalId: unknown }),
    ]) {
      expect((await failureOf(op())).code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
    }
  });

  it('keeps the rest of the description when the checklist changes', async () => {
    const t = await env.provider.createTask({ name: 'Body', description: 'Intro line.', checklist: [{ text: 'one', done: false }] });
    await env.provider.setChecklist({ externalId: t.externalId, items: [{ text: 'one', done: true }, { text: 'two', done: false }] });
    expect(env.fake.issue(t.externalId)!.description).toBe('Intro line.\n\n### Checklist\n- [x] one\n- [ ] two');
  });
});

describe('Linear provider over an unreliable API', () => {
  let env: Awaited<ReturnType<typeof setup>>;
  beforeAll(async () => {
    env = await setup();
  });
  afterEach(() => {
    env.fake.setDown(false);
    env.sleeps.length = 0;
  });
  afterAll(async () => {
    await env.close();
  });

  it('retries a RATELIMITED answer after the reset Linear names', async () => {
    await env.provider.listTasks(); // warm the caches so only the issue list is counted
    const before = env.fake.operations('LinearTeamIssues').length;
    env.fake.rateLimitNext(1, 1500);
    const tasks = await env.provider.listTasks();
    expect(tasks.length).toBeGreaterThan(0);
    const calls = env.fake.operations('LinearTeamIssues').slice(before);
    expect(calls.map((r) => r.status)).toEqual([400, 200]);
    expect(env.sleeps).toHaveLength(1);
    expect(env.sleeps[0]).toBeGreaterThan(500);
    expect(env.sleeps[0]).toBeLessThanOrEqual(1500);
  });

  it('gives up with BOARD_RATE_LIMITED when the reset is further away than it may wait', async () => {
    const impatient = await setup({ http: { maxRateLimitWaitMs: 100 } });
    try {
      impatient.fake.rateLimitNext(1, 60_000);
      const err = await failureOf(impatient.provider.listTasks());
      expect(err.code).toBe(KanbanErrorCode.BOARD_RATE_LIMITED);
      expect(err.details).toMatchObject({ retryAfterMs: expect.any(Number) });
      expect(impatient.sleeps).toEqual([]);
    } finally {
      await impatient.close();
    }
  });

  it('retries a query after a 5xx and succeeds', async () => {
    env.fake.failNext(2, 502);
    const before = env.fake.requests.length;
    expect((await env.provider.listTasks()).length).toBeGreaterThan(0);
    expect(env.fake.requests.slice(before).map((r) => r.status).slice(0, 3)).toEqual([502, 502, 200]);
  });

  it('does not resend a mutation after a 502 (it may have been applied: no duplicate issue), but does after a 503', async () => {
    await env.provider.listTasks(); // states, labels and users cached: the next request is the mutation
    env.fake.failNext(1, 502);
    const before = env.fake.requests.length;
    const err = await failureOf(env.provider.createTask({ name: 'Maybe created' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_UNAVAILABLE);
    expect(env.fake.requests.slice(before).map((r) => [r.operationName, r.status])).toEqual([['LinearIssueCreate', 502]]);
    env.fake.failNext(1, 503);
    const again = env.fake.requests.length;
    await env.provider.createTask({ name: 'Created after a 503' });
    expect(env.fake.requests.slice(again).map((r) => r.status).slice(0, 2)).toEqual([503, 200]);
  });

  it('reports BOARD_UNAVAILABLE while the API is down', async () => {
    env.fake.setDown(true);
    const err = await failureOf(env.provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_UNAVAILABLE);
    expect(err.transient).toBe(true);
    env.fake.setDown(false);
    expect((await env.provider.listTasks()).length).toBeGreaterThan(0);
  });
});

describe('Linear authentication', () => {
  it('sends the personal API key as is and surfaces a refused key (HTTP 400 AUTHENTICATION_ERROR) as BOARD_AUTH_FAILED without it', async () => {
    const bad = 'fake-revoked-linear-key-must-not-leak';
    const env = await setup({ apiKey: () => bad });
    try {
      const err = await failureOf(env.provider.listTasks());
      expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED); // Linear's HTTP 400 AUTHENTICATION_ERROR
      expect(err.message).not.toContain(bad);
      expect(JSON.stringify(err.details)).not.toContain(bad);
      expect(env.fake.requests.map((r) => [r.auth, r.status])).toEqual([['invalid', 400]]);
    } finally {
      await env.close();
    }
  });

  it('is BOARD_AUTH_FAILED when the refusal is a 401', async () => {
    const env = await setup({ fake: { authFailureStatus: 401 }, apiKey: () => 'lin_api_wrong' });
    try {
      const err = await failureOf(env.provider.getTask({ externalId: '00000000-0000-4000-8000-000000000000' }));
      expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
      expect(err.message).not.toContain('lin_api_wrong');
    } finally {
      await env.close();
    }
  });

  it('accepts an OAuth token given as Bearer', async () => {
    const env = await setup({ apiKey: (f) => `Bearer ${f.oauthToken}` });
    try {
      expect((await env.provider.listTasks()).length).toBeGreaterThan(0);
      expect(new Set(env.fake.requests.map((r) => r.auth))).toEqual(new Set(['oauth']));
    } finally {
      await env.close();
    }
  });
});

describe('fake Linear fidelity', () => {
  let fake: FakeLinear;
  beforeAll(async () => {
    fake = await startFakeLinear();
  });
  afterAll(async () => {
    await fake.close();
  });
  const post = async (query: string, variables: Record<string, unknown> = {}, authorization = fake.apiKey) => {
    const res = await fetch(`${fake.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', authorization }, body: JSON.stringify({ query, variables }) });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };

  it('pages at most 10 nodes whatever `first` asks for, with a cursor to continue', async () => {
    for (let i = 0; i < 12; i++) fake.seedIssue({ title: `page ${i}` });
    const q = 'query P($after: String) { issues(first: 100, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }';
    const first = await post(q);
    expect(first.body.data.issues.nodes).toHaveLength(10);
    expect(first.body.data.issues.pageInfo.hasNextPage).toBe(true);
    const second = await post(q, { after: first.body.data.issues.pageInfo.endCursor });
    expect(second.body.data.issues.nodes[0].id).not.toBe(first.body.data.issues.nodes[0].id);
  });

  it('refuses a document the real schema would refuse, with a 400', async () => {
    const res = await post('query { issues { nodes { titel } } }');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('answers an unknown issue like Linear: data null and an INPUT_ERROR', async () => {
    const res = await post('query { issue(id: "00000000-0000-4000-8000-000000000000") { id } }');
    expect(res.status).toBe(200);
    expect(res.body.data).toBeNull();
    expect(res.body.errors[0]).toMatchObject({ message: 'Entity not found: Issue', extensions: { code: 'INPUT_ERROR', type: 'invalid input' } });
  });

  it('rate limits with HTTP 400, RATELIMITED and the reset in epoch milliseconds', async () => {
    fake.rateLimitNext(1, 2000);
    const before = Date.now();
    const res = await post('query { viewer { id } }');
    expect(res.status).toBe(400);
    expect(res.body.errors[0].extensions).toMatchObject({ code: 'RATELIMITED', type: 'ratelimited' });
    expect(res.headers.get('x-ratelimit-requests-remaining')).toBe('0');
    const reset = Number(res.headers.get('x-ratelimit-requests-reset'));
    expect(reset).toBeGreaterThanOrEqual(before + 2000);
    expect(reset).toBeLessThan(before + 10_000);
    expect((await post('query { viewer { id } }')).status).toBe(200);
  });

  it('refuses a personal API key sent as Bearer, and a missing key', async () => {
    for (const auth of [`Bearer ${fake.apiKey}`, '']) {
      const res = await post('query { viewer { id } }', {}, auth);
      expect(res.status).toBe(400);
      expect(res.body.errors[0].extensions).toMatchObject({ code: 'AUTHENTICATION_ERROR', type: 'authentication error' });
    }
  });

  it('logs method, path and operation name of every request', async () => {
    const before = fake.requests.length;
    await post('query LinearProbe { viewer { email } }');
    expect(fake.requests.slice(before)).toEqual([expect.objectContaining({ method: 'POST', path: '/graphql', operationName: 'LinearProbe', status: 200 })]);
  });
});

describe('Linear webhooks', () => {
  const secret = 'lin_wh_0123456789abcdef';
  const now = 1_760_000_000_000;
  const delivery = (over: Record<string, unknown> = {}) =>
    Buffer.from(JSON.stringify({ action: 'update', type: 'Issue', data: { id: '5b6e0c3e-6f8e-4a61-9d0b-0c8f6f8e4a61', title: 'x' }, webhookTimestamp: now - 5_000, ...over }));
  const sign = (body: Buffer, key = secret) => createHmac('sha256', key).update(body).digest('hex');

  it('accepts a delivery signed with the secret and timestamped within a minute', () => {
    const body = delivery();
    expect(verifyLinearSignature(body, sign(body), secret, now)).toBe(true);
    expect(verifyLinearSignature(body, sign(body).toUpperCase(), secret, now)).toBe(true);
  });

  it('refuses the wrong secret', () => {
    const body = delivery();
    expect(verifyLinearSignature(body, sign(body, 'another-secret'), secret, now)).toBe(false);
  });

  it('refuses a tampered body', () => {
    const body = delivery();
    const tampered = Buffer.from(body.toString('utf8').replace('"title":"x"', '"title":"y"'));
    expect(verifyLinearSignature(tampered, sign(body), secret, now)).toBe(false);
  });

  it('refuses a stale or future timestamp, and a body without one', () => {
    for (const body of [delivery({ webhookTimestamp: now - 61_000 }), delivery({ webhookTimestamp: now + 61_000 }), delivery({ webhookTimestamp: undefined }), delivery({ webhookTimestamp: String(now) })]) {
      expect(verifyLinearSignature(body, sign(body), secret, now)).toBe(false);
    }
    const edge = delivery({ webhookTimestamp: now - 60_000 });
    expect(verifyLinearSignature(edge, sign(edge), secret, now)).toBe(true);
  });

  it('refuses a missing or malformed signature header', () => {
    const body = delivery();
    const good = sign(body);
    for (const header of [undefined, '', 'sha256=' + good, good.slice(0, 63), `${good}00`, 'z'.repeat(64)]) {
      expect(verifyLinearSignature(body, header, secret, now)).toBe(false);
    }
    expect(verifyLinearSignature(body, good, '', now)).toBe(false);
  });

  it('refuses a signed body that is not JSON', () => {
    const body = Buffer.from('not json');
    expect(verifyLinearSignature(body, sign(body), secret, now)).toBe(false);
  });

  it('agrees with @linear/sdk’s own verifier', () => {
    const sdk = new LinearWebhookClient(secret);
    const sdkSays = (body: Buffer, sig: string): boolean => {
      try {
        return sdk.verify(body, sig);
      } catch {
        return false;
      }
    };
    const fresh = delivery({ webhookTimestamp: Date.now() });
    const stale = delivery({ webhookTimestamp: Date.now() - 120_000 });
    const cases: [Buffer, string][] = [
      [fresh, sign(fresh)],
      [fresh, sign(fresh, 'other')],
      [stale, sign(stale)],
      [Buffer.from(fresh.toString().replace('update', 'create')), sign(fresh)],
    ];
    for (const [body, sig] of cases) expect(verifyLinearSignature(body, sig, secret)).toBe(sdkSays(body, sig));
    expect(verifyLinearSignature(fresh, sign(fresh), secret)).toBe(true);
  });

  it('names the issue of Issue and Comment events and flags label events', () => {
    expect(linearWebhookHint({ type: 'Issue', action: 'update', data: { id: 'i-1' } })).toEqual({ relevant: true, externalIds: ['i-1'] });
    expect(linearWebhookHint({ type: 'Issue', action: 'remove', data: { id: 'i-2' } })).toEqual({ relevant: true, externalIds: ['i-2'] });
    expect(linearWebhookHint({ type: 'Comment', action: 'create', data: { id: 'c-1', issueId: 'i-3', issue: { id: 'i-3' } } })).toEqual({ relevant: true, externalIds: ['i-3'] });
    expect(linearWebhookHint({ type: 'IssueLabel', action: 'update', data: { id: 'l-1', name: 'bug' } })).toEqual({ relevant: true, externalIds: [] });
  });

  it('ignores other events and payloads that are not Linear deliveries', () => {
    for (const p of [{ type: 'Project', action: 'update', data: { id: 'p-1' } }, { type: 'Cycle', data: {} }, null, 'Issue', [], { data: { id: 'x' } }]) {
      expect(linearWebhookHint(p)).toEqual({ relevant: false, externalIds: [] });
    }
  });
});
