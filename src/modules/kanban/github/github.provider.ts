import { KanbanErrorCode } from '../../../common/errors';
import { columnForStatus, parseChecklist, parseDependencyRefs, priorityFromLabels, priorityLabel, renderChecklist, statusFromColumn, type StatusMap } from '../board-mapping';
import type { BoardHttp } from '../http/board-http';
import { graphqlRequest } from '../http/graphql';
import { KanbanError } from '../kanban-error';
import type {
  AssignParams,
  BoardComment,
  BoardProvider,
  BoardStatus,
  BoardTask,
  ChecklistParams,
  CommentParams,
  CreateTaskParams,
  LabelParams,
  ListParams,
  MoveTaskParams,
  TaskRefParams,
} from '../provider';
import * as Q from './github.documents';

export interface GitHubProviderOptions {
  /** BoardHttp for https://api.github.com (GitHub Enterprise Server: https://host/api). */
  http: BoardHttp;
  /** Default /graphql. */
  graphqlPath?: string;
  token: string;
  owner: string;
  repo: string;
  projectNumber: number;
  ownerType: 'organization' | 'user';
  /** The project's single-select field that holds the column (default "Status"). */
  statusField?: string;
  statusMap?: StatusMap;
}

/** GitHub's largest page; connections are followed with `after` beyond it. */
const PAGE_SIZE = 100;
const PROVIDER = 'github';
/** How long a `#n` that names no issue (a pull request, a typo) is not looked up again. */
const MISSING_REF_TTL_MS = 5 * 60_000;

/**
 * Rate limits GitHub reports in a body rather than in headers, for BoardHttp's `rateLimitedBody`:
 * a secondary limit answered 403 without retry-after or x-ratelimit-remaining 0 ("wait at least a
 * minute", https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api),
 * and an exhausted GraphQL budget (errors of type RATE_LIMITED, also seen as RATE_LIMIT).
 */
export function githubRateLimitedBody(_status: number, text: string): boolean {
  return /secondary rate limit|"type"\s*:\s*"RATE_LIMIT(?:ED)?"|API rate limit (?:already )?exceeded/i.test(text);
}

interface Page<N> {
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  nodes: (N | null)[] | null;
}

interface RawIssue {
  id: string;
  number: number;
  title: string;
  body: string;
  state: 'OPEN' | 'CLOSED';
  updatedAt: string;
  repository: { id: string };
  labels: Page<{ name: string }> | null;
  assignees: { nodes: ({ login: string } | null)[] | null };
}

interface RawItem {
  id: string;
  isArchived: boolean;
  fieldValueByName: { name?: string | null; optionId?: string | null } | null;
}

interface Option {
  id: string;
  name: string;
}

interface Board {
  repositoryId: string;
  projectId: string;
  fieldId: string;
  options: Option[];
}

/** An issue of the repository on the project, with everything a BoardTask needs. */
interface Found {
  issue: RawIssue;
  item: RawItem;
  labels: string[];
}

type NodeOf<T> = { node: ({ __typename: string } & Partial<T>) | null };

/**
 * The board is a GitHub Projects (v2) project; its tasks are the project's items whose content is
 * an issue of owner/repo. Status is the item's single-select "Status" option, except that a closed
 * issue is done whatever the field says; priority comes from labels, the checklist and
 * "Depends on: #12" lines from the issue body. Everything goes over the GraphQL API.
 */
export class GitHubProvider implements BoardProvider {
  readonly kind = 'github' as const;
  private readonly http: BoardHttp;
  private readonly auth: Record<string, string>;
  private readonly path: string;
  private readonly statusField: string;
  private readonly statusMap: StatusMap;
  private board: Promise<Board> | null = null;
  private readonly idByNumber = new Map<number, string>();
  private readonly numberById = new Map<string, number>();
  /** Issue numbers that resolved to nothing → when to look again. */
  private readonly missingNumbers = new Map<number, number>();
  private readonly labelIds = new Map<string, string>();
  private readonly userIds = new Map<string, string>();
  /** Issues already seen on this board, so comments need no membership lookup. */
  private readonly known = new Set<string>();

