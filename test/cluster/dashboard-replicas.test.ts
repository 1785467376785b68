import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient, type AgentSocket } from '../support/client';
import { connectViewer, type DashboardViewer } from '../support/dashboard-client';
import { createTestDatabase } from '../support/pg';
import { snapshotHash } from '../../src/modules/dashboard/dashboard.service';

// The dashboard across replicas: a viewer on replica A sees what an agent does through replica B
// (a task done, its presence), and with viewers on both replicas each change reaches each viewer
// once (every replica pushes to its own viewers only).

const PORTS = [3261, 3262];
const REDIS_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';

describe('dashboard on 2 replicas (Redis Cluster, one Postgres)', () => {
  const replicas: Replica[] = [];
  const viewers: DashboardViewer[] = [];
  const agents: AgentSocket[] = [];
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let apis: ApiClient[] = [];

  beforeAll(async () => {
    if (!redisClusterUp()) ensureRedisCluster();
    db = await createTestDatabase();
    const adminKey = `pma_${randomBytes(24).toString('base64url')}`;
    const env = clusterEnv(
      { databaseUrl: db.url, redisNodes: REDIS_NODES, adminKey, jwtSecret: randomBytes(48).toString('base64url') },
      { REDIS_KEY_PREFIX: `dash${randomBytes(4).toString('hex')}`, DASHBOARD_REFRESH_MS: '200' },
    );
    // One first, so the second does not race it for the migrations.
    replicas.push(await startReplica({ port: PORTS[0], env, readyTimeoutMs: 90_000 }));
    replicas.push(await startReplica({ port: PORTS[1], env, readyTimeoutMs: 90_000 }));
    apis = replicas.map((r) => new ApiClient(r.url, adminKey));
  }, 150_000);

  afterAll(async () => {
    for (const v of viewers) v.close();
    for (const s of agents) s.close();
    await Promise.allSettled(replicas.map((r) => stopReplica(r)));
    await db?.drop();
  }, 60_000);

  it('a viewer on A sees an agent on B connect, claim and finish a task; each change arrives once per viewer', async () => {
    const [a, b] = apis;
    const project = await a.createProject('two replicas');
    const task = await a.addTask(project.id, { name: 'done through B', priority: 'high' });
    const onA = await connectViewer(replicas[0].url, { key: project.api_key });
    const onB = await connectViewer(replicas[1].url, { key: project.api_key });
    viewers.push(onA, onB);
    await onA.until((s) => s.columns[0].cards.some((c) => c.id === task.id));

    const agent = await b.agent(project.api_key, 'agent-on-b');
    agents.push(agent);
    const seen = await onA.until((s) => s.agents.list.some((x) => x.id === 'agent-on-b' && x.connected));
    expect(seen.agents.connected).toBe(1);

    const next = await agent.call('request_next_task', { agent_id: 'agent-on-b' });
    expect(next.task.id).toBe(task.id);
    const held = await onA.until((s) => s.agents.list.some((x) => x.tasks.some((t) => t.task_id === task.id)));
    expect(held.columns.find((c) => c.status === 'in_progress')?.cards.map((c) => c.id)).toEqual([task.id]);

    const done = await agent.call('report_task_progress', { agent_id: 'agent-on-b', task_id: task.id, status: 'completed', progress: 100, lease_token: next.task.lease.token });
    expect(done.success).toBe(true);
    for (const v of [onA, onB]) {
      const s = await v.until((x) => x.columns.find((c) => c.status === 'done')?.cards.some((c) => c.id === task.id) ?? false);
      expect(s.throughput.last_hour).toBe(1);
    }
    // Let any stray duplicate arrive, then: no viewer was sent the same content twice in a row.
    await new Promise((r) => setTimeout(r, 1000));
    for (const v of [onA, onB]) {
      const hashes = v.snapshots.map(snapshotHash);
      expect(hashes.filter((h, i) => i > 0 && h === hashes[i - 1])).toEqual([]);
    }
  });
});
