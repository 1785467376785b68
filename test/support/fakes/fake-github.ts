import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { schema as octokitSchema } from '@octokit/graphql-schema';
import {
  buildASTSchema,
  execute,
  GraphQLError,
  Kind,
  parse,
  validate,
  type DefinitionNode,
  type DocumentNode,
  type FieldDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type TypeNode,
} from 'graphql';

/*
 * A FAKE of the GitHub GraphQL API (`POST /graphql`), for tests only. It is not GitHub and never
 * talks to it: a node:http server on 127.0.0.1 that executes requests for real with the `graphql`
 * package against a SUBSET of GitHub's published schema, cut at start-up out of
 * `@octokit/graphql-schema` (schema.graphql) with GitHub's own type, field and argument names,
 * argument defaults and nullability, over in-memory state. Fields outside the subset fail
 * validation with GitHub's message ("Field 'x' doesn't exist on type 'Y'"), so a document that asks
 * for something the fake does not model fails loudly instead of reading null.
 *
 *   Query     node(id), repository(owner, name) { id name nameWithOwner issue(number) label(name) },
 *             organization(login) / user(login) { id login projectV2(number) }
 *   Project   ProjectV2 { id number title field(name) items }, ProjectV2SingleSelectField { options },
 *             ProjectV2Item { id isArchived type content project fieldValueByName(name) }
 *   Issue     id number title body state closed closedAt createdAt updatedAt url repository
 *             labels assignees comments projectItems(includeArchived)
 *   Mutation  createIssue, updateIssue (title, body, state), closeIssue, reopenIssue, addComment,
 *             createLabel, addLabelsToLabelable, addAssigneesToAssignable,
 *             removeAssigneesFromAssignable, addProjectV2ItemById, updateProjectV2ItemFieldValue
 *             (singleSelectOptionId)
 *
 * Behaviour copied from GitHub (https://docs.github.com/graphql):
 *   - a request without a User-Agent header is refused 403 (text/html) "Request forbidden by
 *     administrative rules", as api.github.com does
 *     (https://docs.github.com/rest/using-the-rest-api/getting-started-with-the-rest-api#user-agent).
 *   - auth: `Authorization: bearer <token>` (or `token <token>`); none is 401 "This endpoint requires
 *     you to be authenticated.", a wrong one 401 "Bad credentials" (JSON {message, documentation_url}).
 *   - answers are HTTP 200 with `data` and/or `errors`; an unknown id is `{"data":{"node":null},
 *     "errors":[{"type":"NOT_FOUND","path":["node"],"message":"Could not resolve to a node with the
 *     global id of '...'"}]}`, and likewise for repository, issue(number), user, organization and
 *     projectV2(number) lookups; invalid input is type UNPROCESSABLE.
 *   - connections need `first` (or `last`): none is MISSING_PAGINATION_BOUNDARIES, over 100 is
 *     EXCESSIVE_PAGINATION; cursors are opaque base64. This fake pages at `pageCap` (default 10)
 *     items whatever `first` asks, so clients must follow `pageInfo { hasNextPage endCursor }`.
 *   - rate limits (https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api):
 *     every answer carries x-ratelimit-limit/-remaining/-used/-reset (epoch seconds)/-resource.
 *     `rateLimitNext(n)` answers a secondary limit: HTTP 403 (or 429) "You have exceeded a secondary
 *     rate limit", with x-ratelimit-remaining 0 and x-ratelimit-reset unless `resetHeaders: false`,
 *     and retry-after when asked;
 *     `rateLimitNext(n, { kind: 'primary' })` answers an exhausted GraphQL budget the way GitHub
 *     does: HTTP 200, `errors: [{type: "RATE_LIMITED", code: "graphql_rate_limit"}]`, remaining 0.
 *
 * Not modelled: `last`/`before` paging, permissions and scopes, project workflows (GitHub's
 * default "Item closed → Done" automation), field values other than single-select.
 *
 * Test controls: setDown(true|false) (every request 503), failNext(n, status), rateLimitNext(n),
 * `requests` (method, path, GraphQL operation name, variables, status), and seeding helpers.
 */

// ---------------------------------------------------------------------------------------------
// The schema subset

/** Object, interface and union types the fake serves, with the fields it resolves. */
const SUBSET: Record<string, readonly string[]> = {
  Query: ['node', 'repository', 'organization', 'user'],
  Mutation: [
    'createIssue',
    'updateIssue',
    'closeIssue',
    'reopenIssue',
    'addComment',
    'createLabel',
    'addLabelsToLabelable',
    'addAssigneesToAssignable',
    'removeAssigneesFromAssignable',
    'addProjectV2ItemById',
    'updateProjectV2ItemFieldValue',
  ],
  Node: ['id'],
  Assignable: ['assignees'],
  Labelable: ['labels'],
  Repository: ['id', 'name', 'nameWithOwner', 'issue', 'label'],
  Organization: ['id', 'login', 'projectV2'],
  User: ['id', 'login', 'projectV2'],
  ProjectV2: ['id', 'number', 'title', 'field', 'items'],
  ProjectV2FieldConfiguration: [],
  ProjectV2Field: ['id', 'name', 'dataType'],
  ProjectV2IterationField: ['id', 'name', 'dataType'],
  ProjectV2SingleSelectField: ['id', 'name', 'dataType', 'options'],
  ProjectV2SingleSelectFieldOption: ['id', 'name', 'color', 'description'],
  ProjectV2ItemConnection: ['edges', 'nodes', 'pageInfo', 'totalCount'],
  ProjectV2ItemEdge: ['cursor', 'node'],
  ProjectV2Item: ['id', 'isArchived', 'type', 'createdAt', 'updatedAt', 'project', 'content', 'fieldValueByName'],
  ProjectV2ItemContent: [],
  DraftIssue: ['id', 'title', 'body'],
  PullRequest: ['id', 'number', 'title'],
  ProjectV2ItemFieldValue: [],
  ProjectV2ItemFieldSingleSelectValue: ['id', 'name', 'optionId'],
  Issue: ['id', 'number', 'title', 'body', 'state', 'closed', 'closedAt', 'createdAt', 'updatedAt', 'url', 'repository', 'labels', 'assignees', 'comments', 'projectItems'],
  IssueComment: ['id', 'body', 'createdAt', 'updatedAt'],
  IssueCommentConnection: ['edges', 'nodes', 'pageInfo', 'totalCount'],
  IssueCommentEdge: ['cursor', 'node'],
  Label: ['id', 'name', 'color', 'description'],
  LabelConnection: ['edges', 'nodes', 'pageInfo', 'totalCount'],
  LabelEdge: ['cursor', 'node'],
  UserConnection: ['edges', 'nodes', 'pageInfo', 'totalCount'],
  UserEdge: ['cursor', 'node'],
  PageInfo: ['endCursor', 'hasNextPage', 'hasPreviousPage', 'startCursor'],
  CreateIssuePayload: ['clientMutationId', 'issue'],
  UpdateIssuePayload: ['clientMutationId', 'issue'],
  CloseIssuePayload: ['clientMutationId', 'issue'],
  ReopenIssuePayload: ['clientMutationId', 'issue'],
  AddCommentPayload: ['clientMutationId', 'commentEdge', 'subject'],
  CreateLabelPayload: ['clientMutationId', 'label'],
  AddLabelsToLabelablePayload: ['clientMutationId', 'labelable'],
  AddAssigneesToAssignablePayload: ['clientMutationId', 'assignable'],
  RemoveAssigneesFromAssignablePayload: ['clientMutationId', 'assignable'],
  AddProjectV2ItemByIdPayload: ['clientMutationId', 'item'],
  UpdateProjectV2ItemFieldValuePayload: ['clientMutationId', 'projectV2Item'],
};

