import { afterEach, describe, expect, it } from 'vitest';
import { KanbanErrorCode } from '../../src/common/errors';
import type { StatusMap } from '../../src/modules/kanban/board-mapping';
import { BoardHttp } from '../../src/modules/kanban/http/board-http';
import { KanbanError } from '../../src/modules/kanban/kanban-error';
import { PlankaProvider, type PlankaCredentials } from '../../src/modules/kanban/planka/planka.provider';
import { PLANKA_LABEL_COLORS } from '../../src/modules/kanban/planka/planka.types';
import { boardProviderContract } from '../support/board-contract';
import { startFakePlanka, type FakePlanka, type FakePlankaOptions } from '../support/fakes/fake-planka';

boardProviderContract('planka (fake API)', async () => {
  const fake = await startFakePlanka();
  const http = new BoardHttp({ provider: 'planka', baseUrl: fake.url, retryBaseMs: 1 });
  const provider = new PlankaProvider({ http, boardId: fake.boardId, credentials: { username: fake.apiUser.username, password: fake.apiUser.password } });
  return { provider, assignee: 'alice', otherAssignee: 'bob', cleanup: () => fake.close() };
});

interface Setup {
  fake: FakePlanka;
  provider: PlankaProvider;
  /** Delays BoardHttp asked to wait (it never really sleeps here). */
  sleeps: number[];
}

const open: Setup[] = [];
afterEach(async () => {
  for (const s of open.splice(0)) {
    await s.provider.close();
    await s.fake.close();
  }
});

async function setup(o: { fake?: FakePlankaOptions; statusMap?: StatusMap; credentials?: (f: FakePlanka) => PlankaCredentials; maxRateLimitWaitMs?: number; boardId?: string } = {}): Promise<Setup> {
  const fake = await startFakePlanka(o.fake);
  const sleeps: number[] = [];
  const http = new BoardHttp({
    provider: 'planka',
    baseUrl: fake.url,
    maxRetries: 2,
    maxRateLimitWaitMs: o.maxRateLimitWaitMs,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  const credentials = o.credentials?.(fake) ?? { username: fake.apiUser.username, password: fake.apiUser.password };
  const provider = new PlankaProvider({ http, boardId: o.boardId ?? fake.boardId, credentials, statusMap: o.statusMap });
  const s = { fake, provider, sleeps };
  open.push(s);
  return s;
}

async function failure(op: Promise<unknown>): Promise<KanbanError> {
  const err = await op.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(KanbanError);
  return err as KanbanError;
}

const LOGIN = '/api/access-tokens';

describe('PlankaProvider: authentication', () => {
  it('logs in once with username and password, then sends the token as a bearer', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks();
    const t = await provider.createTask({ name: 'First' });
    await provider.getTask({ externalId: t.externalId });
    const logins = fake.calls('POST', LOGIN);
    expect(logins).toHaveLength(1);
    expect(logins[0].body).toEqual({ emailOrUsername: 'pm_agent', password: '***' });
    expect(logins[0].status).toBe(200);
    const rest = fake.requests.filter((r) => r.path !== LOGIN);
    expect(rest.length).toBeGreaterThanOrEqual(3);
    for (const r of rest) expect(r.userId).toBe(fake.apiUser.id);
  });

  it('logs in again once when the session was revoked (401), and repeats the call', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks();
    fake.revokeTokens();
    const before = fake.requests.length;
    const created = await provider.createTask({ name: 'After revoke' });
    expect(fake.listOf(created.externalId)).toBe('To Do');
    const seq = fake.requests.slice(before, before + 3).map((r) => `${r.method} ${r.path} ${r.status}`);
    expect(seq).toEqual([`GET /api/boards/${fake.boardId} 401`, `POST ${LOGIN} 200`, `GET /api/boards/${fake.boardId} 200`]);
    expect(fake.calls('POST', LOGIN)).toHaveLength(2);
  });

  it('shares one new login between concurrent calls that all hit the revoked token', async () => {
    const { fake, provider } = await setup();
    const t = await provider.createTask({ name: 'Shared' });
    fake.revokeTokens();
    const got = await Promise.all(Array.from({ length: 6 }, () => provider.getTask({ externalId: t.externalId })));
    for (const g of got) expect(g?.name).toBe('Shared');
    expect(fake.calls('POST', LOGIN)).toHaveLength(2);
  });

  it('fails with BOARD_AUTH_FAILED on a wrong password, once, without showing the password', async () => {
    const { fake, provider } = await setup({ credentials: (f) => ({ username: f.apiUser.username, password: 'not-the-password-123' }) });
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
    expect(err.message).not.toContain('not-the-password-123');
    expect(JSON.stringify(err.details)).not.toContain('not-the-password-123');
    expect(fake.calls('POST', LOGIN)).toHaveLength(1);
    expect(fake.requests.filter((r) => r.path !== LOGIN)).toHaveLength(0);
  });

  it('logs in only once more when the new login is refused too (password changed meanwhile)', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks();
    fake.revokeTokens();
    fake.apiUser.password = 'rotated-elsewhere';
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
    expect(fake.calls('POST', LOGIN)).toHaveLength(2);
    expect(fake.calls('GET', `/api/boards/${fake.boardId}`).map((r) => r.status)).toEqual([200, 401]);
  });

  it('uses a static token as is and never tries to log in, even when it is refused', async () => {
    let token = '';
    const { fake, provider } = await setup({ credentials: (f) => ({ token: (token = f.issueToken()) }) });
    expect(await provider.listTasks()).toEqual([]);
    fake.revokeTokens();
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_AUTH_FAILED);
    expect(err.message).not.toContain(token);
    expect(fake.calls('POST', LOGIN)).toHaveLength(0);
  });
});

