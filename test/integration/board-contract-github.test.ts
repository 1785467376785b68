import { createHmac } from 'node:crypto';
import { schema as octokitSchema } from '@octokit/graphql-schema';
import { buildClientSchema, buildSchema, parse, validate, Kind, type GraphQLSchema, type IntrospectionQuery, type OperationDefinitionNode } from 'graphql';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KanbanErrorCode } from '../../src/common/errors';
import * as documents from '../../src/modules/kanban/github/github.documents';
import { githubWebhookHint, verifyGitHubSignature } from '../../src/modules/kanban/github/github-webhook';
import { GitHubProvider, githubRateLimitedBody, type GitHubProviderOptions } from '../../src/modules/kanban/github/github.provider';
import { BoardHttp } from '../../src/modules/kanban/http/board-http';
import { graphqlRequest } from '../../src/modules/kanban/http/graphql';
import { KanbanError } from '../../src/modules/kanban/kanban-error';
import { boardProviderContract } from '../support/board-contract';
import { githubSubsetSchema, startFakeGitHub, type FakeGitHub, type FakeGitHubOptions } from '../support/fakes/fake-github';

function httpFor(fake: FakeGitHub, extra: Partial<ConstructorParameters<typeof BoardHttp>[0]> = {}): BoardHttp {
  return new BoardHttp({ provider: 'github', baseUrl: fake.url, retryBaseMs: 5, rateLimitedBody: githubRateLimitedBody, ...extra });
}

function providerFor(fake: FakeGitHub, over: Partial<GitHubProviderOptions> = {}): GitHubProvider {
  return new GitHubProvider({
    http: httpFor(fake),
    token: fake.token,
    owner: fake.owner,
    repo: fake.repo,
    projectNumber: fake.projectNumber,
    ownerType: 'organization',
    ...over,
  });
}

async function failure(op: Promise<unknown>): Promise<KanbanError> {
  const err = await op.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KanbanError);
  return err as KanbanError;
}

boardProviderContract('github (fake API)', async () => {
  const fake = await startFakeGitHub();
  return { provider: providerFor(fake), assignee: 'alice', otherAssignee: 'bob', cleanup: () => fake.close() };
});

