import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A FAKE of the Planka 1.x REST API, for tests only. It is not Planka and never talks to one: a
 * node:http server on 127.0.0.1 holding one project board in memory, answering the endpoints
 * pm-agent's PlankaProvider uses with the request and response shapes of Planka 1.x (the Sails
 * actions in server/api/controllers and the route table in server/config/routes.js of
 * https://github.com/plankanban/planka, v1 branch; API reference https://docs.planka.cloud/):
 *
 *   POST   /api/access-tokens                 {emailOrUsername, password} -> {item: "<token>"};
 *                                             401 E_UNAUTHORIZED "Invalid credentials"
 *   GET    /api/boards/:id                    {item: board, included: {users, boardMemberships, labels,
 *                                             lists, cards, cardMemberships, cardLabels, tasks,
 *                                             attachments, projects}}: the whole board, NOT paged (as in Planka)
 *   POST   /api/boards/:boardId/labels        {name, color, position} (color from Label.COLORS)
 *   POST   /api/lists/:listId/cards           {name, position, description?} -> {item: card}
 *   GET    /api/cards/:id                     {item: card, included: {cardMemberships, cardLabels, tasks, attachments}}
 *   PATCH  /api/cards/:id                     {listId, position, name, description}; a listId without a
 *                                             position is 422 "Position must be present"
 *   POST   /api/cards/:cardId/comment-actions {text} -> {item: action (type commentCard, data.text)}
 *   GET    /api/cards/:cardId/actions         ?beforeId=&withDetails= -> {items, included: {users}}: newest
 *                                             first, ids below beforeId; Planka pages 50 at a time, this
 *                                             fake `actionsPageSize` (10 by default, for the contract suite)
 *   POST   /api/cards/:cardId/tasks           {name, position, isCompleted}
 *   PATCH  /api/tasks/:id                     {name, position, isCompleted}
 *   DELETE /api/tasks/:id
 *   POST   /api/cards/:cardId/labels          {labelId}; 409 E_CONFLICT "Label already in card"
 *   POST   /api/cards/:cardId/memberships     {userId}; 409 "User already card member", 404 "User not found"
 *                                             for someone who is not a board member
 *   DELETE /api/cards/:cardId/memberships     ?userId=; 404 "User not card member"
 *
 * Every route but the login wants `Authorization: Bearer <token>` of a live session and answers
 * 401 {code: "E_UNAUTHORIZED", message: "Access token is missing, invalid or expired"} otherwise.
 * Errors have Planka's shape {code, message} (E_NOT_FOUND, E_CONFLICT, E_UNPROCESSABLE_ENTITY, and
 * Sails' 400 E_MISSING_OR_INVALID_PARAMS with `problems`). Ids are numeric strings, created in
 * increasing order like Planka's snowflake ids; `updatedAt` stays null until a record changes.
 *
 * Test controls: `setDown(true)` answers 503 to everything, `failNext(n, status)` fails the next n
 * requests, `rateLimitNext(n)` answers the next n with a rate limit. Planka 1.x has no rate
 * limiter of its own; deployments throttle at their reverse proxy, so the answer is Traefik's
 * RateLimit middleware one: 429 "Too Many Requests" with `Retry-After` (seconds) and `X-Retry-In`.
 * `revokeTokens()` ends every session (as a password change or logout elsewhere does), and
 * `requests` logs method, path and query of every request (login passwords redacted).
 */

export interface FakePlankaUser {
  id: string;
  username: string;
  email: string;
  name: string;
  password: string;
}

export interface FakePlankaOptions {
  /** List names, left to right (default Backlog, To Do, In Progress, Blocked, Done). */
  lists?: string[];
  /** Actions per page of GET /api/cards/:cardId/actions (Planka: 50). */
  actionsPageSize?: number;
}

export interface FakePlankaRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: any;
  /** The user the bearer token belonged to, if it was live. */
  userId?: string;
  status?: number;
}