describe('PlankaProvider: retries and rate limits', () => {
  it('retries a 503 once and then succeeds', async () => {
    const { fake, provider, sleeps } = await setup();
    const t = await provider.createTask({ name: 'Survives a blip' });
    fake.failNext(1, 503);
    const before = fake.calls('GET', `/api/boards/${fake.boardId}`).length;
    const listed = await provider.listTasks();
    expect(listed.map((x) => x.externalId)).toEqual([t.externalId]);
    expect(fake.calls('GET', `/api/boards/${fake.boardId}`).map((r) => r.status).slice(before)).toEqual([503, 200]);
    expect(sleeps).toHaveLength(1);
  });

  it('reports BOARD_UNAVAILABLE while Planka is down and works again once it is back', async () => {
    const { fake, provider } = await setup();
    await provider.listTasks();
    fake.setDown(true);
    const before = fake.requests.length;
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_UNAVAILABLE);
    expect(err.transient).toBe(true);
    expect(fake.requests.slice(before).map((r) => r.status)).toEqual([503, 503, 503]); // first try + maxRetries 2
    fake.setDown(false);
    expect(await provider.listTasks()).toEqual([]);
  });

  it('waits as long as the proxy says (Retry-After) and then succeeds', async () => {
    const { fake, provider, sleeps } = await setup();
    await provider.listTasks();
    fake.rateLimitNext(1, 2);
    await provider.createTask({ name: 'Throttled' });
    expect(sleeps).toEqual([2000]);
    expect(fake.requests.filter((r) => r.status === 429)).toHaveLength(1);
  });

  it('gives up with BOARD_RATE_LIMITED (and the wait) when asked to wait too long', async () => {
    const { fake, provider, sleeps } = await setup({ maxRateLimitWaitMs: 5000 });
    await provider.listTasks();
    fake.rateLimitNext(1, 60);
    const err = await failure(provider.listTasks());
    expect(err.code).toBe(KanbanErrorCode.BOARD_RATE_LIMITED);
    expect(err.details.retryAfterMs).toBe(60_000);
    expect(sleeps).toEqual([]);
  });

  it('answers BOARD_NOT_FOUND for a board that does not exist', async () => {
    const { provider } = await setup({ boardId: '1357158568008099999' });
    expect((await failure(provider.listTasks())).code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
  });
});

