import type { EventType } from './event-types';
import type { QueueName } from './topology';

/** An outbox row as it travels: `id` is the outbox id, the idempotency key of every consumer. */
export interface PublishedEvent {
  id: string;
  type: EventType;
  project_id: string;
  aggregate_id: string;
  payload: Record<string, unknown>;
  occurred_at: string;
}

export type EventHandler = (event: PublishedEvent) => Promise<void>;

export interface BusStats {
  published: number;
  delivered: number;
  failed: number;
  retried: number;
  deadLettered: number;
}

/**
 * Carries outbox events to work queues: RabbitMQ in cluster mode, in-process when embedded.
 * Delivery is at least once; handlers are made idempotent by ProcessedEvents.
 */
export abstract class EventBus {
  readonly stats: BusStats = { published: 0, delivered: 0, failed: 0, retried: 0, deadLettered: 0 };
  /** Told about every message given up on (metrics). */
  onDeadLetter?: (queue: QueueName) => void;
  /** Resolves once every event is durably accepted (publisher confirms), in order. */
  abstract publish(events: readonly PublishedEvent[]): Promise<void>;
  abstract consume(queue: QueueName, handler: EventHandler): Promise<void>;
  abstract ready(): boolean;
  abstract close(): Promise<void>;
}
