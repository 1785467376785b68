import { KanbanErrorCode } from '../../../common/errors';
import { columnForStatus, parseDependencyRefs, priorityFromLabels, priorityLabel, statusFromColumn, type StatusMap } from '../board-mapping';
import type { BoardHttp, HttpRequest } from '../http/board-http';
import { KanbanError } from '../kanban-error';
import type {
  AssignParams,
  BoardComment,
  BoardProvider,
  BoardTask,
  ChecklistParams,
  CommentParams,
  CreateTaskParams,
  LabelParams,
  ListParams,
  MoveTaskParams,
  TaskRefParams,
} from '../provider';
import { BoardView, compareIds, indexCards, type CardIndex } from './planka.board-view';
import { assigneeOf, colorFor, findUser, resolveDependencies } from './planka.mapping';
import {
  PLANKA_POSITION_GAP,
  type PlankaAction,
  type PlankaActionsAnswer,
  type PlankaBoardAnswer,
  type PlankaCard,
  type PlankaCardAnswer,
  type PlankaCardLabel,
  type PlankaCardMembership,
  type PlankaItem,
  type PlankaLabel,
  type PlankaList,
  type PlankaTask,
} from './planka.types';

export type PlankaCredentials = { token: string } | { username: string; password: string };

export interface PlankaProviderOptions {
  /** Built by the caller with baseUrl = the Planka server URL. */
  http: BoardHttp;
  boardId: string;
  credentials: PlankaCredentials;
  statusMap?: StatusMap;
}

/**
 * A Planka 1.x board (REST API, https://github.com/plankanban/planka server/config/routes.js).
 * Status is the card's list, priority and labels are board labels, the checklist is the card's
 * task list, the assignee its first member, dependencies "Depends on:" lines in the description.
 * `GET /api/boards/:id` answers the whole board at once (Planka does not page it), so reads cost
 * one request; only a card's comments (actions) are paged, with `beforeId`.
 */
export class PlankaProvider implements BoardProvider {
  readonly kind = 'planka' as const;
  private readonly http: BoardHttp;
  private readonly boardId: string;
  private readonly credentials: PlankaCredentials;
  private readonly statusMap: StatusMap;
  private token: string | null;
  private loggingIn: Promise<string> | null = null;

  constructor(opts: PlankaProviderOptions) {
    this.http = opts.http;
    this.boardId = opts.boardId;
    this.credentials = opts.credentials;
    this.statusMap = opts.statusMap ?? {};
    this.token = 'token' in opts.credentials ? opts.credentials.token : null;
  }

  async listTasks(p: ListParams = {}): Promise<BoardTask[]> {
    const view = await this.readBoard(p.signal);
    const index = indexCards(view);
    const listOrder = new Map(view.lists.map((l, i) => [l.id, i]));
    return [...view.cards]
      .sort((a, b) => (listOrder.get(a.listId) ?? 0) - (listOrder.get(b.listId) ?? 0) || a.position - b.position || compareIds(a.id, b.id))
      .map((c) => this.toTask(c, view, index));
  }

  async getTask(p: TaskRefParams): Promise<BoardTask | null> {
    const view = await this.readBoard();
    const card = view.card(p.externalId);
    return card ? this.toTask(card, view) : null;
  }

  async createTask(p: CreateTaskParams): Promise<BoardTask> {
    const view = await this.readBoard();
    const list = this.listFor(view, p.status ?? 'todo');
    const deps = p.dependencies ?? [];
    let description = p.description ?? '';
    if (deps.length > 0) description = `${description.trimEnd()}${description.trim() ? '\n\n' : ''}Depends on: ${deps.join(', ')}`;
    // Planka refuses an empty description (isNotEmptyString): leave it out instead.
    const body: Record<string, unknown> = { name: p.name, position: view.bottomOf(list.id) };
    if (description.trim()) body.description = description;
    const card = await this.item<PlankaCard>({ method: 'POST', path: `/api/lists/${enc(list.id)}/cards`, body });
    view.cards.push(card);

    const labels = [...new Set([...(p.priority ? [priorityLabel(p.priority)] : []), ...(p.labels ?? [])])];
    for (const name of labels) await this.labelCard(view, card.id, name);
    for (const [i, c] of (p.checklist ?? []).entries()) {
      view.tasks.push(
        await this.item<PlankaTask>({ method: 'POST', path: `/api/cards/${enc(card.id)}/tasks`, body: { name: c.text, position: (i + 1) * PLANKA_POSITION_GAP, isCompleted: c.done } }),
      );
    }
    return this.toTask(card, view);
  }

