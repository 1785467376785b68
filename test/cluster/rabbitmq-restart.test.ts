import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import { connect, type Channel } from 'amqplib';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import type { EventType } from '../../src/modules/events/event-types';
import { QUEUE_NAMES, queuesFor, topology } from '../../src/modules/events/topology';
import { boardEffect } from '../../src/modules/kanban/board-effects';
import { ApiClient, type AgentSocket } from '../support/client';
import { TEST_RABBITMQ_URL } from '../support/env';
import { createTestDatabase } from '../support/pg';

// RabbitMQ goes away (`rabbitmqctl stop_app`) and comes back in the middle of ~1,350 state changes
// made by 100 agents through two replicas. The agents never notice (their path is Postgres only);
// afterwards every outbox row is published and every consumer handled every event routed to it
// exactly once. The replicas use a topology of their own (RABBITMQ_PREFIX), deleted at the end.

const PORTS = [3421, 3422];
const AGENTS = 100;
const TASKS = [80, 90, 80]; // created before the stop, while RabbitMQ is down, after it is back
const TOTAL_TASKS = TASKS.reduce((a, b) => a + b, 0);
const NO_TASK = 'No suitable tasks available at this time';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const between = (lo: number, hi: number) => lo + Math.floor(Math.random() * (hi - lo));
const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', args, { timeout: 120_000 });

interface OutboxRow {
  id: string;
  aggregate_id: string;
  event_type: EventType;
  payload: Record<string, unknown>;
  created_at: Date;
  published_at: Date | null;
}

interface RunState {
  done: number;
  allCreated: boolean;
  calls: number;
  failures: string[];
  /** Set when the test ends early: loops stop after the call in hand. */
  stop: boolean;
}

/** An agent that takes tasks until none are left: request → 30 % → 70 % → completed. */
async function agentLoop(s: AgentSocket, st: RunState): Promise<void> {
  const id = s.agentId;
  const call = async (event: string, payload: Record<string, unknown>) => {
    st.calls++;
    try {
      return await s.call(event, payload, 60_000);
    } catch (err) {
      st.failures.push(`${id} ${event}: ${(err as Error).message}`);
      throw err;
    }
  };
  while (!st.stop) {
    const r = await call('request_next_task', { agent_id: id });
    if (!r.success) {
      if (r.message !== NO_TASK) return void st.failures.push(`${id} request_next_task: ${JSON.stringify(r)}`);
      if (st.allCreated && st.done === TOTAL_TASKS) return;
      await sleep(between(1000, 1500));
      continue;
    }
    const { id: taskId, lease } = r.task as { id: string; lease: { token: string } };
    for (const [status, progress] of [
      ['in_progress', 30],
      ['in_progress', 70],
      ['completed', 100],
    ] as const) {
      await sleep(between(300, 700));
      const a = await call('report_task_progress', { agent_id: id, task_id: taskId, status, progress, message: `${id} at ${progress}%`, lease_token: lease.token });
      if (!a.success) return void st.failures.push(`${id} report_task_progress: ${JSON.stringify(a)}`);
    }
    st.done++;
  }
}

/** A queue bound to every routing key of the run's exchange, read by the test: what the broker delivered. */
function startTap(prefix: string) {
  const names = topology(prefix);
  const queue = `${prefix}.tap`;
  const seen = { deliveries: 0, redeliveredFlag: 0, perId: new Map<string, number>() };
  const conn: AmqpConnectionManager = amqp.connect([TEST_RABBITMQ_URL], { reconnectTimeInSeconds: 1 });
  const channel: ChannelWrapper = conn.createChannel({
    setup: async (ch: Channel) => {
      await ch.assertExchange(names.eventsExchange, 'topic', { durable: true });
      await ch.assertQueue(queue, { durable: true });
      await ch.bindQueue(queue, names.eventsExchange, '#');
      await ch.prefetch(500);
      await ch.consume(queue, (msg) => {
        if (!msg) return;
        seen.deliveries++;
        if (msg.fields.redelivered) seen.redeliveredFlag++;
        const id = String(msg.properties.messageId);
        seen.perId.set(id, (seen.perId.get(id) ?? 0) + 1);
        try {
          ch.ack(msg);
        } catch {
          // channel gone with the broker: the message comes again (and is counted again)
        }
      });
    },
  });
  return {
    queue,
    seen,
    ready: () => channel.waitForConnect(),
    close: async () => {
      await channel.close().catch(() => undefined);
      await conn.close().catch(() => undefined);
    },
  };
}

