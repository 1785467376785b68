import { connect as amqpConnect } from 'amqplib';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { createServer, connect, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { QUEUE_NAMES, topology } from '../../src/modules/events/topology';
import { TEST_RABBITMQ_URL, TEST_REDIS_URL } from '../support/env';
import { eventually } from '../support/eventually';
import { createTestDatabase } from '../support/pg';

// /health/ready of a replica process follows its dependencies: 503 naming the one that is down,
// 200 again once it is back. The machine's Postgres, Redis and RabbitMQ are never stopped (other
// suites share them): the replica reaches each through a TCP proxy of this test, and the proxy is
// cut (listener closed, every open connection reset) and restored.

const PORT = 3402;
const MGMT = PORT + 1000;

/** A TCP proxy on 127.0.0.1 in front of one service; cut() makes the service unreachable. */
class TcpProxy {
  port = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  /** Connections accepted since start (both directions counted once). */
  connections = 0;

  constructor(
    readonly name: string,
    private readonly target: { host: string; port: number },
  ) {}

  async start(): Promise<this> {
    await this.listen(0);
    return this;
  }

  /** Stops accepting (connections are refused) and resets every open connection. */
  async cut(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    if (!this.server) await this.listen(this.port);
  }

  private async listen(port: number): Promise<void> {
    const server = createServer((client) => {
      this.connections++;
      const upstream = connect(this.target);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.once('close', () => this.sockets.delete(s));
        s.on('error', () => undefined); // a reset is the point of this proxy
      }
      client.once('close', () => upstream.destroy());
      upstream.once('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }
}

function via(proxy: TcpProxy, url: string): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(proxy.port);
  return u.toString();
}

async function readiness(base: string): Promise<{ status: number; body: any }> {
  const r = await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(10_000) });
  return { status: r.status, body: await r.json() };
}

describe('readiness follows Postgres, Redis and RabbitMQ (through cuttable proxies)', { timeout: 240_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let replica: Replica | undefined;
  const tag = randomBytes(4).toString('hex');
  const rabbitPrefix = `pm-agent-rd-${tag}`;
  const redisPrefix = `rd${tag}`;
  const proxies: Record<'database' | 'redis' | 'events', TcpProxy> = {
    database: new TcpProxy('postgres', { host: '127.0.0.1', port: 5432 }),
    redis: new TcpProxy('redis', { host: new URL(TEST_REDIS_URL).hostname, port: Number(new URL(TEST_REDIS_URL).port || 6379) }),
    events: new TcpProxy('rabbitmq', { host: new URL(TEST_RABBITMQ_URL).hostname, port: Number(new URL(TEST_RABBITMQ_URL).port || 5672) }),
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await Promise.all(Object.values(proxies).map((p) => p.start()));
    replica = await startReplica({
      port: PORT,
      readyTimeoutMs: 90_000,
      env: {
        DATABASE_URL: via(proxies.database, database.url),
        REDIS_URL: via(proxies.redis, TEST_REDIS_URL),
        REDIS_CLUSTER_NODES: '',
        REDIS_KEY_PREFIX: redisPrefix,
        RABBITMQ_URL: via(proxies.events, TEST_RABBITMQ_URL),
        RABBITMQ_PREFIX: rabbitPrefix,
        PM_AGENT_ADMIN_KEY: `pma_${randomBytes(18).toString('base64url')}`,
        PM_AGENT_JWT_SECRET: randomBytes(48).toString('base64url'),
        CONSUL_HTTP_ADDR: '',
        LOG_LEVEL: 'warn',
      },
    });
  });

  afterAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.restore().catch(() => undefined)));
    if (replica) {
      const kill = setTimeout(() => replica!.proc.kill('SIGKILL'), 20_000);
      await stopReplica(replica, 'SIGTERM');
      clearTimeout(kill);
    }
    await Promise.all(Object.values(proxies).map((p) => p.cut()));
    await database?.drop();
    // This test's own topology and keys on the shared broker and Redis.
    const names = topology(rabbitPrefix);
    const conn = await amqpConnect(TEST_RABBITMQ_URL);
    const ch = await conn.createChannel();
    for (const q of QUEUE_NAMES) for (const name of [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]) await ch.deleteQueue(name);
    await ch.deleteExchange(names.eventsExchange);
    await ch.deleteExchange(names.deadLetterExchange);
    await conn.close();
    const redis = new Redis(TEST_REDIS_URL);
    const keys = await redis.keys(`${redisPrefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
  });

  it('all dependencies up: 200 with every check up, connections going through the proxies', async () => {
    const r = await readiness(`http://127.0.0.1:${MGMT}`);
    expect(r).toEqual({ status: 200, body: { status: 'ok', checks: { database: 'up', redis: 'up', events: 'up' } } });
    for (const p of Object.values(proxies)) expect(p.connections, p.name).toBeGreaterThan(0);
  });

  for (const dep of ['database', 'redis', 'events'] as const) {
    it(`${dep} unreachable: 503 naming it (both ports), back to 200 when it returns`, async () => {
      const healthy = { database: 'up', redis: 'up', events: 'up' };
      const t0 = Date.now();
      await proxies[dep].cut();
      try {
        for (const base of [`http://127.0.0.1:${MGMT}`, replica!.url]) {
          await eventually(async () => expect(await readiness(base)).toEqual({ status: 503, body: { status: 'unavailable', checks: { ...healthy, [dep]: 'down' } } }), 30_000, 200);
        }
        console.log(`${dep}: 503 ${Date.now() - t0} ms after the cut`);
        // Still down a little later (not a blip), and the process is alive: liveness does not depend on it.
        await new Promise((r) => setTimeout(r, 1000));
        expect((await readiness(`http://127.0.0.1:${MGMT}`)).status).toBe(503);
        const live = await fetch(`http://127.0.0.1:${MGMT}/health/live`);
        expect(live.status).toBe(200);
        expect(replica!.proc.exitCode).toBeNull();
      } finally {
        await proxies[dep].restore();
      }
      const t1 = Date.now();
      await eventually(async () => expect(await readiness(`http://127.0.0.1:${MGMT}`)).toEqual({ status: 200, body: { status: 'ok', checks: healthy } }), 60_000, 200);
      console.log(`${dep}: 200 again ${Date.now() - t1} ms after the restore`);
      expect((await readiness(replica!.url)).status).toBe(200);
    });
  }
});