interface Rec {
  id: string;
  createdAt: string;
  updatedAt: string | null;
}
type Card = Rec & {
  position: number;
  name: string;
  description: string | null;
  dueDate: string | null;
  isDueDateCompleted: boolean | null;
  stopwatch: unknown;
  boardId: string;
  listId: string;
  creatorUserId: string;
  coverAttachmentId: string | null;
};
type List = Rec & { position: number; name: string; boardId: string };
type Label = Rec & { position: number; name: string | null; color: string; boardId: string };
type CardLabel = Rec & { cardId: string; labelId: string };
type CardMembership = Rec & { cardId: string; userId: string };
type Task = Rec & { position: number; name: string; isCompleted: boolean; cardId: string };
type Action = Rec & { type: string; data: Record<string, unknown>; cardId: string; userId: string };

const LABEL_COLORS = [
  'berry-red', 'pumpkin-orange', 'lagoon-blue', 'pink-tulip', 'light-mud', 'orange-peel', 'bright-moss', 'antique-blue', 'dark-granite', 'lagune-blue',
  'sunny-grass', 'morning-sky', 'light-orange', 'midnight-blue', 'tank-green', 'gun-metal', 'wet-moss', 'red-burgundy', 'light-concrete', 'apricot-red',
  'desert-sand', 'navy-blue', 'egg-yellow', 'coral-green', 'light-cocoa',
];

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: { code: string; message?: string; problems?: string[] },
  ) {
    super(body.message ?? String(status));
  }
}

const notFound = (message: string) => new HttpError(404, { code: 'E_NOT_FOUND', message });
const conflict = (message: string) => new HttpError(409, { code: 'E_CONFLICT', message });
const ID = /^[0-9]+$/;

export class FakePlanka {
  url = '';
  readonly boardId: string;
  readonly projectId: string;
  /** The account pm-agent logs in as, then two more board members to assign cards to. */
  readonly users: FakePlankaUser[];
  readonly requests: FakePlankaRequest[] = [];
  readonly lists: List[] = [];
  readonly cards = new Map<string, Card>();
  readonly labels = new Map<string, Label>();
  readonly cardLabels = new Map<string, CardLabel>();
  readonly cardMemberships = new Map<string, CardMembership>();
  readonly tasks = new Map<string, Task>();
  readonly actions = new Map<string, Action>();
  actionsPageSize: number;

  private readonly sessions = new Map<string, string>();
  private nextId = 1357158568008091264n;
  private down = false;
  private failures: number[] = [];
  private rateLimited = 0;
  private retryAfterSeconds = 1;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly boardCreatedAt = new Date().toISOString();

  constructor(opts: FakePlankaOptions = {}) {
    this.actionsPageSize = opts.actionsPageSize ?? 10;
    this.projectId = this.id();
    this.boardId = this.id();
    const user = (username: string, name: string): FakePlankaUser => ({ id: this.id(), username, email: `${username}@example.test`, name, password: `${username}-secret-pw` });
    this.users = [user('pm_agent', 'pm-agent'), user('alice', 'Alice Example'), user('bob', 'Bob Example')];
    for (const [i, name] of (opts.lists ?? ['Backlog', 'To Do', 'In Progress', 'Blocked', 'Done']).entries()) this.addList(name, (i + 1) * 65535);
  }

  /** The account pm-agent uses. */
  get apiUser(): FakePlankaUser {
    return this.users[0];
  }

  async listen(): Promise<void> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ---- test controls -------------------------------------------------------------------------

  /** While down every request answers 503 (the proxy in front of a stopped Planka). */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** The next `n` requests answer `status` (5xx as the proxy's plain text, 4xx in Planka's JSON shape). */
  failNext(n: number, status: number): void {
    for (let i = 0; i < n; i++) this.failures.push(status);
  }

