import type { Queryable } from '../../infra/database/db';
import { AppError, TaskErrorCode } from '../../common/errors';
import type { AgentIdentity } from '../auth/token.service';
import { lockActiveAssignment, lockTask } from './task.queries';
import type { AssignmentRow, TaskRow } from './task.types';

/**
 * Locks a task and the caller's live assignment of it. A caller who no longer holds it (its lease
 * was recovered, or it never held it) or who sends an old lease token is refused: it must not
 * overwrite the new holder's work.
 */
export async function lockHeldTask(
  q: Queryable,
  who: AgentIdentity,
  taskId: string,
  leaseToken?: string,
): Promise<{ task: TaskRow; assignment: AssignmentRow }> {
  const task = await lockTask(q, who.projectId, taskId);
  if (!task) throw new AppError(TaskErrorCode.TASK_NOT_FOUND, `Task ${taskId} not found`);
  const assignment = await lockActiveAssignment(q, taskId);
  if (!assignment || assignment.agent_id !== who.agentId) {
    throw stale(`Task ${taskId} is no longer assigned to ${who.agentId}`);
  }
  if (leaseToken !== undefined && leaseToken !== assignment.fencing_token) {
    throw stale(`Lease token ${leaseToken} is stale for task ${taskId}`);
  }
  return { task, assignment };
}

function stale(message: string): AppError {
  return new AppError(TaskErrorCode.STALE_COMPLETION, message, { status: 'stale_completion' });
}
