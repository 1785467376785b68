import { KanbanErrorCode } from '../../../common/errors';
import {
  columnForStatus,
  linearPriority,
  parseChecklist,
  priorityFromLinear,
  renderChecklist,
  statusFromColumn,
  type StatusMap,
} from '../board-mapping';
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
import {
  LINEAR_COMMENT_CREATE,
  LINEAR_ISSUE,
  LINEAR_ISSUE_ADD_LABEL,
  LINEAR_ISSUE_COMMENTS,
  LINEAR_ISSUE_CREATE,
  LINEAR_ISSUE_INVERSE_RELATIONS,
  LINEAR_ISSUE_LABEL_CREATE,
  LINEAR_ISSUE_LABELS,
  LINEAR_ISSUE_RELATION_CREATE,
  LINEAR_ISSUE_UPDATE,
  LINEAR_ISSUES_BY_NUMBER,
  LINEAR_TEAM_ISSUES,
  LINEAR_TEAM_LABELS,
  LINEAR_TEAM_STATES,
  LINEAR_USERS,
} from './linear.documents';
import { notFound, PROVIDER, rejected } from './linear.errors';
import { refNumbers } from './linear.mapping';
import type { LinearIssue, LinearLabel, LinearRelation, LinearState, LinearUser, Page, TeamInfo } from './linear.types';

// Kept importable from here, where board-factory and the contract test take them from.
export { linearAuthFailedBody, linearRateLimitedBody } from './linear.errors';

export interface LinearProviderOptions {
  /** Pointed at https://api.linear.app in production. */
  http: BoardHttp;
  graphqlPath?: string;
  /** A personal API key (sent as is), or an OAuth access token given as `Bearer <token>`. */
  apiKey: string;
  teamId: string;
  statusMap?: StatusMap;
}

/**
 * A Linear team as a board (BEHAVIOUR.md "Board providers"): tasks are the team's issues, status
 * comes from the workflow state's name (a completed state is always done), priority is Linear's
 * 1–4, labels are label names, the checklist is a markdown task list in the description, and an
 * issue depends on the issues with a "blocks" relation to it plus those named in `Depends on:
 * ENG-12` lines (only issues of the same team that are not canceled). Canceled issues are left out
 * of listTasks (they are not work); fetched directly they read as done. The assignee is the user's
 * email.
 */
export class LinearProvider implements BoardProvider {
  readonly kind = 'linear' as const;
  private readonly http: BoardHttp;
  private readonly authorization: string;
  private readonly path: string;
  private readonly teamId: string;
  private readonly statusMap: StatusMap;
  private team?: Promise<TeamInfo>;
  /** Lower-cased name → label; refreshed when a wanted label is missing. */
  private labels?: Map<string, LinearLabel>;
  private users?: LinearUser[];

  constructor(opts: LinearProviderOptions) {
    this.http = opts.http;
    this.authorization = opts.apiKey.trim();
    this.path = opts.graphqlPath ?? '/graphql';
    this.teamId = opts.teamId;
    this.statusMap = opts.statusMap ?? {};
  }

  async listTasks(p: ListParams = {}): Promise<BoardTask[]> {
    const issues = await this.pages<LinearIssue>(LINEAR_TEAM_ISSUES, { teamId: this.teamId }, (d) => (d as { issues: Page<LinearIssue> }).issues, p.signal);
    const { key } = await this.teamInfo();
    const byNumber = new Map(issues.map((i) => [i.number, i.id]));
    const tasks: BoardTask[] = [];
    for (const issue of issues) {
      await this.completeNested(issue, p.signal);
      const refIds = refNumbers(issue.description ?? '', key).flatMap((n) => byNumber.get(n) ?? []);
      tasks.push(this.toTask(issue, refIds));
    }
    return tasks;
  }

  async getTask(p: TaskRefParams): Promise<BoardTask | null> {
    const issue = await this.fetchIssue(p.externalId).catch((err: unknown) => {
      if (err instanceof KanbanError && err.code === KanbanErrorCode.BOARD_NOT_FOUND) return null;
      throw err;
    });
    return issue ? this.taskOf(issue) : null;
  }

