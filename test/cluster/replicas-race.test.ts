import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterEnv, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient, type AgentSocket } from '../support/client';
import { createTestDatabase } from '../support/pg';

// Three real replicas (separate processes) on one Postgres database and the Redis Cluster:
// 300 agents spread over them race for 100 tasks, 20 rounds; a push crosses replicas; presence
// seen from one replica covers agents connected to the others.

const PORTS = [3201, 3202, 3203];
const AGENTS = 300;
const TASKS = 100;
const ROUNDS = 20;
const REDIS_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
const NO_TASK = 'No suitable tasks available at this time';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A call as a careful agent makes it (the protocol's rule: mutating calls carry a request_id and
 * are retried): an INTERNAL or UNAVAILABLE answer (on an overloaded machine, a replica's wait for
 * a pooled Postgres connection can time out) is retried with the same request_id, which replays
 * the first committed answer if there was one. Retries are counted and printed.
 */
async function callRetrying(s: AgentSocket, event: string, payload: Record<string, unknown>, stats: { retries: number }): Promise<any> {
  for (let attempt = 1; ; attempt++) {
    const answer = await s.call(event, payload, 60_000);
    if (!['INTERNAL', 'UNAVAILABLE'].includes(answer?.code) || attempt === 5) return answer;
    stats.retries++;
    await sleep(200 * attempt);
  }
}