  constructor(private readonly opts: GitHubProviderOptions) {
    // GitHub refuses API requests without a User-Agent.
    this.http = opts.http;
    this.auth = { authorization: `bearer ${opts.token}` };
    this.path = opts.graphqlPath ?? '/graphql';
    this.statusField = opts.statusField ?? 'Status';
    this.statusMap = opts.statusMap ?? {};
  }

  async listTasks(p: ListParams = {}): Promise<BoardTask[]> {
    const board = await this.ensureBoard();
    type Item = RawItem & { content: ({ __typename: string } & Partial<RawIssue>) | null };
    const items = await this.pages<Item>(async (after) => {
      const data = await this.gql<NodeOf<{ items: Page<Item> }>>(Q.PROJECT_ITEMS_QUERY, { projectId: board.projectId, pageSize: PAGE_SIZE, after, statusField: this.statusField }, p.signal);
      return data.node?.items;
    });
    const found: Found[] = [];
    for (const item of items) {
      const issue = item.content;
      if (item.isArchived || issue?.__typename !== 'Issue' || issue.repository?.id !== board.repositoryId) continue;
      const raw = issue as RawIssue;
      found.push({ issue: raw, item, labels: await this.allLabels(raw) });
    }
    for (const f of found) {
      this.remember(f.issue);
      this.known.add(f.issue.id);
    }
    // One after another: dependency lookups share the number cache and the rate limit.
    const tasks: BoardTask[] = [];
    for (const f of found) tasks.push(await this.toTask(f));
    return tasks;
  }

  async getTask(p: TaskRefParams): Promise<BoardTask | null> {
    const found = await this.find(p.externalId);
    return found ? this.toTask(found) : null;
  }

  async createTask(p: CreateTaskParams): Promise<BoardTask> {
    const board = await this.ensureBoard();
    const status = p.status ?? 'todo';
    const option = columnForStatus(board.options, status, this.statusMap);
    // An empty Status reads as todo; other statuses need an option (checked before anything is created).
    if (!option && status !== 'done' && status !== 'todo') throw this.noOption(status);
    const labelNames = unique([...(p.labels ?? []), ...(p.priority ? [priorityLabel(p.priority)] : [])]);
    const labelIds: string[] = [];
    for (const name of labelNames) labelIds.push(await this.labelId(name, board));
    const dependencies = unique(p.dependencies ?? []);
    const numbers: number[] = [];
    for (const dep of dependencies) numbers.push(await this.numberOf(dep, board));

    let body = renderChecklist(p.description ?? '', p.checklist ?? []);
    if (numbers.length > 0) body = `${body.trimEnd()}${body.trim() ? '\n\n' : ''}Depends on: ${numbers.map((n) => `#${n}`).join(', ')}`;
    const created = await this.gql<{ createIssue: { issue: RawIssue | null } | null }>(Q.CREATE_ISSUE_MUTATION, {
      repositoryId: board.repositoryId,
      title: p.name,
      body,
      labelIds,
      pageSize: PAGE_SIZE,
    });
    const issue = created.createIssue?.issue;
    if (!issue) throw bad('createIssue answered no issue');
    this.remember(issue);
    const added = await this.gql<{ addProjectV2ItemById: { item: { id: string } | null } | null }>(Q.ADD_PROJECT_ITEM_MUTATION, { projectId: board.projectId, contentId: issue.id });
    const itemId = added.addProjectV2ItemById?.item?.id;
    if (!itemId) throw bad('addProjectV2ItemById answered no item');
    if (option) await this.setStatusOption(itemId, option.id);
    if (status === 'done') Object.assign(issue, await this.setState(issue.id, 'CLOSED'));
    this.known.add(issue.id);
    const item: RawItem = { id: itemId, isArchived: false, fieldValueByName: option ? { name: option.name, optionId: option.id } : null };
    return this.toTask({ issue, item, labels: await this.allLabels(issue) });
  }

