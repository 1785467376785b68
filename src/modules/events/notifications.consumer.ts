import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import { TaskAvailability } from '../tasks/availability.service';
import type { PublishedEvent } from './event-bus';
import { processOnce } from './processed-events';
import { PushService } from './push.service';

/**
 * Agent pushes that follow from events: `tasks_available` to waiting agents when work may have
 * appeared, `task_revoked` to an agent whose lease was recovered. Any replica may run this; the
 * socket adapter finds the agent's socket.
 */
@Injectable()
export class NotificationsConsumer {
  constructor(
    private readonly db: Db,
    private readonly availability: TaskAvailability,
    private readonly push: PushService,
  ) {}

  async handle(event: PublishedEvent): Promise<void> {
    if (!(await processOnce(this.db, 'notifications', event, async () => undefined))) return;
    switch (event.type) {
      case 'lease.recovered':
        this.push.toAgents(event.project_id, [String(event.payload.previous_agent)], 'task_revoked', {
          task_id: event.aggregate_id,
          reason: 'lease_expired',
          at: new Date().toISOString(),
        });
        await this.availability.wakeWaiting(event.project_id);
        return;
      case 'task.created':
      case 'task.completed':
        await this.availability.wakeWaiting(event.project_id);
        return;
      case 'agent.registered':
      case 'task.assigned':
      case 'task.progress':
      case 'task.blocked':
      case 'decision.logged':
      case 'artifact.logged':
        return;
    }
  }
}