const BUILTIN_SCALARS = new Set(['String', 'Int', 'Float', 'Boolean', 'ID']);

const namedType = (t: TypeNode): string => (t.kind === Kind.NAMED_TYPE ? t.name.value : namedType(t.type));

let cachedSubset: GraphQLSchema | undefined;

/**
 * The subset of GitHub's schema the fake serves: the SUBSET types with only the listed fields
 * (definitions, arguments, defaults and nullability untouched), every input object, enum and
 * scalar they reach, the interfaces they still fully implement and the union members kept.
 */
export function githubSubsetSchema(): GraphQLSchema {
  if (cachedSubset) return cachedSubset;
  const full = parse(octokitSchema.idl, { noLocation: true });
  const defs = new Map<string, DefinitionNode>();
  const directives: DefinitionNode[] = [];
  for (const d of full.definitions) {
    if (d.kind === Kind.DIRECTIVE_DEFINITION) directives.push(d);
    // The published SDL defines a few fields twice (EnterpriseOwnerInfo); the first one wins here.
    else if ('name' in d && d.name && !defs.has(d.name.value)) defs.set(d.name.value, d);
  }
  const out = new Map<string, DefinitionNode>();
  const keptFields = new Map<string, Set<string>>();

  const need = (name: string, from: string): void => {
    if (BUILTIN_SCALARS.has(name) || out.has(name)) return;
    const d = defs.get(name);
    if (!d) throw new Error(`fake GitHub schema: ${from} uses ${name}, which the published schema lacks`);
    if (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.INTERFACE_TYPE_DEFINITION || d.kind === Kind.UNION_TYPE_DEFINITION) {
      if (!(name in SUBSET)) throw new Error(`fake GitHub schema: ${from} returns ${name}, which is not in the subset`);
      return;
    }
    if (d.kind === Kind.INPUT_OBJECT_TYPE_DEFINITION) {
      out.set(name, d);
      for (const f of d.fields ?? []) need(namedType(f.type), `${name}.${f.name.value}`);
      return;
    }
    if (d.kind === Kind.ENUM_TYPE_DEFINITION || d.kind === Kind.SCALAR_TYPE_DEFINITION) {
      out.set(name, d);
      return;
    }
    throw new Error(`fake GitHub schema: unexpected definition for ${name}`);
  };

  for (const [name, fields] of Object.entries(SUBSET)) {
    const d = defs.get(name);
    if (!d) throw new Error(`fake GitHub schema: no type ${name} in the published schema`);
    if (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.INTERFACE_TYPE_DEFINITION) {
      const kept: FieldDefinitionNode[] = [];
      for (const f of fields) {
        const def = d.fields?.find((x) => x.name.value === f);
        if (!def) throw new Error(`fake GitHub schema: ${name}.${f} is not in the published schema`);
        kept.push(def);
        need(namedType(def.type), `${name}.${f}`);
        for (const a of def.arguments ?? []) need(namedType(a.type), `${name}.${f}(${a.name.value})`);
      }
      keptFields.set(name, new Set(fields));
      out.set(name, { ...d, fields: kept });
    } else if (d.kind !== Kind.UNION_TYPE_DEFINITION) {
      throw new Error(`fake GitHub schema: ${name} is not an object, interface or union`);
    }
  }
  // Interfaces stay only where the type still has all their kept fields; unions keep kept members.
  const implementsAll = (type: string, iface: string): boolean => {
    const own = keptFields.get(type);
    const wanted = keptFields.get(iface);
    return !!own && !!wanted && [...wanted].every((f) => own.has(f));
  };
  for (const [name, d] of out) {
    if (d.kind === Kind.OBJECT_TYPE_DEFINITION || d.kind === Kind.INTERFACE_TYPE_DEFINITION) {
      out.set(name, { ...d, interfaces: (d.interfaces ?? []).filter((i) => keptFields.has(i.name.value) && implementsAll(name, i.name.value)) });
    }
  }
  for (const name of Object.keys(SUBSET)) {
    const d = defs.get(name)!;
    if (d.kind === Kind.UNION_TYPE_DEFINITION) out.set(name, { ...d, types: (d.types ?? []).filter((t) => t.name.value in SUBSET) });
  }
  const doc: DocumentNode = { kind: Kind.DOCUMENT, definitions: [...directives, ...out.values()] };
  cachedSubset = buildASTSchema(doc);
  return cachedSubset;
}

