import { Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { RabbitEventBus } from '../../infra/amqp/rabbit-event-bus';
import { AiModule } from '../ai/ai.module';
import { KanbanModule } from '../kanban/kanban.module';
import { TasksModule } from '../tasks/tasks.module';
import { EventBus } from './event-bus';
import { EventConsumers } from './event-consumers.service';
import { InProcessEventBus } from './in-process-bus';
import { NotificationsConsumer } from './notifications.consumer';
import { OutboxRelay } from './outbox-relay.service';

function createBus(config: AppConfig): EventBus {
  const { url, queueType, prefetch, prefix } = config.rabbitmq;
  const { maxAttempts, retryBaseMs } = config.consumers;
  if (!url) return new InProcessEventBus({ maxAttempts, retryBaseMs });
  return new RabbitEventBus({ url, queueType, prefetch, maxAttempts, retryBaseMs, publishTimeoutMs: 10_000, prefix });
}

@Injectable()
class BusCloser implements OnApplicationShutdown {
  constructor(@Inject(EventBus) private readonly bus: EventBus) {}
  async onApplicationShutdown(): Promise<void> {
    await this.bus.close();
  }
}

/** Outbox relay, the event bus (RabbitMQ or in-process) and the consumers of its work queues. */
@Global()
@Module({
  imports: [TasksModule, AiModule, KanbanModule],
  providers: [
    { provide: EventBus, useFactory: createBus, inject: [AppConfig] },
    BusCloser,
    OutboxRelay,
    NotificationsConsumer,
    EventConsumers,
  ],
  exports: [EventBus, OutboxRelay],
})
export class EventsModule {}