  async createTask(p: CreateTaskParams): Promise<BoardTask> {
    const input: Record<string, unknown> = { teamId: this.teamId, title: p.name };
    const description = renderChecklist(p.description ?? '', p.checklist ?? []);
    if (description) input.description = description;
    if (p.priority) input.priority = linearPriority(p.priority);
    if (p.status) input.stateId = (await this.stateFor(p.status)).id;
    if (p.labels?.length) {
      const ids: string[] = [];
      for (const name of new Set(p.labels)) ids.push((await this.labelFor(name)).id);
      input.labelIds = ids;
    }
    const res = await this.gql<{ issueCreate: { success: boolean; issue: LinearIssue | null } }>(LINEAR_ISSUE_CREATE, { input });
    const created = res.issueCreate.issue;
    if (!res.issueCreate.success || !created) throw rejected('issueCreate did not succeed');
    const deps = [...new Set(p.dependencies ?? [])].filter((d) => d !== created.id);
    for (const dep of deps) {
      // The issue exists now: a dependency that is not on the board is dropped rather than failing
      // the call, which the write-back would retry into a duplicate issue.
      await this.gql(LINEAR_ISSUE_RELATION_CREATE, { input: { issueId: dep, relatedIssueId: created.id, type: 'blocks' } }).catch((err: unknown) => {
        if (!(err instanceof KanbanError && err.code === KanbanErrorCode.BOARD_NOT_FOUND)) throw err;
      });
    }
    if (deps.length === 0) return this.taskOf(created);
    const fresh = await this.fetchIssue(created.id);
    return this.taskOf(fresh);
  }

  async moveTask(p: MoveTaskParams): Promise<void> {
    const state = await this.stateFor(p.status);
    await this.update(p.externalId, { stateId: state.id });
  }

  async addComment(p: CommentParams): Promise<void> {
    const res = await this.gql<{ commentCreate: { success: boolean } }>(LINEAR_COMMENT_CREATE, { input: { issueId: p.externalId, body: p.body } });
    if (!res.commentCreate.success) throw rejected('commentCreate did not succeed');
  }

  async listComments(p: TaskRefParams): Promise<BoardComment[]> {
    const comments = await this.pages<{ body: string; createdAt: string }>(LINEAR_ISSUE_COMMENTS, { id: p.externalId }, (d) => (d as { issue: { comments: Page<{ body: string; createdAt: string }> } }).issue.comments);
    // Oldest first whatever order the API pages in.
    return comments.map((c) => ({ body: c.body, createdAt: c.createdAt })).sort((a, b) => Date.parse(a.createdAt) - Date.parse(b.createdAt));
  }

  async setChecklist(p: ChecklistParams): Promise<void> {
    const issue = await this.fetchIssue(p.externalId);
    await this.update(p.externalId, { description: renderChecklist(issue.description ?? '', p.items) });
  }

  async addLabel(p: LabelParams): Promise<void> {
    const label = await this.labelFor(p.label);
    // Linear keeps an issue's labels as a set, so adding one it already has changes nothing.
    const res = await this.gql<{ issueAddLabel: { success: boolean } }>(LINEAR_ISSUE_ADD_LABEL, { id: p.externalId, labelId: label.id });
    if (!res.issueAddLabel.success) throw rejected('issueAddLabel did not succeed');
  }