// ---------------------------------------------------------------------------------------------
// State

type IssueState = 'OPEN' | 'CLOSED';

interface UserRec {
  id: string;
  login: string;
}
interface OwnerRec extends UserRec {
  type: 'Organization' | 'User';
}
interface RepoRec {
  id: string;
  owner: string;
  name: string;
  nextNumber: number;
}
interface LabelRec {
  id: string;
  repositoryId: string;
  name: string;
  color: string;
  description: string | null;
}
interface CommentRec {
  id: string;
  body: string;
  createdAt: string;
  updatedAt: string;
}
interface IssueRec {
  id: string;
  repositoryId: string;
  number: number;
  title: string;
  body: string;
  state: IssueState;
  stateReason: string | null;
  closedAt: string | null;
  createdAt: string;
  updatedAt: string;
  labelIds: string[];
  assigneeIds: string[];
  comments: CommentRec[];
}
interface DraftRec {
  id: string;
  title: string;
  body: string;
}
interface OptionRec {
  id: string;
  name: string;
  color: string;
  description: string;
}
interface FieldRec {
  id: string;
  name: string;
  dataType: 'TITLE' | 'TEXT' | 'SINGLE_SELECT';
  options: OptionRec[];
}
interface ItemRec {
  id: string;
  projectId: string;
  type: 'ISSUE' | 'DRAFT_ISSUE';
  contentId: string;
  isArchived: boolean;
  createdAt: string;
  updatedAt: string;
  /** field id → single-select option id */
  values: Map<string, string>;
}
interface ProjectRec {
  id: string;
  ownerId: string;
  number: number;
  title: string;
  fields: FieldRec[];
  items: ItemRec[];
}

/** An error GitHub reports in `errors[]` with a `type`. */
class GitHubApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

const notFoundNode = (id: string): GitHubApiError => new GitHubApiError('NOT_FOUND', `Could not resolve to a node with the global id of '${id}'`);
const unsupported = (what: string): GitHubApiError => new GitHubApiError('UNPROCESSABLE', `${what} is not supported by this fake`);

/** GitHub's timestamps: ISO 8601 to the second. */
const isoNow = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export interface FakeGitHubRequest {
  seq: number;
  method: string;
  path: string;
  /** The GraphQL operation name, when the body held a parsable document. */
  operation: string | null;
  variables: Record<string, unknown> | undefined;
  /** The Authorization scheme sent (lower case), or null without one. */
  authScheme: string | null;
  userAgent: string | null;
  status: number;
  at: number;
}

export interface RateLimitOptions {
  /** 'secondary' (default): HTTP 403/429 "secondary rate limit"; 'primary': HTTP 200 with a RATE_LIMITED error. */
  kind?: 'secondary' | 'primary';
  /** Status of a secondary limit (default 403). */
  status?: 403 | 429;
  /** x-ratelimit-reset lies this far ahead (rounded up to the second; default 1000). */
  resetInMs?: number;
  /** Adds retry-after (seconds). */
  retryAfterSeconds?: number;
  /** Send x-ratelimit-remaining 0 and x-ratelimit-reset (default true); false leaves a limit that names no wait unless retry-after does. */
  resetHeaders?: boolean;
}

export interface FakeGitHubOptions {
  token?: string;
  owner?: string;
  ownerType?: 'organization' | 'user';
  repo?: string;
  projectNumber?: number;
  statusField?: string;
  statusOptions?: string[];
  /** Users that exist (and may be assigned); default alice, bob, carol. */
  users?: string[];
  /** Largest page any connection answers (default 10). */
  pageCap?: number;
  /** Where the endpoint lives (default /graphql; GitHub Enterprise Server serves /api/graphql). */
  path?: string;
}

export interface SeedIssue {
  title: string;
  body?: string;
  state?: IssueState;
  /** Status option name to set on the item. */
  status?: string;
  labels?: string[];
  assignees?: string[];
  /** Add it to the project (default true). */
  inProject?: boolean;
  archived?: boolean;
  /** Another repository of the same owner (created on demand). */
  repo?: string;
}

const RATE_LIMIT = 5000;

export class FakeGitHub {
  url = '';
  port = 0;
  readonly token: string;
  readonly owner: string;
  readonly repo: string;
  readonly projectNumber: number;
  readonly statusField: string;
  /** Every request received, in arrival order. */
  readonly requests: FakeGitHubRequest[] = [];

  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly schema = githubSubsetSchema();
  private readonly pageCap: number;
  private readonly path: string;
  private seq = 0;
  private idSeq = 0;
  private down = false;
  private readonly failures: number[] = [];
  private readonly rateLimits: RateLimitOptions[] = [];
  private remaining = RATE_LIMIT;
  private readonly windowReset = Math.ceil(Date.now() / 1000) + 3600;
  private readonly parsed = new Map<string, DocumentNode | GraphQLError>();

  private readonly owners = new Map<string, OwnerRec>();
  private readonly repos = new Map<string, RepoRec>();
  private readonly labels = new Map<string, LabelRec>();
  private readonly issues = new Map<string, IssueRec>();
  private readonly drafts = new Map<string, DraftRec>();
  private readonly projects = new Map<string, ProjectRec>();
  private readonly items = new Map<string, ItemRec>();
  private readonly comments = new Map<string, { issueId: string; comment: CommentRec }>();
  private readonly project: ProjectRec;
  private readonly repository: RepoRec;

