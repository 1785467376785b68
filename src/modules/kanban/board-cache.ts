import type { RedisClient } from '../../infra/redis/redis-connections';
import type { BoardTask } from './provider';

interface Entry {
  tasks: BoardTask[];
  until: number;
}

/**
 * Board reads, cached on two levels: in this process for `localTtlMs` (hot reads cost nothing) and
 * in Redis for `sharedTtlMs` (every replica shares one read of the board's API). Writes and
 * webhooks invalidate both; other replicas' local copies live at most `localTtlMs` longer.
 * Without Redis (embedded mode) only the local level exists.
 */
export class BoardCache {
  private readonly local = new Map<string, Entry>();
  hits = { local: 0, shared: 0, miss: 0 };

  constructor(
    private readonly redis: RedisClient | null,
    private readonly keyPrefix: string,
    private readonly localTtlMs: number,
    private readonly sharedTtlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  private key(projectId: string): string {
    return `${this.keyPrefix}:board:${projectId}:tasks`;
  }

  async get(projectId: string): Promise<BoardTask[] | null> {
    const hit = this.local.get(projectId);
    if (hit && hit.until > this.now()) {
      this.hits.local++;
      return hit.tasks;
    }
    if (this.redis && this.sharedTtlMs > 0) {
      const raw = await this.redis.get(this.key(projectId)).catch(() => null); // a Redis hiccup is a miss
      if (raw) {
        const tasks = JSON.parse(raw) as BoardTask[];
        this.remember(projectId, tasks);
        this.hits.shared++;
        return tasks;
      }
    }
    this.hits.miss++;
    return null;
  }

  async set(projectId: string, tasks: BoardTask[]): Promise<void> {
    this.remember(projectId, tasks);
    if (this.redis && this.sharedTtlMs > 0) {
      await this.redis.set(this.key(projectId), JSON.stringify(tasks), 'PX', this.sharedTtlMs).catch(() => undefined);
    }
  }

  async invalidate(projectId: string): Promise<void> {
    this.local.delete(projectId);
    if (this.redis) await this.redis.del(this.key(projectId)).catch(() => undefined);
  }

  /** Reads through the cache: `load` runs only on a miss (or when `fresh`). */
  async read(projectId: string, load: () => Promise<BoardTask[]>, fresh = false): Promise<BoardTask[]> {
    if (!fresh) {
      const cached = await this.get(projectId);
      if (cached) return cached;
    }
    const tasks = await load();
    await this.set(projectId, tasks);
    return tasks;
  }

  private remember(projectId: string, tasks: BoardTask[]): void {
    if (this.localTtlMs <= 0) return;
    if (this.local.size > 1000) this.local.clear();
    this.local.set(projectId, { tasks, until: this.now() + this.localTtlMs });
  }
}
