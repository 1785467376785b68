import { Logger } from '@nestjs/common';
import amqp, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { ConfirmChannel, ConsumeMessage, Options } from 'amqplib';
import { EventBus, type EventHandler, type PublishedEvent } from '../../modules/events/event-bus';
import { afterFailure } from '../../modules/events/failure-policy';
import { QUEUE_NAMES, topology, type QueueName, type Topology } from '../../modules/events/topology';

export interface RabbitOptions {
  url: string;
  queueType: 'classic' | 'quorum';
  prefetch: number;
  maxAttempts: number;
  retryBaseMs: number;
  publishTimeoutMs: number;
  /** Prefix of exchange and queue names (default `pm-agent`). */
  prefix?: string;
}

const ATTEMPT_HEADER = 'x-pm-attempt';
/** Deliveries that failed only because the database was out of reach (not counted as attempts). */
const UNAVAILABLE_HEADER = 'x-pm-unavailable';

/**
 * RabbitMQ through amqp-connection-manager (reconnects with backoff and re-runs the setup of
 * every channel). Publishing uses a confirm channel; consumers ack by hand with bounded prefetch.
 * A failed message goes to `<queue>.retry` with a growing TTL and comes back; after maxAttempts it
 * is rejected into `<queue>.dlq` through the dead-letter exchange.
 */
export class RabbitEventBus extends EventBus {
  private readonly logger = new Logger('RabbitMQ');
  private readonly conn: AmqpConnectionManager;
  private readonly publisher: ChannelWrapper;
  private readonly consumers: ChannelWrapper[] = [];
  readonly topology: Topology;

  constructor(private readonly opts: RabbitOptions) {
    super();
    this.topology = topology(opts.prefix);
    this.conn = amqp.connect([opts.url], { heartbeatIntervalInSeconds: 5, reconnectTimeInSeconds: 1 });
    this.conn.on('connect', () => this.logger.log('connected'));
    this.conn.on('disconnect', ({ err }) => this.logger.warn(`disconnected: ${err?.message ?? 'closed'}`));
    this.publisher = this.conn.createChannel({
      name: 'publisher',
      confirm: true,
      publishTimeout: opts.publishTimeoutMs,
      setup: (ch: ConfirmChannel) => this.declareTopology(ch),
    });
  }

