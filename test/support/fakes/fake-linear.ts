import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { execute, GraphQLError, Kind, parse, validate, type DocumentNode } from 'graphql';
import { loadLinearSchema } from '../linear-schema';

/*
 * A FAKE of Linear's GraphQL API, for tests only. It is not Linear and never talks to it: a
 * node:http server on 127.0.0.1 answering `POST /graphql` like https://api.linear.app/graphql does
 * (https://linear.app/developers/graphql), for the subset of the schema pm-agent's Linear provider
 * uses. Documents are parsed, validated and executed with graphql-js against Linear's real schema
 * as derived from @linear/sdk (test/support/linear-schema.ts), so a field, argument or variable type
 * the real API would refuse is refused here too; resolvers run over in-memory state:
 *
 *   query     issue(id)              by uuid or identifier ("ENG-12"); unknown → "Entity not found: Issue"
 *             issues(filter, first, after)   filter: and/or, id, number, title, team, state, assignee
 *             team(id)               { id key name states(...) labels(...) members(...) issues(...) }
 *             issueLabels(filter, ...)   filter: and/or, id, name, team (with `null`)
 *             users(filter, ...)  viewer
 *   mutation  issueCreate  issueUpdate  issueAddLabel  issueRemoveLabel  issueLabelCreate
 *             issueRelationCreate  commentCreate
 *   Issue     id identifier number title description priority priorityLabel url createdAt
 *             updatedAt team state assignee labels relations inverseRelations comments
 *
 * Seeded: team Engineering (key ENG) with workflow states Backlog (backlog), Todo (unstarted), In
 * Progress and Blocked (started), Done (completed), Canceled (canceled); team Design (DES); labels
 * (team and workspace-wide); users Alice and Bob (active) and Carol (deactivated); issues ENG-10
 * (Done), ENG-11 (Canceled) and DES-1, so new ENG issues are numbered from ENG-12.
 *
 * Like Linear:
 *   - auth: `Authorization: <personal API key>` or `Authorization: Bearer <OAuth token>`; anything
 *     else is HTTP 400 with a GraphQL error `extensions.code` AUTHENTICATION_ERROR (`type`
 *     "authentication error", the field @linear/sdk reads), message "Authentication required, not
 *     authenticated" (`authFailureStatus` can make it 401).
 *   - connections: `first` (default 50)/`after` with `pageInfo { hasNextPage endCursor }` (cursors
 *     are node ids), in creation order, at most `pageSize` (10) nodes a page whatever `first` asks
 *     for; `last`/`before` and `orderBy: updatedAt` are refused.
 *   - errors: an unknown entity is HTTP 200, `data: null`, INPUT_ERROR "Entity not found: <Type>";
 *     syntax and validation errors are HTTP 400 GRAPHQL_PARSE_FAILED / GRAPHQL_VALIDATION_FAILED.
 *   - rate limit (https://linear.app/developers/rate-limiting): HTTP 400, GraphQL error code
 *     RATELIMITED (`type` "ratelimited"), `X-RateLimit-Requests-Remaining: 0` and
 *     `X-RateLimit-Requests-Reset` in epoch milliseconds; every answer carries the
 *     X-RateLimit-Requests-* and X-RateLimit-Complexity-* headers.
 *
 * Test controls: setDown(true|false) (every request answers 503), failNext(n, status),
 * rateLimitNext(n, resetInMs?), and `requests` (method, path, GraphQL operation name, status).
 * Anything outside the subset above fails loudly with a FAKE_NOT_IMPLEMENTED error instead of
 * answering something Linear would not.
 */

export interface FakeLinearOptions {
  apiKey?: string;
  oauthToken?: string;
  /** HTTP status of an authentication failure (Linear answers 400). */
  authFailureStatus?: 400 | 401;
  /** Most nodes in one page of a connection (default 10). */
  pageSize?: number;
}

export interface FakeLinearRequest {
  seq: number;
  method: string;
  path: string;
  /** The GraphQL operation's name, when the body held a parsable document. */
  operationName: string | null;
  variables: Record<string, unknown>;
  /** How the request authenticated. */
  auth: 'apiKey' | 'oauth' | 'missing' | 'invalid';
  status: number;
}

export interface FakeTeam {
  id: string;
  key: string;
  name: string;
  createdAt: string;
}
export interface FakeState {
  id: string;
  teamId: string;
  name: string;
  type: 'triage' | 'backlog' | 'unstarted' | 'started' | 'completed' | 'canceled';
  position: number;
  color: string;
  createdAt: string;
}
export interface FakeLabel {
  id: string;
  /** null for a workspace-wide label. */
  teamId: string | null;
  name: string;
  color: string;
  createdAt: string;
}
export interface FakeUser {
  id: string;
  name: string;
  displayName: string;
  email: string;
  active: boolean;
  createdAt: string;
}
export interface FakeIssue {
  id: string;
  teamId: string;
  number: number;
  identifier: string;
  title: string;
  description: string | null;
  priority: number;
  stateId: string;
  assigneeId: string | null;
  labelIds: string[];
  createdAt: string;
  updatedAt: string;
}
export interface FakeComment {
  id: string;
  issueId: string;
  userId: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}
