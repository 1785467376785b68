import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient } from '../support/client';
import { FakeConsul } from '../support/fake-consul';
import { createTestDatabase } from '../support/pg';

// A replica process registered with a FAKE Consul agent receives SIGTERM: readiness turns 503
// while its agent socket is still open, the agent is told `server_draining`, the service is
// deregistered before the sockets close, and the process exits 0.

const PORT = 3401;
const MGMT = PORT + 1000;
const SERVICE_ID = `pm-agent-replica-${PORT}`;

describe('SIGTERM of a replica registered in Consul', { timeout: 180_000 }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let consul: FakeConsul | undefined;
  let replica: Replica | undefined;

  beforeAll(async () => {
    database = await createTestDatabase();
    consul = await FakeConsul.start();
  });

  afterAll(async () => {
    if (replica && replica.proc.exitCode === null && replica.proc.signalCode === null) {
      const kill = setTimeout(() => replica!.proc.kill('SIGKILL'), 15_000);
      await stopReplica(replica, 'SIGTERM');
      clearTimeout(kill);
    }
    await consul?.close();
    await database?.drop();
  });

  it('503 before the sockets close, deregistered, exit 0', async () => {
    const adminKey = `pma_${randomBytes(18).toString('base64url')}`;
    replica = await startReplica({
      port: PORT,
      readyTimeoutMs: 90_000,
      env: {
        DATABASE_URL: database!.url,
        REDIS_CLUSTER_NODES: '',
        REDIS_URL: '',
        RABBITMQ_URL: '',
        PM_AGENT_ADMIN_KEY: adminKey,
        PM_AGENT_JWT_SECRET: randomBytes(48).toString('base64url'),
        CONSUL_HTTP_ADDR: consul!.addr,
        CONSUL_SERVICE_ADDRESS: '127.0.0.1',
        CONSUL_TAGS: 'sigterm-test',
        CONSUL_CHECK_INTERVAL: '250ms',
        CONSUL_CHECK_TIMEOUT: '1s',
        CONSUL_DEREGISTER_AFTER: '1m',
        DRAIN_NOTICE_MS: '1500',
        SHUTDOWN_GRACE_MS: '10000',
        LOG_LEVEL: 'log',
      },
    });
    const fake = consul!;

    // Registered with the pod's ports, and the agent's check of the management port passes.
    await fake.waitFor('registration', () => fake.services.get(SERVICE_ID), 30_000);
    expect(fake.registrations.at(-1)).toMatchObject({
      ID: SERVICE_ID,
      Name: 'pm-agent',
      Address: '127.0.0.1',
      Port: PORT,
      Tags: ['sigterm-test'],
      Meta: { replica: `replica-${PORT}` },
      Check: { HTTP: `http://127.0.0.1:${MGMT}/health/ready`, Interval: '250ms', Timeout: '1s', DeregisterCriticalServiceAfter: '1m' },
    });
    await fake.waitFor('check passing', () => fake.checks.get(`service:${SERVICE_ID}`)?.Status === 'passing', 30_000);

    const api = new ApiClient(replica.url, adminKey);
    const project = await api.createProject('sigterm-consul');
    const agent = await api.agent(project.api_key, 'sigterm-agent');
    const drainNotice = agent.next('server_draining', 30_000);
    let disconnectedAt: number | undefined;
    const disconnected = new Promise<string>((resolve) =>
      agent.socket.once('disconnect', (reason) => {
        disconnectedAt = Date.now();
        resolve(reason);
      }),
    );

    // Probe readiness on the management port (the kubelet's probe) and the public port, back to back.
    const probes: { at: number; port: number; status: number | 'refused'; body?: unknown }[] = [];
    let probing = true;
    const prober = (async () => {
      while (probing) {
        for (const port of [MGMT, PORT]) {
          const at = Date.now();
          try {
            const r = await fetch(`http://127.0.0.1:${port}/health/ready`, { signal: AbortSignal.timeout(5000) });
            probes.push({ at, port, status: r.status, body: await r.json() });
          } catch {
            probes.push({ at, port, status: 'refused' });
          }
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    })();

    await new Promise((r) => setTimeout(r, 200));
    const termAt = Date.now();
    replica.proc.kill('SIGTERM');

    expect(await drainNotice).toEqual({ reconnect_after_ms: 0 });
    const reason = await disconnected;
    const exit = await replica.exited;
    probing = false;
    await prober;

    expect(exit).toEqual({ code: 0, signal: null });
    expect(reason).toBe('io server disconnect');

    // Readiness answered 503 shutting_down on both ports while the socket was still connected.
    const first503 = probes.filter((p) => p.status === 503);
    expect(first503.length).toBeGreaterThan(0);
    for (const port of [MGMT, PORT]) {
      const p = probes.find((x) => x.port === port && x.status === 503);
      expect(p, `503 on port ${port}`).toBeDefined();
      expect(p!.body).toEqual({ status: 'shutting_down' });
      expect(p!.at).toBeLessThan(disconnectedAt!);
    }
    // Before the signal everything was 200; after the first 503 never 200 again.
    expect(probes.filter((p) => p.at < termAt).every((p) => p.status === 200)).toBe(true);
    const firstAt = Math.min(...first503.map((p) => p.at));
    expect(probes.filter((p) => p.at > firstAt && p.status === 200)).toEqual([]);

    // The fake agent saw the deregistration, before the socket closed, and nothing is left.
    expect(fake.deregistered).toEqual([SERVICE_ID]);
    const dereg = fake.requests.find((r) => r.path === `/v1/agent/service/deregister/${SERVICE_ID}`)!;
    expect(dereg.method).toBe('PUT');
    expect(dereg.status).toBe(200);
    expect(dereg.receivedAt).toBeGreaterThanOrEqual(termAt);
    expect(dereg.receivedAt).toBeLessThan(disconnectedAt!);
    expect(fake.services.size).toBe(0);
    expect(replica.log()).toContain(`deregistered ${SERVICE_ID}`);
  });
});