/** Polls `fn` until it returns a truthy value; fails with the last value after `timeoutMs`. */
async function eventually<T>(what: string, fn: () => Promise<T | false | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

describe('3 replicas on a Redis Cluster and one Postgres', () => {
  const replicas: Replica[] = [];
  const sockets: AgentSocket[] = [];
  let db: { url: string; drop: () => Promise<void> } | undefined;
  let pg: Client | undefined;
  let apis: ApiClient[] = [];

  beforeAll(async () => {
    if (!redisClusterUp()) ensureRedisCluster();
    db = await createTestDatabase();
    pg = new Client({ connectionString: db.url });
    await pg.connect();
    const adminKey = `pma_${randomBytes(24).toString('base64url')}`;
    const env = clusterEnv(
      { databaseUrl: db.url, redisNodes: REDIS_NODES, adminKey, jwtSecret: randomBytes(48).toString('base64url') },
      {
        RATE_LIMIT_AGENT_PER_MINUTE: '100000',
        // 300 sockets from one address: the handshake limit is not what this file tests.
        RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000',
        // Own key prefix: other suites share the Redis Cluster (and the handshake counters of 127.0.0.1).
        REDIS_KEY_PREFIX: `race${randomBytes(4).toString('hex')}`,
      },
    );
    // Started together on a fresh database: migrations must serialise themselves.
    const settled = await Promise.allSettled(PORTS.map((port) => startReplica({ port, env, readyTimeoutMs: 90_000 })));
    for (const s of settled) if (s.status === 'fulfilled') replicas.push(s.value);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    apis = replicas.map((r) => new ApiClient(r.url, adminKey));
  }, 120_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await Promise.allSettled(replicas.map((r) => stopReplica(r)));
    // SIGTERM drains and exits 0; anything else is a finding (with the replica's last words).
    for (const r of replicas) expect(r.proc.exitCode ?? r.proc.signalCode, `replica ${r.id} exit; log tail:\n${r.log().slice(-4000)}`).toBe(0);
    await pg?.end();
    await db?.drop();
  }, 60_000);

  /** Registers agents, agent i on replica i % 3 (token from that replica's HTTP API). */
  async function agentsRoundRobin(apiKey: string, ids: readonly string[]): Promise<AgentSocket[]> {
    const out: AgentSocket[] = [];
    for (let i = 0; i < ids.length; i += 25) {
      const batch = await Promise.all(ids.slice(i, i + 25).map((id, j) => apis[(i + j) % apis.length].agent(apiKey, id)));
      out.push(...batch);
      sockets.push(...batch);
    }
    return out;
  }

  // The push and presence checks run before the race: the race leaves thousands of events for the
  // replicas' consumers, and a push queued behind them says nothing about the socket adapter.
  it('a push crosses replicas: a task added through replica A wakes waiting agents on A, B and C', async () => {
    const project = await apis[0].createProject('cluster push');
    const [onA, onB, onC] = await agentsRoundRobin(project.api_key, ['waiter-a', 'waiter-b', 'waiter-c']);
    for (const s of [onA, onB, onC]) {
      expect(await s.call('request_next_task', { agent_id: s.agentId })).toMatchObject({ success: false, message: NO_TASK });
    }
    const pushes = [onA, onB, onC].map((s) => s.next('tasks_available', 15_000));
    const t0 = performance.now();
    const task = await apis[0].addTask(project.id, { name: 'wake up', priority: 'high' });
    // Whichever replica emitted it, at least two of these three deliveries crossed replicas.
    const got = await Promise.all(pushes);
    console.log(`tasks_available reached agents on 3 replicas ${(performance.now() - t0).toFixed(0)} ms after the POST to replica A`);
    for (const p of got) expect(p).toMatchObject({ project_id: project.id, eligible_tasks: 1, at: expect.any(String) });
    // The agent on C takes the task.
    const answer = await onC.call('request_next_task', { agent_id: 'waiter-c' });
    expect(answer).toMatchObject({ success: true, task: { id: task.id } });
  });

  it('list_registered_agents on replica B sees agents connected to A and C (presence in Redis); a disconnect shows', async () => {
    const project = await apis[0].createProject('cluster presence');
    // seen-a on A, seen-b on B, seen-c on C.
    const [onA, onB] = await agentsRoundRobin(project.api_key, ['seen-a', 'seen-b', 'seen-c']);
    const connected = async () => {
      const r = await onB.call('list_registered_agents', {});
      expect(r.success).toBe(true);
      return Object.fromEntries((r.agents as { id: string; connected: boolean }[]).map((a) => [a.id, a.connected]));
    };
    const t0 = performance.now();
    await eventually('all three connected', async () => {
      const c = await connected();
      return c['seen-a'] && c['seen-b'] && c['seen-c'];
    });
    console.log(`presence: agents on A and C seen from B after ${(performance.now() - t0).toFixed(0)} ms`);
    expect(await connected()).toEqual({ 'seen-a': true, 'seen-b': true, 'seen-c': true });

    onA.close();
    const t1 = performance.now();
    await eventually('seen-a disconnected', async () => (await connected())['seen-a'] === false);
    console.log(`presence: a disconnect on A seen from B after ${(performance.now() - t1).toFixed(0)} ms`);
    expect(await connected()).toEqual({ 'seen-a': false, 'seen-b': true, 'seen-c': true });
  });

  it(`${AGENTS} agents over 3 replicas race for ${TASKS} tasks: ${TASKS} distinct assignments, 0 duplicates, ${ROUNDS} rounds`, async () => {
    const project = await apis[0].createProject('cluster race');
    const agentIds = Array.from({ length: AGENTS }, (_, i) => `racer-${i}`);
    const agents = await agentsRoundRobin(project.api_key, agentIds);

    let assignments = 0;
    let duplicates = 0;
    let noTask = 0;
    let raceMs = 0;
    const stats = { retries: 0 };
    const winsPerReplica = [0, 0, 0];

    for (let round = 0; round < ROUNDS; round++) {
      // Tasks go in through a different replica each round.
      const api = apis[round % apis.length];
      const created: any[] = [];
      for (let i = 0; i < TASKS; i += 10) {
        created.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => api.addTask(project.id, { name: `task ${round}.${i + j}`, priority: 'medium' })))));
      }
      const taskIds = new Set(created.map((t) => t.id as string));
      expect(taskIds.size).toBe(TASKS);

      // All at once: every request is on the wire before any answer is awaited.
      const t0 = performance.now();
      const answers = await Promise.all(
        agents.map((s) => callRetrying(s, 'request_next_task', { agent_id: s.agentId, request_id: `next-${round}-${s.agentId}` }, stats)),
      );
      raceMs += performance.now() - t0;

      const winners = answers.map((a, i) => ({ a, i })).filter((x) => x.a.success === true);
      const losers = answers.filter((a) => a.success !== true);
      for (const l of losers) {
        expect(l).toEqual({ success: false, message: NO_TASK, retry_after_seconds: expect.any(Number) });
        expect(l.retry_after_seconds).toBeGreaterThan(0);
      }
      const claimed = winners.map((w) => w.a.task.id as string);
      const distinct = new Set(claimed);
      duplicates += claimed.length - distinct.size;
      assignments += claimed.length;
      noTask += losers.length;
      for (const w of winners) winsPerReplica[w.i % 3]++;

      expect(distinct.size, `round ${round}: distinct tasks`).toBe(TASKS);
      expect(winners, `round ${round}: winners`).toHaveLength(TASKS);
      expect(losers, `round ${round}: "no task" answers`).toHaveLength(AGENTS - TASKS);
      expect([...distinct].every((id) => taskIds.has(id))).toBe(true);
      expect(new Set(winners.map((w) => w.a.task.lease.token as string)).size).toBe(TASKS);

      // Postgres agrees: no task has two active assignments, and each is held by its winner.
      const doubled = await pg!.query(
        `SELECT task_id, count(*)::int AS n FROM assignments WHERE project_id = $1 AND state = 'active' GROUP BY task_id HAVING count(*) > 1`,
        [project.id],
      );
      expect(doubled.rows).toEqual([]);
      const active = await pg!.query<{ task_id: string; agent_id: string }>(
        `SELECT task_id, agent_id FROM assignments WHERE project_id = $1 AND state = 'active'`,
        [project.id],
      );
      const holderOf = new Map(winners.map((w) => [w.a.task.id as string, agentIds[w.i]]));
      expect(active.rows).toHaveLength(TASKS);
      for (const r of active.rows) expect(r.agent_id).toBe(holderOf.get(r.task_id));

      // The winners finish, so every agent is free for the next round.
      const done = await Promise.all(
        winners.map((w) =>
          callRetrying(
            agents[w.i],
            'report_task_progress',
            {
              agent_id: agentIds[w.i],
            task_id: w.a.task.id,
            status: 'completed',
            progress: 100,
            message: 'done',
              lease_token: w.a.task.lease.token,
              request_id: `done-${round}-${agentIds[w.i]}`,
            },
            stats,
          ),
        ),
      );
      for (const d of done) expect(d).toMatchObject({ success: true, task_status: 'done' });
      const left = await pg!.query<{ n: number }>(`SELECT count(*)::int AS n FROM assignments WHERE project_id = $1 AND state = 'active'`, [project.id]);
      expect(left.rows[0].n).toBe(0);
    }

    const tasks = await pg!.query<{ status: string; n: number }>('SELECT status, count(*)::int AS n FROM tasks WHERE project_id = $1 GROUP BY status', [
      project.id,
    ]);
    expect(tasks.rows).toEqual([{ status: 'done', n: ROUNDS * TASKS }]);
    const perTask = await pg!.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM assignments WHERE project_id = $1 GROUP BY task_id HAVING count(*) <> 1`,
      [project.id],
    );
    expect(perTask.rows).toEqual([]);

    console.log(
      `cluster race: ${ROUNDS} rounds × ${AGENTS} agents (3 replicas) for ${TASKS} tasks: ${assignments} assignments, ${duplicates} duplicates, ` +
        `${noTask} "no task" answers; racing phase ${(raceMs / ROUNDS).toFixed(0)} ms/round avg, ` +
        `${((AGENTS * ROUNDS) / (raceMs / 1000)).toFixed(0)} requests/s, ${(assignments / (raceMs / 1000)).toFixed(0)} claims/s; ` +
        `wins by replica of the agent: ${winsPerReplica.join('/')}; calls retried after INTERNAL/UNAVAILABLE: ${stats.retries}`,
    );
    expect(assignments).toBe(ROUNDS * TASKS);
    expect(duplicates).toBe(0);
    expect(noTask).toBe(ROUNDS * (AGENTS - TASKS));
  }, 600_000);
});
