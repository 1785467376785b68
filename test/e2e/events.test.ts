import { connect } from 'amqplib';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PublishedEvent } from '../../src/modules/events/event-bus';
import type { EventType } from '../../src/modules/events/event-types';
import { QUEUE_NAMES, queuesFor, topology } from '../../src/modules/events/topology';
import { boardEffect } from '../../src/modules/kanban/board-effects';
import { startTestApp, type StorageMode, type TestApp } from '../support/app';
import { ApiClient } from '../support/client';
import { TEST_RABBITMQ_URL } from '../support/env';
import { eventually } from '../support/eventually';

// A scripted agent session, end to end through the outbox: every state change writes exactly the
// expected event, the relay publishes each one, and each consumer handles each event routed to it
// once. Embedded mode (PGlite + in-process bus) and cluster mode (Postgres + RabbitMQ, on a
// topology of its own through RABBITMQ_PREFIX, deleted afterwards).

interface OutboxRow {
  id: string;
  aggregate_id: string;
  event_type: EventType;
  payload: Record<string, unknown>;
  created_at: Date;
  published_at: Date | null;
}

const MODES: [string, StorageMode, boolean][] = [
  ['embedded + in-process bus', 'embedded', false],
  ['postgres + RabbitMQ', 'postgres', true],
];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe.each(MODES)('events of a scripted session (%s)', (label, mode, useRabbit) => {
  let t: TestApp | undefined;
  let api: ApiClient;
  const prefix = `pm-agent-test-${randomBytes(5).toString('hex')}`;

  beforeAll(async () => {
    t = await startTestApp(mode, {
      LEASE_TIMEOUT_SCALE: '0.01', // a lease without reports is recovered after 2.4 s
      LEASE_SWEEP_INTERVAL_MS: '100',
      OUTBOX_RELAY_INTERVAL_MS: '50',
      CONSUMER_RETRY_BASE_MS: '100',
      ...(useRabbit ? { RABBITMQ_URL: TEST_RABBITMQ_URL, RABBITMQ_PREFIX: prefix } : {}),
    });
    api = new ApiClient(t.url, t.adminKey);
  });

  afterAll(async () => {
    await t?.close();
    if (!useRabbit) return;
    const names = topology(prefix);
    const conn = await connect(TEST_RABBITMQ_URL);
    const ch = await conn.createChannel();
    const left: Record<string, number> = {};
    for (const q of QUEUE_NAMES) {
      for (const name of [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]) {
        left[name] = (await ch.checkQueue(name)).messageCount;
        await ch.deleteQueue(name);
      }
    }
    await ch.deleteExchange(names.eventsExchange);
    await ch.deleteExchange(names.deadLetterExchange);
    await conn.close();
    // Everything was acknowledged: nothing waiting, retrying or dead-lettered.
    expect(left, label).toEqual(Object.fromEntries(Object.keys(left).map((k) => [k, 0])));
  });

  it('register, request, progress, blocker, progress, complete, decision, artifact and a lease expiry: exact outbox, published, processed once', async () => {
    const db = t!.db;
    const project = await api.createProject(`events ${label}`);
    const created = [
      await api.addTask(project.id, { name: 'Build login', description: 'OAuth login page', priority: 'high', checklist: ['form', 'tests'] }),
      await api.addTask(project.id, { name: 'Write docs', description: 'User guide', priority: 'low' }),
    ];

    // Agent A: the whole life of a task.
    const alice = await api.agent(project.api_key, 'agent-a', [], 'Alice');
    const got = await alice.call('request_next_task', { agent_id: 'agent-a' });
    expect(got.success).toBe(true);
    const t1: string = got.task.id;
    const t2: string = created.map((c) => c.id as string).find((id) => id !== t1)!;
    const token: string = got.task.lease.token;
    const ok = (r: any) => expect(r, JSON.stringify(r)).toMatchObject({ success: true });
    ok(await alice.call('report_task_progress', { agent_id: 'agent-a', task_id: t1, status: 'in_progress', progress: 25, message: 'form done', lease_token: token }));
    ok(
      await alice.call('report_blocker', {
        agent_id: 'agent-a',
        task_id: t1,
        blocker_description: 'OAuth client secret missing',
        severity: 'high',
        lease_token: token,
      }),
    );
    ok(await alice.call('report_task_progress', { agent_id: 'agent-a', task_id: t1, status: 'in_progress', progress: 60, message: 'secret found', lease_token: token }));
    ok(await alice.call('report_task_progress', { agent_id: 'agent-a', task_id: t1, status: 'completed', progress: 100, message: 'all green', lease_token: token }));
    ok(await alice.call('log_decision', { agent_id: 'agent-a', task_id: t1, decision: 'Use PKCE for the OAuth flow' }));
    ok(await alice.call('log_artifact', { task_id: t1, filename: 'login.md', content: '# Login\n', artifact_type: 'documentation' }));

    // Agent B takes the other task and goes silent: the sweeper recovers it.
    const bob = await api.agent(project.api_key, 'agent-b', [], 'Bob');
    const got2 = await bob.call('request_next_task', { agent_id: 'agent-b' });
    expect(got2.task?.id).toBe(t2);
    const tasks = await eventually(async () => {
      const list = await api.listTasks(project.id);
      if (list.find((x) => x.id === t2)?.status !== 'todo') throw new Error('lease not recovered yet');
      return list;
    }, 20_000, 100);
    expect(tasks.find((x) => x.id === t1)?.status).toBe('done');

    // 1. Exactly the expected outbox rows, in order per aggregate.
    const rowsOf = async () =>
      (
        await db.query<OutboxRow>(
          'SELECT id::text AS id, aggregate_id, event_type, payload, created_at, published_at FROM outbox WHERE project_id = $1 ORDER BY outbox.id',
          [project.id],
        )
      ).rows;
    const rows = await rowsOf();
    const typesOf = (agg: string) => rows.filter((r) => r.aggregate_id === agg).map((r) => r.event_type);
    expect(typesOf(t1)).toEqual([
      'task.created',
      'task.assigned',
      'task.progress',
      'task.blocked',
      'task.progress',
      'task.completed',
      'decision.logged',
      'artifact.logged',
    ]);
    expect(typesOf(t2)).toEqual(['task.created', 'task.assigned', 'lease.recovered']);
    expect(typesOf('agent:agent-a')).toEqual(['agent.registered']);
    expect(typesOf('agent:agent-b')).toEqual(['agent.registered']);
    expect(rows).toHaveLength(13);
    expect(rows.find((r) => r.event_type === 'lease.recovered')?.payload).toMatchObject({ task_id: t2, previous_agent: 'agent-b' });
    expect(rows.find((r) => r.event_type === 'task.blocked')?.payload).toMatchObject({ task_id: t1, agent_id: 'agent-a', severity: 'high' });

    // 2. Every row is published.
    await eventually(async () => {
      const pending = (await rowsOf()).filter((r) => r.published_at === null).length;
      if (pending > 0) throw new Error(`${pending} rows unpublished`);
    }, 20_000, 100);

    // 3. Each consumer handled each event routed to it, once.
    const ids = rows.map((r) => r.id);
    const expected = Object.fromEntries(QUEUE_NAMES.map((q) => [q, rows.filter((r) => queuesFor(r.event_type).includes(q)).map((r) => r.id)]));
    const processed = async () => {
      const r = await db.query<{ consumer: string; event_id: string }>(
        'SELECT consumer, event_id::text AS event_id FROM processed_events WHERE event_id = ANY($1::bigint[]) ORDER BY processed_events.consumer, processed_events.event_id',
        [ids],
      );
      return Object.fromEntries(QUEUE_NAMES.map((q) => [q, r.rows.filter((x) => x.consumer === q).map((x) => x.event_id)]));
    };
    const sortIds = (xs: string[]) => [...xs].sort((a, b) => Number(a) - Number(b));
    const want = Object.fromEntries(QUEUE_NAMES.map((q) => [q, sortIds(expected[q])]));
    await eventually(async () => {
      expect(await processed()).toEqual(want);
    }, 20_000, 100);
    expect(want.kanban).toHaveLength(9); // task.created reaches the kanban queue too (cards for external boards)
    expect(want.ai).toHaveLength(4);
    expect(want.notifications).toHaveLength(4);

    // 4. The board has exactly one comment per kanban event, in event order, in BEHAVIOUR.md's formats.
    const comments = async (taskId: string) =>
      (await db.query<{ body: string }>('SELECT body FROM board_comments WHERE task_id = $1 ORDER BY id', [taskId])).rows.map((r) => r.body);
    const expectedComments = (taskId: string) =>
      rows
        .filter((r) => r.aggregate_id === taskId && queuesFor(r.event_type).includes('kanban'))
        .flatMap((r) => boardEffect(toEvent(project.id, r))?.comment ?? []);
    await sleep(300); // a late duplicate would show up by now
    expect(await comments(t1)).toEqual(expectedComments(t1));
    expect(await comments(t2)).toEqual(expectedComments(t2));
    expect(await comments(t1)).toEqual([
      expect.stringMatching(/^📋 Task assigned to Alice at /),
      '📊 Progress Update: 25% | Status: in_progress | form done',
      expect.stringMatching(/^🚫 BLOCKER \(HIGH\)\n\nReported by: Alice\nDescription: OAuth client secret missing\n/),
      '📊 Progress Update: 60% | Status: in_progress | secret found',
      '📊 Progress Update: 100% | Status: completed | all green',
    ]);
    expect(await comments(t2)).toEqual([expect.stringMatching(/^📋 Task assigned to Bob at /), expect.stringMatching(/^⏰ Lease expired: agent-b stopped reporting at 0%/)]);

    // The AI consumer stored its (fallback, no API key) blocker analysis.
    const blocker = await db.query<{ analysis: { source?: string } }>('SELECT analysis FROM blockers WHERE task_id = $1', [t1]);
    expect(blocker.rows[0]?.analysis.source).toBe('fallback');

    // Still exactly once after a while (no late redelivery acted again).
    expect(await processed()).toEqual(want);
    expect((await rowsOf()).map((r) => r.id)).toEqual(ids);
    console.log(
      `[${label}] ${rows.length} outbox rows; processed: ${QUEUE_NAMES.map((q) => `${q} ${want[q].length}`).join(', ')}; board comments ${expectedComments(t1).length + expectedComments(t2).length}`,
    );
    alice.close();
    bob.close();
  });
});

function toEvent(projectId: string, r: OutboxRow): PublishedEvent {
  return {
    id: r.id,
    type: r.event_type,
    project_id: projectId,
    aggregate_id: r.aggregate_id,
    payload: r.payload,
    occurred_at: r.created_at.toISOString(),
  };
}