  async moveTask(p: MoveTaskParams): Promise<void> {
    const found = await this.require(p.externalId);
    const board = await this.ensureBoard();
    const option = columnForStatus(board.options, p.status, this.statusMap);
    const current = found.item.fieldValueByName?.name ?? '';
    if (!option && p.status !== 'done' && statusFromColumn(current, this.statusMap) !== p.status) throw this.noOption(p.status);
    // Reopen before setting Status, so a project workflow reacting to the reopen cannot undo it.
    if (p.status !== 'done' && found.issue.state === 'CLOSED') await this.setState(found.issue.id, 'OPEN');
    if (option && found.item.fieldValueByName?.optionId !== option.id) await this.setStatusOption(found.item.id, option.id);
    if (p.status === 'done' && found.issue.state === 'OPEN') await this.setState(found.issue.id, 'CLOSED');
  }

  async addComment(p: CommentParams): Promise<void> {
    await this.requireKnown(p.externalId);
    await this.orNotFound(p.externalId, () => this.gql(Q.ADD_COMMENT_MUTATION, { subjectId: p.externalId, body: p.body }));
  }

  async listComments(p: TaskRefParams): Promise<BoardComment[]> {
    await this.requireKnown(p.externalId);
    const comments = await this.orNotFound(p.externalId, () =>
      this.pages<{ body: string; createdAt: string }>(async (after) => {
        const data = await this.gql<NodeOf<{ comments: Page<{ body: string; createdAt: string }> }>>(Q.ISSUE_COMMENTS_QUERY, { id: p.externalId, pageSize: PAGE_SIZE, after });
        return data.node?.comments;
      }),
    );
    return comments.map((c) => ({ body: normalize(c.body), createdAt: c.createdAt }));
  }

  async setChecklist(p: ChecklistParams): Promise<void> {
    const found = await this.require(p.externalId);
    const body = normalize(found.issue.body);
    const next = renderChecklist(body, p.items);
    if (next !== body) await this.gql(Q.UPDATE_ISSUE_BODY_MUTATION, { id: found.issue.id, body: next });
  }

  async addLabel(p: LabelParams): Promise<void> {
    const found = await this.require(p.externalId);
    // GitHub label names are unique regardless of case.
    if (found.labels.some((l) => l.toLowerCase() === p.label.toLowerCase())) return;
    const board = await this.ensureBoard();
    const id = await this.labelId(p.label, board);
    await this.gql(Q.ADD_LABELS_MUTATION, { labelableId: found.issue.id, labelIds: [id] });
  }

  async assign(p: AssignParams): Promise<void> {
    const found = await this.require(p.externalId);
    const current = await this.pages<{ id: string; login: string }>(async (after) => {
      const data = await this.gql<NodeOf<{ assignees: Page<{ id: string; login: string }> }>>(Q.ISSUE_ASSIGNEES_QUERY, { id: found.issue.id, pageSize: PAGE_SIZE, after });
      return data.node?.assignees;
    });
    let keep: string | null = null;
    if (p.assignee !== null) {
      keep = await this.userId(p.assignee);
      if (!current.some((u) => u.id === keep)) await this.gql(Q.ADD_ASSIGNEES_MUTATION, { assignableId: found.issue.id, assigneeIds: [keep] });
    }
    const others = current.filter((u) => u.id !== keep).map((u) => u.id);
    if (others.length > 0) await this.gql(Q.REMOVE_ASSIGNEES_MUTATION, { assignableId: found.issue.id, assigneeIds: others });
  }

  async close(): Promise<void> {
    await this.opts.http.close();
  }

  // ---- lookups -------------------------------------------------------------------------------

  /** Repository, project, Status field and options: looked up once, again after a failure. */
  private ensureBoard(): Promise<Board> {
    this.board ??= this.loadBoard().catch((err: unknown) => {
      this.board = null;
      throw err;
    });
    return this.board;
  }

  private async loadBoard(): Promise<Board> {
    const { owner, repo, projectNumber, ownerType } = this.opts;
    type ProjectData = { id: string; field: { id?: string; name?: string; options?: Option[] } | null } | null;
    type Data = { repository: { id: string } | null; organization?: { projectV2: ProjectData } | null; user?: { projectV2: ProjectData } | null };
    let data: Data;
    try {
      data = await this.gql<Data>(ownerType === 'organization' ? Q.ORGANIZATION_BOARD_QUERY : Q.USER_BOARD_QUERY, { owner, repo, number: projectNumber, statusField: this.statusField });
    } catch (err) {
      if (isNotFound(err)) throw notConfigured(`${owner}/${repo} or project ${projectNumber} of ${ownerType} ${owner} does not exist or the token cannot see it`);
      throw err;
    }
    const project = (ownerType === 'organization' ? data.organization : data.user)?.projectV2;
    if (!data.repository || !project) throw notConfigured(`${owner}/${repo} or project ${projectNumber} of ${ownerType} ${owner} does not exist or the token cannot see it`);
    const field = project.field;
    if (!field?.id || !field.options) throw notConfigured(`project ${projectNumber} has no single-select field "${this.statusField}"`);
    return { repositoryId: data.repository.id, projectId: project.id, fieldId: field.id, options: field.options };
  }