  constructor(opts: FakeGitHubOptions = {}) {
    this.token = opts.token ?? `ghp_${randomBytes(18).toString('hex')}`;
    this.owner = opts.owner ?? 'acme';
    this.repo = opts.repo ?? 'widgets';
    this.projectNumber = opts.projectNumber ?? 1;
    this.statusField = opts.statusField ?? 'Status';
    this.pageCap = opts.pageCap ?? 10;
    this.path = opts.path ?? '/graphql';
    const ownerType = opts.ownerType ?? 'organization';
    const owner: OwnerRec = { id: this.newId(ownerType === 'organization' ? 'O_kgDO' : 'U_kgDO'), login: this.owner, type: ownerType === 'organization' ? 'Organization' : 'User' };
    this.owners.set(owner.login.toLowerCase(), owner);
    for (const login of opts.users ?? ['alice', 'bob', 'carol']) this.addUser(login);
    this.repository = this.addRepo(this.repo);
    this.project = {
      id: this.newId('PVT_kwDO'),
      ownerId: owner.id,
      number: this.projectNumber,
      title: 'Roadmap',
      fields: [
        { id: this.newId('PVTF_lADO'), name: 'Title', dataType: 'TITLE', options: [] },
        {
          id: this.newId('PVTSSF_lADO'),
          name: this.statusField,
          dataType: 'SINGLE_SELECT',
          options: (opts.statusOptions ?? ['Todo', 'In Progress', 'Blocked', 'Done']).map((name) => ({ id: randomBytes(4).toString('hex'), name, color: 'GRAY', description: '' })),
        },
      ],
      items: [],
    };
    this.projects.set(this.project.id, this.project);
  }

  // ---- lifecycle and controls ----------------------------------------------------------------