  /** Declares exchanges and queues; idempotent, re-run on every reconnect. */
  async declareTopology(ch: ConfirmChannel): Promise<void> {
    const { eventsExchange, deadLetterExchange, queues } = this.topology;
    await ch.assertExchange(eventsExchange, 'topic', { durable: true });
    await ch.assertExchange(deadLetterExchange, 'direct', { durable: true });
    for (const q of QUEUE_NAMES) {
      const spec = queues[q];
      const typeArgs = this.opts.queueType === 'quorum' ? { 'x-queue-type': 'quorum', 'x-delivery-limit': this.opts.maxAttempts * 2 } : {};
      await ch.assertQueue(spec.name, {
        durable: true,
        arguments: {
          ...typeArgs,
          'x-dead-letter-exchange': deadLetterExchange,
          'x-dead-letter-routing-key': spec.name,
          ...(spec.singleActiveConsumer ? { 'x-single-active-consumer': true } : {}),
        },
      });
      for (const b of spec.bindings) await ch.bindQueue(spec.name, eventsExchange, b);
      // Expired retries go back to the work queue through the default exchange.
      await ch.assertQueue(spec.retry, {
        durable: true,
        arguments: { ...(this.opts.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {}), 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': spec.name },
      });
      await ch.assertQueue(spec.deadLetter, { durable: true, arguments: this.opts.queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {} });
      await ch.bindQueue(spec.deadLetter, deadLetterExchange, spec.name);
    }
  }

  async publish(events: readonly PublishedEvent[]): Promise<void> {
    // Publishes are confirmed in order on one channel; awaiting all keeps the batch atomic for the relay.
    await Promise.all(
      events.map((e) =>
        this.publisher.publish(this.topology.eventsExchange, e.type, Buffer.from(JSON.stringify(e)), {
          persistent: true,
          messageId: e.id,
          type: e.type,
          contentType: 'application/json',
          timestamp: Math.floor(Date.parse(e.occurred_at) / 1000),
          headers: { 'x-aggregate-id': e.aggregate_id },
        }),
      ),
    );
    this.stats.published += events.length;
  }

  async consume(queue: QueueName, handler: EventHandler): Promise<void> {
    const spec = this.topology.queues[queue];
    // A single-active-consumer queue promises order: handle its messages one after the other
    // (prefetch still keeps the next ones coming), not up to `prefetch` at once.
    let inOrder: Promise<void> = Promise.resolve();
    const dispatch = (ch: ConfirmChannel, msg: ConsumeMessage | null) => {
      if (!spec.singleActiveConsumer) return void this.onMessage(ch, queue, msg, handler);
      inOrder = inOrder.then(() => this.onMessage(ch, queue, msg, handler)).catch(() => undefined);
    };
    const wrapper = this.conn.createChannel({
      name: `consumer:${queue}`,
      confirm: true,
      setup: async (ch: ConfirmChannel) => {
        await this.declareTopology(ch);
        await ch.prefetch(this.opts.prefetch);
        await ch.consume(spec.name, (msg) => dispatch(ch, msg), { noAck: false });
      },
    });
    this.consumers.push(wrapper);
    await wrapper.waitForConnect();
  }

  private async onMessage(ch: ConfirmChannel, queue: QueueName, msg: ConsumeMessage | null, handler: EventHandler): Promise<void> {
    if (!msg) return; // consumer cancelled by the broker; the wrapper re-subscribes on reconnect
    const headers = msg.properties.headers ?? {};
    const attempt = Number(headers[ATTEMPT_HEADER] ?? 1);
    const unavailable = Number(headers[UNAVAILABLE_HEADER] ?? 0);
    let event: PublishedEvent;
    try {
      event = JSON.parse(msg.content.toString('utf8')) as PublishedEvent;
    } catch {
      this.stats.deadLettered++;
      this.onDeadLetter?.(queue);
      this.logger.warn(`${queue}: unparsable message ${msg.properties.messageId ?? '?'} dead-lettered`);
      return safe(() => ch.nack(msg, false, false));
    }
    try {
      await handler(event);
      this.stats.delivered++;
      safe(() => ch.ack(msg));
    } catch (err) {
      this.stats.failed++;
      const outcome = afterFailure(err, { attempt, unavailable }, this.opts);
      if (!outcome.retry) {
        this.stats.deadLettered++;
        this.onDeadLetter?.(queue);
        this.logger.warn(`${queue}: event ${event.id} (${event.type}) dead-lettered after ${attempt} attempts: ${(err as Error).message}`);
        return safe(() => ch.nack(msg, false, false));
      }
      this.stats.retried++;
      const props: Options.Publish = {
        ...msg.properties,
        headers: { ...headers, [ATTEMPT_HEADER]: outcome.next.attempt, [UNAVAILABLE_HEADER]: outcome.next.unavailable },
        expiration: String(outcome.delayMs),
        persistent: true,
      };
      // Publish the retry (confirmed) before acking: a crash in between repeats, never loses.
      // On a channel that closed meanwhile this throws (an unhandled rejection would end the
      // process); the unacked message is redelivered instead.
      safe(() =>
        ch.sendToQueue(this.topology.queues[queue].retry, msg.content, props, (confirmErr) => {
          if (confirmErr) safe(() => ch.nack(msg, false, true));
          else safe(() => ch.ack(msg));
        }),
      );
    }
  }

  ready(): boolean {
    return this.conn.isConnected();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.consumers.map((c) => c.close()));
    await this.publisher.close().catch(() => undefined);
    await this.conn.close();
  }
}

/** A channel that closed under us throws on ack; the broker redelivers, which is what we want. */
function safe(fn: () => void): void {
  try {
    fn();
  } catch {
    // channel gone: the message will be redelivered
  }
}
