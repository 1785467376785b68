import { connect } from 'amqplib';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { RabbitEventBus } from '../../src/infra/amqp/rabbit-event-bus';
import type { EventBus, PublishedEvent } from '../../src/modules/events/event-bus';
import { EVENT_TYPES, type EventType } from '../../src/modules/events/event-types';
import { InProcessEventBus } from '../../src/modules/events/in-process-bus';
import { DEFAULT_PREFIX, QUEUE_NAMES, QUEUES, queuesFor, retryDelayMs, topicMatches, topology, type QueueName } from '../../src/modules/events/topology';
import { TEST_RABBITMQ_URL } from '../support/env';
import { eventually } from '../support/eventually';

// One contract for both event buses: what the in-process bus does in embedded mode, RabbitMQ must
// do across replicas, and the other way round. Each RabbitMQ case runs on its own topology
// (RABBITMQ_PREFIX), so other tests' messages never reach it, and deletes it afterwards.

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

describe('topicMatches (AMQP topic rules)', () => {
  it.each([
    ['task.completed', 'task.completed', true],
    ['task.completed', 'task.assigned', false],
    ['task.*', 'task.completed', true],
    ['task.*', 'task', false],
    ['task.*', 'task.a.b', false],
    ['*.completed', 'task.completed', true],
    ['*.*', 'task', false],
    ['#', 'task.completed', true],
    ['#', 'task', true],
    ['task.#', 'task', true],
    ['task.#', 'task.a.b', true],
    ['task.#', 'lease.recovered', false],
    ['#.recovered', 'lease.recovered', true],
    ['#.recovered', 'recovered', true],
    ['#.recovered', 'lease.recovered.x', false],
    ['task.#.done', 'task.done', true],
    ['task.#.done', 'task.x.y.done', true],
    ['task.#.done', 'task.x.y', false],
    ['*.#', 'task', true],
    ['task', 'task.completed', false],
  ])('%s ~ %s → %s', (pattern, key, expected) => {
    expect(topicMatches(pattern, key)).toBe(expected);
  });

  it('queuesFor routes every event type by the bindings of the topology', () => {
    for (const type of EVENT_TYPES) {
      const expected = QUEUE_NAMES.filter((q) => QUEUES[q].bindings.some((b) => topicMatches(b, type)));
      expect(queuesFor(type)).toEqual(expected);
    }
    expect(queuesFor('task.blocked')).toEqual(['kanban', 'ai']);
    expect(queuesFor('lease.recovered')).toEqual(['kanban', 'ai', 'notifications']);
    expect(queuesFor('agent.registered')).toEqual([]);
    expect(queuesFor('decision.logged')).toEqual([]);
  });

  it('topology(prefix) names every exchange and queue under the prefix; the default is pm-agent', () => {
    expect(DEFAULT_PREFIX).toBe('pm-agent');
    expect(topology()).toEqual({ eventsExchange: 'pm-agent.events', deadLetterExchange: 'pm-agent.dlx', queues: QUEUES });
    expect(QUEUES.kanban).toMatchObject({ name: 'pm-agent.kanban', retry: 'pm-agent.kanban.retry', deadLetter: 'pm-agent.kanban.dlq', singleActiveConsumer: true });
    const t = topology('run-1');
    expect(t.eventsExchange).toBe('run-1.events');
    expect(t.deadLetterExchange).toBe('run-1.dlx');
    for (const q of QUEUE_NAMES) {
      expect(t.queues[q]).toEqual({ ...QUEUES[q], name: `run-1.${q}`, retry: `run-1.${q}.retry`, deadLetter: `run-1.${q}.dlq` });
    }
  });
});

describe('retryDelayMs', () => {
  it('doubles from the base per attempt and is capped', () => {
    expect([1, 2, 3, 4, 5].map((n) => retryDelayMs(n, 100))).toEqual([100, 200, 400, 800, 1600]);
    expect(retryDelayMs(0, 100)).toBe(100);
    expect(retryDelayMs(20, 1000)).toBe(60_000);
    expect(retryDelayMs(4, 1000, 5000)).toBe(5000);
    expect(retryDelayMs(3, 1000, 5000)).toBe(4000);
  });
});

// ---- the contract -------------------------------------------------------------------------------

interface Harness {
  bus: EventBus;
  /** Ids of the events in `queue`'s dead-letter queue so far. */
  deadLettered(queue: QueueName): Promise<string[]>;
  close(): Promise<void>;
}

interface Options {
  maxAttempts: number;
  retryBaseMs: number;
}