  async start(): Promise<void> {
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
    this.port = (server.address() as AddressInfo).port;
    this.url = `http://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** The next n requests are answered with `status`. */
  failNext(n: number, status = 502): void {
    for (let i = 0; i < n; i++) this.failures.push(status);
  }

  /** The next n requests are answered with GitHub's rate-limit response (see RateLimitOptions). */
  rateLimitNext(n: number, opts: RateLimitOptions = {}): void {
    for (let i = 0; i < n; i++) this.rateLimits.push(opts);
  }

  /** How many requests ran the named GraphQL operation. */
  count(operation: string): number {
    return this.requests.filter((r) => r.operation === operation).length;
  }

  // ---- seeding and inspection ----------------------------------------------------------------

  addUser(login: string): string {
    const id = this.newId('U_kgDO');
    this.owners.set(login.toLowerCase(), { id, login, type: 'User' });
    return id;
  }

  /** Creates an issue the way someone using GitHub would, optionally on the project. */
  seedIssue(s: SeedIssue): { id: string; number: number; itemId: string | null } {
    const repo = s.repo ? (this.findRepo(this.owner, s.repo) ?? this.addRepo(s.repo)) : this.repository;
    const issue = this.createIssueRec(repo, s.title, s.body ?? '');
    for (const name of s.labels ?? []) issue.labelIds.push(this.findLabel(repo.id, name)?.id ?? this.createLabelRec(repo.id, name, 'ededed').id);
    for (const login of s.assignees ?? []) issue.assigneeIds.push(this.owners.get(login.toLowerCase())!.id);
    if (s.state === 'CLOSED') this.setState(issue, 'CLOSED');
    let itemId: string | null = null;
    if (s.inProject !== false) {
      const item = this.addItem(this.project, 'ISSUE', issue.id);
      item.isArchived = !!s.archived;
      itemId = item.id;
      if (s.status) this.setStatus(issue.id, s.status);
    }
    return { id: issue.id, number: issue.number, itemId };
  }

  /** A draft issue on the project (not an issue of any repository). */
  seedDraft(title: string, body = ''): string {
    const draft: DraftRec = { id: this.newId('DI_lADO'), title, body };
    this.drafts.set(draft.id, draft);
    return this.addItem(this.project, 'DRAFT_ISSUE', draft.id).id;
  }

  /** The issue (by node id or number in the main repository), as stored. */
  issue(ref: string | number): { id: string; number: number; title: string; body: string; state: IssueState; labels: string[]; assignees: string[]; comments: string[]; status: string | null } | undefined {
    const rec = typeof ref === 'number' ? [...this.issues.values()].find((i) => i.repositoryId === this.repository.id && i.number === ref) : this.issues.get(ref);
    if (!rec) return undefined;
    return {
      id: rec.id,
      number: rec.number,
      title: rec.title,
      body: rec.body,
      state: rec.state,
      labels: rec.labelIds.map((l) => this.labels.get(l)!.name),
      assignees: rec.assigneeIds.map((u) => this.userById(u)!.login),
      comments: rec.comments.map((c) => c.body),
      status: this.statusOf(rec.id),
    };
  }

  /** Closes or reopens an issue directly (someone clicking "Close issue"). */
  setIssueState(id: string, state: IssueState): void {
    this.setState(this.issues.get(id)!, state);
  }

  /** Sets the project Status of an issue directly (someone dragging the card). */
  setStatus(issueId: string, optionName: string): void {
    const item = this.project.items.find((i) => i.contentId === issueId)!;
    const field = this.statusFieldRec();
    const option = field.options.find((o) => o.name === optionName);
    if (!option) throw new Error(`fake GitHub: no ${this.statusField} option ${optionName}`);
    item.values.set(field.id, option.id);
  }

  statusOf(issueId: string): string | null {
    const item = this.project.items.find((i) => i.contentId === issueId);
    const field = this.statusFieldRec();
    const optionId = item?.values.get(field.id);
    return field.options.find((o) => o.id === optionId)?.name ?? null;
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://github.test');
    const rec: FakeGitHubRequest = {
      seq: ++this.seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      operation: null,
      variables: undefined,
      authScheme: /^(\S+)\s/.exec(req.headers.authorization ?? '')?.[1]?.toLowerCase() ?? null,
      userAgent: req.headers['user-agent'] || null,
      status: 0,
      at: Date.now(),
    };
    this.requests.push(rec);
    let body: { query?: unknown; variables?: unknown; operationName?: unknown } | undefined;
    try {
      body = raw ? (JSON.parse(raw) as typeof body) : undefined;
    } catch {
      body = undefined;
    }
    const doc = typeof body?.query === 'string' ? this.parseCached(body.query) : undefined;
    if (doc && !(doc instanceof GraphQLError)) rec.operation = operationName(doc, body?.operationName);
    if (body?.variables && typeof body.variables === 'object') rec.variables = body.variables as Record<string, unknown>;

    const requestId = `${randomBytes(2).toString('hex').toUpperCase()}:${randomBytes(3).toString('hex').toUpperCase()}`;
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}): void => {
      rec.status = status;
      res.writeHead(status, {
        'content-type': 'application/json; charset=utf-8',
        'x-github-request-id': requestId,
        'x-ratelimit-limit': String(RATE_LIMIT),
        'x-ratelimit-remaining': String(this.remaining),
        'x-ratelimit-used': String(RATE_LIMIT - this.remaining),
        'x-ratelimit-reset': String(this.windowReset),
        'x-ratelimit-resource': 'graphql',
        ...headers,
      });
      res.end(JSON.stringify(payload));
    };

    if (this.down) return send(503, { message: 'Service Unavailable' });
    const failure = this.failures.shift();
    if (failure !== undefined) return send(failure, { message: failure >= 500 ? 'Server Error' : 'Error' });
    const limit = this.rateLimits.shift();
    if (limit) return this.sendRateLimit(send, limit, requestId);
    if (!rec.userAgent) {
      rec.status = 403;
      res.writeHead(403, { 'content-type': 'text/html', connection: 'close' });
      res.end('Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required). Check https://developer.github.com for other possible causes.\n');
      return;
    }
    if (url.pathname !== this.path || rec.method !== 'POST') return send(404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' });

    const auth = /^(?:bearer|token)\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    if (!req.headers.authorization) {
      return send(401, { message: 'This endpoint requires you to be authenticated.', documentation_url: 'https://docs.github.com/graphql/guides/forming-calls-with-graphql#authenticating-with-graphql', status: '401' });
    }
    if (!auth || auth[1] !== this.token) return send(401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/graphql', status: '401' });
    this.remaining = Math.max(0, this.remaining - 1);

    if (raw && body === undefined) return send(400, { message: 'Problems parsing JSON', documentation_url: 'https://docs.github.com/graphql', status: '400' });
    if (typeof body?.query !== 'string') return send(200, { errors: [{ message: 'A query attribute must be specified and must be a string.' }] });
    if (doc instanceof GraphQLError) return send(200, { errors: [{ message: doc.message, locations: doc.locations }] });
    const problems = validate(this.schema, doc!);
    if (problems.length > 0) return send(200, { errors: problems.map(validationError) });
    const result = await execute({
      schema: this.schema,
      document: doc!,
      rootValue: this.root(),
      variableValues: (rec.variables ?? {}),
      operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
    });
    const answer: Record<string, unknown> = {};
    if (result.data !== undefined) answer.data = result.data;
    if (result.errors?.length) answer.errors = result.errors.map(executionError);
    send(200, answer);
  }

  private sendRateLimit(send: (status: number, payload: unknown, headers?: Record<string, string>) => void, o: RateLimitOptions, requestId: string): void {
    const reset = String(Math.ceil((Date.now() + (o.resetInMs ?? 1000)) / 1000));
    const retryAfter: Record<string, string> = o.retryAfterSeconds !== undefined ? { 'retry-after': String(o.retryAfterSeconds) } : {};
    if (o.kind === 'primary') {
      return send(
        200,
        { errors: [{ type: 'RATE_LIMITED', code: 'graphql_rate_limit', message: 'API rate limit already exceeded for user ID 1.' }] },
        { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': reset, ...retryAfter },
      );
    }
    const status = o.status ?? 403;
    const headers = o.resetHeaders === false ? retryAfter : { 'x-ratelimit-remaining': '0', 'x-ratelimit-used': String(RATE_LIMIT), 'x-ratelimit-reset': reset, ...retryAfter };
    send(
      status,
      {
        message: `You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID ${requestId}.`,
        documentation_url: 'https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api#secondary-rate-limits',
        status: String(status),
      },
      headers,
    );
  }

  private parseCached(query: string): DocumentNode | GraphQLError {
    let doc = this.parsed.get(query);
    if (!doc) {
      try {
        doc = parse(query);
      } catch (err) {
        doc = err instanceof GraphQLError ? err : new GraphQLError(String(err));
      }
      this.parsed.set(query, doc);
    }
    return doc;
  }

  // ---- resolvers -----------------------------------------------------------------------------

  private root(): Record<string, unknown> {
    return {
      node: ({ id }: { id: string }) => this.nodeView(id) ?? fail(notFoundNode(id)),
      repository: ({ owner, name }: { owner: string; name: string }) => {
        const repo = this.findRepo(owner, name);
        return repo ? this.repoView(repo) : fail(new GitHubApiError('NOT_FOUND', `Could not resolve to a Repository with the name '${owner}/${name}'.`));
      },
      organization: ({ login }: { login: string }) => {
        const o = this.owners.get(login.toLowerCase());
        return o?.type === 'Organization' ? this.ownerView(o) : fail(new GitHubApiError('NOT_FOUND', `Could not resolve to an Organization with the login of '${login}'.`));
      },
      user: ({ login }: { login: string }) => {
        const o = this.owners.get(login.toLowerCase());
        return o?.type === 'User' ? this.ownerView(o) : fail(new GitHubApiError('NOT_FOUND', `Could not resolve to a User with the login of '${login}'.`));
      },
      createIssue: ({ input }: { input: Record<string, any> }) => {
        for (const k of ['milestoneId', 'projectIds', 'issueTemplate', 'parentIssueId']) if (input[k] != null) throw unsupported(`createIssue ${k}`);
        const repo = [...this.repos.values()].find((r) => r.id === input.repositoryId);
        if (!repo) throw notFoundNode(String(input.repositoryId));
        if (!String(input.title).trim()) throw new GitHubApiError('UNPROCESSABLE', "Title can't be blank");
        const labelIds: string[] = (input.labelIds as string[] | null) ?? [];
        for (const l of labelIds) if (this.labels.get(l)?.repositoryId !== repo.id) throw notFoundNode(l);
        const assigneeIds: string[] = (input.assigneeIds as string[] | null) ?? [];
        for (const u of assigneeIds) if (!this.userById(u)) throw notFoundNode(u);
        const issue = this.createIssueRec(repo, String(input.title), (input.body as string | null) ?? '');
        issue.labelIds.push(...new Set(labelIds));
        issue.assigneeIds.push(...new Set(assigneeIds));
        return { clientMutationId: input.clientMutationId ?? null, issue: this.issueView(issue) };
      },
      updateIssue: ({ input }: { input: Record<string, any> }) => {
        for (const k of ['assigneeIds', 'labelIds', 'milestoneId', 'projectIds']) if (input[k] != null) throw unsupported(`updateIssue ${k}`);
        const issue = this.mustIssue(String(input.id));
        if (input.title != null) {
          if (!String(input.title).trim()) throw new GitHubApiError('UNPROCESSABLE', "Title can't be blank");
          issue.title = String(input.title);
        }
        if (input.body != null) issue.body = String(input.body);
        if (input.state != null) this.setState(issue, input.state as IssueState);
        issue.updatedAt = isoNow();
        return { clientMutationId: input.clientMutationId ?? null, issue: this.issueView(issue) };
      },
      closeIssue: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.issueId));
        if (input.duplicateIssueId != null) throw unsupported('closeIssue duplicateIssueId');
        if (issue.state !== 'CLOSED') {
          this.setState(issue, 'CLOSED');
          issue.stateReason = (input.stateReason as string | null) ?? 'COMPLETED';
        }
        return { clientMutationId: input.clientMutationId ?? null, issue: this.issueView(issue) };
      },
      reopenIssue: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.issueId));
        if (issue.state !== 'OPEN') this.setState(issue, 'OPEN');
        return { clientMutationId: input.clientMutationId ?? null, issue: this.issueView(issue) };
      },
      addComment: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.subjectId));
        if (!String(input.body).trim()) throw new GitHubApiError('UNPROCESSABLE', "Body can't be blank");
        const now = isoNow();
        const comment: CommentRec = { id: this.newId('IC_kwDO'), body: String(input.body), createdAt: now, updatedAt: now };
        issue.comments.push(comment);
        this.comments.set(comment.id, { issueId: issue.id, comment });
        issue.updatedAt = now;
        return {
          clientMutationId: input.clientMutationId ?? null,
          commentEdge: { cursor: cursorOf(issue.comments.length - 1), node: this.commentView(comment) },
          subject: this.issueView(issue),
        };
      },
      createLabel: ({ input }: { input: Record<string, any> }) => {
        const repo = [...this.repos.values()].find((r) => r.id === input.repositoryId);
        if (!repo) throw notFoundNode(String(input.repositoryId));
        const name = String(input.name).trim();
        if (!name) throw new GitHubApiError('UNPROCESSABLE', "Name can't be blank");
        if (!/^[0-9a-f]{6}$/i.test(String(input.color))) throw new GitHubApiError('UNPROCESSABLE', 'Color is invalid');
        if (this.findLabel(repo.id, name)) throw new GitHubApiError('UNPROCESSABLE', 'Name has already been taken');
        const label = this.createLabelRec(repo.id, name, String(input.color), (input.description as string | null) ?? null);
        return { clientMutationId: input.clientMutationId ?? null, label: this.labelView(label) };
      },
      addLabelsToLabelable: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.labelableId));
        for (const l of input.labelIds as string[]) {
          const label = this.labels.get(l);
          if (!label) throw notFoundNode(l);
          if (label.repositoryId !== issue.repositoryId) throw new GitHubApiError('UNPROCESSABLE', `Label ${label.name} does not belong to the issue's repository`);
          if (!issue.labelIds.includes(l)) issue.labelIds.push(l);
        }
        issue.updatedAt = isoNow();
        return { clientMutationId: input.clientMutationId ?? null, labelable: this.issueView(issue) };
      },
      addAssigneesToAssignable: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.assignableId));
        for (const u of input.assigneeIds as string[]) {
          if (!this.userById(u)) throw notFoundNode(u);
          // GitHub keeps at most 10 assignees and ignores the rest.
          if (!issue.assigneeIds.includes(u) && issue.assigneeIds.length < 10) issue.assigneeIds.push(u);
        }
        issue.updatedAt = isoNow();
        return { clientMutationId: input.clientMutationId ?? null, assignable: this.issueView(issue) };
      },
      removeAssigneesFromAssignable: ({ input }: { input: Record<string, any> }) => {
        const issue = this.mustIssue(String(input.assignableId));
        for (const u of input.assigneeIds as string[]) if (!this.userById(u)) throw notFoundNode(u);
        issue.assigneeIds = issue.assigneeIds.filter((u) => !(input.assigneeIds as string[]).includes(u));
        issue.updatedAt = isoNow();
        return { clientMutationId: input.clientMutationId ?? null, assignable: this.issueView(issue) };
      },
      addProjectV2ItemById: ({ input }: { input: Record<string, any> }) => {
        const project = this.projects.get(String(input.projectId));
        if (!project) throw notFoundNode(String(input.projectId));
        const contentId = String(input.contentId);
        if (!this.issues.has(contentId)) throw notFoundNode(contentId);
        // Adding content that is already on the project answers the existing item.
        const item = project.items.find((i) => i.contentId === contentId) ?? this.addItem(project, 'ISSUE', contentId);
        return { clientMutationId: input.clientMutationId ?? null, item: this.itemView(item) };
      },
      updateProjectV2ItemFieldValue: ({ input }: { input: Record<string, any> }) => {
        const project = this.projects.get(String(input.projectId));
        if (!project) throw notFoundNode(String(input.projectId));
        const item = this.items.get(String(input.itemId));
        if (!item) throw notFoundNode(String(input.itemId));
        if (item.projectId !== project.id) throw new GitHubApiError('UNPROCESSABLE', 'The item does not belong to the project.');
        const field = project.fields.find((f) => f.id === input.fieldId);
        if (!field) throw notFoundNode(String(input.fieldId));
        const value = input.value as Record<string, unknown>;
        if (field.dataType !== 'SINGLE_SELECT' || Object.entries(value).some(([k, v]) => k !== 'singleSelectOptionId' && v != null)) throw unsupported('Values other than singleSelectOptionId');
        const option = field.options.find((o) => o.id === value.singleSelectOptionId);
        if (!option) throw new GitHubApiError('UNPROCESSABLE', `The single select option Id does not belong to the field`);
        item.values.set(field.id, option.id);
        item.updatedAt = isoNow();
        return { clientMutationId: input.clientMutationId ?? null, projectV2Item: this.itemView(item) };
      },
    };
  }

  private nodeView(id: string): object | null {
    const issue = this.issues.get(id);
    if (issue) return this.issueView(issue);
    const item = this.items.get(id);
    if (item) return this.itemView(item);
    const project = this.projects.get(id);
    if (project) return this.projectView(project);
    const label = this.labels.get(id);
    if (label) return this.labelView(label);
    const comment = this.comments.get(id);
    if (comment) return this.commentView(comment.comment);
    const draft = this.drafts.get(id);
    if (draft) return { __typename: 'DraftIssue', ...draft };
    const repo = [...this.repos.values()].find((r) => r.id === id);
    if (repo) return this.repoView(repo);
    const owner = [...this.owners.values()].find((o) => o.id === id);
    if (owner) return this.ownerView(owner);
    const field = this.project.fields.find((f) => f.id === id);
    if (field) return this.fieldView(field);
    return null;
  }

  private repoView(r: RepoRec): object {
    return {
      __typename: 'Repository',
      id: r.id,
      name: r.name,
      nameWithOwner: `${r.owner}/${r.name}`,
      issue: ({ number }: { number: number }) => {
        const issue = [...this.issues.values()].find((i) => i.repositoryId === r.id && i.number === number);
        return issue ? this.issueView(issue) : fail(new GitHubApiError('NOT_FOUND', `Could not resolve to an Issue with the number of ${number}.`));
      },
      label: ({ name }: { name: string }) => {
        const label = this.findLabel(r.id, name);
        return label ? this.labelView(label) : null;
      },
    };
  }

  private ownerView(o: OwnerRec): object {
    return {
      __typename: o.type,
      id: o.id,
      login: o.login,
      projectV2: ({ number }: { number: number }) => {
        const p = [...this.projects.values()].find((x) => x.ownerId === o.id && x.number === number);
        return p ? this.projectView(p) : fail(new GitHubApiError('NOT_FOUND', `Could not resolve to a ProjectV2 with the number ${number}.`));
      },
    };
  }

  private projectView(p: ProjectRec): object {
    return {
      __typename: 'ProjectV2',
      id: p.id,
      number: p.number,
      title: p.title,
      field: ({ name }: { name: string }) => {
        const f = p.fields.find((x) => x.name === name);
        return f ? this.fieldView(f) : null;
      },
      items: (a: PageArgs) => this.connection(p.items, a, 'items', (i) => this.itemView(i)),
    };
  }

  private fieldView(f: FieldRec): object {
    return {
      __typename: f.dataType === 'SINGLE_SELECT' ? 'ProjectV2SingleSelectField' : 'ProjectV2Field',
      id: f.id,
      name: f.name,
      dataType: f.dataType,
      options: ({ names }: { names?: string[] | null }) => f.options.filter((o) => !names || names.includes(o.name)),
    };
  }

  private itemView(i: ItemRec): object {
    const project = this.projects.get(i.projectId)!;
    return {
      __typename: 'ProjectV2Item',
      id: i.id,
      isArchived: i.isArchived,
      type: i.type,
      createdAt: i.createdAt,
      updatedAt: i.updatedAt,
      project: () => this.projectView(project),
      content: () => (i.type === 'ISSUE' ? this.issueView(this.issues.get(i.contentId)!) : { __typename: 'DraftIssue', ...this.drafts.get(i.contentId)! }),
      fieldValueByName: ({ name }: { name: string }) => {
        const field = project.fields.find((f) => f.name === name);
        const optionId = field ? i.values.get(field.id) : undefined;
        const option = field?.options.find((o) => o.id === optionId);
        if (!field || !option) return null;
        return { __typename: 'ProjectV2ItemFieldSingleSelectValue', id: `PVTFSV_${i.id}_${field.id}`, name: option.name, optionId: option.id };
      },
    };
  }

  private issueView(is: IssueRec): object {
    const repo = [...this.repos.values()].find((r) => r.id === is.repositoryId)!;
    return {
      __typename: 'Issue',
      id: is.id,
      number: is.number,
      title: is.title,
      body: is.body,
      state: is.state,
      closed: is.state === 'CLOSED',
      closedAt: is.closedAt,
      createdAt: is.createdAt,
      updatedAt: is.updatedAt,
      url: `https://github.com/${repo.owner}/${repo.name}/issues/${is.number}`,
      repository: () => this.repoView(repo),
      labels: (a: PageArgs) => this.connection(is.labelIds, a, 'labels', (l) => this.labelView(this.labels.get(l)!)),
      assignees: (a: PageArgs) => this.connection(is.assigneeIds, a, 'assignees', (u) => this.ownerView(this.userById(u)!)),
      comments: (a: PageArgs) => this.connection(is.comments, a, 'comments', (c) => this.commentView(c)),
      projectItems: (a: PageArgs & { includeArchived?: boolean }) =>
        this.connection(
          [...this.projects.values()].flatMap((p) => p.items.filter((i) => i.contentId === is.id && (a.includeArchived !== false || !i.isArchived))),
          a,
          'projectItems',
          (i) => this.itemView(i),
        ),
    };
  }

  private labelView(l: LabelRec): object {
    return { __typename: 'Label', id: l.id, name: l.name, color: l.color, description: l.description };
  }

  private commentView(c: CommentRec): object {
    return { __typename: 'IssueComment', ...c };
  }

  /** A connection page the way GitHub pages: `first` required (≤ 100), opaque cursors; capped at pageCap. */
  private connection<T>(all: readonly T[], a: PageArgs, field: string, view: (t: T) => object): object {
    if (a.last != null || a.before != null) throw unsupported('Paging backwards (last/before)');
    if (a.first == null) throw new GitHubApiError('MISSING_PAGINATION_BOUNDARIES', `You must provide a \`first\` or \`last\` value to properly paginate the \`${field}\` connection.`);
    if (a.first > 100) throw new GitHubApiError('EXCESSIVE_PAGINATION', `Requesting ${a.first} records on the \`${field}\` connection exceeds the \`first\` limit of 100 records.`);
    let start = 0;
    if (a.after != null) {
      const at = indexOfCursor(a.after);
      if (at === null) throw new GitHubApiError('INVALID_CURSOR_ARGUMENTS', `\`${a.after}\` does not appear to be a valid cursor.`);
      start = at + 1;
    }
    const size = Math.max(0, Math.min(a.first, this.pageCap));
    const slice = all.slice(start, start + size);
    const edges = slice.map((t, i) => ({ cursor: cursorOf(start + i), node: view(t) }));
    return {
      edges,
      nodes: edges.map((e) => e.node),
      totalCount: all.length,
      pageInfo: {
        hasNextPage: start + slice.length < all.length,
        hasPreviousPage: start > 0,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges[edges.length - 1]?.cursor ?? null,
      },
    };
  }

  // ---- state helpers -------------------------------------------------------------------------

  private newId(prefix: string): string {
    return `${prefix}Fk${String(++this.idSeq).padStart(8, '0')}`;
  }

  private addRepo(name: string): RepoRec {
    const repo: RepoRec = { id: this.newId('R_kgDO'), owner: this.owner, name, nextNumber: 1 };
    this.repos.set(`${this.owner}/${name}`.toLowerCase(), repo);
    return repo;
  }

  private findRepo(owner: string, name: string): RepoRec | undefined {
    return this.repos.get(`${owner}/${name}`.toLowerCase());
  }

  private userById(id: string): OwnerRec | undefined {
    return [...this.owners.values()].find((o) => o.id === id && o.type === 'User');
  }

  /** Label names are unique per repository regardless of case, and looked up that way. */
  private findLabel(repositoryId: string, name: string): LabelRec | undefined {
    return [...this.labels.values()].find((l) => l.repositoryId === repositoryId && l.name.toLowerCase() === name.toLowerCase());
  }

  private createLabelRec(repositoryId: string, name: string, color: string, description: string | null = null): LabelRec {
    const label: LabelRec = { id: this.newId('LA_kwDO'), repositoryId, name, color: color.toLowerCase(), description };
    this.labels.set(label.id, label);
    return label;
  }

  private createIssueRec(repo: RepoRec, title: string, body: string): IssueRec {
    const now = isoNow();
    const issue: IssueRec = {
      id: this.newId('I_kwDO'),
      repositoryId: repo.id,
      number: repo.nextNumber++,
      title,
      body,
      state: 'OPEN',
      stateReason: null,
      closedAt: null,
      createdAt: now,
      updatedAt: now,
      labelIds: [],
      assigneeIds: [],
      comments: [],
    };
    this.issues.set(issue.id, issue);
    return issue;
  }

  private mustIssue(id: string): IssueRec {
    const issue = this.issues.get(id);
    if (issue) return issue;
    if (this.nodeView(id)) throw new GitHubApiError('UNPROCESSABLE', `The node with the global id of '${id}' is not an issue`);
    throw notFoundNode(id);
  }

  private setState(issue: IssueRec, state: IssueState): void {
    const now = isoNow();
    issue.state = state;
    issue.closedAt = state === 'CLOSED' ? now : null;
    issue.stateReason = state === 'CLOSED' ? 'COMPLETED' : 'REOPENED';
    issue.updatedAt = now;
  }

  private addItem(project: ProjectRec, type: ItemRec['type'], contentId: string): ItemRec {
    const now = isoNow();
    const item: ItemRec = { id: this.newId('PVTI_lADO'), projectId: project.id, type, contentId, isArchived: false, createdAt: now, updatedAt: now, values: new Map() };
    project.items.push(item);
    this.items.set(item.id, item);
    return item;
  }

  private statusFieldRec(): FieldRec {
    return this.project.fields.find((f) => f.name === this.statusField)!;
  }
}