export interface FakeRelation {
  id: string;
  type: 'blocks' | 'duplicate' | 'related' | 'similar';
  /** `issueId` blocks (duplicates, relates to) `relatedIssueId`. */
  issueId: string;
  relatedIssueId: string;
  createdAt: string;
}

/** A GraphQL error carrying Linear's extensions. */
class LinearError extends Error {
  constructor(
    message: string,
    readonly extensions: Record<string, unknown>,
  ) {
    super(message);
  }
}

const inputError = (message: string, userPresentableMessage: string): LinearError =>
  new LinearError(message, { type: 'invalid input', code: 'INPUT_ERROR', statusCode: 400, userError: true, userPresentableMessage });
const entityNotFound = (entity: string): LinearError => inputError(`Entity not found: ${entity}`, `Could not find referenced ${entity}.`);
const notImplemented = (what: string): LinearError => new LinearError(`fake Linear does not implement ${what}`, { code: 'FAKE_NOT_IMPLEMENTED' });

const RATE_LIMIT = 5000;
const COMPLEXITY_LIMIT = 3_000_000;
const HOUR_MS = 3_600_000;

type Args = Record<string, any>;

export class FakeLinear {
  readonly apiKey: string;
  readonly oauthToken: string;
  readonly requests: FakeLinearRequest[] = [];
  readonly teams: FakeTeam[] = [];
  readonly states: FakeState[] = [];
  readonly labels: FakeLabel[] = [];
  readonly users: FakeUser[] = [];
  readonly issues: FakeIssue[] = [];
  readonly comments: FakeComment[] = [];
  readonly relations: FakeRelation[] = [];
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;
  private seq = 0;
  private down = false;
  private failures: { left: number; status: number } = { left: 0, status: 500 };
  private rateLimits: { left: number; resetInMs: number } = { left: 0, resetInMs: 1000 };
  private lastTime = 0;
  private readonly pageSize: number;

  constructor(private readonly opts: FakeLinearOptions = {}) {
    this.apiKey = opts.apiKey ?? 'fake-linear-key-for-tests';
    this.oauthToken = opts.oauthToken ?? 'lin_oauth_fakeToken0123456789abcdefghijklmnop';
    this.pageSize = opts.pageSize ?? 10;
    this.seed();
  }

  /** Base URL to give BoardHttp (`POST <url>/graphql`). */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The Engineering team (key ENG). */
  get teamId(): string {
    return this.team('ENG').id;
  }

  team(key: string): FakeTeam {
    const t = this.teams.find((x) => x.key === key);
    if (!t) throw new Error(`fake Linear: no team ${key}`);
    return t;
  }

  issue(identifierOrId: string): FakeIssue | undefined {
    return this.issues.find((i) => i.id === identifierOrId || i.identifier === identifierOrId.toUpperCase());
  }

  stateOf(issue: FakeIssue): FakeState {
    return this.states.find((s) => s.id === issue.stateId)!;
  }

  /** Moves an issue to the named state of its team (as if done in Linear's UI). */
  setState(identifierOrId: string, stateName: string): void {
    const issue = this.issue(identifierOrId);
    const state = issue && this.states.find((s) => s.teamId === issue.teamId && s.name === stateName);
    if (!issue || !state) throw new Error(`fake Linear: no issue ${identifierOrId} or state ${stateName}`);
    issue.stateId = state.id;
    issue.updatedAt = this.now();
  }

  /** Requests carrying this GraphQL operation name. */
  operations(name: string): FakeLinearRequest[] {
    return this.requests.filter((r) => r.operationName === name);
  }

  setDown(down: boolean): void {
    this.down = down;
  }

  /** The next `n` requests answer `status` (a JSON GraphQL error body for 4xx/5xx). */
  failNext(n: number, status: number): void {
    this.failures = { left: n, status };
  }

  /** The next `n` requests answer Linear's RATELIMITED response, resetting `resetInMs` later. */
  rateLimitNext(n: number, resetInMs = 1000): void {
    this.rateLimits = { left: n, resetInMs };
  }

