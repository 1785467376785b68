import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { KanbanWritebackConsumer } from '../kanban/kanban-writeback.consumer';
import { AiConsumer } from '../ai/ai.consumer';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { EventBus, type EventHandler } from './event-bus';
import { OutboxRelay } from './outbox-relay.service';
import type { QueueName } from './topology';
import { NotificationsConsumer } from './notifications.consumer';

/** Subscribes each work queue's consumer on this replica. */
@Injectable()
export class EventConsumers implements OnApplicationBootstrap {
  constructor(
    private readonly bus: EventBus,
    private readonly kanban: KanbanWritebackConsumer,
    private readonly ai: AiConsumer,
    private readonly notifications: NotificationsConsumer,
    private readonly metrics: MetricsService,
    private readonly relay: OutboxRelay,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    this.bus.onDeadLetter = (queue) => this.metrics.deadLettered.inc({ queue });
    this.metrics.setSource('pm_agent_outbox_pending', async () => (await this.relay.lag()).pending);
    this.metrics.setSource('pm_agent_outbox_lag_seconds', async () => (await this.relay.lag()).oldestMs / 1000);
    await this.bus.consume('kanban', this.counted('kanban', (e) => this.kanban.handle(e)));
    await this.bus.consume('ai', this.counted('ai', (e) => this.ai.handle(e)));
    await this.bus.consume('notifications', this.counted('notifications', (e) => this.notifications.handle(e)));
  }

  private counted(queue: QueueName, handler: EventHandler): EventHandler {
    return async (e) => {
      try {
        await handler(e);
      } catch (err) {
        this.metrics.consumerFailures.inc({ queue });
        throw err;
      }
    };
  }
}
