import type { Queryable } from '../../infra/database/db';
import { AppError, TaskErrorCode } from '../../common/errors';
import { agentNotRegistered, requireAgent } from '../agents/agent.queries';
import type { AgentIdentity } from '../auth/token.service';
import { lockActiveAssignment, lockTask } from './task.queries';
import type { AssignmentRow, TaskRow } from './task.types';

/**
 * Locks a task and the caller's live assignment of it, with the caller's agent name. A caller
 * that is not registered, no longer holds the task (its lease was recovered, or it never held it)
 * or sends an old lease token is refused: it must not overwrite the new holder's work.
 *
 * The common case (the caller holds the task) is one statement; a refusal looks again, statement
 * by statement, to say precisely why.
 */
export async function lockHeldTask(
  q: Queryable,
  who: AgentIdentity,
  taskId: string,
  leaseToken?: string,
): Promise<{ task: TaskRow; assignment: AssignmentRow; agentName: string }> {
  const r = await q.query<TaskRow & { held_by: HeldJson; holder_name: string | null }>(
    `SELECT t.*, (SELECT g.name FROM agents g WHERE g.project_id = $2 AND g.id = $3) AS holder_name,
            jsonb_build_object('id', a.id, 'project_id', a.project_id, 'task_id', a.task_id, 'agent_id', a.agent_id, 'slot', a.slot,
              'fencing_token', a.fencing_token::text, 'state', a.state, 'instructions', a.instructions, 'assigned_at', a.assigned_at,
              'lease_expires_at', a.lease_expires_at, 'lease_grace_ms', a.lease_grace_ms, 'progress', a.progress,
              'report_count', a.report_count, 'last_report_at', a.last_report_at, 'last_message', a.last_message) AS held_by
       FROM tasks t JOIN assignments a ON a.task_id = t.id AND a.state = 'active' AND a.agent_id = $3
      WHERE t.id = $1 AND t.project_id = $2
        FOR UPDATE OF t, a`,
    [taskId, who.projectId, who.agentId],
  );
  const row = r.rows[0];
  if (!row) return refuse(q, who, taskId);
  const { held_by: held, holder_name: agentName, ...task } = row;
  if (agentName === null) throw agentNotRegistered(who.agentId);
  const assignment: AssignmentRow = {
    ...held,
    assigned_at: new Date(held.assigned_at),
    lease_expires_at: new Date(held.lease_expires_at),
    last_report_at: held.last_report_at === null ? null : new Date(held.last_report_at),
  };
  if (leaseToken !== undefined && leaseToken !== assignment.fencing_token) {
    throw stale(`Lease token ${leaseToken} is stale for task ${taskId}`);
  }
  return { task, assignment, agentName };
}

type HeldJson = Omit<AssignmentRow, 'assigned_at' | 'lease_expires_at' | 'last_report_at'> & {
  assigned_at: string;
  lease_expires_at: string;
  last_report_at: string | null;
};

/** Why the caller does not hold the task: not registered, no such task (here), or not (any more) its holder. */
async function refuse(q: Queryable, who: AgentIdentity, taskId: string): Promise<never> {
  await requireAgent(q, who.projectId, who.agentId);
  const task = await lockTask(q, who.projectId, taskId);
  if (!task) throw new AppError(TaskErrorCode.TASK_NOT_FOUND, `Task ${taskId} not found`);
  await lockActiveAssignment(q, taskId);
  throw stale(`Task ${taskId} is no longer assigned to ${who.agentId}`);
}

function stale(message: string): AppError {
  return new AppError(TaskErrorCode.STALE_COMPLETION, message, { status: 'stale_completion' });
}
