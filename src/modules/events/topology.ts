import type { EventType } from './event-types';

// The RabbitMQ topology, as data: declared idempotently at start, and mirrored by the in-process
// bus in embedded mode.

export const EVENTS_EXCHANGE = 'pm-agent.events';
export const DEAD_LETTER_EXCHANGE = 'pm-agent.dlx';

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

const spec = (q: QueueName, bindings: string[], singleActiveConsumer = false): QueueSpec => ({
  name: `pm-agent.${q}`,
  retry: `pm-agent.${q}.retry`,
  deadLetter: `pm-agent.${q}.dlq`,
  bindings,
  singleActiveConsumer,
});

export const QUEUES: Readonly<Record<QueueName, QueueSpec>> = {
  kanban: spec('kanban', ['task.assigned', 'task.progress', 'task.completed', 'task.blocked', 'lease.recovered'], true),
  ai: spec('ai', ['task.created', 'task.blocked', 'lease.recovered']),
  notifications: spec('notifications', ['task.created', 'task.completed', 'lease.recovered']),
};

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
