import type { TaskStatus } from '../tasks/eligibility';

/** Which board a project's tasks live on. */
export type BoardKind = 'builtin' | 'planka' | 'github' | 'linear';
export type BoardStatus = TaskStatus;
export type BoardPriority = 'low' | 'medium' | 'high' | 'urgent';

export interface BoardChecklistItem {
  text: string;
  done: boolean;
}

/** A card/issue as pm-agent sees it, whatever board it came from. */
export interface BoardTask {
  /** The board's stable id (Planka card id, GitHub issue node id, Linear issue id, built-in task id). */
  externalId: string;
  /** What a human calls it (`#12`, `ENG-12`, the card name); for messages only. */
  ref: string;
  name: string;
  description: string;
  status: BoardStatus;
  priority: BoardPriority;
  labels: string[];
  /** External ids of the tasks this one waits for (only those on the same board). */
  dependencies: string[];
  /** The board user it is assigned to (login, username or email), if any. */
  assignee: string | null;
  checklist: BoardChecklistItem[];
  /** ISO time of the board's last change to the card. */
  updatedAt: string;
}

export interface BoardComment {
  body: string;
  createdAt: string;
}

export interface CreateTaskParams {
  name: string;
  description?: string;
  status?: BoardStatus;
  priority?: BoardPriority;
  labels?: string[];
  checklist?: BoardChecklistItem[];
  /** External ids of tasks on the same board this one waits for. */
  dependencies?: string[];
}
export interface TaskRefParams {
  externalId: string;
}
export interface MoveTaskParams extends TaskRefParams {
  status: BoardStatus;
}
export interface CommentParams extends TaskRefParams {
  body: string;
}
export interface ChecklistParams extends TaskRefParams {
  items: BoardChecklistItem[];
}
export interface LabelParams extends TaskRefParams {
  label: string;
}
export interface AssignParams extends TaskRefParams {
  /** Board user (login, username or email); null clears the assignee. */
  assignee: string | null;
}
export interface ListParams {
  signal?: AbortSignal;
}

/**
 * One board, as pm-agent uses it. Every method takes one parameter object so providers can grow
 * options without breaking callers. Implementations do the HTTP work only: pooling, retries and
 * rate limits live in BoardHttp, the breaker and the cache wrap the provider from outside.
 * Errors are KanbanError (codes in common/errors.ts) and never carry credentials.
 */
export interface BoardProvider {
  readonly kind: BoardKind;
  listTasks(p?: ListParams): Promise<BoardTask[]>;
  getTask(p: TaskRefParams): Promise<BoardTask | null>;
  createTask(p: CreateTaskParams): Promise<BoardTask>;
  moveTask(p: MoveTaskParams): Promise<void>;
  addComment(p: CommentParams): Promise<void>;
  listComments(p: TaskRefParams): Promise<BoardComment[]>;
  setChecklist(p: ChecklistParams): Promise<void>;
  /** Adds a label, creating it on the board if it does not exist yet; adding twice is a no-op. */
  addLabel(p: LabelParams): Promise<void>;
  assign(p: AssignParams): Promise<void>;
  /** Releases pooled connections. */
  close?(): Promise<void>;
}
