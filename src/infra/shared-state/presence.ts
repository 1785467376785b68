import { Logger } from '@nestjs/common';
import { withTimeout } from '../../common/timeout';
import type { RedisClient } from '../redis/redis-connections';

export interface PresenceEntry {
  agentId: string;
  replicaId: string;
  connectedAt: number;
  lastSeen: number;
}

/**
 * Which agents are connected, on which replica, last seen when. Each replica announces its own
 * sockets and refreshes them on a heartbeat; entries of a replica that died stop being refreshed
 * and expire after the TTL.
 */
export abstract class Presence {
  abstract connected(projectId: string, agentId: string, replicaId: string, now?: number): Promise<void>;
  abstract disconnected(projectId: string, agentId: string, replicaId: string): Promise<void>;
  /** Refreshes the last-seen time of the given (project, agent) pairs held by a replica. */
  abstract refresh(entries: readonly { projectId: string; agentId: string }[], replicaId: string, now?: number): Promise<void>;
  /** Live entries of a project (last seen within the TTL). */
  abstract online(projectId: string, now?: number): Promise<PresenceEntry[]>;
}

const SEP = '\u0001';

export class InMemoryPresence extends Presence {
  private readonly projects = new Map<string, Map<string, PresenceEntry>>();

  constructor(private readonly ttlMs: number) {
    super();
  }

  async connected(projectId: string, agentId: string, replicaId: string, now = Date.now()): Promise<void> {
    let p = this.projects.get(projectId);
    if (!p) this.projects.set(projectId, (p = new Map<string, PresenceEntry>()));
    const k = agentId + SEP + replicaId;
    p.set(k, { agentId, replicaId, connectedAt: p.get(k)?.connectedAt ?? now, lastSeen: now });
  }

  async disconnected(projectId: string, agentId: string, replicaId: string): Promise<void> {
    this.projects.get(projectId)?.delete(agentId + SEP + replicaId);
  }

  async refresh(entries: readonly { projectId: string; agentId: string }[], replicaId: string, now = Date.now()): Promise<void> {
    for (const e of entries) {
      const hit = this.projects.get(e.projectId)?.get(e.agentId + SEP + replicaId);
      if (hit) hit.lastSeen = now;
    }
  }

  async online(projectId: string, now = Date.now()): Promise<PresenceEntry[]> {
    const p = this.projects.get(projectId);
    if (!p) return [];
    const live: PresenceEntry[] = [];
    for (const [k, e] of p) {
      if (e.lastSeen > now - this.ttlMs) live.push({ ...e });
      else p.delete(k);
    }
    return live;
  }
}

/**
 * Per project two keys in one hash slot (`{p:<project>}`): a sorted set of `agent␁replica` by
 * last-seen time, and a hash with when each connected. MULTI keeps them consistent.
 */
export class RedisPresence extends Presence {
  private readonly logger = new Logger('Presence');

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly ttlMs: number,
  ) {
    super();
  }

  private keys(projectId: string) {
    const tag = `${this.prefix}:{p:${projectId}}`;
    return { seen: `${tag}:seen`, since: `${tag}:since` };
  }

  async connected(projectId: string, agentId: string, replicaId: string, now = Date.now()): Promise<void> {
    const k = this.keys(projectId);
    const member = agentId + SEP + replicaId;
    await this.soft(() =>
      this.redis
        .multi()
        .zadd(k.seen, now, member)
        .hsetnx(k.since, member, String(now))
        .pexpire(k.seen, this.ttlMs * 4)
        .pexpire(k.since, this.ttlMs * 4)
        .exec(),
    );
  }

  async disconnected(projectId: string, agentId: string, replicaId: string): Promise<void> {
    const k = this.keys(projectId);
    const member = agentId + SEP + replicaId;
    await this.soft(() => this.redis.multi().zrem(k.seen, member).hdel(k.since, member).exec());
  }

  async refresh(entries: readonly { projectId: string; agentId: string }[], replicaId: string, now = Date.now()): Promise<void> {
    const byProject = new Map<string, string[]>();
    for (const e of entries) {
      const list = byProject.get(e.projectId) ?? [];
      list.push(e.agentId + SEP + replicaId);
      byProject.set(e.projectId, list);
    }
    await Promise.all(
      [...byProject].map(([projectId, members]) => {
        const k = this.keys(projectId);
        const args = members.flatMap((m) => [now, m]);
        return this.soft(() =>
          this.redis
            .multi()
            .zadd(k.seen, ...args)
            .zremrangebyscore(k.seen, '-inf', now - this.ttlMs)
            .pexpire(k.seen, this.ttlMs * 4)
            .pexpire(k.since, this.ttlMs * 4)
            .exec(),
        );
      }),
    );
  }

  async online(projectId: string, now = Date.now()): Promise<PresenceEntry[]> {
    const k = this.keys(projectId);
    // Live means last seen after now - TTL (exclusive), as refresh prunes and as InMemoryPresence.
    const res = await this.soft(() => this.redis.multi().zrangebyscore(k.seen, `(${now - this.ttlMs}`, '+inf', 'WITHSCORES').hgetall(k.since).exec());
    if (!res) return [];
    const flat = (res[0]?.[1] as string[] | undefined) ?? [];
    const since = (res[1]?.[1] as Record<string, string> | undefined) ?? {};
    const out: PresenceEntry[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const [agentId, replicaId] = flat[i].split(SEP);
      const lastSeen = Number(flat[i + 1]);
      out.push({ agentId, replicaId, lastSeen, connectedAt: Number(since[flat[i]] ?? lastSeen) });
    }
    return out;
  }

  // Presence is advisory: a Redis failover must not fail an agent's call.
  private async soft<T>(fn: () => Promise<T>): Promise<T | null> {
    try {
      return await withTimeout(fn(), 500, 'presence');
    } catch (err) {
      this.logger.warn(`presence update skipped: ${(err as Error).message}`);
      return null;
    }
  }
}
