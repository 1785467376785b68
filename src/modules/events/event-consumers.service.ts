import { Injectable, OnApplicationBootstrap } from '@nestjs/common';
import { KanbanWritebackConsumer } from '../kanban/kanban-writeback.consumer';
import { AiConsumer } from '../ai/ai.consumer';
import { EventBus } from './event-bus';
import { NotificationsConsumer } from './notifications.consumer';

/** Subscribes each work queue's consumer on this replica. */
@Injectable()
export class EventConsumers implements OnApplicationBootstrap {
  constructor(
    private readonly bus: EventBus,
    private readonly kanban: KanbanWritebackConsumer,
    private readonly ai: AiConsumer,
    private readonly notifications: NotificationsConsumer,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.bus.consume('kanban', (e) => this.kanban.handle(e));
    await this.bus.consume('ai', (e) => this.ai.handle(e));
    await this.bus.consume('notifications', (e) => this.notifications.handle(e));
  }
}