  /** Adds an issue directly (as if made in Linear's UI), creating any label names it lacks. */
  seedIssue(p: { teamKey?: string; title: string; description?: string; stateName?: string; labels?: string[]; priority?: number }): FakeIssue {
    const team = this.team(p.teamKey ?? 'ENG');
    const state = p.stateName ? this.states.find((s) => s.teamId === team.id && s.name === p.stateName) : this.defaultState(team.id);
    if (!state) throw new Error(`fake Linear: team ${team.key} has no state ${p.stateName}`);
    const labelIds = (p.labels ?? []).map((name) => (this.labels.find((l) => l.name === name && (l.teamId === team.id || l.teamId === null)) ?? this.addLabel(team.id, name)).id);
    return this.addIssue(team, { title: p.title, description: p.description ?? null, stateId: state.id, labelIds, priority: p.priority ?? 0, assigneeId: null });
  }

  async start(): Promise<this> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        // A bug in the fake itself: answer 500 so the test sees it instead of hanging.
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`fake Linear failed: ${(err as Error).message}`);
      });
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((r) => s.close(() => r()));
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake-linear');
    let body: { query?: unknown; variables?: unknown; operationName?: unknown } | undefined;
    try {
      body = raw ? (JSON.parse(raw) as typeof body) : undefined;
    } catch {
      body = undefined;
    }
    let document: DocumentNode | undefined;
    let parseError: GraphQLError | undefined;
    if (typeof body?.query === 'string') {
      try {
        document = parse(body.query);
      } catch (err) {
        parseError = err as GraphQLError;
      }
    }
    const variables = body?.variables && typeof body.variables === 'object' ? (body.variables as Record<string, unknown>) : {};
    const rec: FakeLinearRequest = {
      seq: ++this.seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      operationName: operationNameOf(document, body?.operationName),
      variables,
      auth: this.authOf(req.headers.authorization),
      status: 0,
    };
    this.requests.push(rec);

    const send = (status: number, payload: unknown, extraHeaders: Record<string, string> = {}): void => {
      rec.status = status;
      const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
      res.writeHead(status, {
        'content-type': typeof payload === 'string' ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
        ...this.rateLimitHeaders(),
        ...extraHeaders,
      });
      res.end(text);
    };
    const errors = (status: number, message: string, extensions: Record<string, unknown>): void => send(status, { errors: [{ message, extensions }] });

    if (this.down) return send(503, 'Service Unavailable');
    if (this.failures.left > 0) {
      this.failures.left--;
      const status = this.failures.status;
      return errors(status, status >= 500 ? 'Internal server error' : 'Request failed', { type: status >= 500 ? 'internal error' : 'unknown', code: status >= 500 ? 'INTERNAL_SERVER_ERROR' : 'BAD_REQUEST', statusCode: status });
    }
    if (this.rateLimits.left > 0) {
      this.rateLimits.left--;
      const reset = Date.now() + this.rateLimits.resetInMs;
      return send(
        400,
        {
          errors: [
            {
              message: `Rate limit exceeded. Only ${RATE_LIMIT} requests are allowed per 1 hour.`,
              extensions: { type: 'ratelimited', code: 'RATELIMITED', statusCode: 429, userError: true, userPresentableMessage: 'Rate limit exceeded. Please try again later.' },
            },
          ],
        },
        { 'X-RateLimit-Requests-Remaining': '0', 'X-RateLimit-Requests-Reset': String(reset) },
      );
    }
    if (url.pathname !== '/graphql') return send(404, `Cannot ${rec.method} ${url.pathname}`);
    if (rec.method !== 'POST') return errors(405, `fake Linear only implements POST /graphql`, { code: 'FAKE_NOT_IMPLEMENTED' });
    if (rec.auth !== 'apiKey' && rec.auth !== 'oauth') {
      return errors(this.opts.authFailureStatus ?? 400, 'Authentication required, not authenticated', {
        type: 'authentication error',
        code: 'AUTHENTICATION_ERROR',
        statusCode: 401,
        userError: true,
        userPresentableMessage: 'You need to authenticate to access this operation.',
      });
    }
    if (typeof body?.query !== 'string') return errors(400, 'POST body missing, invalid Content-Type, or JSON object has no keys.', { code: 'BAD_REQUEST' });
    if (parseError || !document) return send(400, { errors: [{ message: parseError?.message ?? 'Syntax Error', locations: parseError?.locations, extensions: { type: 'graphql error', code: 'GRAPHQL_PARSE_FAILED' } }] });
    const schema = loadLinearSchema();
    const invalid = validate(schema, document);
    if (invalid.length > 0) {
      return send(400, { errors: invalid.map((e) => ({ message: e.message, locations: e.locations, extensions: { type: 'graphql error', code: 'GRAPHQL_VALIDATION_FAILED', userError: true } })) });
    }
    const result = await execute({
      schema,
      document,
      rootValue: this.root(),
      variableValues: variables,
      operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
    });
    const formatted = result.errors?.map((e) => ({ message: e.message, path: e.path, locations: e.locations, extensions: e.extensions }));
    // Variables that do not coerce fail before execution: no data at all, a 400 like Apollo answers.
    if (!('data' in result) || result.data === undefined) return send(400, { errors: formatted?.map((e) => ({ ...e, extensions: { code: 'BAD_USER_INPUT', ...e.extensions } })) });
    send(200, { data: result.data, ...(formatted ? { errors: formatted } : {}) });
  }

  private authOf(header: string | undefined): FakeLinearRequest['auth'] {
    if (!header) return 'missing';
    const bearer = /^Bearer\s+(.+)$/i.exec(header.trim());
    if (bearer) return bearer[1] === this.oauthToken ? 'oauth' : 'invalid';
    return header.trim() === this.apiKey ? 'apiKey' : 'invalid';
  }

  private rateLimitHeaders(): Record<string, string> {
    const reset = String(Math.ceil(Date.now() / HOUR_MS) * HOUR_MS);
    return {
      'X-RateLimit-Requests-Limit': String(RATE_LIMIT),
      'X-RateLimit-Requests-Remaining': String(Math.max(1, RATE_LIMIT - this.seq)),
      'X-RateLimit-Requests-Reset': reset,
      'X-RateLimit-Complexity-Limit': String(COMPLEXITY_LIMIT),
      'X-RateLimit-Complexity-Remaining': String(COMPLEXITY_LIMIT - 100 * this.seq),
      'X-RateLimit-Complexity-Reset': reset,
    };
  }

  // ---- resolvers -----------------------------------------------------------------------------

  /** Root fields. graphql-js's default resolver calls functions found on objects with (args). */
  private root(): Record<string, (args: Args) => unknown> {
    return {
      issue: ({ id }) => this.issueView(this.findIssue(id)),
      issues: (args) => this.connection(args, this.issues.filter((i) => this.issueMatches(i, args.filter)), (i) => this.issueView(i)),
      team: ({ id }) => this.teamView(this.findTeam(id)),
      issueLabels: (args) => this.connection(args, this.labels.filter((l) => this.labelMatches(l, args.filter)), (l) => this.labelView(l)),
      users: (args) => this.connection(args, this.usersFor(args), (u) => this.userView(u)),
      viewer: () => this.userView(this.users[0]),
      issueCreate: ({ input }) => this.issueCreate(input),
      issueUpdate: ({ id, input }) => this.issueUpdate(id, input),
      issueAddLabel: ({ id, labelId }) => this.issueLabelChange(id, labelId, true),
      issueRemoveLabel: ({ id, labelId }) => this.issueLabelChange(id, labelId, false),
      issueLabelCreate: ({ input }) => this.issueLabelCreate(input),
      issueRelationCreate: ({ input }) => this.issueRelationCreate(input),
      commentCreate: ({ input }) => this.commentCreate(input),
    };
  }

  private issueView(i: FakeIssue): Record<string, unknown> {
    const team = this.teams.find((t) => t.id === i.teamId)!;
    return {
      id: i.id,
      identifier: i.identifier,
      number: i.number,
      title: i.title,
      description: i.description,
      priority: i.priority,
      priorityLabel: ['No priority', 'Urgent', 'High', 'Medium', 'Low'][i.priority],
      url: `https://linear.app/fake/issue/${i.identifier.toLowerCase()}`,
      createdAt: i.createdAt,
      updatedAt: i.updatedAt,
      labelIds: i.labelIds,
      team: () => this.teamView(team),
      state: () => this.stateView(this.stateOf(i)),
      assignee: () => {
        const u = this.users.find((x) => x.id === i.assigneeId);
        return u ? this.userView(u) : null;
      },
      labels: (args: Args) =>
        this.connection(
          args,
          i.labelIds.map((id) => this.labels.find((l) => l.id === id)!).filter((l) => this.labelMatches(l, args.filter)),
          (l) => this.labelView(l),
        ),
      relations: (args: Args) => this.connection(args, this.relations.filter((r) => r.issueId === i.id), (r) => this.relationView(r)),
      inverseRelations: (args: Args) => this.connection(args, this.relations.filter((r) => r.relatedIssueId === i.id), (r) => this.relationView(r)),
      comments: (args: Args) => {
        if (args.filter) throw notImplemented('Issue.comments(filter)');
        return this.connection(args, this.comments.filter((c) => c.issueId === i.id), (c) => this.commentView(c));
      },
    };
  }

  private teamView(t: FakeTeam): Record<string, unknown> {
    return {
      id: t.id,
      key: t.key,
      name: t.name,
      createdAt: t.createdAt,
      states: (args: Args) => {
        if (args.filter) throw notImplemented('Team.states(filter)');
        return this.connection(args, this.states.filter((s) => s.teamId === t.id), (s) => this.stateView(s));
      },
      labels: (args: Args) => this.connection(args, this.labels.filter((l) => l.teamId === t.id && this.labelMatches(l, args.filter)), (l) => this.labelView(l)),
      members: (args: Args) => this.connection(args, this.usersFor(args), (u) => this.userView(u)),
      issues: (args: Args) => this.connection(args, this.issues.filter((i) => i.teamId === t.id && this.issueMatches(i, args.filter)), (i) => this.issueView(i)),
    };
  }

  private stateView(s: FakeState): Record<string, unknown> {
    return { id: s.id, name: s.name, type: s.type, position: s.position, color: s.color, createdAt: s.createdAt, team: () => this.teamView(this.findTeam(s.teamId)) };
  }

  private labelView(l: FakeLabel): Record<string, unknown> {
    return { id: l.id, name: l.name, color: l.color, createdAt: l.createdAt, team: () => (l.teamId ? this.teamView(this.findTeam(l.teamId)) : null) };
  }

  private userView(u: FakeUser): Record<string, unknown> {
    return { id: u.id, name: u.name, displayName: u.displayName, email: u.email, active: u.active, createdAt: u.createdAt };
  }

  private relationView(r: FakeRelation): Record<string, unknown> {
    return {
      id: r.id,
      type: r.type,
      createdAt: r.createdAt,
      issue: () => this.issueView(this.findIssue(r.issueId)),
      relatedIssue: () => this.issueView(this.findIssue(r.relatedIssueId)),
    };
  }

  private commentView(c: FakeComment): Record<string, unknown> {
    return {
      id: c.id,
      body: c.body,
      createdAt: c.createdAt,
      updatedAt: c.updatedAt,
      issue: () => this.issueView(this.findIssue(c.issueId)),
      user: () => this.userView(this.users.find((u) => u.id === c.userId)!),
    };
  }

  /** Relay-style page of `items`: at most pageSize nodes after the `after` cursor (a node id). */
  private connection<T extends { id: string }>(args: Args, items: readonly T[], view: (item: T) => Record<string, unknown>): Record<string, unknown> {
    if (args.last !== undefined && args.last !== null) throw notImplemented('`last` paging');
    if (args.before !== undefined && args.before !== null) throw notImplemented('`before` paging');
    if (args.orderBy === 'updatedAt') throw notImplemented('orderBy: updatedAt');
    let start = 0;
    if (typeof args.after === 'string') {
      const at = items.findIndex((x) => x.id === args.after);
      if (at < 0) throw inputError('Invalid cursor', 'The pagination cursor is not valid.');
      start = at + 1;
    }
    const first = typeof args.first === 'number' ? args.first : 50;
    if (first < 0) throw inputError('Argument Validation Error', 'first must not be negative.');
    const page = items.slice(start, start + Math.min(first, this.pageSize));
    const nodes = page.map(view);
    const hasNextPage = start + page.length < items.length;
    return {
      nodes,
      edges: page.map((x, i) => ({ cursor: x.id, node: nodes[i] })),
      pageInfo: {
        hasNextPage,
        hasPreviousPage: start > 0,
        startCursor: page[0]?.id ?? null,
        endCursor: page[page.length - 1]?.id ?? null,
      },
    };
  }

  // ---- filters -------------------------------------------------------------------------------

  private issueMatches(i: FakeIssue, filter: unknown): boolean {
    const state = this.stateOf(i);
    const team = this.findTeam(i.teamId);
    const assignee = this.users.find((u) => u.id === i.assigneeId) ?? null;
    return matches(
      {
        id: i.id,
        number: i.number,
        title: i.title,
        description: i.description,
        priority: i.priority,
        team: { id: team.id, key: team.key, name: team.name },
        state: { id: state.id, name: state.name, type: state.type },
        assignee: assignee && { id: assignee.id, name: assignee.name, email: assignee.email },
      },
      filter,
      'IssueFilter',
    );
  }

  private labelMatches(l: FakeLabel, filter: unknown): boolean {
    const team = l.teamId ? this.findTeam(l.teamId) : null;
    return matches({ id: l.id, name: l.name, team: team && { id: team.id, key: team.key, name: team.name } }, filter, 'IssueLabelFilter');
  }

  private usersFor(args: Args): FakeUser[] {
    // Deactivated users are left out unless asked for, as Linear does.
    return this.users.filter((u) => (u.active || args.includeDisabled === true) && matches({ id: u.id, name: u.name, displayName: u.displayName, email: u.email, active: u.active }, args.filter, 'UserFilter'));
  }

  // ---- mutations -----------------------------------------------------------------------------

  private issueCreate(input: Args): Record<string, unknown> {
    unsupportedKeys(input, ['teamId', 'title', 'description', 'priority', 'stateId', 'labelIds', 'assigneeId'], 'IssueCreateInput');
    const team = this.findTeam(input.teamId);
    if (typeof input.title !== 'string' || input.title.trim() === '') throw inputError('Argument Validation Error', 'Title is required.');
    const stateId = input.stateId ? this.teamState(team.id, input.stateId).id : this.defaultState(team.id).id;
    const issue = this.addIssue(team, {
      title: input.title,
      description: input.description ?? null,
      priority: this.validPriority(input.priority ?? 0),
      stateId,
      labelIds: this.teamLabels(team.id, input.labelIds ?? []),
      assigneeId: input.assigneeId ? this.findUser(input.assigneeId).id : null,
    });
    return { success: true, lastSyncId: this.seq, issue: this.issueView(issue) };
  }

  private issueUpdate(id: string, input: Args): Record<string, unknown> {
    unsupportedKeys(input, ['title', 'description', 'priority', 'stateId', 'labelIds', 'assigneeId'], 'IssueUpdateInput');
    const issue = this.findIssue(id);
    if ('title' in input && input.title !== undefined) {
      if (typeof input.title !== 'string' || input.title.trim() === '') throw inputError('Argument Validation Error', 'Title must not be empty.');
      issue.title = input.title;
    }
    if ('description' in input) issue.description = input.description ?? null;
    if ('priority' in input && input.priority !== null) issue.priority = this.validPriority(input.priority);
    if ('stateId' in input && input.stateId) issue.stateId = this.teamState(issue.teamId, input.stateId).id;
    if ('labelIds' in input && input.labelIds) issue.labelIds = this.teamLabels(issue.teamId, input.labelIds);
    if ('assigneeId' in input) issue.assigneeId = input.assigneeId ? this.findUser(input.assigneeId).id : null;
    issue.updatedAt = this.now();
    return { success: true, lastSyncId: this.seq, issue: this.issueView(issue) };
  }

  private issueLabelChange(id: string, labelId: string, add: boolean): Record<string, unknown> {
    const issue = this.findIssue(id);
    const [label] = this.teamLabels(issue.teamId, [labelId]);
    const has = issue.labelIds.includes(label);
    if (add && !has) issue.labelIds.push(label);
    if (!add && has) issue.labelIds = issue.labelIds.filter((x) => x !== label);
    if (add !== has) issue.updatedAt = this.now();
    return { success: true, lastSyncId: this.seq, issue: this.issueView(issue) };
  }

  private issueLabelCreate(input: Args): Record<string, unknown> {
    unsupportedKeys(input, ['name', 'teamId', 'color', 'description'], 'IssueLabelCreateInput');
    const name = typeof input.name === 'string' ? input.name.trim() : '';
    if (!name) throw inputError('Argument Validation Error', 'Name is required.');
    const teamId = input.teamId ? this.findTeam(input.teamId).id : null;
    const clash = this.labels.find((l) => l.name.toLowerCase() === name.toLowerCase() && (l.teamId === teamId || l.teamId === null || teamId === null));
    if (clash) throw inputError('Duplicate label name', `A label named "${name}" already exists.`);
    return { success: true, lastSyncId: this.seq, issueLabel: this.labelView(this.addLabel(teamId, name, input.color)) };
  }

  private issueRelationCreate(input: Args): Record<string, unknown> {
    unsupportedKeys(input, ['issueId', 'relatedIssueId', 'type'], 'IssueRelationCreateInput');
    const from = this.findIssue(input.issueId);
    const to = this.findIssue(input.relatedIssueId);
    if (from.id === to.id) throw inputError('Argument Validation Error', 'An issue cannot be related to itself.');
    const relation: FakeRelation = { id: randomUUID(), type: input.type, issueId: from.id, relatedIssueId: to.id, createdAt: this.now() };
    this.relations.push(relation);
    from.updatedAt = to.updatedAt = relation.createdAt;
    return { success: true, lastSyncId: this.seq, issueRelation: this.relationView(relation) };
  }

  private commentCreate(input: Args): Record<string, unknown> {
    unsupportedKeys(input, ['issueId', 'body'], 'CommentCreateInput');
    if (!input.issueId) throw inputError('Argument Validation Error', 'issueId is required.');
    const issue = this.findIssue(input.issueId);
    if (typeof input.body !== 'string' || input.body.trim() === '') throw inputError('Argument Validation Error', 'Body is required.');
    const at = this.now();
    const comment: FakeComment = { id: randomUUID(), issueId: issue.id, userId: this.users[0].id, body: input.body, createdAt: at, updatedAt: at };
    this.comments.push(comment);
    return { success: true, lastSyncId: this.seq, comment: this.commentView(comment) };
  }

  // ---- state ---------------------------------------------------------------------------------

  private findIssue(idOrIdentifier: string): FakeIssue {
    const i = this.issue(idOrIdentifier);
    if (!i) throw entityNotFound('Issue');
    return i;
  }

  private findTeam(id: string): FakeTeam {
    const t = this.teams.find((x) => x.id === id);
    if (!t) throw entityNotFound('Team');
    return t;
  }

  private findUser(id: string): FakeUser {
    const u = this.users.find((x) => x.id === id);
    if (!u) throw entityNotFound('User');
    return u;
  }

  private teamState(teamId: string, stateId: string): FakeState {
    const s = this.states.find((x) => x.id === stateId);
    if (!s) throw entityNotFound('WorkflowState');
    if (s.teamId !== teamId) throw inputError('Argument Validation Error', 'The workflow state does not belong to the issue’s team.');
    return s;
  }

  /** Label ids usable on a team's issue (its own or workspace-wide), deduplicated. */
  private teamLabels(teamId: string, ids: readonly string[]): string[] {
    const out: string[] = [];
    for (const id of ids) {
      const l = this.labels.find((x) => x.id === id);
      if (!l) throw inputError('Entity not found: IssueLabel: labelIds contained an entry that could not be found.', 'Could not find referenced IssueLabel.');
      if (l.teamId !== null && l.teamId !== teamId) throw inputError('Argument Validation Error', 'The label belongs to another team.');
      if (!out.includes(l.id)) out.push(l.id);
    }
    return out;
  }

  private validPriority(p: unknown): number {
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0 || p > 4) throw inputError('Argument Validation Error', 'Priority must be 0 (none) to 4 (low).');
    return p;
  }

  /** Where new issues land: the team's first backlog state, else its first unstarted one. */
  private defaultState(teamId: string): FakeState {
    const own = this.states.filter((s) => s.teamId === teamId).sort((a, b) => a.position - b.position);
    return own.find((s) => s.type === 'backlog') ?? own.find((s) => s.type === 'unstarted') ?? own[0];
  }

  /** Strictly increasing ISO times, so updatedAt always moves forward. */
  private now(): string {
    this.lastTime = Math.max(Date.now(), this.lastTime + 1);
    return new Date(this.lastTime).toISOString();
  }

  private addLabel(teamId: string | null, name: string, color?: string): FakeLabel {
    const label: FakeLabel = { id: randomUUID(), teamId, name, color: color ?? '#bec2c8', createdAt: this.now() };
    this.labels.push(label);
    return label;
  }

  private addIssue(team: FakeTeam, p: Pick<FakeIssue, 'title' | 'description' | 'priority' | 'stateId' | 'labelIds' | 'assigneeId'>): FakeIssue {
    const number = Math.max(0, ...this.issues.filter((i) => i.teamId === team.id).map((i) => i.number)) + 1;
    const at = this.now();
    const issue: FakeIssue = { id: randomUUID(), teamId: team.id, number, identifier: `${team.key}-${number}`, ...p, createdAt: at, updatedAt: at };
    this.issues.push(issue);
    return issue;
  }

  private seed(): void {
    const at = this.now();
    const eng: FakeTeam = { id: randomUUID(), key: 'ENG', name: 'Engineering', createdAt: at };
    const des: FakeTeam = { id: randomUUID(), key: 'DES', name: 'Design', createdAt: at };
    this.teams.push(eng, des);
    const states: [string, FakeState['type'], string][] = [
      ['Backlog', 'backlog', '#bec2c8'],
      ['Todo', 'unstarted', '#e2e2e2'],
      ['In Progress', 'started', '#f2c94c'],
      ['Blocked', 'started', '#eb5757'],
      ['Done', 'completed', '#5e6ad2'],
      ['Canceled', 'canceled', '#95a2b3'],
    ];
    for (const team of [eng, des]) {
      states.forEach(([name, type, color], position) => this.states.push({ id: randomUUID(), teamId: team.id, name, type, position, color, createdAt: at }));
    }
    for (const name of ['frontend', 'backend', 'bug']) this.addLabel(eng.id, name);
    this.addLabel(null, 'security');
    this.addLabel(des.id, 'design-only');
    const people: [string, string, boolean][] = [
      ['Alice Adams', 'alice@example.com', true],
      ['Bob Brown', 'bob@example.com', true],
      ['Carol Clark', 'carol@example.com', false],
    ];
    for (const [name, email, active] of people) this.users.push({ id: randomUUID(), name, displayName: name.split(' ')[0].toLowerCase(), email, active, createdAt: at });
    // Numbers start where a team with some history would be, so new issues are ENG-12 onwards.
    const done = this.states.find((s) => s.teamId === eng.id && s.name === 'Done')!;
    const canceled = this.states.find((s) => s.teamId === eng.id && s.name === 'Canceled')!;
    this.issues.push({ ...this.blankIssue(eng, 10), title: 'Set up CI', stateId: done.id, priority: 2 });
    this.issues.push({ ...this.blankIssue(eng, 11), title: 'Try the old build tool', stateId: canceled.id, priority: 4 });
    this.issues.push({ ...this.blankIssue(des, 1), title: 'Draw the logo', stateId: this.defaultState(des.id).id });
  }

  private blankIssue(team: FakeTeam, number: number): FakeIssue {
    const at = this.now();
    return { id: randomUUID(), teamId: team.id, number, identifier: `${team.key}-${number}`, title: '', description: null, priority: 0, stateId: '', assigneeId: null, labelIds: [], createdAt: at, updatedAt: at };
  }
}