describe('GitHub GraphQL documents', () => {
  let sdlSchema: GraphQLSchema;
  let jsonSchema: GraphQLSchema;
  const docs = Object.entries(documents) as [string, string][];

  beforeAll(() => {
    // The published SDL defines two EnterpriseOwnerInfo fields twice, which plain buildSchema refuses.
    sdlSchema = buildSchema(octokitSchema.idl, { assumeValidSDL: true });
    jsonSchema = buildClientSchema(octokitSchema.json as unknown as IntrospectionQuery);
  });

  it('exports only documents with exactly one named operation each, names unique', () => {
    expect(docs.length).toBeGreaterThanOrEqual(20);
    const names = docs.map(([key, doc]) => {
      const ops = parse(doc).definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
      expect(ops, key).toHaveLength(1);
      expect(ops[0].name?.value, key).toMatch(/^PmAgent[A-Z]\w+$/);
      return ops[0].name!.value;
    });
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(docs)('%s validates against the published GitHub schema (SDL and introspection)', (_key, doc) => {
    expect(validate(sdlSchema, parse(doc)).map((e) => e.message)).toEqual([]);
    expect(validate(jsonSchema, parse(doc)).map((e) => e.message)).toEqual([]);
  });

  it.each(docs)('%s is served by the fake (its schema subset covers the document)', (_key, doc) => {
    expect(validate(githubSubsetSchema(), parse(doc)).map((e) => e.message)).toEqual([]);
  });

  it('a misspelt field fails validation against the published schema and at the fake', async () => {
    const misspelt = documents.ISSUE_REF_QUERY.replace(/\bnumber\b/, 'numbr');
    expect(misspelt).not.toBe(documents.ISSUE_REF_QUERY);
    for (const schema of [sdlSchema, jsonSchema]) {
      const errors = validate(schema, parse(misspelt));
      expect(errors.map((e) => e.message)).toEqual([expect.stringContaining('"numbr"')]);
    }
    const fake = await startFakeGitHub();
    try {
      const res = await fetch(`${fake.url}/graphql`, {
        method: 'POST',
        headers: { authorization: `bearer ${fake.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ query: misspelt, variables: { id: 'x' } }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { data?: unknown; errors: { message: string; extensions: { code: string } }[] };
      expect(body.data).toBeUndefined();
      expect(body.errors).toEqual([expect.objectContaining({ message: "Field 'numbr' doesn't exist on type 'Issue'", extensions: expect.objectContaining({ code: 'undefinedField' }) })]);
    } finally {
      await fake.close();
    }
  });
});

describe('GitHub provider against the fake, beyond the contract', () => {
  let fake: FakeGitHub;
  let p: GitHubProvider;

  beforeAll(async () => {
    fake = await startFakeGitHub();
    p = providerFor(fake);
  });
  afterAll(async () => {
    await p.close();
    await fake.close();
  });

  it('looks the repository, project and Status field up once', async () => {
    const t = await p.createTask({ name: 'cached' });
    await p.moveTask({ externalId: t.externalId, status: 'in_progress' });
    await p.listTasks();
    await p.getTask({ externalId: t.externalId });
    expect(fake.count('PmAgentOrganizationBoard')).toBe(1);
  });

  it('sends the token as a bearer Authorization header with a User-Agent, and names each operation', async () => {
    const before = fake.requests.length;
    await p.listTasks();
    const sent = fake.requests.slice(before);
    expect(sent.length).toBeGreaterThan(0);
    for (const r of sent) {
      expect(r).toMatchObject({ method: 'POST', path: '/graphql', status: 200, authScheme: 'bearer', userAgent: 'pm-agent' });
      expect(r.operation).toMatch(/^PmAgent/);
    }
  });

  it('lists only open-or-closed issues of the repository on the project, paging items and labels', async () => {
    const draft = fake.seedDraft('an idea, not an issue');
    const foreign = fake.seedIssue({ title: 'elsewhere', repo: 'other' });
    const off = fake.seedIssue({ title: 'not on the board', inProject: false });
    const archived = fake.seedIssue({ title: 'archived', archived: true });
    const labels = Array.from({ length: 13 }, (_, i) => `area-${i}`);
    const many = fake.seedIssue({ title: 'many labels', labels: [...labels, 'priority: low'] });
    for (let i = 0; i < 10; i++) fake.seedIssue({ title: `filler ${i}` });
    const before = fake.count('PmAgentProjectItems');

    const tasks = await p.listTasks();
    const ids = tasks.map((t) => t.externalId);
    expect(ids).toContain(many.id);
    for (const gone of [foreign.id, off.id, archived.id, draft]) expect(ids).not.toContain(gone);
    const t = tasks.find((x) => x.externalId === many.id)!;
    expect(t.labels).toEqual([...labels, 'priority: low']);
    expect(t.priority).toBe('low');
    expect(t.ref).toBe(`#${many.number}`);
    // the fake pages at 10: the items and the 14 labels each took more than one page
    expect(fake.count('PmAgentProjectItems') - before).toBeGreaterThan(1);
    expect(fake.count('PmAgentIssueLabels')).toBeGreaterThan(0);

    expect(await p.getTask({ externalId: foreign.id })).toBeNull();
    expect(await p.getTask({ externalId: off.id })).toBeNull();
    expect(await p.getTask({ externalId: archived.id })).toBeNull();
    expect(await p.getTask({ externalId: draft })).toBeNull();
    const err = await failure(p.addComment({ externalId: off.id, body: 'x' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
    expect(fake.issue(off.id)!.comments).toEqual([]);
  });

  it('reads a closed issue as done whatever Status says; done closes the issue, leaving done reopens it', async () => {
    const seeded = fake.seedIssue({ title: 'closed elsewhere', status: 'In Progress' });
    fake.setIssueState(seeded.id, 'CLOSED');
    expect((await p.getTask({ externalId: seeded.id }))!.status).toBe('done');

    await p.moveTask({ externalId: seeded.id, status: 'blocked' });
    expect(fake.issue(seeded.id)).toMatchObject({ state: 'OPEN', status: 'Blocked' });
    await p.moveTask({ externalId: seeded.id, status: 'done' });
    expect(fake.issue(seeded.id)).toMatchObject({ state: 'CLOSED', status: 'Done' });

    const created = await p.createTask({ name: 'born done', status: 'done' });
    expect(created.status).toBe('done');
    expect(fake.issue(created.externalId)).toMatchObject({ state: 'CLOSED', status: 'Done' });
  });

  it('writes priority as a label, the checklist into the body and dependencies as "Depends on: #n"', async () => {
    const a = await p.createTask({ name: 'a' });
    const b = await p.createTask({ name: 'b' });
    const c = await p.createTask({ name: 'c', description: 'Intro.', priority: 'urgent', checklist: [{ text: 'one', done: true }], dependencies: [a.externalId, b.externalId] });
    const stored = fake.issue(c.externalId)!;
    expect(stored.labels).toEqual(['priority/urgent']);
    expect(stored.body).toBe(`Intro.\n\n### Checklist\n- [x] one\n\nDepends on: ${a.ref}, ${b.ref}`);
    expect(c.dependencies).toEqual([a.externalId, b.externalId]);

    const missing = await failure(p.createTask({ name: 'waits for nothing real', dependencies: [`${a.externalId.slice(0, -4)}zzzz`] }));
    expect(missing.code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
  });

  it('reads checklists and dependencies from bodies edited on github.com (CRLF, refs to unknown issues)', async () => {
    const dep = fake.seedIssue({ title: 'dep' });
    const off = fake.seedIssue({ title: 'dep, not on the board', inProject: false });
    const body = `Steps:\r\n- [ ] first\r\n- [x] second\r\n\r\nDepends on: #${dep.number}, #9999, other/repo#1, ${fake.owner}/${fake.repo}#${off.number}\r\n`;
    const t = fake.seedIssue({ title: 'hand written', body });
    const task = (await p.getTask({ externalId: t.id }))!;
    expect(task.checklist).toEqual([
      { text: 'first', done: false },
      { text: 'second', done: true },
    ]);
    expect(task.dependencies).toEqual([dep.id, off.id]);
    expect(task.description).not.toContain('\r');
    // resolved numbers are cached, and so (for a while) is #9999 naming nothing
    const lookups = fake.count('PmAgentIssueByNumber');
    expect((await p.getTask({ externalId: t.id }))!.dependencies).toEqual([dep.id, off.id]);
    expect(fake.count('PmAgentIssueByNumber')).toBe(lookups);

    await p.setChecklist({ externalId: t.id, items: [{ text: 'first', done: true }] });
    expect(fake.issue(t.id)!.body).toBe(`Steps:\n- [x] first\n\nDepends on: #${dep.number}, #9999, other/repo#1, ${fake.owner}/${fake.repo}#${off.number}\n`);
  });

  it('pages comments', async () => {
    const t = await p.createTask({ name: 'chatty' });
    for (let i = 0; i < 12; i++) await p.addComment({ externalId: t.externalId, body: `c${i}` });
    const before = fake.count('PmAgentIssueComments');
    expect((await p.listComments({ externalId: t.externalId })).map((c) => c.body)).toEqual(Array.from({ length: 12 }, (_, i) => `c${i}`));
    expect(fake.count('PmAgentIssueComments') - before).toBe(2);
  });

  it('refuses an assignee GitHub does not know, and keeps one assignee when several were set on github.com', async () => {
    const t = fake.seedIssue({ title: 'crowded', assignees: ['carol', 'alice'] });
    const err = await failure(p.assign({ externalId: t.id, assignee: 'nobody-here' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_REJECTED);
    expect(fake.issue(t.id)!.assignees).toEqual(['carol', 'alice']);
    await p.assign({ externalId: t.id, assignee: 'alice' });
    expect(fake.issue(t.id)!.assignees).toEqual(['alice']);
  });

  it('refuses a status the project has no option for, before creating anything', async () => {
    const small = await startFakeGitHub({ statusOptions: ['Todo', 'Done'] });
    const q = providerFor(small);
    try {
      const err = await failure(q.createTask({ name: 'x', status: 'blocked' }));
      expect(err.code).toBe(KanbanErrorCode.BOARD_REJECTED);
      expect(small.count('PmAgentCreateIssue')).toBe(0);
      const t = await q.createTask({ name: 'y' });
      expect((await failure(q.moveTask({ externalId: t.externalId, status: 'in_progress' }))).code).toBe(KanbanErrorCode.BOARD_REJECTED);
    } finally {
      await q.close();
      await small.close();
    }
  });
});

describe('GitHub provider: owners, configuration and HTTP failures', () => {
  const fakes: FakeGitHub[] = [];
  const providers: GitHubProvider[] = [];
  const setup = async (opts: FakeGitHubOptions = {}, over: Partial<GitHubProviderOptions> = {}, http: Partial<ConstructorParameters<typeof BoardHttp>[0]> = {}) => {
    const fake = await startFakeGitHub(opts);
    const provider = providerFor(fake, { http: httpFor(fake, http), ...over });
    fakes.push(fake);
    providers.push(provider);
    return { fake, provider };
  };
  afterEach(async () => {
    for (const p of providers.splice(0)) await p.close();
    for (const f of fakes.splice(0)) await f.close();
  });

  it('works with a user-owned project and a custom Status field name on a GitHub Enterprise-style path', async () => {
    const { fake, provider } = await setup({ ownerType: 'user', owner: 'octo', statusField: 'Stage', path: '/api/graphql' }, { ownerType: 'user', statusField: 'Stage', graphqlPath: '/api/graphql' });
    const t = await provider.createTask({ name: 'mine', status: 'in_progress' });
    expect(fake.issue(t.externalId)!.status).toBe('In Progress');
    expect((await provider.listTasks()).map((x) => x.externalId)).toEqual([t.externalId]);
    expect(fake.count('PmAgentUserBoard')).toBe(1);
  });

  it('reports a missing project as BOARD_NOT_CONFIGURED, and looks again on the next call', async () => {
    const { fake, provider } = await setup({}, { projectNumber: 42 });
    expect((await failure(provider.listTasks())).code).toBe(KanbanErrorCode.BOARD_NOT_CONFIGURED);
    expect((await failure(provider.listTasks())).code).toBe(KanbanErrorCode.BOARD_NOT_CONFIGURED);
    expect(fake.count('PmAgentOrganizationBoard')).toBe(2);
  });

  it('reports a project without the Status field as BOARD_NOT_CONFIGURED', async () => {
    const { provider } = await setup({}, { statusField: 'Column' });
    expect((await failure(provider.listTasks())).code).toBe(KanbanErrorCode.BOARD_NOT_CONFIGURED);
  });

  it('waits for x-ratelimit-reset on a rate-limited answer, then succeeds', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks(); // board lookups out of the way
    fake.rateLimitNext(1, { resetInMs: 1000 });
    const start = fake.requests.length;
    const t = await provider.createTask({ name: 'after the limit' });
    expect(t.name).toBe('after the limit');
    const [limited, retried] = fake.requests.slice(start);
    expect(limited).toMatchObject({ status: 403, operation: 'PmAgentCreateIssue' });
    expect(retried).toMatchObject({ status: 200, operation: 'PmAgentCreateIssue' });
    // reset is whole epoch seconds at least 1 s ahead: the retry came after it, not on backoff
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(980);
    expect(retried.at - limited.at).toBeLessThan(5000);
    expect(fake.count('PmAgentCreateIssue')).toBe(2);
  });

  it('honours retry-after on a 429 and retries a 403 secondary limit that names no wait', async () => {
    const { fake, provider } = await setup();
    fake.rateLimitNext(1, { status: 429, retryAfterSeconds: 1, resetHeaders: false });
    await provider.listTasks();
    const [limited, retried] = fake.requests;
    expect(limited.status).toBe(429);
    expect(retried.at - limited.at).toBeGreaterThanOrEqual(980);
    // 403 without retry-after or remaining 0: only the body says "secondary rate limit" (githubRateLimitedBody)
    fake.rateLimitNext(1, { resetHeaders: false });
    await expect(provider.listTasks()).resolves.toEqual([]);
    expect(fake.requests.filter((r) => r.status === 403)).toHaveLength(1);
    expect(fake.requests.at(-1)!.status).toBe(200);
  });

  it('surfaces an exhausted GraphQL budget (HTTP 200, RATE_LIMITED) as BOARD_RATE_LIMITED', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks();
    fake.rateLimitNext(1, { kind: 'primary', resetInMs: 3_600_000 });
    const err = await failure(provider.createTask({ name: 'too much' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_RATE_LIMITED);
    expect(fake.count('PmAgentCreateIssue')).toBe(1);
  });

  it('surfaces a 401 as BOARD_AUTH_FAILED without the token in the message', async () => {
    const { fake } = await setup();
    const wrong = 'fake-wrong-github-token-must-not-leak';
    const provider = providerFor(fake, { token: wrong });
    providers.push(provider);
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
    expect(fake.requests.at(-1)!.status).toBe(401);
    for (const secret of [wrong, fake.token]) {
      expect(err.message).not.toContain(secret);
      expect(JSON.stringify(err.details)).not.toContain(secret);
    }
  });

  it('answers 401 "Bad credentials" / "requires authentication" like GitHub', async () => {
    const { fake } = await setup();
    const post = (headers: Record<string, string>) =>
      fetch(`${fake.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query: '{ node(id: "x") { id } }' }) });
    const wrong = await post({ authorization: 'bearer nope' });
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ message: 'Bad credentials' });
    const none = await post({});
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ message: 'This endpoint requires you to be authenticated.' });
    // GitHub refuses a request without a User-Agent before looking at the token: BoardHttp always sends one.
    const bare = httpFor(fake);
    try {
      const err = await failure(graphqlRequest(bare, { path: '/graphql', query: documents.USER_QUERY, variables: { login: 'alice' } }));
      expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
      expect(fake.requests.at(-1)).toMatchObject({ status: 401, userAgent: 'pm-agent', operation: 'PmAgentUser' });
    } finally {
      await bare.close();
    }
  });

  it('retries a 502 and reports a board that stays down as BOARD_UNAVAILABLE', async () => {
    const { fake, provider } = await setup();
    fake.failNext(1, 502);
    await provider.listTasks();
    expect(fake.requests[0].status).toBe(502);
    fake.setDown(true);
    expect((await failure(provider.listTasks())).code).toBe(KanbanErrorCode.BOARD_UNAVAILABLE);
    fake.setDown(false);
    await expect(provider.listTasks()).resolves.toEqual([]);
  });
});

describe('GitHub webhooks', () => {
  const secret = "It's a Secret to Everybody";
  const body = Buffer.from(JSON.stringify({ action: 'opened', issue: { node_id: 'I_kwDOabc', number: 1, title: 'Hello, World! 🎉' } }));
  const sign = (b: Buffer, s = secret) => `sha256=${createHmac('sha256', s).update(b).digest('hex')}`;

  it('accepts a valid signature', () => {
    expect(verifyGitHubSignature(body, sign(body), secret)).toBe(true);
  });

  it('matches the example in GitHub’s documentation', () => {
    // https://docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    const header = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
    expect(verifyGitHubSignature(Buffer.from('Hello, World!'), header, secret)).toBe(true);
  });

  it('rejects a wrong secret, a tampered body and an empty secret', () => {
    expect(verifyGitHubSignature(body, sign(body, 'another secret'), secret)).toBe(false);
    const tampered = Buffer.from(body.toString().replace('opened', 'closed'));
    expect(verifyGitHubSignature(tampered, sign(body), secret)).toBe(false);
    expect(verifyGitHubSignature(body, sign(body, ''), '')).toBe(false);
  });

  it('rejects malformed and missing headers', () => {
    const hex = sign(body).slice('sha256='.length);
    for (const header of [undefined, '', hex, `sha1=${hex}`, `sha256=${hex.slice(0, -2)}`, `sha256=${hex}00`, `sha256=${hex.slice(0, -1)}g`, 'sha256=', `sha256= ${hex}`]) {
      expect(verifyGitHubSignature(body, header, secret), String(header)).toBe(false);
    }
  });

  it('hints which issues a delivery concerns', () => {
    expect(githubWebhookHint('issues', { action: 'closed', issue: { node_id: 'I_1' } })).toEqual({ relevant: true, externalIds: ['I_1'] });
    expect(githubWebhookHint('issue_comment', { action: 'created', issue: { node_id: 'I_2' }, comment: { body: 'hi' } })).toEqual({ relevant: true, externalIds: ['I_2'] });
    expect(githubWebhookHint('issue_comment', { action: 'created', issue: { node_id: 'PR_1', pull_request: { url: 'x' } } })).toEqual({ relevant: false, externalIds: [] });
    expect(githubWebhookHint('projects_v2_item', { action: 'edited', projects_v2_item: { content_type: 'Issue', content_node_id: 'I_3' } })).toEqual({ relevant: true, externalIds: ['I_3'] });
    expect(githubWebhookHint('projects_v2_item', { action: 'edited', projects_v2_item: { content_type: 'DraftIssue', content_node_id: 'DI_1' } })).toEqual({ relevant: false, externalIds: [] });
    expect(githubWebhookHint('projects_v2_item', { action: 'reordered', projects_v2_item: { content_type: 'Issue', content_node_id: 'I_3' } })).toEqual({ relevant: false, externalIds: [] });
    expect(githubWebhookHint('push', { ref: 'refs/heads/main' })).toEqual({ relevant: false, externalIds: [] });
    expect(githubWebhookHint('issues', null)).toEqual({ relevant: false, externalIds: [] });
    expect(githubWebhookHint('issues', { issue: { number: 1 } })).toEqual({ relevant: false, externalIds: [] });
  });
});
