import { randomBytes, randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryPresence, RedisPresence, type Presence, type PresenceEntry } from '../../src/infra/shared-state/presence';
import { InMemoryRateLimiter, RedisRateLimiter, type RateLimiter } from '../../src/infra/shared-state/rate-limiter';
import { TEST_REDIS_CLUSTER, TEST_REDIS_URL } from '../support/env';

// One contract per piece of shared state, run against every implementation: in this process
// (embedded mode), a single Redis, and the Redis Cluster. Whatever the app relies on must hold on
// all three. Each run uses its own key prefix and deletes its keys at the end.

const PREFIX = `ssc-${randomBytes(5).toString('hex')}`;
const CLUSTER_SEEDS = [
  ...TEST_REDIS_CLUSTER.split(',').map((hp) => {
    const [host, port] = hp.split(':');
    return { host, port: Number(port) };
  }),
  // The replicas too, so the suite can start while a master is failing over.
  ...[7003, 7004, 7005].map((port) => ({ host: '127.0.0.1', port })),
];

type Kind = 'in-memory' | 'redis' | 'redis-cluster';
const KINDS: Kind[] = ['in-memory', 'redis', 'redis-cluster'];

/** The Redis connections of this file, opened on first use. */
const connections: (Redis | Cluster)[] = [];
function connect(kind: Exclude<Kind, 'in-memory'>): Redis | Cluster {
  const c = kind === 'redis' ? new Redis(TEST_REDIS_URL) : new Cluster(CLUSTER_SEEDS);
  c.on('error', () => undefined); // failovers are logged by the commands that fail
  connections.push(c);
  return c;
}