/** Starts a fake Linear API on 127.0.0.1 (a free port). */
export async function startFakeLinear(opts: FakeLinearOptions = {}): Promise<FakeLinear> {
  return new FakeLinear(opts).start();
}

function operationNameOf(doc: DocumentNode | undefined, requested: unknown): string | null {
  if (typeof requested === 'string') return requested;
  for (const def of doc?.definitions ?? []) if (def.kind === Kind.OPERATION_DEFINITION) return def.name?.value ?? null;
  return null;
}

function unsupportedKeys(input: Args, supported: readonly string[], type: string): void {
  for (const k of Object.keys(input)) if (!supported.includes(k)) throw notImplemented(`${type}.${k}`);
}

const COMPARATORS = new Set(['eq', 'neq', 'in', 'nin', 'null', 'eqIgnoreCase', 'neqIgnoreCase', 'contains', 'containsIgnoreCase', 'startsWith', 'endsWith', 'gt', 'gte', 'lt', 'lte']);

/**
 * Linear's filter semantics over a projection of an entity: `and`/`or` lists, comparators on
 * scalar fields, nested filters on relations (with `null: true|false` for nullable ones). A key
 * the projection lacks is refused rather than ignored.
 */
function matches(value: Record<string, unknown> | null, filter: unknown, where: string): boolean {
  if (filter === undefined || filter === null) return true;
  if (typeof filter !== 'object') throw notImplemented(`${where} value ${JSON.stringify(filter)}`);
  for (const [key, cond] of Object.entries(filter as Record<string, unknown>)) {
    if (cond === undefined) continue;
    if (key === 'and') {
      if (!(cond as unknown[]).every((f) => matches(value, f, where))) return false;
      continue;
    }
    if (key === 'or') {
      if (!(cond as unknown[]).some((f) => matches(value, f, where))) return false;
      continue;
    }
    if (key === 'null') {
      if ((value === null) !== cond) return false;
      continue;
    }
    if (value === null) return false;
    if (!(key in value)) throw notImplemented(`filtering on ${where}.${key}`);
    const v = value[key];
    const isRelation = v === null ? !Object.keys(cond as object).some((k) => COMPARATORS.has(k) && k !== 'null') : typeof v === 'object';
    if (isRelation) {
      if (!matches(v as Record<string, unknown> | null, cond, `${where}.${key}`)) return false;
    } else if (!compare(v, cond as Record<string, unknown>, `${where}.${key}`)) return false;
  }
  return true;
}

