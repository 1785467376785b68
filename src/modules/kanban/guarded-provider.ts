import type { BoardBreaker } from './board-breaker';
import type { BoardCache } from './board-cache';
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
} from './provider';

/**
 * A provider behind its board's breaker, with board reads through the two-level cache. Every
 * write invalidates the cached board, so the next read sees it.
 */
export class GuardedProvider implements BoardProvider {
  readonly kind: BoardProvider['kind'];

  constructor(
    private readonly inner: BoardProvider,
    private readonly breaker: BoardBreaker,
    private readonly cache: BoardCache,
    private readonly projectId: string,
  ) {
    this.kind = inner.kind;
  }

  /** Cached unless `fresh`; a fresh read refreshes the cache. */
  listTasks(p: ListParams & { fresh?: boolean } = {}): Promise<BoardTask[]> {
    return this.cache.read(this.projectId, () => this.breaker.fire(() => this.inner.listTasks({ signal: p.signal })), p.fresh ?? false);
  }

  getTask(p: TaskRefParams): Promise<BoardTask | null> {
    return this.breaker.fire(() => this.inner.getTask(p));
  }

  createTask(p: CreateTaskParams): Promise<BoardTask> {
    return this.write(() => this.inner.createTask(p));
  }

  moveTask(p: MoveTaskParams): Promise<void> {
    return this.write(() => this.inner.moveTask(p));
  }

  addComment(p: CommentParams): Promise<void> {
    return this.breaker.fire(() => this.inner.addComment(p)); // comments are not part of the cached board
  }

  listComments(p: TaskRefParams): Promise<BoardComment[]> {
    return this.breaker.fire(() => this.inner.listComments(p));
  }

  setChecklist(p: ChecklistParams): Promise<void> {
    return this.write(() => this.inner.setChecklist(p));
  }

  addLabel(p: LabelParams): Promise<void> {
    return this.write(() => this.inner.addLabel(p));
  }

  assign(p: AssignParams): Promise<void> {
    return this.write(() => this.inner.assign(p));
  }

  async close(): Promise<void> {
    this.breaker.shutdown();
    await this.inner.close?.();
  }

  private async write<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await this.breaker.fire(fn);
    } finally {
      await this.cache.invalidate(this.projectId);
    }
  }
}
