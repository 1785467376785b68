import type { EventType } from './event-types';

// The RabbitMQ topology, as data: declared idempotently at start, and mirrored by the in-process
// bus in embedded mode.

/** Default prefix of every exchange and queue name (`RABBITMQ_PREFIX`). */
export const DEFAULT_PREFIX = 'pm-agent';

export const QUEUE_NAMES = ['kanban', 'ai', 'notifications'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];

export interface QueueSpec {
  /** Durable work queue. */
  name: string;
  /** Holds failed messages for their backoff, then dead-letters them back to the work queue. */
  retry: string;
  /** Messages that failed every attempt. */
  deadLetter: string;
  /** Topic patterns bound on the events exchange (routing key = event type). */
  bindings: readonly string[];
  /** Kanban moves must apply in order: one consumer at a time across replicas. */
  singleActiveConsumer: boolean;
}

export interface Topology {
  eventsExchange: string;
  deadLetterExchange: string;
  queues: Readonly<Record<QueueName, QueueSpec>>;
}

/** Exchange and queue names under a prefix (several deployments or test runs on one broker). */
export function topology(prefix = DEFAULT_PREFIX): Topology {
  const spec = (q: QueueName, bindings: string[], singleActiveConsumer = false): QueueSpec => ({
    name: `${prefix}.${q}`,
    retry: `${prefix}.${q}.retry`,
    deadLetter: `${prefix}.${q}.dlq`,
    bindings,
    singleActiveConsumer,
  });
  return {
    eventsExchange: `${prefix}.events`,
    deadLetterExchange: `${prefix}.dlx`,
    queues: {
      kanban: spec('kanban', ['task.created', 'task.assigned', 'task.progress', 'task.completed', 'task.blocked', 'lease.recovered'], true),
      ai: spec('ai', ['task.created', 'task.blocked', 'lease.recovered']),
      notifications: spec('notifications', ['task.created', 'task.completed', 'lease.recovered']),
    },
  };
}

const DEFAULT_TOPOLOGY = topology();
export const EVENTS_EXCHANGE = DEFAULT_TOPOLOGY.eventsExchange;
export const DEAD_LETTER_EXCHANGE = DEFAULT_TOPOLOGY.deadLetterExchange;
export const QUEUES: Readonly<Record<QueueName, QueueSpec>> = DEFAULT_TOPOLOGY.queues;

/** AMQP topic matching: `*` is one word, `#` zero or more. */
export function topicMatches(pattern: string, routingKey: string): boolean {
  const p = pattern.split('.');
  const k = routingKey.split('.');
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length;
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1));
    if (j === k.length) return false;
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1);
  };
  return match(0, 0);
}

export function queuesFor(type: EventType): QueueName[] {
  return QUEUE_NAMES.filter((q) => QUEUES[q].bindings.some((b) => topicMatches(b, type)));
}

/** Backoff before attempt n+1 (n ≥ 1): base · 2^(n-1), capped. */
export function retryDelayMs(attempt: number, baseMs: number, capMs = 60_000): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}