  /** The issue with its item on this project, or null when it is not a task of this board. */
  private async find(externalId: string): Promise<Found | null> {
    const board = await this.ensureBoard();
    type Issue = RawIssue & { projectItems: Page<RawItem & { project: { id: string } }> };
    let node: ({ __typename: string } & Partial<Issue>) | null;
    try {
      node = (await this.gql<NodeOf<Issue>>(Q.ISSUE_QUERY, { id: externalId, pageSize: PAGE_SIZE, statusField: this.statusField })).node;
    } catch (err) {
      if (isNotFound(err)) return null;
      throw err;
    }
    if (node?.__typename !== 'Issue' || node.repository?.id !== board.repositoryId) return null;
    const issue = node as Issue;
    let item = issue.projectItems.nodes?.find((i) => i?.project.id === board.projectId) ?? null;
    if (!item && issue.projectItems.pageInfo.hasNextPage) {
      const rest = await this.pages<RawItem & { project: { id: string } }>(async (after) => {
        const data = await this.gql<NodeOf<{ projectItems: Page<RawItem & { project: { id: string } }> }>>(Q.ISSUE_PROJECT_ITEMS_QUERY, {
          id: externalId,
          pageSize: PAGE_SIZE,
          after,
          statusField: this.statusField,
        });
        return data.node?.projectItems;
      }, issue.projectItems.pageInfo.endCursor);
      item = rest.find((i) => i.project.id === board.projectId) ?? null;
    }
    if (!item || item.isArchived) return null;
    this.remember(issue);
    this.known.add(issue.id);
    return { issue, item, labels: await this.allLabels(issue) };
  }

  private async require(externalId: string): Promise<Found> {
    const found = await this.find(externalId);
    if (!found) throw this.notFound(externalId);
    return found;
  }

  private async requireKnown(externalId: string): Promise<void> {
    if (!this.known.has(externalId)) await this.require(externalId);
  }

  /** Every label name of the issue, following the labels connection past its first page. */
  private async allLabels(issue: RawIssue): Promise<string[]> {
    const first = issue.labels;
    const names = (first?.nodes ?? []).flatMap((l) => (l ? [l.name] : []));
    if (!first?.pageInfo.hasNextPage) return names;
    const rest = await this.pages<{ name: string }>(async (after) => {
      const data = await this.gql<NodeOf<{ labels: Page<{ name: string }> | null }>>(Q.ISSUE_LABELS_QUERY, { id: issue.id, pageSize: PAGE_SIZE, after });
      return data.node?.labels ?? undefined;
    }, first.pageInfo.endCursor);
    return [...names, ...rest.map((l) => l.name)];
  }

  /** The label's id, creating the label when the repository lacks it. */
  private async labelId(name: string, board: Board): Promise<string> {
    const key = name.toLowerCase();
    const cached = this.labelIds.get(key);
    if (cached) return cached;
    const lookup = async (): Promise<string | null> => {
      const data = await this.gql<{ repository: { label: { id: string } | null } | null }>(Q.REPOSITORY_LABEL_QUERY, { owner: this.opts.owner, repo: this.opts.repo, name });
      return data.repository?.label?.id ?? null;
    };
    let id = await lookup();
    if (!id) {
      try {
        const made = await this.gql<{ createLabel: { label: { id: string } | null } | null }>(Q.CREATE_LABEL_MUTATION, { repositoryId: board.repositoryId, name, color: labelColor(name) });
        id = made.createLabel?.label?.id ?? null;
      } catch (err) {
        // Someone else created it meanwhile ("Name has already been taken"): use theirs.
        if (!(err instanceof KanbanError && err.code === KanbanErrorCode.BOARD_REJECTED)) throw err;
        id = await lookup();
        if (!id) throw err;
      }
      if (!id) throw bad('createLabel answered no label');
    }
    this.labelIds.set(key, id);
    return id;
  }

