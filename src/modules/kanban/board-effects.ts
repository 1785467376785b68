import type { PublishedEvent } from '../events/event-bus';
import { assignmentComment, blockerComment, leaseRecoveredComment, progressComment } from './comments';
import type { TaskStatus } from '../tasks/eligibility';

/** What an event means for the board: a comment to add and the column the card belongs in. */
export interface BoardEffect {
  taskId: string;
  comment: string;
  moveTo: TaskStatus;
}

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : fallback);
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

export function boardEffect(e: PublishedEvent): BoardEffect | null {
  const p = e.payload;
  const taskId = e.aggregate_id;
  switch (e.type) {
    case 'task.assigned':
      return { taskId, comment: assignmentComment(str(p.agent_name, str(p.agent_id)), new Date(str(p.assigned_at, e.occurred_at))), moveTo: 'in_progress' };
    case 'task.progress':
      return { taskId, comment: progressComment(num(p.progress), str(p.status), str(p.message)), moveTo: p.status === 'blocked' ? 'blocked' : 'in_progress' };
    case 'task.completed':
      return { taskId, comment: progressComment(100, str(p.status, 'completed'), str(p.message)), moveTo: 'done' };
    case 'task.blocked':
      return {
        taskId,
        comment: blockerComment({
          severity: str(p.severity, 'medium'),
          agentName: str(p.agent_name, str(p.agent_id)),
          description: str(p.description),
          suggestions: Array.isArray(p.suggestions) ? p.suggestions.map((s) => String(s)) : [],
        }),
        moveTo: 'blocked',
      };
    case 'lease.recovered': {
      const info = (p.recovery_info ?? {}) as Record<string, unknown>;
      return {
        taskId,
        comment: leaseRecoveredComment(str(p.previous_agent), num(info.previous_progress), new Date(str(info.recovered_at, e.occurred_at))),
        moveTo: 'todo',
      };
    }
    case 'agent.registered':
    case 'task.created':
    case 'decision.logged':
    case 'artifact.logged':
      return null;
  }
}
