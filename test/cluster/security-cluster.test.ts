import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient, type AgentSocket } from '../support/client';
import { createTestDatabase } from '../support/pg';

// Issue 9 across real replicas (two processes, the Redis Cluster, Postgres):
// - revoking a key on one replica ends its agents' sockets on the other at once (broadcast), and
//   a revocation written behind the service's back is picked up by the poll;
// - a flooding client is refused and cut off while the other agents' latency stays within 2×.

const REDIS_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
const PORTS = [3461, 3462];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let replicas: Replica[] = [];
let apis: ApiClient[] = [];
let db: { url: string; drop: () => Promise<void> } | undefined;
let adminKey = '';
const open: AgentSocket[] = [];

beforeAll(async () => {
  if (!redisClusterUp()) ensureRedisCluster();
  db = await createTestDatabase();
  adminKey = `pma_${randomBytes(24).toString('base64url')}`;
  const env = clusterEnv(
    { databaseUrl: db.url, redisNodes: REDIS_NODES, adminKey, jwtSecret: randomBytes(48).toString('base64url') },
    {
      REDIS_KEY_PREFIX: `sec${randomBytes(4).toString('hex')}`,
      KEY_REVOCATION_POLL_MS: '500',
      RATE_LIMIT_AGENT_PER_MINUTE: '600',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '120',
    },
  );
  replicas = await Promise.all(PORTS.map((port) => startReplica({ port, env, readyTimeoutMs: 90_000 })));
  apis = replicas.map((r) => new ApiClient(r.url, adminKey));
}, 120_000);

afterAll(async () => {
  for (const s of open) s.close();
  await Promise.allSettled(replicas.map((r) => stopReplica(r)));
  await db?.drop();
}, 60_000);

function closedWithin(s: AgentSocket, ms: number): Promise<number> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${ms} ms`)), ms);
    s.socket.once('disconnect', () => {
      clearTimeout(timer);
      resolve(Date.now() - t0);
    });
  });
}

describe('key revocation across replicas', () => {
  it('revoked on replica A: the sockets on replica B are told and closed, and B refuses the key at once', async () => {
    const [a, b] = apis;
    const p = await a.createProject('revoke across');
    const keyId = (await a.request('GET', `/api/v1/projects/${p.id}/keys`, undefined, p.api_key)).body.keys[0].id as string;
    const onB = await b.agent(p.api_key, 'agent-on-b');
    open.push(onB);
    // B has verified the key and cached it: the broadcast must clear that too.
    expect((await b.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, p.api_key)).status).toBe(200);
    const told = onB.next('token_revoked', 5000);
    const closed = closedWithin(onB, 5000);
    expect((await a.request('DELETE', `/api/v1/projects/${p.id}/keys/${keyId}`, undefined, adminKey)).status).toBe(200);
    expect(await told).toMatchObject({ reason: 'api_key_revoked' });
    const ms = await closed;
    console.log(`socket on the other replica closed ${ms} ms after the revocation answered`);
    expect((await b.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, p.api_key)).status).toBe(401);
  });

  it('a revocation written straight to the database (no broadcast) ends open sockets at their next call within the poll interval', async () => {
    const [a, b] = apis;
    const p = await a.createProject('revoke by poll');
    const keyId = (await a.request('GET', `/api/v1/projects/${p.id}/keys`, undefined, p.api_key)).body.keys[0].id as string;
    const onA = await a.agent(p.api_key, 'poll-a');
    const onB = await b.agent(p.api_key, 'poll-b');
    open.push(onA, onB);
    const { Client } = await import('pg');
    const c = new Client({ connectionString: db!.url });
    await c.connect();
    await c.query('UPDATE api_keys SET revoked_at = now() WHERE id = $1', [keyId]);
    await c.end();
    await sleep(1500); // three poll intervals
    for (const s of [onA, onB]) expect(await s.call('ping')).toMatchObject({ success: false, code: 'INVALID_TOKEN', reason: 'revoked' });
  });
});

/** Calls get_agent_status in a loop from each agent, `gapMs` apart, for `ms`; returns the latencies. */
async function measure(agents: AgentSocket[], ms: number, gapMs = 100): Promise<number[]> {
  const out: number[] = [];
  const end = Date.now() + ms;
  await Promise.all(
    agents.map(async (s) => {
      while (Date.now() < end) {
        const t0 = performance.now();
        const r = await s.call('get_agent_status', { agent_id: s.agentId });
        out.push(performance.now() - t0);
        expect(r).toMatchObject({ success: true });
        await sleep(gapMs);
      }
    }),
  );
  return out.sort((x, y) => x - y);
}
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

describe('flood', () => {
  it('one client flooding a replica is refused and cut off; the other agents there stay within 2× of their normal latency', async () => {
    const [a] = apis;
    const p = await a.createProject('flood');
    const agents = await a.agents(p.api_key, Array.from({ length: 10 }, (_, i) => `calm-${i}`));
    open.push(...agents);
    await measure(agents, 1000); // warm-up
    const normal = await measure(agents, 8000);

    const floodToken = await a.token(p.api_key, 'flooder');
    const flooder = spawn(process.execPath, [join(__dirname, '..', 'support', 'flooder.mjs')], {
      env: { ...process.env, FLOOD_URL: a.url, FLOOD_TOKEN: floodToken, FLOOD_MS: '9000', FLOOD_OUTSTANDING: '256' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    flooder.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => flooder.once('exit', () => resolve()));
    await sleep(500);
    const flooded = await measure(agents, 8000);
    await done;
    const stats = JSON.parse(out.trim()) as Record<string, number>;

    const report = {
      normal: { calls: normal.length, p50: pct(normal, 50), p95: pct(normal, 95) },
      flooded: { calls: flooded.length, p50: pct(flooded, 50), p95: pct(flooded, 95) },
      ratio_p50: pct(flooded, 50) / pct(normal, 50),
      ratio_p95: pct(flooded, 95) / pct(normal, 95),
      flooder: stats,
    };
    console.log(`flood report: ${JSON.stringify(report, (_k, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`);

    // The flooder was refused (never served beyond its limits), cut off after MAX_REFUSED_CALLS_PER_SOCKET
    // (200) refusals, and kept out while cooling down.
    expect(stats.sent).toBeGreaterThan(200);
    expect(stats.rate_limited).toBeGreaterThanOrEqual(200);
    expect(stats.ok).toBeLessThanOrEqual(600 + 16); // at most its minute budget plus one in-flight window
    expect(stats.disconnects).toBeGreaterThan(0);
    expect(stats.connect_refused).toBeGreaterThan(0);
    // Everyone else was served throughout, at most twice as slowly in the median.
    expect(flooded.length).toBeGreaterThan(normal.length * 0.5);
    expect(report.ratio_p50).toBeLessThanOrEqual(2);
  });
});
