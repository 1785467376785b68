import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { AppConfig } from '../../config/app-config';
import { beginIdempotent } from '../../common/idempotency';
import { Db } from '../../infra/database/db';
import { runWrites, type Statement } from '../../infra/database/write-batch';
import type { AgentIdentity } from '../auth/token.service';
import { eventWrite } from '../events/outbox';
import { tickChecklist } from '../kanban/comments';
import { lockHeldTask } from './holder';
import { clampProgress, leaseTerms } from './lease';
import type { AssignmentRow, TaskRow } from './task.types';

export interface ProgressInput {
  task_id: string;
  status: 'in_progress' | 'completed' | 'blocked';
  progress: number;
  message: string;
  lease_token?: string;
  request_id?: string;
}

type ProgressAnswer = { success: true; message: string; lease?: { expires_at: string; token: string }; task_status: string };

@Injectable()
export class ProgressService {
  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
  ) {}

  async report(who: AgentIdentity, input: ProgressInput): Promise<ProgressAnswer> {
    return this.db.tx(async (c) => {
      const idem = await beginIdempotent<ProgressAnswer>(c, { ...who, requestId: input.request_id, tool: 'report_task_progress' });
      if (idem.replay) return idem.response;
      const { task, assignment, agentName } = await lockHeldTask(c, who, input.task_id, input.lease_token);
      const progress = input.status === 'completed' ? 100 : clampProgress(input.progress);
      const writes: Statement[] = [
        {
          text: `INSERT INTO progress_reports (assignment_id, project_id, task_id, agent_id, status, progress, message) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          params: [assignment.id, who.projectId, task.id, who.agentId, input.status, progress, input.message],
        },
      ];
      const checklist = tickChecklist(task.checklist, progress);
      let result: ProgressAnswer;
      if (input.status === 'completed' || progress >= 100) {
        writes.push(...this.completion(c, task, assignment, checklist, agentName, input.status, input.message));
        result = { success: true, message: 'Progress updated successfully', task_status: 'done' };
      } else {
        const status = input.status === 'blocked' ? 'blocked' : 'in_progress';
        const renewal = this.renewal(assignment, progress, input.message);
        writes.push(
          renewal.write,
          { text: `UPDATE tasks SET status = $2, checklist = $3, updated_at = now() WHERE id = $1`, params: [task.id, status, JSON.stringify(checklist)] },
          eventWrite(c, {
            type: 'task.progress',
            projectId: who.projectId,
            aggregateId: task.id,
            payload: { task_id: task.id, agent_id: who.agentId, status: input.status, progress, message: input.message },
          }),
        );
        result = { success: true, message: 'Progress updated successfully', task_status: status, lease: renewal.lease };
      }
      // Every write of the report in one round trip (they touch different rows).
      await runWrites(c, [...writes, idem.finishWrite(result)]);
      return result;
    });
  }

  /** Each report moves the lease forward, longer as the work nears its end. */
  async renew(c: PoolClient, assignment: AssignmentRow, progress: number, message: string | null) {
    const r = this.renewal(assignment, progress, message);
    await c.query(r.write.text, r.write.params);
    return r.lease;
  }

  private renewal(assignment: AssignmentRow, progress: number, message: string | null) {
    const reports = assignment.report_count + 1;
    const lease = leaseTerms(this.config.lease, new Date(), reports, progress);
    const write: Statement = {
      text: `UPDATE assignments SET progress = $2, report_count = $3, last_report_at = now(), last_message = COALESCE($4, last_message),
         lease_expires_at = $5, lease_grace_ms = $6 WHERE id = $1`,
      params: [assignment.id, progress, reports, message, lease.expiresAt, lease.graceMs],
    };
    return { write, lease: { expires_at: lease.expiresAt.toISOString(), token: assignment.fencing_token } };
  }

  private completion(c: PoolClient, task: TaskRow, assignment: AssignmentRow, checklist: unknown, agentName: string, status: string, message: string): Statement[] {
    const hours = (Date.now() - assignment.assigned_at.getTime()) / 3_600_000;
    return [
      {
        text: `UPDATE assignments SET state = 'completed', progress = 100, report_count = report_count + 1, last_report_at = now(),
         ended_at = now(), end_reason = 'completed' WHERE id = $1`,
        params: [assignment.id],
      },
      {
        text: `UPDATE tasks SET status = 'done', checklist = $2, completed_at = now(), updated_at = now(),
         actual_hours = COALESCE(actual_hours, 0) + $3 WHERE id = $1`,
        params: [task.id, JSON.stringify(checklist), Math.round(hours * 1000) / 1000],
      },
      {
        text: 'UPDATE agents SET total_completed = total_completed + 1, updated_at = now() WHERE project_id = $1 AND id = $2',
        params: [task.project_id, assignment.agent_id],
      },
      eventWrite(c, {
        type: 'task.completed',
        projectId: task.project_id,
        aggregateId: task.id,
        payload: {
          task_id: task.id,
          agent_id: assignment.agent_id,
          agent_name: agentName,
          status,
          progress: 100,
          message,
          fencing_token: assignment.fencing_token,
        },
      }),
    ];
  }
}