  private async userId(login: string): Promise<string> {
    const key = login.toLowerCase();
    const cached = this.userIds.get(key);
    if (cached) return cached;
    let id: string | undefined;
    try {
      id = (await this.gql<{ user: { id: string } | null }>(Q.USER_QUERY, { login })).user?.id;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!id) throw new KanbanError(KanbanErrorCode.BOARD_REJECTED, `github: no GitHub user "${login}" to assign`, { provider: PROVIDER });
    this.userIds.set(key, id);
    return id;
  }

  /** The number of a dependency given by node id; it must be an issue of this repository. */
  private async numberOf(externalId: string, board: Board): Promise<number> {
    const cached = this.numberById.get(externalId);
    if (cached !== undefined) return cached;
    let node: ({ __typename: string } & Partial<{ id: string; number: number; repository: { id: string } }>) | null = null;
    try {
      node = (await this.gql<NodeOf<{ id: string; number: number; repository: { id: string } }>>(Q.ISSUE_REF_QUERY, { id: externalId })).node;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (node?.__typename !== 'Issue' || node.number === undefined || node.repository?.id !== board.repositoryId) throw this.notFound(externalId, 'dependency');
    this.idByNumber.set(node.number, externalId);
    this.numberById.set(externalId, node.number);
    return node.number;
  }

  /** Node ids of the issues a body's "Depends on:" lines name (this repository's only). */
  private async dependencies(body: string): Promise<string[]> {
    const ids: string[] = [];
    for (const ref of parseDependencyRefs(body)) {
      const n = this.refNumber(ref);
      if (n === null) continue;
      let id = this.idByNumber.get(n);
      if (!id) {
        if ((this.missingNumbers.get(n) ?? 0) > Date.now()) continue;
        try {
          const data = await this.gql<{ repository: { issue: { id: string; number: number } | null } | null }>(Q.ISSUE_BY_NUMBER_QUERY, { owner: this.opts.owner, repo: this.opts.repo, number: n });
          id = data.repository?.issue?.id;
        } catch (err) {
          // A reference to a pull request or a deleted issue is no dependency.
          if (!isNotFound(err)) throw err;
        }
        if (!id) {
          this.missingNumbers.set(n, Date.now() + MISSING_REF_TTL_MS);
          continue;
        }
        this.idByNumber.set(n, id);
        this.numberById.set(id, n);
      }
      if (!ids.includes(id)) ids.push(id);
    }
    return ids;
  }

  /** `#12`, `owner/repo#12` or an issue URL of this repository → 12. */
  private refNumber(ref: string): number | null {
    const ours = `${this.opts.owner}/${this.opts.repo}`.toLowerCase();
    let m = /^#(\d+)$/.exec(ref);
    if (m) return Number(m[1]);
    m = /^([\w.-]+\/[\w.-]+)#(\d+)$/.exec(ref);
    if (m) return m[1].toLowerCase() === ours ? Number(m[2]) : null;
    m = /^https?:\/\/[^/]+\/([\w.-]+\/[\w.-]+)\/issues\/(\d+)\/?$/.exec(ref);
    if (m) return m[1].toLowerCase() === ours ? Number(m[2]) : null;
    return null;
  }

  // ---- writes --------------------------------------------------------------------------------

  private async setStatusOption(itemId: string, optionId: string): Promise<void> {
    const board = await this.ensureBoard();
    await this.gql(Q.SET_ITEM_STATUS_MUTATION, { projectId: board.projectId, itemId, fieldId: board.fieldId, optionId });
  }

  private async setState(issueId: string, state: 'OPEN' | 'CLOSED'): Promise<Pick<RawIssue, 'state' | 'updatedAt'>> {
    type Answer = { issue: { state: 'OPEN' | 'CLOSED'; updatedAt: string } | null } | null;
    const data =
      state === 'CLOSED'
        ? (await this.gql<{ closeIssue: Answer }>(Q.CLOSE_ISSUE_MUTATION, { issueId })).closeIssue
        : (await this.gql<{ reopenIssue: Answer }>(Q.REOPEN_ISSUE_MUTATION, { issueId })).reopenIssue;
    if (!data?.issue) throw bad(`${state === 'CLOSED' ? 'closeIssue' : 'reopenIssue'} answered no issue`);
    return { state: data.issue.state, updatedAt: data.issue.updatedAt };
  }

  // ---- plumbing ------------------------------------------------------------------------------

  private async toTask(f: Found): Promise<BoardTask> {
    const body = normalize(f.issue.body);
    const optionName = f.item.fieldValueByName?.name ?? '';
    const status: BoardStatus = f.issue.state === 'CLOSED' ? 'done' : statusFromColumn(optionName, this.statusMap);
    return {
      externalId: f.issue.id,
      ref: `#${f.issue.number}`,
      name: f.issue.title,
      description: body,
      status,
      priority: priorityFromLabels(f.labels),
      labels: f.labels,
      dependencies: (await this.dependencies(body)).filter((id) => id !== f.issue.id),
      assignee: f.issue.assignees.nodes?.find((u) => u)?.login ?? null,
      checklist: parseChecklist(body),
      updatedAt: f.issue.updatedAt,
    };
  }

  private remember(issue: Pick<RawIssue, 'id' | 'number'>): void {
    this.idByNumber.set(issue.number, issue.id);
    this.numberById.set(issue.id, issue.number);
  }

  private gql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return graphqlRequest<T>(this.http, { path: this.path, query, variables, headers: this.auth, signal });
  }