function fail(err: GitHubApiError): never {
  throw err;
}

function cursorOf(index: number): string {
  return Buffer.from(`cursor:v2:${index}`).toString('base64');
}

function indexOfCursor(cursor: string): number | null {
  const m = /^cursor:v2:(\d+)$/.exec(Buffer.from(cursor, 'base64').toString('utf8'));
  return m ? Number(m[1]) : null;
}

function operationName(doc: DocumentNode, requested: unknown): string | null {
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  if (typeof requested === 'string') return requested;
  return ops.length === 1 ? (ops[0].name?.value ?? null) : null;
}

/** graphql-js validation messages in GitHub's (graphql-ruby) wording for the common cases. */
function validationError(e: GraphQLError): Record<string, unknown> {
  let m = /^Cannot query field "([^"]+)" on type "([^"]+)"\./.exec(e.message);
  if (m) return { extensions: { code: 'undefinedField', typeName: m[2], fieldName: m[1] }, locations: e.locations, message: `Field '${m[1]}' doesn't exist on type '${m[2]}'` };
  m = /^Unknown argument "([^"]+)" on field "[^".]+\.([^"]+)"\./.exec(e.message);
  if (m) return { extensions: { code: 'argumentNotAccepted', name: m[2], typeName: 'Field', argumentName: m[1] }, locations: e.locations, message: `Field '${m[2]}' doesn't accept argument '${m[1]}'` };
  return { locations: e.locations, message: e.message };
}

function executionError(e: GraphQLError): Record<string, unknown> {
  const orig = e.originalError;
  if (orig instanceof GitHubApiError) return { type: orig.type, path: e.path, locations: e.locations, message: orig.message };
  // A bug in the fake, not behaviour of GitHub: keep the reason visible to whoever debugs the test.
  if (orig) return { path: e.path, locations: e.locations, message: `Something went wrong while executing your query. (fake GitHub: ${orig.message})` };
  return { path: e.path, locations: e.locations, message: e.message };
}

/** Starts a fake GitHub GraphQL API on 127.0.0.1 (free port). */
export async function startFakeGitHub(opts: FakeGitHubOptions = {}): Promise<FakeGitHub> {
  const fake = new FakeGitHub(opts);
  await fake.start();
  return fake;
}
