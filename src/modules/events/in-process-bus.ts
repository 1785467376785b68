import { Logger } from '@nestjs/common';
import { EventBus, type EventHandler, type PublishedEvent } from './event-bus';
import { afterFailure, type DeliveryState } from './failure-policy';
import { queuesFor, type QueueName } from './topology';

interface Options {
  maxAttempts: number;
  retryBaseMs: number;
}

/**
 * Embedded mode's bus: the same queues, retries with backoff and dead letters as RabbitMQ, in this
 * process. Events still leave through the outbox, so nothing is announced that did not commit.
 */
export class InProcessEventBus extends EventBus {
  private readonly logger = new Logger('InProcessEventBus');
  private readonly handlers = new Map<QueueName, EventHandler>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Per queue, events that failed every attempt (the dead-letter queue). */
  readonly deadLetters = new Map<QueueName, PublishedEvent[]>();
  private closed = false;
  /** One delivery chain per queue: a slow model call must not hold up board write-back. */
  private readonly tails = new Map<QueueName, Promise<void>>();

  constructor(private readonly opts: Options) {
    super();
  }

  async publish(events: readonly PublishedEvent[]): Promise<void> {
    for (const e of events) {
      this.stats.published++;
      for (const q of queuesFor(e.type)) this.enqueue(q, e, { attempt: 1, unavailable: 0 });
    }
  }

  async consume(queue: QueueName, handler: EventHandler): Promise<void> {
    this.handlers.set(queue, handler);
  }

  ready(): boolean {
    return !this.closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.tails.values());
  }

  private enqueue(queue: QueueName, event: PublishedEvent, state: DeliveryState, delayMs = 0): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      // One delivery at a time per queue, in publish order, like a single consumer with prefetch 1.
      this.tails.set(queue, (this.tails.get(queue) ?? Promise.resolve()).then(() => this.deliver(queue, event, state)));
    }, delayMs);
    this.timers.add(t);
  }

  private async deliver(queue: QueueName, event: PublishedEvent, state: DeliveryState): Promise<void> {
    const handler = this.handlers.get(queue);
    if (!handler || this.closed) return;
    try {
      await handler(event);
      this.stats.delivered++;
    } catch (err) {
      this.stats.failed++;
      const outcome = afterFailure(err, state, this.opts);
      if (!outcome.retry) {
        this.stats.deadLettered++;
        this.onDeadLetter?.(queue);
        const list = this.deadLetters.get(queue) ?? [];
        list.push(event);
        this.deadLetters.set(queue, list);
        this.logger.warn(`${queue}: event ${event.id} (${event.type}) dead-lettered after ${state.attempt} attempts: ${(err as Error).message}`);
        return;
      }
      this.stats.retried++;
      this.enqueue(queue, event, outcome.next, outcome.delayMs);
    }
  }
}