async function inProcess(o: Options): Promise<Harness> {
  const bus = new InProcessEventBus(o);
  return {
    bus,
    deadLettered: async (q) => (bus.deadLetters.get(q) ?? []).map((e) => e.id),
    close: () => bus.close(),
  };
}

async function rabbit(o: Options): Promise<Harness> {
  const prefix = `pm-agent-test-${randomBytes(5).toString('hex')}`;
  const names = topology(prefix);
  const bus = new RabbitEventBus({ url: TEST_RABBITMQ_URL, queueType: 'classic', prefetch: 16, publishTimeoutMs: 10_000, prefix, ...o });
  const admin = await connect(TEST_RABBITMQ_URL);
  const ch = await admin.createChannel();
  const dead = new Map<QueueName, string[]>();
  return {
    bus,
    deadLettered: async (q) => {
      // Take what arrived in <queue>.dlq (the whole topology is deleted at the end anyway).
      const seen = dead.get(q) ?? [];
      for (;;) {
        const msg = await ch.get(names.queues[q].deadLetter, { noAck: true });
        if (!msg) break;
        const event = JSON.parse(msg.content.toString('utf8')) as PublishedEvent;
        expect(msg.properties.messageId).toBe(event.id);
        seen.push(event.id);
      }
      dead.set(q, seen);
      return seen;
    },
    close: async () => {
      await bus.close();
      // Nothing may be left behind: every work, retry and dead-letter queue is empty, then gone.
      const leftovers: Record<string, number> = {};
      for (const q of QUEUE_NAMES) {
        for (const name of [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]) {
          leftovers[name] = (await ch.checkQueue(name)).messageCount;
          await ch.deleteQueue(name);
        }
      }
      await ch.deleteExchange(names.eventsExchange);
      await ch.deleteExchange(names.deadLetterExchange);
      await admin.close();
      expect(Object.values(leftovers).every((n) => n === 0), JSON.stringify(leftovers)).toBe(true);
    },
  };
}

const BUSES: [string, (o: Options) => Promise<Harness>][] = [
  ['in-process', inProcess],
  ['RabbitMQ', rabbit],
];

function event(projectId: string, aggregateId: string, type: EventType, payload: Record<string, unknown> = {}): PublishedEvent {
  return { id: String(nextId++), type, project_id: projectId, aggregate_id: aggregateId, payload, occurred_at: new Date().toISOString() };
}
let nextId = Date.now() * 1000;

const byAggregate = (events: readonly PublishedEvent[]) => {
  const m = new Map<string, string[]>();
  for (const e of events) m.set(e.aggregate_id, [...(m.get(e.aggregate_id) ?? []), e.id]);
  return m;
};

