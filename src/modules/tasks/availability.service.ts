import { Injectable, Logger } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import { PushService } from '../events/push.service';
import { countEligible, waitingAgents } from './task.queries';

/** Wakes agents that were told to retry later, once something they could take exists. */
@Injectable()
export class TaskAvailability {
  private readonly logger = new Logger('TaskAvailability');

  constructor(
    private readonly db: Db,
    private readonly push: PushService,
  ) {}

  /** Call after a commit that may have made tasks eligible. Never throws: a push is best effort. */
  async wakeWaiting(projectId: string): Promise<void> {
    try {
      const waiting = await waitingAgents(this.db, projectId);
      if (waiting.length === 0) return;
      const eligible = await countEligible(this.db, projectId);
      if (eligible === 0) return;
      this.push.toAgents(projectId, waiting, 'tasks_available', {
        project_id: projectId,
        eligible_tasks: eligible,
        at: new Date().toISOString(),
      });
    } catch (err) {
      this.logger.warn(`tasks_available push failed: ${(err as Error).message}`);
    }
  }
}
