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

  // Per project: a wake running now, and whether another was asked for meanwhile. A burst of
  // completions then costs two passes instead of one per event.
  private readonly running = new Map<string, { again: boolean; done: Promise<void> }>();

  /** Call after a commit that may have made tasks eligible. Never throws: a push is best effort. */
  async wakeWaiting(projectId: string): Promise<void> {
    const current = this.running.get(projectId);
    if (current) {
      current.again = true;
      return current.done;
    }
    const entry = { again: false, done: Promise.resolve() };
    entry.done = (async () => {
      do {
        entry.again = false;
        await this.wakeOnce(projectId);
      } while (entry.again);
      this.running.delete(projectId);
    })();
    this.running.set(projectId, entry);
    return entry.done;
  }

  private async wakeOnce(projectId: string): Promise<void> {
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