describe.each(BUSES)('event bus contract (%s)', (_name, make) => {
  it('delivers each event to every queue whose bindings match, once, in order per aggregate', async () => {
    const h = await make({ maxAttempts: 3, retryBaseMs: 50 });
    try {
      const projectId = randomUUID();
      const entered = new Map<QueueName, PublishedEvent[]>(QUEUE_NAMES.map((q) => [q, []]));
      const finished = new Map<QueueName, PublishedEvent[]>(QUEUE_NAMES.map((q) => [q, []]));
      for (const q of QUEUE_NAMES) {
        await h.bus.consume(q, async (e) => {
          if (e.project_id !== projectId) return;
          entered.get(q)!.push(e);
          // Handlers take varying time: order must hold for what the consumer completes too.
          await sleep(Math.floor(Math.random() * 4));
          finished.get(q)!.push(e);
        });
      }

      const events: PublishedEvent[] = [];
      for (let round = 0; round < 3; round++) {
        for (const agg of ['task-a', 'task-b', 'task-c']) {
          for (const type of EVENT_TYPES) events.push(event(projectId, agg, type, { round }));
        }
      }
      for (let i = 0; i < events.length; i += 10) await h.bus.publish(events.slice(i, i + 10));

      const expected = new Map(QUEUE_NAMES.map((q) => [q, events.filter((e) => QUEUES[q].bindings.some((b) => topicMatches(b, e.type)))]));
      const total = [...expected.values()].reduce((n, l) => n + l.length, 0);
      await eventually(async () => {
        const got = [...finished.values()].reduce((n, l) => n + l.length, 0);
        if (got < total) throw new Error(`${got}/${total} deliveries`);
      }, 20_000);
      await sleep(200); // anything extra (a duplicate) would show up now

      for (const q of QUEUE_NAMES) {
        const want = expected.get(q)!;
        expect(want.length).toBeGreaterThan(0);
        // Exactly the matching events, each once.
        expect(entered.get(q)!.map((e) => e.id).sort()).toEqual(want.map((e) => e.id).sort());
        expect(entered.get(q)!.every((e) => queuesFor(e.type).includes(q))).toBe(true);
        // Delivered in publish order per aggregate; completed in order where the queue promises it.
        expect(byAggregate(entered.get(q)!)).toEqual(byAggregate(want));
        if (QUEUES[q].singleActiveConsumer) expect(byAggregate(finished.get(q)!)).toEqual(byAggregate(want));
        // The event arrives as published.
        const first = entered.get(q)![0];
        expect(first).toEqual(want.find((e) => e.id === first.id));
      }
      expect(h.bus.stats).toEqual({ published: events.length, delivered: total, failed: 0, retried: 0, deadLettered: 0 });
      console.log(`[${_name}] routing: ${events.length} published → ${QUEUE_NAMES.map((q) => `${q} ${expected.get(q)!.length}`).join(', ')}`);
    } finally {
      await h.close();
    }
  });

  it('retries a throwing handler with backoff, dead-letters it after CONSUMER_MAX_ATTEMPTS, and keeps the queue flowing', async () => {
    const maxAttempts = 3;
    const retryBaseMs = 150;
    const h = await make({ maxAttempts, retryBaseMs });
    try {
      const projectId = randomUUID();
      let seq = 0;
      const attempts: { seq: number; at: number }[] = [];
      const handled = new Map<QueueName, { id: string; seq: number }[]>(QUEUE_NAMES.map((q) => [q, []]));
      for (const q of QUEUE_NAMES) {
        await h.bus.consume(q, async (e) => {
          if (e.project_id !== projectId) return;
          if (q === 'notifications' && e.payload.poison === true) {
            attempts.push({ seq: ++seq, at: Date.now() });
            throw new Error('poison');
          }
          handled.get(q)!.push({ id: e.id, seq: ++seq });
        });
      }

      // The poison message first, then ordinary ones behind it on the same queue.
      const poison = event(projectId, 'task-poison', 'task.completed', { poison: true });
      const before = [poison, ...Array.from({ length: 8 }, (_, i) => event(projectId, `task-${i % 3}`, i % 2 ? 'task.created' : 'task.completed'))];
      await h.bus.publish(before);

      await eventually(async () => {
        const dlq = await h.deadLettered('notifications');
        if (!dlq.includes(poison.id)) throw new Error(`poison not dead-lettered yet (${attempts.length} attempts)`);
      }, 30_000);
      expect(await h.deadLettered('notifications')).toEqual([poison.id]);
      expect(attempts).toHaveLength(maxAttempts);

      // Messages behind the poison were not held up by its retries.
      const normalsBefore = before.slice(1);
      const notif = handled.get('notifications')!;
      expect(notif.map((x) => x.id).sort()).toEqual(normalsBefore.map((e) => e.id).sort());
      expect(Math.max(...notif.map((x) => x.seq))).toBeLessThan(attempts[attempts.length - 1].seq);
      // The poison was handled normally by the other queue it was routed to.
      expect(handled.get('kanban')!.map((x) => x.id)).toContain(poison.id);

      // After the dead-lettering, the queue still flows.
      const after = Array.from({ length: 5 }, (_, i) => event(projectId, `task-${i}`, 'task.created'));
      await h.bus.publish(after);
      await eventually(async () => {
        const ids = new Set(handled.get('notifications')!.map((x) => x.id));
        if (!after.every((e) => ids.has(e.id))) throw new Error('later messages not delivered yet');
      }, 15_000);
      await sleep(retryDelayMs(maxAttempts, retryBaseMs) + 200); // no further attempt of the poison comes

      expect(attempts).toHaveLength(maxAttempts);
      expect(await h.deadLettered('notifications')).toEqual([poison.id]);
      expect(await h.deadLettered('kanban')).toEqual([]);
      expect(await h.deadLettered('ai')).toEqual([]);

      const deliveries = [...before, ...after].reduce((n, e) => n + queuesFor(e.type).length, 0);
      expect(h.bus.stats).toEqual({
        published: before.length + after.length,
        delivered: deliveries - 1,
        failed: maxAttempts,
        retried: maxAttempts - 1,
        deadLettered: 1,
      });
      const gaps = attempts.slice(1).map((a, i) => a.at - attempts[i].at);
      console.log(
        `[${_name}] poison: ${attempts.length} attempts, gaps ${gaps.join(' ms, ')} ms (backoff ${gaps.map((_, i) => retryDelayMs(i + 1, retryBaseMs)).join(', ')} ms); stats ${JSON.stringify(h.bus.stats)}`,
      );
    } finally {
      await h.close();
    }
  });
});