  /** Follows a connection from `after` to its end. */
  private async pages<N>(fetch: (after: string | null) => Promise<Page<N> | null | undefined>, after: string | null = null): Promise<N[]> {
    const out: N[] = [];
    for (let cursor = after; ; ) {
      const page = await fetch(cursor);
      if (!page) throw bad('a connection page is missing');
      for (const n of page.nodes ?? []) if (n) out.push(n);
      if (!page.pageInfo.hasNextPage) return out;
      if (!page.pageInfo.endCursor || page.pageInfo.endCursor === cursor) throw bad('paging did not advance');
      cursor = page.pageInfo.endCursor;
    }
  }

  private async orNotFound<T>(externalId: string, op: () => Promise<T>): Promise<T> {
    try {
      return await op();
    } catch (err) {
      if (isNotFound(err)) throw this.notFound(externalId);
      throw err;
    }
  }

  private notFound(externalId: string, what = 'task'): KanbanError {
    return new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `github: no ${what} ${externalId} on ${this.opts.owner}/${this.opts.repo} project ${this.opts.projectNumber}`, { provider: PROVIDER });
  }

  private noOption(status: BoardStatus): KanbanError {
    return new KanbanError(KanbanErrorCode.BOARD_REJECTED, `github: project ${this.opts.projectNumber} has no "${this.statusField}" option for ${status}`, { provider: PROVIDER });
  }
}

/**
 * GitHub answers an unknown id with `{"data":{"node":null},"errors":[{"type":"NOT_FOUND",...}]}`;
 * graphqlRequest reports that as BOARD_REJECTED (data is present), so the message decides too.
 */
function isNotFound(err: unknown): boolean {
  if (!(err instanceof KanbanError)) return false;
  return err.code === KanbanErrorCode.BOARD_NOT_FOUND || (err.code === KanbanErrorCode.BOARD_REJECTED && /Could not resolve to /.test(err.message));
}

function notConfigured(message: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_NOT_CONFIGURED, `github: ${message}`, { provider: PROVIDER });
}

function bad(message: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_BAD_RESPONSE, `github GraphQL: ${message}`, { provider: PROVIDER });
}

/** Bodies edited on github.com come back with CRLF line ends; the markdown helpers expect LF. */
function normalize(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Colours for labels pm-agent creates (hex without '#', as createLabel wants). */
function labelColor(name: string): string {
  const n = name.toLowerCase();
  if (/^blocked[/-]|urgent|critical/.test(n)) return 'b60205';
  if (/high/.test(n)) return 'd93f0b';
  if (/medium/.test(n)) return 'fbca04';
  if (/low/.test(n)) return '0e8a16';
  return 'ededed';
}