describe('PlankaProvider: lists and statuses', () => {
  const lists = ['Backlog', 'To Do', 'In Progress', 'Review', 'Blocked', 'QA hold', 'Done'];
  const statusMap: StatusMap = { review: 'in_progress', 'QA Hold': 'blocked' };

  it('reads the status from the list name, custom names through the status map', async () => {
    const { fake, provider } = await setup({ fake: { lists }, statusMap });
    const ids = Object.fromEntries(lists.map((l) => [l, fake.seedCard({ name: `in ${l}`, list: l }).id]));
    const byId = new Map((await provider.listTasks()).map((t) => [t.externalId, t.status]));
    expect(Object.fromEntries(lists.map((l) => [l, byId.get(ids[l])]))).toEqual({
      Backlog: 'todo',
      'To Do': 'todo',
      'In Progress': 'in_progress',
      Review: 'in_progress',
      Blocked: 'blocked',
      'QA hold': 'blocked',
      Done: 'done',
    });
  });

  it('moves cards to the list the status map names first, To Do before Backlog, at the bottom', async () => {
    const { fake, provider } = await setup({ fake: { lists }, statusMap });
    const waiting = fake.seedCard({ name: 'already in review', list: 'Review' });
    const t = await provider.createTask({ name: 'New' });
    expect(fake.listOf(t.externalId)).toBe('To Do');
    await provider.moveTask({ externalId: t.externalId, status: 'in_progress' });
    expect(fake.listOf(t.externalId)).toBe('Review');
    expect(fake.cards.get(t.externalId)!.position).toBeGreaterThan(waiting.position);
    const patch = fake.calls('PATCH', `/api/cards/${t.externalId}`)[0];
    expect(patch.body).toEqual({ listId: fake.listNamed('Review').id, position: expect.any(Number) });
    await provider.moveTask({ externalId: t.externalId, status: 'blocked' });
    expect(fake.listOf(t.externalId)).toBe('QA hold');
    await provider.moveTask({ externalId: t.externalId, status: 'done' });
    await provider.moveTask({ externalId: t.externalId, status: 'todo' });
    expect(fake.listOf(t.externalId)).toBe('To Do');
    expect((await provider.getTask({ externalId: t.externalId }))!.updatedAt).toBe(fake.cards.get(t.externalId)!.updatedAt);
  });

  it('leaves a card where it is when its list already has the status', async () => {
    const { fake, provider } = await setup({ fake: { lists }, statusMap });
    const c = fake.seedCard({ name: 'Someday', list: 'Backlog' });
    await provider.moveTask({ externalId: c.id, status: 'todo' });
    expect(fake.listOf(c.id)).toBe('Backlog');
    expect(fake.calls('PATCH', /^\/api\/cards\//)).toHaveLength(0);
  });

  it('says BOARD_NOT_CONFIGURED when the board has no list for a status', async () => {
    const { fake, provider } = await setup({ fake: { lists: ['Backlog', 'Done'] } });
    const c = fake.seedCard({ name: 'Stuck', list: 'Backlog' });
    expect((await failure(provider.moveTask({ externalId: c.id, status: 'in_progress' }))).code).toBe(KanbanErrorCode.BOARD_NOT_CONFIGURED);
    expect(fake.listOf(c.id)).toBe('Backlog');
  });
});

describe('PlankaProvider: cards', () => {
  it('reads every comment across pages of actions (beforeId), oldest first, skipping other activity', async () => {
    const { fake, provider } = await setup();
    const t = await provider.createTask({ name: 'Chatty' });
    for (let i = 0; i < 23; i++) {
      await provider.addComment({ externalId: t.externalId, body: `note ${i}\nline two 🚀` });
      if (i === 11) await provider.moveTask({ externalId: t.externalId, status: 'in_progress' });
    }
    const comments = await provider.listComments({ externalId: t.externalId });
    expect(comments.map((c) => c.body)).toEqual(Array.from({ length: 23 }, (_, i) => `note ${i}\nline two 🚀`));
    for (const c of comments) expect(Number.isNaN(Date.parse(c.createdAt))).toBe(false);
    const pages = fake.calls('GET', `/api/cards/${t.externalId}/actions`);
    expect(pages.length).toBeGreaterThanOrEqual(3);
    expect(pages[0].query.beforeId).toBeUndefined();
    for (const p of pages.slice(1)) expect(p.query.beforeId).toMatch(/^\d+$/);
    expect(fake.actionsPageSize).toBeLessThanOrEqual(10);
  });

  it('orders the checklist by task position and rewrites it with as few calls as possible', async () => {
    const { fake, provider } = await setup();
    const c = fake.seedCard({
      name: 'Tasks',
      list: 'To Do',
      tasks: [
        { name: 'third', position: 300000 },
        { name: 'first', position: 1000, isCompleted: true },
        { name: 'second', position: 2000 },
      ],
    });
    expect((await provider.getTask({ externalId: c.id }))!.checklist).toEqual([
      { text: 'first', done: true },
      { text: 'second', done: false },
      { text: 'third', done: false },
    ]);
    const writes = () => fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.replace(/\d+/g, ':id')}`);
    const before = writes().length;
    await provider.setChecklist({ externalId: c.id, items: [{ text: 'first', done: true }] });
    // 'first' keeps its task (only its position moves to Planka's spacing), the other two go.
    expect(writes().slice(before)).toEqual(['PATCH /api/tasks/:id', 'DELETE /api/tasks/:id', 'DELETE /api/tasks/:id']);
    expect((await provider.getTask({ externalId: c.id }))!.checklist).toEqual([{ text: 'first', done: true }]);
    const again = writes().length;
    await provider.setChecklist({ externalId: c.id, items: [{ text: 'first', done: true }] });
    expect(writes()).toHaveLength(again);

    await provider.setChecklist({ externalId: c.id, items: [{ text: 'first', done: false }, { text: 'added', done: false }] });
    expect((await provider.getTask({ externalId: c.id }))!.checklist).toEqual([
      { text: 'first', done: false },
      { text: 'added', done: false },
    ]);
    expect((await failure(provider.setChecklist({ externalId: '1357158568999999999', items: [] }))).code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
  });

  it('resolves dependencies given as #id, bare id or card name, only to other cards on the board', async () => {
    const { fake, provider } = await setup();
    const schema = fake.seedCard({ name: 'Schema', list: 'Done' });
    const api = fake.seedCard({ name: 'API', list: 'In Progress' });
    const ui = fake.seedCard({ name: 'UI', list: 'To Do', description: `Pages.\nDepends on: #${schema.id}, api\nDepends on: UI, Unknown card, 42.` });
    const bare = fake.seedCard({ name: 'Docs', list: 'To Do', description: `Depends on ${api.id}` });
    expect((await provider.getTask({ externalId: ui.id }))!.dependencies).toEqual([schema.id, api.id]);
    expect((await provider.getTask({ externalId: bare.id }))!.dependencies).toEqual([api.id]);

    const made = await provider.createTask({ name: 'Release', description: 'Ship it.', dependencies: [ui.id, bare.id] });
    expect(fake.cards.get(made.externalId)!.description).toBe(`Ship it.\n\nDepends on: ${ui.id}, ${bare.id}`);
    expect(made.dependencies).toEqual([ui.id, bare.id]);
  });

  it('creates cards without an empty description, with priority and labels as board labels', async () => {
    const { fake, provider } = await setup();
    const t = await provider.createTask({ name: 'Plain', priority: 'urgent', labels: ['backend'] });
    expect(fake.calls('POST', /\/cards$/)[0].body).toEqual({ name: 'Plain', position: 65535 });
    expect(t.description).toBe('');
    expect(t.priority).toBe('urgent');
    expect(t.labels).toEqual(['priority/urgent', 'backend']);
    expect(t.ref).toBe('Plain');
    const u = await provider.createTask({ name: 'Second', priority: 'urgent' });
    expect(u.labels).toEqual(['priority/urgent']);
    expect(fake.calls('POST', `/api/boards/${fake.boardId}/labels`)).toHaveLength(2);
    for (const l of fake.labels.values()) expect(PLANKA_LABEL_COLORS).toContain(l.color);
  });

  it('adds an existing board label by name without creating another, and only once per card', async () => {
    const { fake, provider } = await setup();
    const a = await provider.createTask({ name: 'A' });
    const b = await provider.createTask({ name: 'B' });
    await provider.addLabel({ externalId: a.externalId, label: 'blocked-high' });
    await provider.addLabel({ externalId: b.externalId, label: 'blocked-high' });
    await provider.addLabel({ externalId: b.externalId, label: 'blocked-high' });
    expect(fake.calls('POST', `/api/boards/${fake.boardId}/labels`)).toHaveLength(1);
    expect(fake.calls('POST', /^\/api\/cards\/\d+\/labels$/)).toHaveLength(2);
    expect((await provider.getTask({ externalId: b.externalId }))!.labels).toEqual(['blocked-high']);
    expect((await failure(provider.addLabel({ externalId: '1357158568999999999', label: 'x' }))).code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
  });

  it('assigns board users by username or email, reads back the username, refuses strangers', async () => {
    const { fake, provider } = await setup();
    const t = await provider.createTask({ name: 'Who' });
    await provider.assign({ externalId: t.externalId, assignee: 'BOB@example.test' });
    expect((await provider.getTask({ externalId: t.externalId }))!.assignee).toBe('bob');
    await provider.assign({ externalId: t.externalId, assignee: 'alice' });
    const members = [...fake.cardMemberships.values()].filter((m) => m.cardId === t.externalId);
    expect(members.map((m) => m.userId)).toEqual([fake.users[1].id]);
    const err = await failure(provider.assign({ externalId: t.externalId, assignee: 'mallory' }));
    expect(err.code).toBe(KanbanErrorCode.BOARD_REJECTED);
    expect((await provider.getTask({ externalId: t.externalId }))!.assignee).toBe('alice');
  });
});

describe('fake Planka answers like Planka 1.x', () => {
  const call = async (fake: FakePlanka, method: string, path: string, body?: unknown, token?: string) => {
    const res = await fetch(`${fake.url}${path}`, {
      method,
      headers: { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('refuses a missing token, an unknown card, a move without position and an empty description', async () => {
    const { fake } = await setup();
    const token = fake.issueToken();
    expect(await call(fake, 'GET', `/api/boards/${fake.boardId}`)).toEqual({ status: 401, body: { code: 'E_UNAUTHORIZED', message: 'Access token is missing, invalid or expired' } });
    expect(await call(fake, 'POST', '/api/access-tokens', { emailOrUsername: 'alice', password: 'nope' })).toEqual({ status: 401, body: { code: 'E_UNAUTHORIZED', message: 'Invalid credentials' } });
    expect(await call(fake, 'POST', '/api/cards/1/comment-actions', { text: 'x' }, token)).toEqual({ status: 404, body: { code: 'E_NOT_FOUND', message: 'Card not found' } });
    const card = fake.seedCard({ name: 'c', list: 'To Do' });
    expect(await call(fake, 'PATCH', `/api/cards/${card.id}`, { listId: fake.listNamed('Done').id }, token)).toEqual({ status: 422, body: { code: 'E_UNPROCESSABLE_ENTITY', message: 'Position must be present' } });
    const empty = await call(fake, 'POST', `/api/lists/${fake.listNamed('To Do').id}/cards`, { name: 'n', position: 1, description: '' }, token);
    expect(empty.status).toBe(400);
    expect(empty.body.code).toBe('E_MISSING_OR_INVALID_PARAMS');
    const first = await call(fake, 'POST', `/api/boards/${fake.boardId}/labels`, { name: 'l', color: 'berry-red', position: 1 }, token);
    await call(fake, 'POST', `/api/cards/${card.id}/labels`, { labelId: first.body.item.id }, token);
    expect(await call(fake, 'POST', `/api/cards/${card.id}/labels`, { labelId: first.body.item.id }, token)).toEqual({ status: 409, body: { code: 'E_CONFLICT', message: 'Label already in card' } });
    expect((await call(fake, 'POST', `/api/boards/${fake.boardId}/labels`, { name: 'l', color: 'hot-pink', position: 1 }, token)).status).toBe(400);
  });

  it('pages comment actions newest first with beforeId and a 429 carries Retry-After', async () => {
    const { fake } = await setup({ fake: { actionsPageSize: 3 } });
    const token = fake.issueToken();
    const card = fake.seedCard({ name: 'c', list: 'To Do' });
    for (let i = 0; i < 5; i++) await call(fake, 'POST', `/api/cards/${card.id}/comment-actions`, { text: `c${i}` }, token);
    const p1 = await call(fake, 'GET', `/api/cards/${card.id}/actions`, undefined, token);
    expect(p1.body.items.map((a: any) => a.data.text)).toEqual(['c4', 'c3', 'c2']);
    expect(p1.body.items.every((a: any) => a.type === 'commentCard')).toBe(true);
    const p2 = await call(fake, 'GET', `/api/cards/${card.id}/actions?beforeId=${p1.body.items[2].id}`, undefined, token);
    expect(p2.body.items.map((a: any) => a.data.text)).toEqual(['c1', 'c0']);
    const details = await call(fake, 'GET', `/api/cards/${card.id}/actions?withDetails=true&beforeId=${p1.body.items[2].id}`, undefined, token);
    expect(details.body.items.map((a: any) => a.type)).toEqual(['commentCard', 'commentCard', 'createCard']);
    fake.rateLimitNext(1, 7);
    const limited = await fetch(`${fake.url}/api/boards/${fake.boardId}`, { headers: { authorization: `Bearer ${token}` } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('7');
    await limited.text();
  });
});
