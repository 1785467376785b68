import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { beginIdempotent } from '../../common/idempotency';
import { Db } from '../../infra/database/db';
import { fallbackBlockerAnalysis, type BlockerAnalysis, type Severity } from '../ai/fallback-blocker';
import type { AgentIdentity } from '../auth/token.service';
import { recordEvent } from '../events/outbox';
import { lockHeldTask } from './holder';
import { ProgressService } from './progress.service';

export interface BlockerInput {
  task_id: string;
  blocker_description: string;
  severity: Severity;
  lease_token?: string;
  request_id?: string;
}

type BlockerAnswer = { success: true; blocker_id: string; suggestions: string[]; analysis: BlockerAnalysis; message: string };

@Injectable()
export class BlockerService {
  constructor(
    private readonly db: Db,
    private readonly progress: ProgressService,
  ) {}

  /** Stores the blocker and marks the task blocked; the holder keeps the task and its lease. */
  async report(who: AgentIdentity, input: BlockerInput): Promise<BlockerAnswer> {
    return this.db.tx(async (c) => {
      const idem = await beginIdempotent<BlockerAnswer>(c, { ...who, requestId: input.request_id, tool: 'report_blocker' });
      if (idem.replay) return idem.response;
      const { task, assignment, agentName } = await lockHeldTask(c, who, input.task_id, input.lease_token);
      const analysis = fallbackBlockerAnalysis(input.blocker_description, input.severity);
      const suggestions = analysis.resolution_steps;
      const id = randomUUID();
      await c.query(
        `INSERT INTO blockers (id, project_id, task_id, agent_id, description, severity, suggestions, analysis) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [id, who.projectId, task.id, who.agentId, input.blocker_description, input.severity, JSON.stringify(suggestions), JSON.stringify(analysis)],
      );
      await c.query(`UPDATE tasks SET status = 'blocked', updated_at = now() WHERE id = $1`, [task.id]);
      // Reporting a blocker is a sign of life: the lease moves forward as with progress.
      await this.progress.renew(c, assignment, assignment.progress, `BLOCKED: ${input.blocker_description}`);
      await recordEvent(c, {
        type: 'task.blocked',
        projectId: who.projectId,
        aggregateId: task.id,
        payload: {
          task_id: task.id,
          blocker_id: id,
          agent_id: who.agentId,
          agent_name: agentName,
          severity: input.severity,
          description: input.blocker_description,
          suggestions,
        },
      });
      const answer: BlockerAnswer = { success: true, blocker_id: id, suggestions, analysis, message: 'Blocker reported and suggestions provided' };
      await idem.finish(answer);
      return answer;
    });
  }
}