  async moveTask(p: MoveTaskParams): Promise<void> {
    const view = await this.readBoard();
    const card = this.cardOn(view, p.externalId);
    const current = view.list(card.listId);
    // A card already in a column of that status stays where it is (Backlog is as "todo" as To Do).
    if (current && statusFromColumn(current.name, this.statusMap) === p.status) return;
    const target = this.listFor(view, p.status);
    // Planka 1.x insists on a position whenever listId changes (422 otherwise).
    await this.item<PlankaCard>({ method: 'PATCH', path: `/api/cards/${enc(card.id)}`, body: { listId: target.id, position: view.bottomOf(target.id, card.id) } });
  }

  /** Posts straight away: Planka answers 404 for a card it does not know (or the user cannot see). */
  async addComment(p: CommentParams): Promise<void> {
    await this.item<PlankaAction>({ method: 'POST', path: `/api/cards/${enc(p.externalId)}/comment-actions`, body: { text: p.body } });
  }

  async listComments(p: TaskRefParams): Promise<BoardComment[]> {
    const actions: PlankaAction[] = [];
    let beforeId: string | undefined;
    // Pages come newest first; an empty page ends the history (the page size is the server's).
    for (;;) {
      const page = await this.call<PlankaActionsAnswer>({ method: 'GET', path: `/api/cards/${enc(p.externalId)}/actions`, query: { beforeId } });
      const items = page?.items;
      if (!Array.isArray(items)) throw this.badResponse(`GET /api/cards/${p.externalId}/actions`);
      if (items.length === 0) break;
      actions.push(...items);
      const oldest = items.reduce((min, a) => (compareIds(a.id, min) < 0 ? a.id : min), items[0].id);
      // A server that ignored beforeId would page forever.
      if (beforeId !== undefined && compareIds(oldest, beforeId) >= 0) break;
      beforeId = oldest;
    }
    return actions
      .filter((a) => a.type === 'commentCard' && typeof a.data?.text === 'string')
      .sort((a, b) => compareIds(a.id, b.id))
      .map((a) => ({ body: a.data.text!, createdAt: a.createdAt }));
  }

  async setChecklist(p: ChecklistParams): Promise<void> {
    const card = await this.call<PlankaCardAnswer>({ method: 'GET', path: `/api/cards/${enc(p.externalId)}` });
    if (!card?.item || !Array.isArray(card.included?.tasks)) throw this.badResponse(`GET /api/cards/${p.externalId}`);
    if (card.item.boardId !== this.boardId) throw this.notOnBoard(p.externalId);
    const existing = [...card.included.tasks].sort((a, b) => a.position - b.position || compareIds(a.id, b.id));
    // Reuse items in place so unchanged ones cost nothing; extra old ones are deleted.
    for (const [i, want] of p.items.entries()) {
      const position = (i + 1) * PLANKA_POSITION_GAP;
      const have = existing[i];
      if (!have) {
        await this.item<PlankaTask>({ method: 'POST', path: `/api/cards/${enc(p.externalId)}/tasks`, body: { name: want.text, position, isCompleted: want.done } });
        continue;
      }
      const patch: Record<string, unknown> = {};
      if (have.name !== want.text) patch.name = want.text;
      if (have.isCompleted !== want.done) patch.isCompleted = want.done;
      if (have.position !== position) patch.position = position;
      if (Object.keys(patch).length > 0) await this.item<PlankaTask>({ method: 'PATCH', path: `/api/tasks/${enc(have.id)}`, body: patch });
    }
    for (const extra of existing.slice(p.items.length)) await this.item<PlankaTask>({ method: 'DELETE', path: `/api/tasks/${enc(extra.id)}` });
  }