function compare(v: unknown, cmp: Record<string, unknown>, where: string): boolean {
  const str = (x: unknown): string => (typeof x === 'string' ? x : JSON.stringify(x));
  const lower = (x: unknown): string => str(x).toLowerCase();
  for (const [op, arg] of Object.entries(cmp)) {
    if (arg === undefined) continue;
    let ok: boolean;
    switch (op) {
      case 'eq':
        ok = v === arg;
        break;
      case 'neq':
        ok = v !== arg;
        break;
      case 'in':
        ok = (arg as unknown[]).includes(v);
        break;
      case 'nin':
        ok = !(arg as unknown[]).includes(v);
        break;
      case 'null':
        ok = (v === null || v === undefined) === arg;
        break;
      case 'eqIgnoreCase':
        ok = v !== null && lower(v) === lower(arg);
        break;
      case 'neqIgnoreCase':
        ok = v === null || lower(v) !== lower(arg);
        break;
      case 'contains':
        ok = typeof v === 'string' && v.includes(str(arg));
        break;
      case 'containsIgnoreCase':
        ok = typeof v === 'string' && lower(v).includes(lower(arg));
        break;
      case 'startsWith':
        ok = typeof v === 'string' && v.startsWith(str(arg));
        break;
      case 'endsWith':
        ok = typeof v === 'string' && v.endsWith(str(arg));
        break;
      case 'gt':
        ok = (v as number) > (arg as number);
        break;
      case 'gte':
        ok = (v as number) >= (arg as number);
        break;
      case 'lt':
        ok = (v as number) < (arg as number);
        break;
      case 'lte':
        ok = (v as number) <= (arg as number);
        break;
      default:
        throw notImplemented(`comparator ${where}.${op}`);
    }
    if (!ok) return false;
  }
  return true;
}
