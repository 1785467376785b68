import { KanbanErrorCode } from '../../../common/errors';
import { columnForStatus, priorityLabel, renderChecklist, statusFromColumn, type StatusMap } from '../board-mapping';
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
import { bad, isNotFound, notConfigured, PROVIDER } from './github.errors';
import { labelColor, normalize, toBoardTask, unique } from './github.mapping';
import { GitHubIssueRefs } from './github.refs';
import { allPages, PAGE_SIZE, type Board, type Found, type NodeOf, type Option, type Page, type RawIssue, type RawItem } from './github.types';

// Imported from here by board-factory and the contract test.
export { githubRateLimitedBody } from './github.errors';

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
  private readonly refs: GitHubIssueRefs;
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
    this.refs = new GitHubIssueRefs((query, variables) => this.gql(query, variables), opts, (externalId, what) => this.notFound(externalId, what));
  }

  async listTasks(p: ListParams = {}): Promise<BoardTask[]> {
    const board = await this.ensureBoard();
    type Item = RawItem & { content: ({ __typename: string } & Partial<RawIssue>) | null };
    const items = await allPages<Item>(async (after) => {
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
      this.refs.remember(f.issue);
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
    for (const dep of dependencies) numbers.push(await this.refs.numberOf(dep, board));

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
    this.refs.remember(issue);
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
      allPages<{ body: string; createdAt: string }>(async (after) => {
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
    const current = await allPages<{ id: string; login: string }>(async (after) => {
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
      const rest = await allPages<RawItem & { project: { id: string } }>(async (after) => {
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
    this.refs.remember(issue);
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
    const rest = await allPages<{ name: string }>(async (after) => {
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
    return toBoardTask(f, this.statusMap, await this.refs.dependencies(normalize(f.issue.body)));
  }

  private gql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return graphqlRequest<T>(this.http, { path: this.path, query, variables, headers: this.auth, signal });
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