  /** The next `n` requests answer 429 with Retry-After: `retryAfterSeconds` (see header comment). */
  rateLimitNext(n: number, retryAfterSeconds = 1): void {
    this.rateLimited += n;
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** Ends every session: the next request with an old token gets 401. */
  revokeTokens(): void {
    this.sessions.clear();
  }

  /** A live token for `username`, as if it had logged in (for static-token providers). */
  issueToken(username = this.apiUser.username): string {
    const u = this.users.find((x) => x.username === username);
    if (!u) throw new Error(`fake Planka: no user ${username}`);
    const token = `fake-planka.${randomBytes(18).toString('base64url')}`;
    this.sessions.set(token, u.id);
    return token;
  }

  /** Requests matching method and a path pattern. */
  calls(method: string, path: RegExp | string): FakePlankaRequest[] {
    return this.requests.filter((r) => r.method === method && (typeof path === 'string' ? r.path === path : path.test(r.path)));
  }

  addList(name: string, position?: number): List {
    const list: List = { ...this.rec(), position: position ?? Math.max(0, ...this.lists.map((l) => l.position)) + 65535, name, boardId: this.boardId };
    this.lists.push(list);
    return list;
  }

  listNamed(name: string): List {
    const l = this.lists.find((x) => x.name === name);
    if (!l) throw new Error(`fake Planka: no list ${name}`);
    return l;
  }

  /** The name of the list a card is in. */
  listOf(cardId: string): string | undefined {
    const c = this.cards.get(cardId);
    return c ? this.lists.find((l) => l.id === c.listId)?.name : undefined;
  }

  /** Puts a card on the board directly (as a person using Planka would), with optional tasks. */
  seedCard(p: { name: string; list: string; description?: string; tasks?: { name: string; position: number; isCompleted?: boolean }[] }): Card {
    const card = this.createCard(this.listNamed(p.list), { name: p.name, position: this.bottom(this.listNamed(p.list).id), description: p.description ?? null }, this.users[1].id);
    for (const t of p.tasks ?? []) {
      const task: Task = { ...this.rec(), position: t.position, name: t.name, isCompleted: t.isCompleted ?? false, cardId: card.id };
      this.tasks.set(task.id, task);
    }
    return card;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://planka');
    const rec: FakePlankaRequest = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams), body: undefined };
    this.requests.push(rec);
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const text = typeof body === 'string' ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8', ...headers });
      res.end(text);
    };
    if (this.down) return send(503, 'Service Unavailable');
    const failure = this.failures.shift();
    if (failure !== undefined) {
      return failure >= 500 ? send(failure, statusText(failure)) : send(failure, { code: errorCode(failure), message: statusText(failure) });
    }
    if (this.rateLimited > 0) {
      this.rateLimited--;
      return send(429, 'Too Many Requests', { 'retry-after': String(this.retryAfterSeconds), 'x-retry-in': `${this.retryAfterSeconds}s` });
    }
    let body: any = {};
    if (raw !== '') {
      try {
        body = JSON.parse(raw);
      } catch {
        return send(400, { code: 'E_MISSING_OR_INVALID_PARAMS', message: 'Could not parse the request body as JSON' });
      }
    }
    rec.body = body && typeof body === 'object' && 'password' in body ? { ...body, password: '***' } : body;
    // Sails hands actions one bag of inputs: route params, query string and body together.
    const inputs: Record<string, any> = { ...Object.fromEntries(url.searchParams), ...(body && typeof body === 'object' ? body : {}) };
    try {
      send(200, this.route(rec, req.headers.authorization, inputs));
    } catch (err) {
      if (err instanceof HttpError) send(err.status, err.body);
      else send(500, 'Internal Server Error');
    }
  }

  private route(rec: FakePlankaRequest, authorization: string | undefined, inputs: Record<string, any>): unknown {
    const { method, path } = rec;
    if (method === 'POST' && path === '/api/access-tokens') return this.logIn(rec, inputs);
    const m = (re: RegExp) => re.exec(path);
    let hit: RegExpExecArray | null;
    const known =
      /^\/api\/(boards\/[^/]+(\/labels)?|lists\/[^/]+\/cards|cards\/[^/]+(\/(comment-actions|actions|tasks|labels|memberships))?|tasks\/[^/]+)$/.test(path);
    if (!known) throw new HttpError(404, { code: 'E_NOT_FOUND', message: 'Not Found' });
    const userId = this.authenticate(authorization);
    rec.userId = userId;
    if (method === 'GET' && (hit = m(/^\/api\/boards\/([^/]+)$/))) return this.showBoard(rec, id(rec, hit[1]));
    if (method === 'POST' && (hit = m(/^\/api\/boards\/([^/]+)\/labels$/))) return this.createLabel(rec, id(rec, hit[1]), inputs);
    if (method === 'POST' && (hit = m(/^\/api\/lists\/([^/]+)\/cards$/))) return this.createCardAction(rec, id(rec, hit[1]), inputs, userId);
    if (method === 'GET' && (hit = m(/^\/api\/cards\/([^/]+)$/))) return this.showCard(id(rec, hit[1]));
    if (method === 'PATCH' && (hit = m(/^\/api\/cards\/([^/]+)$/))) return this.updateCard(rec, id(rec, hit[1]), inputs, userId);
    if (method === 'POST' && (hit = m(/^\/api\/cards\/([^/]+)\/comment-actions$/))) return this.comment(rec, id(rec, hit[1]), inputs, userId);
    if (method === 'GET' && (hit = m(/^\/api\/cards\/([^/]+)\/actions$/))) return this.listActions(rec, id(rec, hit[1]), inputs);
    if (method === 'POST' && (hit = m(/^\/api\/cards\/([^/]+)\/tasks$/))) return this.createTask(rec, id(rec, hit[1]), inputs);
    if (method === 'PATCH' && (hit = m(/^\/api\/tasks\/([^/]+)$/))) return this.updateTask(rec, id(rec, hit[1]), inputs);
    if (method === 'DELETE' && (hit = m(/^\/api\/tasks\/([^/]+)$/))) return this.deleteTask(id(rec, hit[1]));
    if (method === 'POST' && (hit = m(/^\/api\/cards\/([^/]+)\/labels$/))) return this.addCardLabel(rec, id(rec, hit[1]), inputs);
    if (method === 'POST' && (hit = m(/^\/api\/cards\/([^/]+)\/memberships$/))) return this.addCardMember(rec, id(rec, hit[1]), inputs);
    if (method === 'DELETE' && (hit = m(/^\/api\/cards\/([^/]+)\/memberships$/))) return this.removeCardMember(rec, id(rec, hit[1]), inputs);
    throw new HttpError(404, { code: 'E_NOT_FOUND', message: 'Not Found' });
  }

  private authenticate(authorization: string | undefined): string {
    const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
    const userId = token ? this.sessions.get(token) : undefined;
    if (!userId) throw new HttpError(401, { code: 'E_UNAUTHORIZED', message: 'Access token is missing, invalid or expired' });
    return userId;
  }

  // ---- actions -------------------------------------------------------------------------------

  private logIn(rec: FakePlankaRequest, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { emailOrUsername: 'string', password: 'string' });
    const who = String(inputs.emailOrUsername).toLowerCase();
    const user = this.users.find((u) => u.email.toLowerCase() === who || u.username.toLowerCase() === who);
    // showDetailedAuthErrors is off by default: one message for both mistakes.
    if (!user || user.password !== inputs.password) throw new HttpError(401, { code: 'E_UNAUTHORIZED', message: 'Invalid credentials' });
    return { item: this.issueToken(user.username) };
  }

  private showBoard(_rec: FakePlankaRequest, boardId: string): unknown {
    if (boardId !== this.boardId) throw notFound('Board not found');
    const cards = [...this.cards.values()];
    const cardIds = new Set(cards.map((c) => c.id));
    return {
      item: { id: this.boardId, createdAt: this.boardCreatedAt, updatedAt: null, position: 65535, name: 'pm-agent board', projectId: this.projectId },
      included: {
        users: this.users.map((u) => this.presentUser(u)),
        boardMemberships: this.users.map((u, i) => ({ id: String(BigInt(this.boardId) + BigInt(i + 1) * 1000n), createdAt: this.boardCreatedAt, updatedAt: null, boardId: this.boardId, userId: u.id, role: 'editor', canComment: null })),
        labels: sortById([...this.labels.values()]),
        lists: sortById(this.lists),
        cards: sortById(cards).map((c) => ({ ...c, isSubscribed: false })),
        cardMemberships: sortById([...this.cardMemberships.values()].filter((m) => cardIds.has(m.cardId))),
        cardLabels: sortById([...this.cardLabels.values()].filter((l) => cardIds.has(l.cardId))),
        tasks: sortById([...this.tasks.values()].filter((t) => cardIds.has(t.cardId))),
        attachments: [],
        projects: [{ id: this.projectId, createdAt: this.boardCreatedAt, updatedAt: null, name: 'pm-agent', background: null, backgroundImage: null }],
      },
    };
  }

  private createLabel(rec: FakePlankaRequest, boardId: string, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { position: 'number', color: 'string' });
    if (!LABEL_COLORS.includes(inputs.color)) throw invalid(rec, [`Invalid "color": must be one of Label.COLORS`]);
    if (inputs.name !== undefined && inputs.name !== null && (typeof inputs.name !== 'string' || inputs.name === '')) throw invalid(rec, ['Invalid "name": must be a non-empty string or null']);
    if (boardId !== this.boardId) throw notFound('Board not found');
    const label: Label = { ...this.rec(), position: inputs.position, name: inputs.name ?? null, color: inputs.color, boardId };
    this.labels.set(label.id, label);
    return { item: label };
  }

  private createCardAction(rec: FakePlankaRequest, listId: string, inputs: Record<string, any>, userId: string): unknown {
    requireInputs(rec, inputs, { name: 'string', position: 'number' });
    checkDescription(rec, inputs);
    const list = this.lists.find((l) => l.id === listId);
    if (!list) throw notFound('List not found');
    return { item: this.createCard(list, { name: inputs.name, position: inputs.position, description: inputs.description ?? null }, userId) };
  }

  private showCard(cardId: string): unknown {
    const card = this.card(cardId);
    return {
      item: { ...card, isSubscribed: false },
      included: {
        cardMemberships: sortById([...this.cardMemberships.values()].filter((m) => m.cardId === cardId)),
        cardLabels: sortById([...this.cardLabels.values()].filter((l) => l.cardId === cardId)),
        tasks: sortById([...this.tasks.values()].filter((t) => t.cardId === cardId)),
        attachments: [],
      },
    };
  }

  private updateCard(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>, userId: string): unknown {
    if (inputs.listId !== undefined && (typeof inputs.listId !== 'string' || !ID.test(inputs.listId))) throw invalid(rec, ['Invalid "listId"']);
    if (inputs.position !== undefined && typeof inputs.position !== 'number') throw invalid(rec, ['Invalid "position": must be a number']);
    if (inputs.name !== undefined && (typeof inputs.name !== 'string' || inputs.name === '')) throw invalid(rec, ['Invalid "name": must be a non-empty string']);
    checkDescription(rec, inputs);
    const card = this.card(cardId);
    let next: List | undefined;
    if (inputs.listId !== undefined) {
      next = this.lists.find((l) => l.id === inputs.listId && l.boardId === card.boardId);
      if (!next) throw notFound('List not found');
      if (inputs.position === undefined) throw new HttpError(422, { code: 'E_UNPROCESSABLE_ENTITY', message: 'Position must be present' });
    }
    const from = this.lists.find((l) => l.id === card.listId);
    if (inputs.position !== undefined) card.position = inputs.position;
    if (inputs.name !== undefined) card.name = inputs.name;
    if (inputs.description !== undefined) card.description = inputs.description;
    if (next && next.id !== card.listId) {
      card.listId = next.id;
      this.addAction(card.id, userId, 'moveCard', { fromList: { id: from?.id, name: from?.name }, toList: { id: next.id, name: next.name } });
    }
    card.updatedAt = new Date().toISOString();
    return { item: card };
  }

  private comment(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>, userId: string): unknown {
    requireInputs(rec, inputs, { text: 'string' });
    this.card(cardId);
    return { item: this.addAction(cardId, userId, 'commentCard', { text: inputs.text }) };
  }

  private listActions(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>): unknown {
    if (inputs.beforeId !== undefined && !ID.test(String(inputs.beforeId))) throw invalid(rec, ['Invalid "beforeId"']);
    this.card(cardId);
    const withDetails = inputs.withDetails === true || inputs.withDetails === 'true';
    const before = inputs.beforeId === undefined ? undefined : BigInt(inputs.beforeId);
    const items = [...this.actions.values()]
      .filter((a) => a.cardId === cardId && (withDetails || a.type === 'commentCard') && (before === undefined || BigInt(a.id) < before))
      .sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1))
      .slice(0, this.actionsPageSize);
    const userIds = new Set(items.map((a) => a.userId));
    return { items, included: { users: this.users.filter((u) => userIds.has(u.id)).map((u) => this.presentUser(u)) } };
  }

  private createTask(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { name: 'string', position: 'number' });
    if (inputs.isCompleted !== undefined && typeof inputs.isCompleted !== 'boolean') throw invalid(rec, ['Invalid "isCompleted": must be a boolean']);
    this.card(cardId);
    const task: Task = { ...this.rec(), position: inputs.position, name: inputs.name, isCompleted: inputs.isCompleted ?? false, cardId };
    this.tasks.set(task.id, task);
    return { item: task };
  }

  private updateTask(rec: FakePlankaRequest, taskId: string, inputs: Record<string, any>): unknown {
    if (inputs.position !== undefined && typeof inputs.position !== 'number') throw invalid(rec, ['Invalid "position": must be a number']);
    if (inputs.name !== undefined && (typeof inputs.name !== 'string' || inputs.name === '')) throw invalid(rec, ['Invalid "name": must be a non-empty string']);
    if (inputs.isCompleted !== undefined && typeof inputs.isCompleted !== 'boolean') throw invalid(rec, ['Invalid "isCompleted": must be a boolean']);
    const task = this.tasks.get(taskId);
    if (!task) throw notFound('Task not found');
    if (inputs.position !== undefined) task.position = inputs.position;
    if (inputs.name !== undefined) task.name = inputs.name;
    if (inputs.isCompleted !== undefined) task.isCompleted = inputs.isCompleted;
    task.updatedAt = new Date().toISOString();
    return { item: task };
  }

  private deleteTask(taskId: string): unknown {
    const task = this.tasks.get(taskId);
    if (!task) throw notFound('Task not found');
    this.tasks.delete(taskId);
    return { item: task };
  }

  private addCardLabel(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { labelId: 'string' });
    const card = this.card(cardId);
    const label = this.labels.get(inputs.labelId);
    if (!label || label.boardId !== card.boardId) throw notFound('Label not found');
    if ([...this.cardLabels.values()].some((cl) => cl.cardId === cardId && cl.labelId === label.id)) throw conflict('Label already in card');
    const cl: CardLabel = { ...this.rec(), cardId, labelId: label.id };
    this.cardLabels.set(cl.id, cl);
    return { item: cl };
  }

  private addCardMember(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { userId: 'string' });
    this.card(cardId);
    if (!this.users.some((u) => u.id === inputs.userId)) throw notFound('User not found');
    if ([...this.cardMemberships.values()].some((m) => m.cardId === cardId && m.userId === inputs.userId)) throw conflict('User already card member');
    const m: CardMembership = { ...this.rec(), cardId, userId: inputs.userId };
    this.cardMemberships.set(m.id, m);
    return { item: m };
  }

  private removeCardMember(rec: FakePlankaRequest, cardId: string, inputs: Record<string, any>): unknown {
    requireInputs(rec, inputs, { userId: 'string' });
    this.card(cardId);
    const m = [...this.cardMemberships.values()].find((x) => x.cardId === cardId && x.userId === inputs.userId);
    if (!m) throw notFound('User not card member');
    this.cardMemberships.delete(m.id);
    return { item: m };
  }

  // ---- state ---------------------------------------------------------------------------------

  private createCard(list: List, v: { name: string; position: number; description: string | null }, userId: string): Card {
    const card: Card = {
      ...this.rec(),
      position: v.position,
      name: v.name,
      description: v.description,
      dueDate: null,
      isDueDateCompleted: null,
      stopwatch: null,
      boardId: this.boardId,
      listId: list.id,
      creatorUserId: userId,
      coverAttachmentId: null,
    };
    this.cards.set(card.id, card);
    this.addAction(card.id, userId, 'createCard', { list: { id: list.id, name: list.name } });
    return card;
  }

  private addAction(cardId: string, userId: string, type: string, data: Record<string, unknown>): Action {
    const a: Action = { ...this.rec(), type, data, cardId, userId };
    this.actions.set(a.id, a);
    return a;
  }

  private card(cardId: string): Card {
    const card = this.cards.get(cardId);
    if (!card) throw notFound('Card not found');
    return card;
  }

  private bottom(listId: string): number {
    return Math.max(0, ...[...this.cards.values()].filter((c) => c.listId === listId).map((c) => c.position)) + 65535;
  }

  private presentUser(u: FakePlankaUser): Record<string, unknown> {
    return { id: u.id, createdAt: this.boardCreatedAt, updatedAt: null, email: u.email, name: u.name, username: u.username, isAdmin: u === this.apiUser, phone: null, organization: null, language: null, subscribeToOwnCards: false, avatarUrl: null, deletedAt: null };
  }

  private id(): string {
    this.nextId += 1n;
    return String(this.nextId);
  }

  private rec(): Rec {
    return { id: this.id(), createdAt: new Date().toISOString(), updatedAt: null };
  }
}