async function keysWithPrefix(c: Redis | Cluster, match: string): Promise<string[]> {
  const nodes = c instanceof Cluster ? c.nodes('master') : [c];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, batch] = await node.scan(cursor, 'MATCH', match, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

afterAll(async () => {
  for (const c of connections) {
    try {
      // One DEL per key: on a Cluster the keys of this run sit in many slots.
      for (const k of await keysWithPrefix(c, `${PREFIX}*`)) await c.del(k);
      expect(await keysWithPrefix(c, `${PREFIX}*`)).toEqual([]);
    } finally {
      c.disconnect();
    }
  }
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const byReplica = (a: PresenceEntry, b: PresenceEntry) => a.agentId.localeCompare(b.agentId) || a.replicaId.localeCompare(b.replicaId);

// ---- Presence ---------------------------------------------------------------------------------

const TTL = 10_000;

describe.each(KINDS)('Presence contract (%s)', (kind) => {
  let presence: Presence;
  let redis: Redis | Cluster | undefined;
  const prefix = `${PREFIX}-p-${kind}`;

  beforeAll(() => {
    if (kind === 'in-memory') presence = new InMemoryPresence(TTL);
    else presence = new RedisPresence((redis = connect(kind)), prefix, TTL);
  });

  // Times are passed explicitly (close to the real clock, so Redis key expiry stays out of the way).
  const project = () => `proj-${randomUUID()}`;
  const sorted = async (p: string, now: number) => (await presence.online(p, now)).sort(byReplica);

  it('connected: online lists the agent with its replica, connectedAt and lastSeen', async () => {
    const p = project();
    const t0 = Date.now();
    expect(await presence.online(p, t0)).toEqual([]);
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    expect(await presence.online(p, t0 + 1)).toEqual([{ agentId: 'agent-1', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 }]);
  });

  it('one agent on two replicas has two entries; a second connect on the same replica keeps the first connectedAt', async () => {
    const p = project();
    const t0 = Date.now();
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    await presence.connected(p, 'agent-1', 'replica-b', t0 + 10);
    await presence.connected(p, 'agent-1', 'replica-a', t0 + 20); // another socket, same replica
    expect(await sorted(p, t0 + 30)).toEqual([
      { agentId: 'agent-1', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 + 20 },
      { agentId: 'agent-1', replicaId: 'replica-b', connectedAt: t0 + 10, lastSeen: t0 + 10 },
    ]);
  });

  it("disconnected removes only that replica's entry of that agent", async () => {
    const p = project();
    const t0 = Date.now();
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    await presence.connected(p, 'agent-1', 'replica-b', t0);
    await presence.connected(p, 'agent-2', 'replica-a', t0);
    await presence.disconnected(p, 'agent-1', 'replica-a');
    expect(await sorted(p, t0 + 1)).toEqual([
      { agentId: 'agent-1', replicaId: 'replica-b', connectedAt: t0, lastSeen: t0 },
      { agentId: 'agent-2', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 },
    ]);
    // Disconnecting what is not there changes nothing.
    await presence.disconnected(p, 'agent-3', 'replica-a');
    await presence.disconnected(p, 'agent-2', 'replica-b');
    expect(await sorted(p, t0 + 1)).toHaveLength(2);
    // Connecting again after a disconnect starts a new connectedAt.
    await presence.connected(p, 'agent-1', 'replica-a', t0 + 500);
    expect((await presence.online(p, t0 + 501)).find((e) => e.agentId === 'agent-1' && e.replicaId === 'replica-a')).toEqual({
      agentId: 'agent-1',
      replicaId: 'replica-a',
      connectedAt: t0 + 500,
      lastSeen: t0 + 500,
    });
  });

  it('an entry not refreshed expires after the TTL (live until then)', async () => {
    const p = project();
    const t0 = Date.now();
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    expect(await presence.online(p, t0 + TTL - 1)).toHaveLength(1);
    expect(await presence.online(p, t0 + TTL)).toEqual([]);
    expect(await presence.online(p, t0 + 3 * TTL)).toEqual([]);
  });

  it("refresh keeps a replica's entries alive; entries of other replicas and agents still expire", async () => {
    const p = project();
    const t0 = Date.now();
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    await presence.connected(p, 'agent-1', 'replica-b', t0); // replica-b dies: never refreshed
    await presence.connected(p, 'agent-2', 'replica-a', t0); // replica-a no longer holds agent-2
    for (let i = 1; i <= 4; i++) await presence.refresh([{ projectId: p, agentId: 'agent-1' }], 'replica-a', t0 + i * (TTL / 2));
    const now = t0 + 2 * TTL + TTL / 2 - 1;
    expect(await presence.online(p, now)).toEqual([{ agentId: 'agent-1', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 + 2 * TTL }]);
    // Refresh of several agents of several projects in one call.
    const q = project();
    await presence.connected(q, 'agent-9', 'replica-a', t0);
    await presence.connected(p, 'agent-2', 'replica-a', now);
    await presence.refresh(
      [
        { projectId: p, agentId: 'agent-1' },
        { projectId: p, agentId: 'agent-2' },
        { projectId: q, agentId: 'agent-9' },
      ],
      'replica-a',
      now + TTL - 100,
    );
    expect((await sorted(p, now + 2 * TTL - 200)).map((e) => [e.agentId, e.lastSeen])).toEqual([
      ['agent-1', now + TTL - 100],
      ['agent-2', now + TTL - 100],
    ]);
    expect(await presence.online(q, now + 2 * TTL - 200)).toEqual([{ agentId: 'agent-9', replicaId: 'replica-a', connectedAt: t0, lastSeen: now + TTL - 100 }]);
  });

  it('projects are isolated', async () => {
    const p = project();
    const q = project();
    const t0 = Date.now();
    await presence.connected(p, 'agent-1', 'replica-a', t0);
    await presence.connected(q, 'agent-2', 'replica-a', t0);
    await presence.disconnected(q, 'agent-1', 'replica-a'); // agent-1 is not in q: p keeps it
    await presence.refresh([{ projectId: q, agentId: 'agent-2' }], 'replica-a', t0 + TTL - 1);
    expect(await presence.online(p, t0 + 1)).toEqual([{ agentId: 'agent-1', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 }]);
    expect(await presence.online(q, t0 + 1)).toEqual([{ agentId: 'agent-2', replicaId: 'replica-a', connectedAt: t0, lastSeen: t0 + TTL - 1 }]);
    // q's refresh did not keep p's entry alive.
    expect(await presence.online(p, t0 + TTL)).toEqual([]);
    expect(await presence.online(q, t0 + TTL)).toHaveLength(1);
  });

  if (kind !== 'in-memory') {
    it('Redis keys of a project carry a TTL (a dead project leaves nothing behind)', async () => {
      const p = project();
      await presence.connected(p, 'agent-1', 'replica-a');
      const keys = await keysWithPrefix(redis!, `${prefix}:{p:${p}}*`);
      expect(keys.sort()).toEqual([`${prefix}:{p:${p}}:seen`, `${prefix}:{p:${p}}:since`]);
      for (const k of keys) {
        const pttl = await redis!.pttl(k);
        expect(pttl).toBeGreaterThan(0);
        expect(pttl).toBeLessThanOrEqual(4 * TTL);
      }
    });
  }

  if (kind === 'redis-cluster') {
    it('the presence keys of one project hash to one slot (CLUSTER KEYSLOT), and projects spread over slots', async () => {
      const c = redis as Cluster;
      const slots = new Set<number>();
      for (let i = 0; i < 20; i++) {
        const p = project();
        await presence.connected(p, 'agent-1', 'replica-a');
        const keys = await keysWithPrefix(c, `${prefix}:{p:${p}}*`);
        expect(keys).toHaveLength(2);
        const keySlots = await Promise.all(keys.map(async (k) => Number(await c.cluster('KEYSLOT', k))));
        expect(new Set(keySlots).size).toBe(1);
        slots.add(keySlots[0]);
      }
      expect(slots.size).toBeGreaterThan(1);
    });
  }
});

// ---- RateLimiter ------------------------------------------------------------------------------

/**
 * Runs `fn` inside one fixed window of `windowMs` (starting just after a boundary) and retries
 * when the run overran the window, so assertions about "one window" are exact.
 */
async function inOneWindow<T>(windowMs: number, fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    await sleep(windowMs - (Date.now() % windowMs) + 5);
    const start = Date.now() - (Date.now() % windowMs);
    const out = await fn();
    if (Date.now() < start + windowMs) return out;
    if (attempt >= 3) throw new Error(`could not run inside one ${windowMs} ms window`);
  }
}

const WINDOW = 1500;

describe.each(KINDS)('RateLimiter contract (%s)', (kind) => {
  let limiter: RateLimiter;
  let other: RateLimiter | undefined;
  let redis: Redis | Cluster | undefined;
  const prefix = `${PREFIX}-rl-${kind}`;

  beforeAll(() => {
    if (kind === 'in-memory') limiter = new InMemoryRateLimiter();
    else {
      limiter = new RedisRateLimiter((redis = connect(kind)), prefix);
      // A second limiter over its own connection: what a second replica sees.
      other = new RedisRateLimiter(connect(kind), prefix);
    }
  });

  const key = () => `agent:${randomUUID()}`;

  it('allows `limit` hits in a window, then refuses with retryAfterMs in (0, window]', async () => {
    const k = key();
    const decisions = await inOneWindow(WINDOW, async () => {
      const out = [];
      for (let i = 0; i < 8; i++) out.push(await limiter.hit(k, 5, WINDOW));
      return out;
    });
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, true, true, false, false, false]);
    expect(decisions.map((d) => d.count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const d of decisions) {
      expect(d.retryAfterMs).toBeGreaterThan(0);
      expect(d.retryAfterMs).toBeLessThanOrEqual(WINDOW);
    }
  });

  it('a new window starts the count again', async () => {
    const k = key();
    const first = await inOneWindow(WINDOW, async () => [await limiter.hit(k, 2, WINDOW), await limiter.hit(k, 2, WINDOW), await limiter.hit(k, 2, WINDOW)]);
    expect(first.map((d) => d.allowed)).toEqual([true, true, false]);
    const refused = first[2];
    const t = Date.now();
    // Wait for the next window (the refused hit said how long) and hit again.
    await sleep(Math.max(0, refused.retryAfterMs - (Date.now() - t)) + 5);
    const second = await inOneWindow(WINDOW, async () => [await limiter.hit(k, 2, WINDOW), await limiter.hit(k, 2, WINDOW), await limiter.hit(k, 2, WINDOW)]);
    expect(second.map((d) => [d.allowed, d.count])).toEqual([
      [true, 1],
      [true, 2],
      [false, 3],
    ]);
  });

  it('keys are independent, and so are limits per call', async () => {
    const a = key();
    const b = key();
    const out = await inOneWindow(WINDOW, async () => {
      const hitsA = [];
      for (let i = 0; i < 4; i++) hitsA.push(await limiter.hit(a, 3, WINDOW));
      const hitB = await limiter.hit(b, 3, WINDOW);
      const hitA = await limiter.hit(a, 3, WINDOW);
      return { hitsA, hitB, hitA };
    });
    expect(out.hitsA.map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(out.hitB).toMatchObject({ allowed: true, count: 1 });
    expect(out.hitA).toMatchObject({ allowed: false, count: 5 });
  });

  if (kind !== 'in-memory') {
    it('two limiters over two separate connections share the count (cluster-wide limits)', async () => {
      const k = key();
      const decisions = await inOneWindow(WINDOW, async () => {
        const out = [];
        for (let i = 0; i < 10; i++) out.push(await (i % 2 === 0 ? limiter : other!).hit(k, 6, WINDOW));
        // Concurrent hits from both sides are counted exactly once each.
        out.push(...(await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? limiter : other!).hit(k, 6, WINDOW)))));
        return out;
      });
      expect(decisions.slice(0, 10).map((d) => d.count)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(decisions.slice(0, 10).map((d) => d.allowed)).toEqual([true, true, true, true, true, true, false, false, false, false]);
      expect(decisions.slice(10).map((d) => d.count).sort((x, y) => x - y)).toEqual([11, 12, 13, 14, 15, 16, 17, 18, 19, 20]);
      expect(decisions.slice(10).every((d) => !d.allowed)).toBe(true);
    });

    it('window counters expire shortly after their window', async () => {
      const k = key();
      await limiter.hit(k, 5, WINDOW);
      const keys = await keysWithPrefix(redis!, `${prefix}:{rl:${k}}*`);
      expect(keys).toHaveLength(1);
      const pttl = await redis!.pttl(keys[0]);
      expect(pttl).toBeGreaterThan(0);
      expect(pttl).toBeLessThanOrEqual(WINDOW + 1000);
    });
  }
});