  async assign(p: AssignParams): Promise<void> {
    if (p.assignee === null) {
      await this.update(p.externalId, { assigneeId: null });
      return;
    }
    const user = await this.userFor(p.assignee);
    if (!user) throw new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${PROVIDER}: no workspace user matches the assignee`, { provider: PROVIDER });
    await this.update(p.externalId, { assigneeId: user.id });
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---- mapping ---------------------------------------------------------------------------------

  private statusOf(state: LinearIssue['state']): BoardStatus {
    if (state.type === 'completed' || state.type === 'canceled') return 'done';
    return statusFromColumn(state.name, this.statusMap);
  }

  private toTask(issue: LinearIssue, refIds: readonly string[]): BoardTask {
    const description = issue.description ?? '';
    // Only blockers on this board count, and canceled ones are not listed, so they are not waited for.
    const blockers = issue.inverseRelations.nodes.filter((r) => r.type === 'blocks' && r.issue.team.id === this.teamId && r.issue.state.type !== 'canceled').map((r) => r.issue.id);
    return {
      externalId: issue.id,
      ref: issue.identifier,
      name: issue.title,
      description,
      status: this.statusOf(issue.state),
      priority: priorityFromLinear(issue.priority),
      labels: issue.labels.nodes.map((l) => l.name),
      dependencies: [...new Set([...blockers, ...refIds])].filter((id) => id !== issue.id),
      assignee: issue.assignee?.email ?? null,
      checklist: parseChecklist(description),
      updatedAt: issue.updatedAt,
    };
  }

  /** One issue as a task, resolving its `Depends on:` lines with one lookup. */
  private async taskOf(issue: LinearIssue): Promise<BoardTask> {
    await this.completeNested(issue);
    const { key } = await this.teamInfo();
    const numbers = refNumbers(issue.description ?? '', key);
    let refIds: string[] = [];
    if (numbers.length > 0) {
      const res = await this.gql<{ issues: { nodes: { id: string }[] } }>(LINEAR_ISSUES_BY_NUMBER, { teamId: this.teamId, numbers });
      refIds = res.issues.nodes.map((n) => n.id);
    }
    return this.toTask(issue, refIds);
  }

  // ---- lookups ---------------------------------------------------------------------------------

  /** The issue, or BOARD_NOT_FOUND when it does not exist or belongs to another team. */
  private async fetchIssue(id: string): Promise<LinearIssue> {
    const { issue } = await this.gql<{ issue: LinearIssue | null }>(LINEAR_ISSUE, { id });
    if (!issue || issue.team.id !== this.teamId) throw notFound();
    return issue;
  }

  /** Fetches the labels and relations that did not fit in the issue's first nested page. */
  private async completeNested(issue: LinearIssue, signal?: AbortSignal): Promise<void> {
    if (issue.labels.pageInfo.hasNextPage) {
      const rest = await this.pages<LinearLabel>(LINEAR_ISSUE_LABELS, { id: issue.id }, (d) => (d as { issue: { labels: Page<LinearLabel> } }).issue.labels, signal, issue.labels.pageInfo.endCursor);
      issue.labels = { nodes: [...issue.labels.nodes, ...rest], pageInfo: { hasNextPage: false, endCursor: null } };
    }
    if (issue.inverseRelations.pageInfo.hasNextPage) {
      const rest = await this.pages<LinearRelation>(
        LINEAR_ISSUE_INVERSE_RELATIONS,
        { id: issue.id },
        (d) => (d as { issue: { inverseRelations: Page<LinearRelation> } }).issue.inverseRelations,
        signal,
        issue.inverseRelations.pageInfo.endCursor,
      );
      issue.inverseRelations = { nodes: [...issue.inverseRelations.nodes, ...rest], pageInfo: { hasNextPage: false, endCursor: null } };
    }
  }

  /** The team's key and states, fetched once (and again after a failed attempt). */
  private teamInfo(): Promise<TeamInfo> {
    this.team ??= this.loadTeam().catch((err: unknown) => {
      this.team = undefined;
      throw err;
    });
    return this.team;
  }

  private async loadTeam(): Promise<TeamInfo> {
    let key = '';
    const states = await this.pages<LinearState>(LINEAR_TEAM_STATES, { teamId: this.teamId }, (d) => {
      const team = (d as { team: { key: string; states: Page<LinearState> } }).team;
      key = team.key;
      return team.states;
    });
    return { key, states: states.sort((a, b) => a.position - b.position) };
  }

  /** The state a task with `status` moves to: by name first, then by Linear's state type. */
  private async stateFor(status: BoardStatus): Promise<LinearState> {
    // Canceled states are never a target: "Canceled" would otherwise read as a todo column.
    const states = (await this.teamInfo()).states.filter((s) => s.type !== 'canceled');
    const byName = columnForStatus(
      states.filter((s) => status === 'done' || s.type !== 'completed'),
      status,
      this.statusMap,
    );
    if (byName) return byName;
    const types: Record<BoardStatus, string[]> = { todo: ['unstarted', 'backlog'], in_progress: ['started'], blocked: [], done: ['completed'] };
    for (const type of types[status]) {
      const s = states.find((x) => x.type === type);
      if (s) return s;
    }
    throw new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${PROVIDER}: the team has no workflow state for status ${status}`, { provider: PROVIDER });
  }

  /** The label with this name (case-insensitive), creating it for the team when the workspace has none. */
  private async labelFor(name: string): Promise<LinearLabel> {
    const key = name.trim().toLowerCase();
    if (!this.labels?.has(key)) await this.loadLabels();
    const known = this.labels!.get(key);
    if (known) return known;
    const res = await this.gql<{ issueLabelCreate: { success: boolean; issueLabel: LinearLabel | null } }>(LINEAR_ISSUE_LABEL_CREATE, {
      input: { name: name.trim(), teamId: this.teamId },
    });
    const label = res.issueLabelCreate.issueLabel;
    if (!res.issueLabelCreate.success || !label) throw rejected('issueLabelCreate did not succeed');
    this.labels!.set(key, label);
    return label;
  }

  private async loadLabels(): Promise<void> {
    const labels = await this.pages<LinearLabel>(LINEAR_TEAM_LABELS, { teamId: this.teamId }, (d) => (d as { issueLabels: Page<LinearLabel> }).issueLabels);
    this.labels = new Map(labels.map((l) => [l.name.trim().toLowerCase(), l]));
  }

  /** The user with this email, else name or display name; the list is refetched once when nobody matches. */
  private async userFor(who: string): Promise<LinearUser | undefined> {
    const find = (users: readonly LinearUser[]): LinearUser | undefined => {
      const w = who.trim().toLowerCase();
      const active = [...users].sort((a, b) => Number(b.active) - Number(a.active));
      return active.find((u) => u.email.toLowerCase() === w) ?? active.find((u) => u.name.toLowerCase() === w || u.displayName.toLowerCase() === w);
    };
    const cached = this.users ? find(this.users) : undefined;
    if (cached) return cached;
    this.users = await this.pages<LinearUser>(LINEAR_USERS, {}, (d) => (d as { users: Page<LinearUser> }).users);
    return find(this.users);
  }

  // ---- transport -------------------------------------------------------------------------------

  private async update(id: string, input: Record<string, unknown>): Promise<void> {
    const res = await this.gql<{ issueUpdate: { success: boolean } }>(LINEAR_ISSUE_UPDATE, { id, input });
    if (!res.issueUpdate.success) throw rejected('issueUpdate did not succeed');
  }

  /** Every node of a paged connection, following `endCursor` until `hasNextPage` is false. */
  private async pages<T>(query: string, variables: Record<string, unknown>, pick: (data: unknown) => Page<T>, signal?: AbortSignal, after: string | null = null): Promise<T[]> {
    const out: T[] = [];
    let cursor = after;
    for (;;) {
      const page = pick(await this.gql<unknown>(query, { ...variables, after: cursor }, signal));
      out.push(...page.nodes);
      if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor || page.pageInfo.endCursor === cursor) return out;
      cursor = page.pageInfo.endCursor;
    }
  }

  private async gql<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    try {
      return await graphqlRequest<T>(this.http, { path: this.path, query, variables, headers: { authorization: this.authorization }, signal });
    } catch (err) {
      // Linear answers an unknown issue id with an INPUT_ERROR "Entity not found: Issue", not a NOT_FOUND code.
      if (err instanceof KanbanError && err.code === KanbanErrorCode.BOARD_REJECTED && /Entity not found: Issue\b/.test(err.message)) throw notFound();
      throw err;
    }
  }
}