async function deleteTopology(prefix: string, extraQueues: string[]): Promise<Record<string, number>> {
  const names = topology(prefix);
  const conn = await connect(TEST_RABBITMQ_URL);
  const ch = await conn.createChannel();
  const left: Record<string, number> = {};
  try {
    for (const name of [...QUEUE_NAMES.flatMap((q) => [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]), ...extraQueues]) {
      left[name] = (await ch.deleteQueue(name)).messageCount;
    }
    await ch.deleteExchange(names.eventsExchange);
    await ch.deleteExchange(names.deadLetterExchange);
  } finally {
    await conn.close();
  }
  return left;
}

describe('RabbitMQ restart in the middle of a run', () => {
  const prefix = `pm-agent-test-${randomBytes(5).toString('hex')}`;
  let database: Awaited<ReturnType<typeof createTestDatabase>> | undefined;
  let db: Client | undefined;
  const replicas: Replica[] = [];
  const sockets: AgentSocket[] = [];
  let tap: ReturnType<typeof startTap> | undefined;
  let brokerStopped = false;

  const ensureBrokerUp = async () => {
    if (!brokerStopped) return;
    await rabbitmqctl('start_app');
    await rabbitmqctl('await_startup', '--timeout', '60');
    brokerStopped = false;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    db = new Client({ connectionString: database.url });
    await db.connect();
  });

  afterAll(async () => {
    await ensureBrokerUp(); // RabbitMQ runs again whatever happened
    for (const s of sockets) s.close();
    await Promise.allSettled(replicas.map((r) => stopReplica(r)));
    await tap?.close();
    const left = await deleteTopology(prefix, [`${prefix}.tap`]).catch((err: Error) => ({ error: err.message }));
    console.log(`deleted topology ${prefix}.*, messages left in it: ${JSON.stringify(left)}`);
    await db?.end().catch(() => undefined);
    await database?.drop();
  });

  it('every event is published and processed exactly once per consumer; agents never fail', { timeout: 600_000 }, async () => {
    const adminKey = `pma_${randomBytes(18).toString('base64url')}`;
    const env = {
      DATABASE_URL: database!.url,
      PM_AGENT_ADMIN_KEY: adminKey,
      PM_AGENT_JWT_SECRET: randomBytes(48).toString('base64url'),
      LOG_LEVEL: 'warn',
      RABBITMQ_URL: TEST_RABBITMQ_URL,
      RABBITMQ_PREFIX: prefix,
      CONSUMER_RETRY_BASE_MS: '200',
      RATE_LIMIT_AGENT_PER_MINUTE: '1000000',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000',
      SHUTDOWN_GRACE_MS: '5000',
    };
    replicas.push(...(await Promise.all(PORTS.map((port) => startReplica({ port, env, readyTimeoutMs: 90_000 })))));
    const urls = replicas.map((r) => r.url);

    // Test-only hook in this run's database: every attempt of a consumer to record an event, also
    // the duplicates that processed_events turns away (BEFORE triggers fire before ON CONFLICT).
    await db!.query(`
      CREATE TABLE test_delivery_log (seq bigserial PRIMARY KEY, consumer text NOT NULL, event_id bigint NOT NULL);
      CREATE FUNCTION test_log_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO test_delivery_log (consumer, event_id) VALUES (NEW.consumer, NEW.event_id); RETURN NEW; END $$;
      CREATE TRIGGER test_log_delivery BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION test_log_delivery();
    `);
    tap = startTap(prefix);
    await tap.ready();

    const apis = urls.map((u) => new ApiClient(u, adminKey));
    const project = await apis[0].createProject('rabbitmq restart');
    const createTasks = async (n: number, phase: string) => {
      for (let i = 0; i < n; i++) await apis[i % apis.length].addTask(project.id, { name: `${phase} ${i}`, description: `task ${i} of ${phase}` });
    };
    await createTasks(TASKS[0], 'before');

    // 100 agents, half on each replica (the first alone: the API key is verified once, then cached).
    const ids = Array.from({ length: AGENTS }, (_, i) => `agent-${String(i).padStart(3, '0')}`);
    const connectAgent = async (id: string, i: number) => {
      const api = apis[i % apis.length];
      const s = await api.agent(project.api_key, id);
      sockets.push(s);
      return s;
    };
    const agents = [await connectAgent(ids[0], 0), ...(await Promise.all(ids.slice(1).map((id, i) => connectAgent(id, i + 1))))];

    // Samplers: unsent outbox rows, and readiness of the replicas.
    const pendingSamples: { at: number; n: number }[] = [];
    const readiness = new Map<number, number>();
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        const r = await db!.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
        pendingSamples.push({ at: Date.now(), n: r.rows[0].n });
        await sleep(100);
      }
    })();
    const readinessProbe = (async () => {
      while (sampling) {
        for (const u of urls) {
          const status = await fetch(`${u}/health/ready`).then(
            (r) => r.status,
            () => 0,
          );
          readiness.set(status, (readiness.get(status) ?? 0) + 1);
        }
        await sleep(250);
      }
    })();

    const st: RunState = { done: 0, allCreated: false, calls: 0, failures: [], stop: false };
    const t0 = Date.now();
    const loops = Promise.allSettled(agents.map((s) => agentLoop(s, st)));

    let stoppedAt = 0;
    let startAt = 0;
    let backAt = 0;
    try {
      while (st.done < 40 && st.failures.length === 0) await sleep(50);
      expect(st.failures).toEqual([]);
      const stopAt = Date.now();
      brokerStopped = true;
      await rabbitmqctl('stop_app');
      stoppedAt = Date.now();
      const doneAtStop = st.done;
      await createTasks(TASKS[1], 'during');
      await sleep(3000);
      startAt = Date.now();
      await rabbitmqctl('start_app');
      await rabbitmqctl('await_startup', '--timeout', '60');
      brokerStopped = false;
      backAt = Date.now();
      const doneWhileDown = st.done - doneAtStop;
      await createTasks(TASKS[2], 'after');
      st.allCreated = true;

      await loops;
      const runMs = Date.now() - t0;
      expect(st.failures).toEqual([]);
      expect(st.done).toBe(TOTAL_TASKS);

      // Everything reaches the broker once it is back.
      const drainStart = Date.now();
      for (;;) {
        const r = await db!.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
        if (r.rows[0].n === 0) break;
        if (Date.now() - drainStart > 180_000) throw new Error(`${r.rows[0].n} outbox rows still unpublished`);
        await sleep(200);
      }
      const rows = (
        await db!.query<OutboxRow>(
          `SELECT id::text AS id, aggregate_id, event_type, payload, created_at, published_at FROM outbox WHERE project_id = $1 ORDER BY outbox.id`,
          [project.id],
        )
      ).rows;
      expect(rows).toHaveLength(AGENTS + TOTAL_TASKS * 5);
      const perTask = new Map<string, EventType[]>();
      for (const r of rows) if (!r.aggregate_id.startsWith('agent:')) perTask.set(r.aggregate_id, [...(perTask.get(r.aggregate_id) ?? []), r.event_type]);
      expect(perTask.size).toBe(TOTAL_TASKS);
      for (const types of perTask.values()) expect(types).toEqual(['task.created', 'task.assigned', 'task.progress', 'task.progress', 'task.completed']);

      // Every consumer handled every event routed to it, once.
      const routed = Object.fromEntries(QUEUE_NAMES.map((q) => [q, new Set(rows.filter((r) => queuesFor(r.event_type).includes(q)).map((r) => r.id))]));
      const processedCounts = async () => {
        const r = await db!.query<{ consumer: string; n: number }>('SELECT consumer, count(*)::int AS n FROM processed_events GROUP BY consumer');
        return Object.fromEntries(QUEUE_NAMES.map((q) => [q, r.rows.find((x) => x.consumer === q)?.n ?? 0]));
      };
      const want = Object.fromEntries(QUEUE_NAMES.map((q) => [q, routed[q].size]));
      const waitStart = Date.now();
      for (;;) {
        const got = await processedCounts();
        if (QUEUE_NAMES.every((q) => got[q] >= want[q])) break;
        if (Date.now() - waitStart > 120_000) expect(got).toEqual(want);
        await sleep(200);
      }
      await sleep(2000); // a late redelivery would be turned away now; it must not add anything
      expect(await processedCounts()).toEqual(want);
      const processed = await db!.query<{ consumer: string; event_id: string }>('SELECT consumer, event_id::text AS event_id FROM processed_events');
      for (const q of QUEUE_NAMES) {
        const got = new Set(processed.rows.filter((x) => x.consumer === q).map((x) => x.event_id));
        expect([...got].filter((id) => !routed[q].has(id)), `${q}: processed but not routed`).toEqual([]);
        expect([...routed[q]].filter((id) => !got.has(id)), `${q}: routed but not processed`).toEqual([]);
      }

      // The board: exactly one comment per kanban event, none missing, none twice.
      const comments = (await db!.query<{ task_id: string; body: string }>('SELECT task_id::text AS task_id, body FROM board_comments ORDER BY id')).rows;
      const expected = rows
        .filter((r) => queuesFor(r.event_type).includes('kanban'))
        .flatMap((r) => {
          const effect = boardEffect({ id: r.id, type: r.event_type, project_id: project.id, aggregate_id: r.aggregate_id, payload: r.payload, occurred_at: r.created_at.toISOString() });
          return effect ? [{ task_id: r.aggregate_id, body: effect.comment }] : []; // task.created writes nothing on the built-in board
        });
      const key = (c: { task_id: string; body: string }) => `${c.task_id}\u0000${c.body}`;
      expect(comments.map(key).sort()).toEqual(expected.map(key).sort());
      const duplicatesProcessed = comments.length - new Set(comments.map(key)).size;
      expect(duplicatesProcessed).toBe(0);
      // Order per task as the kanban consumer applied it (reported, asserted in the failover test).
      const seqOf = (list: { task_id: string; body: string }[]) => {
        const m = new Map<string, string[]>();
        for (const c of list) m.set(c.task_id, [...(m.get(c.task_id) ?? []), c.body]);
        return m;
      };
      const gotSeq = seqOf(comments);
      const outOfOrder = [...seqOf(expected)].filter(([task, bodies]) => JSON.stringify(gotSeq.get(task)) !== JSON.stringify(bodies)).length;

      // Figures.
      const log = await db!.query<{ consumer: string; attempts: number; distinct_events: number }>(
        'SELECT consumer, count(*)::int AS attempts, count(DISTINCT event_id)::int AS distinct_events FROM test_delivery_log GROUP BY consumer ORDER BY consumer',
      );
      const absorbed = log.rows.map((r) => `${r.consumer} ${r.attempts - r.distinct_events}`).join(', ');
      const tapDuplicates = tap.seen.deliveries - tap.seen.perId.size;
      expect(tap.seen.perId.size).toBe(rows.length); // every event went through the exchange

      const published = rows.map((r) => r.published_at!.getTime());
      const created = rows.map((r) => r.created_at.getTime());
      const spanS = (Math.max(...published) - Math.min(...created)) / 1000;
      const pendingMax = Math.max(...pendingSamples.map((p) => p.n));
      const pendingAtStart = pendingSamples.filter((p) => p.at <= startAt).at(-1)?.n ?? 0;
      // The backlog drain, from the sampler: from the last sample before the pending count first
      // fell after start_app (the broker answering again), to the first sample at 0. (published_at
      // is no clock for this: it is the relay transaction's start, which may be before a publish
      // that waited for the reconnection.)
      const afterStart = pendingSamples.filter((p) => p.at >= startAt);
      const fall = afterStart.findIndex((p, i) => i > 0 && p.n < afterStart[i - 1].n);
      const peak = fall > 0 ? afterStart[fall - 1] : { at: startAt, n: 0 };
      const zero = afterStart.find((p) => p.at > peak.at && p.n === 0);
      const drainS = zero ? (zero.at - peak.at) / 1000 : 0;
      const drained = peak.n + (zero ? rows.filter((r) => r.created_at.getTime() > peak.at && r.created_at.getTime() <= zero.at).length : 0);
      const createdWhileDown = rows.filter((r) => r.created_at.getTime() >= stoppedAt && r.created_at.getTime() < backAt).length;
      const fmt = (x: number) => x.toFixed(1);
      console.log(
        [
          `run ${fmt(runMs / 1000)} s: ${rows.length} state changes (${AGENTS} agents, ${TOTAL_TASKS} tasks), ${st.calls} agent calls, 0 failed`,
          `rabbitmqctl stop_app took ${fmt((stoppedAt - stopAt) / 1000)} s; broker down ${fmt((backAt - stoppedAt) / 1000)} s (start_app + await_startup ${fmt((backAt - startAt) / 1000)} s)`,
          `state changes committed while RabbitMQ was down: ${createdWhileDown}; tasks completed while down: ${doneWhileDown}`,
          `readiness answers: ${[...readiness].map(([s, n]) => `${s || 'no answer'}×${n}`).join(', ')}`,
          `outbox pending at most ${pendingMax} (${pendingAtStart} when start_app was run)`,
          `relay after the restart: ${peak.n} pending → 0 in ${fmt(drainS)} s, ${drained} events published meanwhile = ${drainS > 0 ? fmt(drained / drainS) : 'n/a'} events/s; ` +
            `whole run ${rows.length} events, first commit → last publish ${fmt(spanS)} s (paced by the agents)`,
          `broker deliveries on a tap queue: ${tap.seen.deliveries} for ${tap.seen.perId.size} events (${tapDuplicates} duplicates: republished or redelivered; ${tap.seen.redeliveredFlag} flagged redelivered)`,
          `duplicate deliveries turned away by processed_events: ${absorbed || 'none'} (the ai consumer checks before recording, so its duplicates are not counted here)`,
          `processed: ${QUEUE_NAMES.map((q) => `${q} ${want[q]}`).join(', ')}; board comments ${comments.length}; duplicates processed: ${duplicatesProcessed}; tasks whose comments are out of event order: ${outOfOrder}`,
        ].join('\n'),
      );
    } finally {
      sampling = false;
      st.stop = true;
      await Promise.allSettled([sampler, readinessProbe, loops]);
      await ensureBrokerUp();
    }
  });
});