  async addLabel(p: LabelParams): Promise<void> {
    const view = await this.readBoard();
    const card = this.cardOn(view, p.externalId);
    await this.labelCard(view, card.id, p.label);
  }

  async assign(p: AssignParams): Promise<void> {
    const view = await this.readBoard();
    const card = this.cardOn(view, p.externalId);
    const members = view.membersOf(card.id);
    let keep: string | null = null;
    if (p.assignee !== null) {
      const user = findUser(view.users, p.assignee);
      if (!user) throw new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${this.http.provider}: no member of board ${this.boardId} is called ${JSON.stringify(p.assignee)}`, { provider: this.http.provider });
      keep = user.id;
      // Add before removing so the card is never briefly unassigned.
      if (!members.some((m) => m.userId === user.id)) {
        await this.tolerating(409, this.item<PlankaCardMembership>({ method: 'POST', path: `/api/cards/${enc(card.id)}/memberships`, body: { userId: user.id } }));
      }
    }
    for (const m of members) {
      if (m.userId === keep) continue;
      await this.tolerating(404, this.item<PlankaCardMembership>({ method: 'DELETE', path: `/api/cards/${enc(card.id)}/memberships`, query: { userId: m.userId } }));
    }
  }

  async close(): Promise<void> {
    await this.http.close();
  }

  // ---- mapping ---------------------------------------------------------------------------------

  private toTask(card: PlankaCard, view: BoardView, index: CardIndex = indexCards(view)): BoardTask {
    const labels = index.labelsByCard.get(card.id) ?? [];
    const tasks = [...(index.tasksByCard.get(card.id) ?? [])].sort((a, b) => a.position - b.position || compareIds(a.id, b.id));
    const description = card.description ?? '';
    return {
      externalId: card.id,
      ref: card.name,
      name: card.name,
      description,
      status: statusFromColumn(view.list(card.listId)?.name ?? '', this.statusMap),
      priority: priorityFromLabels(labels),
      labels,
      dependencies: resolveDependencies(parseDependencyRefs(description), view.cards, card.id),
      assignee: assigneeOf(index.membersByCard.get(card.id) ?? [], view.users),
      checklist: tasks.map((t) => ({ text: t.name, done: t.isCompleted })),
      updatedAt: card.updatedAt ?? card.createdAt,
    };
  }

  private listFor(view: BoardView, status: BoardTask['status']): PlankaList {
    const list = columnForStatus(view.lists, status, this.statusMap);
    if (!list) throw new KanbanError(KanbanErrorCode.BOARD_NOT_CONFIGURED, `${this.http.provider}: board ${this.boardId} has no list for status ${status}`, { provider: this.http.provider });
    return list;
  }

  /** Puts label `name` on the card, creating the board label first when the board lacks it. */
  private async labelCard(view: BoardView, cardId: string, name: string): Promise<void> {
    let label = view.labels.find((l) => l.name === name) ?? view.labels.find((l) => l.name?.toLowerCase() === name.toLowerCase());
    if (!label) {
      const position = Math.max(0, ...view.labels.map((l) => l.position)) + PLANKA_POSITION_GAP;
      label = await this.item<PlankaLabel>({ method: 'POST', path: `/api/boards/${enc(this.boardId)}/labels`, body: { name, color: colorFor(name), position } });
      view.labels.push(label);
    }
    const labelId = label.id;
    if (view.cardLabels.some((cl) => cl.cardId === cardId && cl.labelId === labelId)) return;
    // 409 "Label already in card": someone else added it meanwhile, which is what we wanted.
    const added = await this.tolerating(409, this.item<PlankaCardLabel>({ method: 'POST', path: `/api/cards/${enc(cardId)}/labels`, body: { labelId } }));
    view.cardLabels.push(added ?? { id: '0', cardId, labelId, createdAt: new Date().toISOString(), updatedAt: null });
  }

  private cardOn(view: BoardView, id: string): PlankaCard {
    const card = view.card(id);
    if (!card) throw this.notOnBoard(id);
    return card;
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async readBoard(signal?: AbortSignal): Promise<BoardView> {
    const answer = await this.call<PlankaBoardAnswer>({ method: 'GET', path: `/api/boards/${enc(this.boardId)}`, signal });
    const inc = answer?.included;
    const arrays = [inc?.lists, inc?.cards, inc?.labels, inc?.users, inc?.cardLabels, inc?.cardMemberships, inc?.tasks];
    if (!answer?.item || !arrays.every(Array.isArray)) throw this.badResponse(`GET /api/boards/${this.boardId}`);
    return new BoardView(answer);
  }

  /** A call answering `{item}`. */
  private async item<T>(req: Omit<HttpRequest, 'headers'>): Promise<T> {
    const body = await this.call<PlankaItem<T>>(req);
    if (!body || body.item === undefined || body.item === null) throw this.badResponse(`${req.method} ${req.path}`);
    return body.item;
  }

  /**
   * One authenticated request. With username/password a 401 (the session was revoked or the token
   * expired) logs in again once and repeats the request; a static token is never replaced.
   */
  private async call<T>(req: Omit<HttpRequest, 'headers'>): Promise<T> {
    const token = await this.currentToken();
    try {
      return (await this.http.request<T>({ ...req, headers: { authorization: `Bearer ${token}` } })).body;
    } catch (err) {
      if (!('password' in this.credentials) || !isUnauthorized(err)) throw err;
      const fresh = await this.renewToken(token);
      return (await this.http.request<T>({ ...req, headers: { authorization: `Bearer ${fresh}` } })).body;
    }
  }

  private async currentToken(): Promise<string> {
    if (this.token !== null) return this.token;
    return this.renewToken(null);
  }

  /** Logs in unless another call already replaced `stale`; concurrent callers share one login. */
  private async renewToken(stale: string | null): Promise<string> {
    if (this.token !== null && this.token !== stale) return this.token;
    if (!this.loggingIn) {
      this.loggingIn = this.logIn().finally(() => {
        this.loggingIn = null;
      });
    }
    return this.loggingIn;
  }

  private async logIn(): Promise<string> {
    if (!('password' in this.credentials)) throw new KanbanError(KanbanErrorCode.BOARD_AUTH_FAILED, `${this.http.provider}: token refused`, { provider: this.http.provider });
    this.token = null;
    const { username, password } = this.credentials;
    const res = await this.http.request<PlankaItem<string>>({ method: 'POST', path: '/api/access-tokens', body: { emailOrUsername: username, password } });
    const token = res.body?.item;
    if (typeof token !== 'string' || token === '') throw this.badResponse('POST /api/access-tokens');
    this.token = token;
    return token;
  }

  /** Awaits `op`, turning a KanbanError with HTTP `status` into undefined. */
  private async tolerating<T>(status: number, op: Promise<T>): Promise<T | undefined> {
    try {
      return await op;
    } catch (err) {
      if (err instanceof KanbanError && err.details.status === status) return undefined;
      throw err;
    }
  }

  private notOnBoard(cardId: string): KanbanError {
    return new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `${this.http.provider}: card ${cardId} is not on board ${this.boardId}`, { provider: this.http.provider });
  }

  private badResponse(what: string): KanbanError {
    return new KanbanError(KanbanErrorCode.BOARD_BAD_RESPONSE, `${this.http.provider} ${what}: unexpected answer`, { provider: this.http.provider });
  }
}

function enc(id: string): string {
  return encodeURIComponent(id);
}

function isUnauthorized(err: unknown): boolean {
  return err instanceof KanbanError && err.code === KanbanErrorCode.BOARD_AUTH_FAILED && err.details.status === 401;
}