/** Starts a fake Planka on 127.0.0.1 with a free port. */
export async function startFakePlanka(opts: FakePlankaOptions = {}): Promise<FakePlanka> {
  const fake = new FakePlanka(opts);
  await fake.listen();
  return fake;
}

function id(rec: FakePlankaRequest, v: string): string {
  if (!ID.test(v)) throw invalid(rec, [`Invalid id "${v}": must match /^[0-9]+$/`]);
  return v;
}

function invalid(rec: FakePlankaRequest, problems: string[]): HttpError {
  return new HttpError(400, {
    code: 'E_MISSING_OR_INVALID_PARAMS',
    problems,
    message: `The server could not fulfill this request (\`${rec.method} ${rec.path}\`) due to a problem with the parameters that were sent.  See the \`problems\` for more detail.`,
  });
}

function requireInputs(rec: FakePlankaRequest, inputs: Record<string, any>, spec: Record<string, 'string' | 'number'>): void {
  const problems: string[] = [];
  for (const [k, t] of Object.entries(spec)) {
    if (inputs[k] === undefined) problems.push(`"${k}" is required, but it was not defined.`);
    else if (typeof inputs[k] !== t) problems.push(`Invalid "${k}": expected a ${t}.`);
  }
  if (problems.length) throw invalid(rec, problems);
}

/** Planka's card description is isNotEmptyString + allowNull: "" is refused. */
function checkDescription(rec: FakePlankaRequest, inputs: Record<string, any>): void {
  const d = inputs.description;
  if (d !== undefined && d !== null && (typeof d !== 'string' || d === '')) throw invalid(rec, ['Invalid "description": must be a non-empty string or null']);
}

function sortById<T extends { id: string }>(xs: T[]): T[] {
  return [...xs].sort((a, b) => (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0));
}

function errorCode(status: number): string {
  return { 400: 'E_MISSING_OR_INVALID_PARAMS', 401: 'E_UNAUTHORIZED', 403: 'E_FORBIDDEN', 404: 'E_NOT_FOUND', 409: 'E_CONFLICT', 422: 'E_UNPROCESSABLE_ENTITY' }[status] ?? 'E_UNKNOWN';
}

function statusText(status: number): string {
  return (
    { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 409: 'Conflict', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout' }[status] ??
    `HTTP ${status}`
  );
}
