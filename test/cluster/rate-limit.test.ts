import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { io, type ManagerOptions, type SocketOptions } from 'socket.io-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient, type AgentSocket } from '../support/client';
import { createTestDatabase } from '../support/pg';

// Rate limits hold across replicas: the counters are in the Redis Cluster, so an agent (or an
// address at the handshake) spreading its calls over three replicas is counted once. And a
// replica in cluster mode refuses to start without the shared secrets.

const REDIS_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `fn` inside one fixed one-minute window (the limiter's windows are aligned to the clock of
 * this machine, which the replicas share): waits for a fresh window when fewer than `needMs` are
 * left, and runs again (fn must start from fresh keys) if the run still crossed a boundary. The
 * answers can then be asserted exactly.
 */
async function inOneMinuteWindow<T>(needMs: number, fn: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const left = MINUTE - (Date.now() % MINUTE);
    if (left < needMs) await sleep(left + 50);
    const window = Math.floor(Date.now() / MINUTE);
    const out = await fn(attempt);
    if (Math.floor(Date.now() / MINUTE) === window) return out;
    console.log('the run crossed a minute boundary: running it again in the next window');
  }
  throw new Error('could not run inside one minute window');
}

interface Fleet {
  replicas: Replica[];
  adminKey: string;
  apis: ApiClient[];
}

const db: { current?: { url: string; drop: () => Promise<void> } } = {};
const started: Replica[] = [];

async function startFleet(ports: number[], extra: Record<string, string>): Promise<Fleet> {
  const adminKey = `pma_${randomBytes(24).toString('base64url')}`;
  const env = clusterEnv(
    { databaseUrl: db.current!.url, redisNodes: REDIS_NODES, adminKey, jwtSecret: randomBytes(48).toString('base64url') },
    // Own key prefix: the handshake counter of 127.0.0.1 is shared with every other suite otherwise.
    { REDIS_KEY_PREFIX: `rl${randomBytes(4).toString('hex')}`, ...extra },
  );
  const settled = await Promise.allSettled(ports.map((port) => startReplica({ port, env, readyTimeoutMs: 90_000 })));
  for (const s of settled) if (s.status === 'fulfilled') started.push(s.value);
  const failed = settled.find((s) => s.status === 'rejected');
  if (failed) throw failed.reason;
  const replicas = settled.map((s) => (s as PromiseFulfilledResult<Replica>).value);
  return { replicas, adminKey, apis: replicas.map((r) => new ApiClient(r.url, adminKey)) };
}

beforeAll(async () => {
  if (!redisClusterUp()) ensureRedisCluster();
  db.current = await createTestDatabase();
}, 60_000);

afterAll(async () => {
  await Promise.allSettled(started.map((r) => stopReplica(r)));
  await db.current?.drop();
}, 60_000);

describe('per-agent rate limit across 3 replicas (RATE_LIMIT_AGENT_PER_MINUTE=30)', () => {
  let fleet: Fleet;
  const open: AgentSocket[] = [];

  beforeAll(async () => {
    fleet = await startFleet([3204, 3205, 3206], { RATE_LIMIT_AGENT_PER_MINUTE: '30' });
  }, 120_000);

  afterAll(async () => {
    for (const s of open) s.close();
    await Promise.allSettled(fleet?.replicas.map((r) => stopReplica(r)) ?? []);
  }, 60_000);

  it('an agent spreading 45 pings over 3 replicas gets exactly 30 answers, then RATE_LIMITED; another agent is not limited', async () => {
    const project = await fleet.apis[0].createProject('rate limits');
    const { busy, calm } = await inOneMinuteWindow(20_000, async (attempt) => {
      // One token, one socket to each replica: each replica alone sees only 15 calls, under 30.
      const busyToken = await fleet.apis[0].token(project.api_key, `busy-${attempt}`);
      const busySockets = await Promise.all(fleet.replicas.map((r) => fleet.apis[0].connect(busyToken, { url: r.url })));
      const calmSocket = await fleet.apis[1].connect(await fleet.apis[1].token(project.api_key, `calm-${attempt}`));
      open.push(...busySockets, calmSocket);
      const busy: any[] = [];
      const calm: any[] = [];
      for (let i = 0; i < 45; i++) {
        busy.push(await busySockets[i % 3].call('ping', { echo: `busy ${i}` }));
        // Meanwhile, every third turn, another agent of the same project calls too.
        if (i % 3 === 0) calm.push(await calmSocket.call('ping', { echo: `calm ${i}` }));
      }
      return { busy, calm };
    });

    const ok = busy.filter((a) => a.success === true);
    const limited = busy.filter((a) => a.success !== true);
    console.log(
      `rate limit across replicas: ${ok.length} of 45 pings answered, ${limited.length} RATE_LIMITED (per replica ${[0, 1, 2]
        .map((r) => busy.filter((a, i) => i % 3 === r && a.success !== true).length)
        .join('/')}), retry_after_seconds ${Math.min(...limited.map((a) => a.retry_after_seconds))}-${Math.max(...limited.map((a) => a.retry_after_seconds))}; ` +
        `other agent ${calm.filter((a) => a.success === true).length}/${calm.length} answered`,
    );
    expect(ok).toHaveLength(30);
    expect(limited).toHaveLength(15);
    // Calls are sequential: the first 30 pass, every later one is refused, on whichever replica.
    busy.slice(0, 30).forEach((a, i) => expect(a).toMatchObject({ success: true, status: 'online', echo: `busy ${i}` }));
    for (const a of busy.slice(30)) {
      expect(a).toEqual({ success: false, error: 'Rate limit of 30 calls a minute exceeded', code: 'RATE_LIMITED', retry_after_seconds: expect.any(Number) });
      expect(a.retry_after_seconds).toBeGreaterThan(0);
      expect(a.retry_after_seconds).toBeLessThanOrEqual(60);
    }
    expect(calm).toHaveLength(15);
    for (const a of calm) expect(a).toMatchObject({ success: true, status: 'online' });
  }, 180_000);
});

