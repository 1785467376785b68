import { connect } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import type { EventType } from '../../src/modules/events/event-types';
import { QUEUE_NAMES, queuesFor, topology } from '../../src/modules/events/topology';
import { boardEffect } from '../../src/modules/kanban/board-effects';
import { ApiClient, type AgentSocket } from '../support/client';
import { TEST_RABBITMQ_URL } from '../support/env';
import { createTestDatabase } from '../support/pg';

// The outbox survives the death of the replica that committed: replica A commits state changes
// with its relay off (as if killed between commit and publish), is SIGKILLed, and replica B's relay
// publishes A's rows; each consumer handles each event once. Then two relaying replicas share the
// work, and the kanban consumer still applies the events of every task in outbox order.

const [PORT_A, PORT_B, PORT_C] = [3431, 3432, 3433];
const NO_TASK = 'No suitable tasks available at this time';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface OutboxRow {
  id: string;
  project_id: string;
  aggregate_id: string;
  event_type: EventType;
  payload: Record<string, unknown>;
  created_at: Date;
  published_at: Date | null;
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

const ok = (r: any, what: string) => {
  if (!r?.success) throw new Error(`${what}: ${JSON.stringify(r)}`);
  return r;
};

/**
 * An agent working tasks until none is left: request → 5 progress reports → completed, without
 * pauses. Its calls go round-robin over its sockets (one per replica), so consecutive events of one
 * task are committed by different replicas and nudge different relays.
 */
async function work(agentId: string, sockets: AgentSocket[], progressSteps: number): Promise<number> {
  let n = 0;
  let done = 0;
  const call = (event: string, payload: Record<string, unknown>) => sockets[n++ % sockets.length].call(event, payload, 60_000);
  for (;;) {
    const r = await call('request_next_task', { agent_id: agentId });
    if (!r.success) {
      if (r.message === NO_TASK) return done;
      throw new Error(`${agentId} request_next_task: ${JSON.stringify(r)}`);
    }
    const base = { agent_id: agentId, task_id: r.task.id, lease_token: r.task.lease.token };
    for (let i = 1; i <= progressSteps; i++) {
      ok(await call('report_task_progress', { ...base, status: 'in_progress', progress: i * 10, message: `step ${i}` }), 'progress');
    }
    ok(await call('report_task_progress', { ...base, status: 'completed', progress: 100, message: 'done' }), 'complete');
    done++;
  }
}

describe('outbox relay failover', () => {
  const prefix = `pm-agent-test-${randomBytes(5).toString('hex')}`;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let db: Client | undefined;
  const replicas: Replica[] = [];
  const sockets: AgentSocket[] = [];
  let env: Record<string, string> = {};
  let adminKey = '';

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
    adminKey = `pma_${randomBytes(18).toString('base64url')}`;
    env = {
      DATABASE_URL: database.url,
      PM_AGENT_ADMIN_KEY: adminKey,
      PM_AGENT_JWT_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'warn',
      RABBITMQ_URL: TEST_RABBITMQ_URL,
      RABBITMQ_PREFIX: prefix,
      RATE_LIMIT_AGENT_PER_MINUTE: '1000000',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000',
      SHUTDOWN_GRACE_MS: '5000',
    };
  });

  afterAll(async () => {
    for (const s of sockets) s.close();
    await Promise.allSettled(replicas.map((r) => stopReplica(r)));
    await db?.end().catch(() => undefined);
    await database?.drop();
    const names = topology(prefix);
    const conn = await connect(TEST_RABBITMQ_URL);
    const ch = await conn.createChannel();
    const left: Record<string, number> = {};
    for (const q of QUEUE_NAMES) {
      for (const name of [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]) left[name] = (await ch.deleteQueue(name)).messageCount;
    }
    await ch.deleteExchange(names.eventsExchange);
    await ch.deleteExchange(names.deadLetterExchange);
    await conn.close();
    console.log(`deleted topology ${prefix}.*, messages left in it: ${Object.values(left).reduce((a, b) => a + b, 0)}`);
  });

  const outbox = async (projectId: string) =>
    (
      await db!.query<OutboxRow>(
        `SELECT id::text AS id, project_id::text AS project_id, aggregate_id, event_type, payload, created_at, published_at
         FROM outbox WHERE project_id = $1 ORDER BY outbox.id`,
        [projectId],
      )
    ).rows;

  /** processed_events of these events, per consumer, as sorted id lists. */
  const processedOf = async (rows: OutboxRow[]) => {
    const r = await db!.query<{ consumer: string; event_id: string }>(
      'SELECT consumer, event_id::text AS event_id FROM processed_events WHERE event_id = ANY($1::bigint[])',
      [rows.map((x) => x.id)],
    );
    return Object.fromEntries(QUEUE_NAMES.map((q) => [q, r.rows.filter((x) => x.consumer === q).map((x) => x.event_id).sort()]));
  };
  const routedOf = (rows: OutboxRow[]) => Object.fromEntries(QUEUE_NAMES.map((q) => [q, rows.filter((r) => queuesFor(r.event_type).includes(q)).map((r) => r.id).sort()]));

  /** Waits until every row is published and handled by every consumer it is routed to; checks exactly once. */
  const expectPublishedAndProcessedOnce = async (rows: OutboxRow[], projectId: string) => {
    await waitFor('every row published', async () => ((await outbox(projectId)).every((r) => r.published_at !== null) ? true : undefined));
    const want = routedOf(rows);
    await waitFor('every routed event processed', async () => {
      const got = await processedOf(rows);
      return QUEUE_NAMES.every((q) => got[q].length >= want[q].length) ? true : undefined;
    });
    await sleep(1000); // a late duplicate would be turned away by now
    expect(await processedOf(rows)).toEqual(want);
  };

  /** Per task: the board comments in the order written (ids) against the kanban events in outbox order. */
  const boardOrder = async (rows: OutboxRow[]) => {
    const tasks = [...new Set(rows.filter((r) => queuesFor(r.event_type).includes('kanban')).map((r) => r.aggregate_id))];
    const comments = await db!.query<{ task_id: string; body: string }>('SELECT task_id::text AS task_id, body FROM board_comments WHERE task_id = ANY($1::uuid[]) ORDER BY id', [
      tasks,
    ]);
    const actual = new Map<string, string[]>();
    for (const c of comments.rows) actual.set(c.task_id, [...(actual.get(c.task_id) ?? []), c.body]);
    const expected = new Map<string, string[]>();
    for (const r of rows.filter((x) => queuesFor(x.event_type).includes('kanban'))) {
      const body = boardEffect({ id: r.id, type: r.event_type, project_id: r.project_id, aggregate_id: r.aggregate_id, payload: r.payload, occurred_at: r.created_at.toISOString() })?.comment;
      if (body === undefined) continue; // task.created: handled, nothing to write on the built-in board
      expected.set(r.aggregate_id, [...(expected.get(r.aggregate_id) ?? []), body]);
    }
    return { actual, expected, comments: comments.rows.length };
  };

  it('a replica killed between commit and publish: another replica relays its rows, consumed once', { timeout: 400_000 }, async () => {
    // Replica A: relay off and a tick far away, so its commits stay unpublished.
    const a = await startReplica({ port: PORT_A, id: 'replica-a', env: { ...env, OUTBOX_RELAY_ENABLED: 'false', OUTBOX_RELAY_INTERVAL_MS: '60000' }, readyTimeoutMs: 90_000 });
    replicas.push(a);
    await db!.query(`
      CREATE TABLE test_delivery_log (seq bigserial PRIMARY KEY, consumer text NOT NULL, event_id bigint NOT NULL);
      CREATE FUNCTION test_log_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO test_delivery_log (consumer, event_id) VALUES (NEW.consumer, NEW.event_id); RETURN NEW; END $$;
      CREATE TRIGGER test_log_delivery BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION test_log_delivery();
    `);
    const apiA = new ApiClient(a.url, adminKey);
    const project = await apiA.createProject('relay failover');
    for (let i = 0; i < 10; i++) await apiA.addTask(project.id, { name: `task ${i}`, description: 'committed on A' });
    const agentsA = [await apiA.agent(project.api_key, 'agent-0')];
    agentsA.push(...(await Promise.all([1, 2, 3, 4].map((i) => apiA.agent(project.api_key, `agent-${i}`)))));
    sockets.push(...agentsA);
    const doneOnA = await Promise.all(agentsA.map((s) => work(s.agentId, [s], 1)));
    expect(doneOnA.reduce((x, y) => x + y, 0)).toBe(10);

    const rows = await outbox(project.id);
    expect(rows).toHaveLength(10 + 5 + 10 * 3); // created, registered, assigned + progress + completed
    await sleep(1500);
    expect((await outbox(project.id)).filter((r) => r.published_at !== null)).toEqual([]); // A never published
    expect(Object.values(await processedOf(rows)).flat()).toEqual([]);

    a.proc.kill('SIGKILL');
    expect((await a.exited).signal).toBe('SIGKILL');
    for (const s of agentsA) s.close();

    const t0 = Date.now();
    const b = await startReplica({ port: PORT_B, id: 'replica-b', env, readyTimeoutMs: 90_000 });
    replicas.push(b);
    await expectPublishedAndProcessedOnce(rows, project.id);
    const relayedMs = Date.now() - t0;
    const { actual, expected, comments } = await boardOrder(rows);
    expect(actual).toEqual(expected);
    expect(comments).toBe(10 * 3);
    console.log(`replica A committed ${rows.length} rows and was SIGKILLed unpublished; replica B published and processed them ${(relayedMs / 1000).toFixed(1)} s after its start began`);
  });

  it('two relaying replicas: every task’s events reach the kanban consumer in outbox order, once', { timeout: 400_000 }, async () => {
    const b = replicas.find((r) => r.id === 'replica-b');
    expect(b, 'the first case starts replica B').toBeDefined();
    const c = await startReplica({ port: PORT_C, id: 'replica-c', env, readyTimeoutMs: 90_000 });
    replicas.push(c);
    const apis = [b!, c].map((r) => new ApiClient(r.url, adminKey));
    const project = await apis[0].createProject('two relays');
    const TASKS = 40;
    const AGENTS = 20;
    const STEPS = 5;
    for (let i = 0; i < TASKS; i++) await apis[i % 2].addTask(project.id, { name: `task ${i}`, description: 'two relays' });
    // Every agent has a socket on each replica and alternates between them.
    const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${i}`);
    const first = await apis[0].agent(project.api_key, ids[0]);
    const rest = await Promise.all(ids.slice(1).map((id, i) => apis[(i + 1) % 2].agent(project.api_key, id)));
    const primary = [first, ...rest];
    const secondary = await Promise.all(primary.map(async (s, i) => apis[(i + 1) % 2].connect(await apis[(i + 1) % 2].token(project.api_key, s.agentId))));
    sockets.push(...primary, ...secondary);

    const t0 = Date.now();
    const done = await Promise.all(primary.map((s, i) => work(s.agentId, [s, secondary[i]], STEPS)));
    const runMs = Date.now() - t0;
    expect(done.reduce((x, y) => x + y, 0)).toBe(TASKS);

    const rows = await outbox(project.id);
    expect(rows).toHaveLength(AGENTS + TASKS * (3 + STEPS));
    await expectPublishedAndProcessedOnce(rows, project.id);

    // Order as the kanban consumer applied it: comments (by id) against events (by outbox id).
    const { actual, expected, comments } = await boardOrder(rows);
    expect(comments).toBe(TASKS * (2 + STEPS));
    const outOfOrder = [...expected.keys()].filter((t) => JSON.stringify(actual.get(t)) !== JSON.stringify(expected.get(t)));
    expect(outOfOrder).toEqual([]);
    expect(actual).toEqual(expected);
    // The same from the consumer's own record: per task, kanban claimed its events in outbox id order.
    const claimed = await db!.query<{ aggregate_id: string; ids: string[] }>(
      `SELECT o.aggregate_id, array_agg(l.event_id::text ORDER BY l.seq) AS ids
       FROM (SELECT DISTINCT ON (event_id) event_id, seq FROM test_delivery_log WHERE consumer = 'kanban' ORDER BY event_id, seq) l
       JOIN outbox o ON o.id = l.event_id WHERE o.project_id = $1 GROUP BY o.aggregate_id`,
      [project.id],
    );
    expect(claimed.rows).toHaveLength(TASKS);
    for (const r of claimed.rows) expect(r.ids.map(Number)).toEqual([...r.ids.map(Number)].sort((x, y) => x - y));

    const dup = await db!.query<{ consumer: string; n: number }>(
      'SELECT consumer, (count(*) - count(DISTINCT event_id))::int AS n FROM test_delivery_log GROUP BY consumer ORDER BY consumer',
    );
    const lags = (await outbox(project.id)).map((r) => r.published_at!.getTime() - r.created_at.getTime()).sort((x, y) => x - y);
    console.log(
      `two relays: ${rows.length} rows (${TASKS} tasks × ${3 + STEPS} events + ${AGENTS} registrations) in ${(runMs / 1000).toFixed(1)} s of agent calls, ` +
        `commit → publish lag median ${lags[lags.length >> 1]} ms, max ${lags[lags.length - 1]} ms; ${comments} board comments, tasks out of order: ${outOfOrder.length}; ` +
        `duplicate deliveries turned away: ${dup.rows.map((r) => `${r.consumer} ${r.n}`).join(', ')}`,
    );
  });
});