describe('handshake rate limit per address across 3 replicas (RATE_LIMIT_HANDSHAKE_PER_MINUTE=5)', () => {
  let fleet: Fleet;
  const open: { close: () => void }[] = [];

  beforeAll(async () => {
    fleet = await startFleet([3207, 3208, 3209], { RATE_LIMIT_HANDSHAKE_PER_MINUTE: '5' });
  }, 120_000);

  afterAll(async () => {
    for (const s of open) s.close();
    await Promise.allSettled(fleet?.replicas.map((r) => stopReplica(r)) ?? []);
  }, 60_000);

  it('the 6th connection attempt from 127.0.0.1 in a window is refused with RATE_LIMITED; another address still connects', async () => {
    const project = await fleet.apis[0].createProject('handshake limits');
    const token = await fleet.apis[0].token(project.api_key, 'shaker');
    const { refused, fromOtherAddress } = await inOneMinuteWindow(20_000, async () => {
      // Five handshakes spread over the three replicas...
      for (let i = 0; i < 5; i++) open.push(await fleet.apis[i % 3].connect(token));
      // ...and the sixth, on the third replica, is one too many for this address.
      const refused = await fleet.apis[2].connectError({ token });
      // The counter is per address: a connection from 127.0.0.2 goes through.
      const opts = { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true, localAddress: '127.0.0.2' };
      const other = io(`${fleet.replicas[0].url}/agents`, opts as Partial<ManagerOptions & SocketOptions>);
      open.push({ close: () => other.disconnect() });
      const fromOtherAddress = await new Promise<string>((resolve) => {
        other.once('connect', () => resolve('connected'));
        other.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(`connect_error ${err.data?.code ?? err.message}`));
      });
      return { refused, fromOtherAddress };
    });
    console.log(`handshake limit: 6th attempt refused with ${refused.data?.code} (${refused.message}); from 127.0.0.2: ${fromOtherAddress}`);
    expect(refused.message).toBe('Too many connection attempts from this address');
    expect(refused.data).toEqual({ code: 'RATE_LIMITED', retry_after_seconds: expect.any(Number) });
    expect((refused.data as { retry_after_seconds: number }).retry_after_seconds).toBeGreaterThan(0);
    expect(fromOtherAddress).toBe('connected');
  }, 180_000);
});

describe('cluster mode without the shared secrets', () => {
  const base = () => ({ DATABASE_URL: db.current!.url, REDIS_CLUSTER_NODES: REDIS_NODES, LOG_LEVEL: 'warn' });

  it('a replica without PM_AGENT_JWT_SECRET and PM_AGENT_ADMIN_KEY refuses to start, naming both', async () => {
    // Blank values count as unset (they also hide any value this process inherited).
    const attempt = startReplica({ port: 3219, env: { ...base(), PM_AGENT_JWT_SECRET: '', PM_AGENT_ADMIN_KEY: '' }, readyTimeoutMs: 60_000 }).then((r) => {
      started.push(r);
      return r;
    });
    await expect(attempt).rejects.toThrow(/exited during start[\s\S]*PM_AGENT_ADMIN_KEY and PM_AGENT_JWT_SECRET must be set/);
  }, 90_000);

  it('a replica without PM_AGENT_JWT_SECRET exits with code 1 and a message naming it (and only it)', async () => {
    const env = { ...process.env, ...base(), PORT: '3218', HOST: '127.0.0.1', PM_AGENT_ADMIN_KEY: `pma_${randomBytes(24).toString('base64url')}`, PM_AGENT_JWT_SECRET: '' };
    const proc = spawn(process.execPath, [join(__dirname, '..', '..', 'dist', 'main.js')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proc.stdout.on('data', (b: Buffer) => (output += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const killer = setTimeout(() => proc.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
    clearTimeout(killer);
    expect(code, output).toBe(1);
    expect(output).toContain('PM_AGENT_JWT_SECRET must be set');
    expect(output).not.toContain('PM_AGENT_ADMIN_KEY');
  }, 90_000);
});
