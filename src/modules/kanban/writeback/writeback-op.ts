import type { PublishedEvent } from '../../events/event-bus';
import { blockedLabel } from '../board-mapping';
import type { ExternalBoardSettings } from '../board-config';
import { boardEffect } from '../board-effects';
import type { BoardStatus } from '../provider';

/** What one event asks of an external board, stored in board_writebacks.op. */
export type WritebackOp =
  | { kind: 'create' }
  | {
      kind: 'effect';
      comment: string;
      moveTo: BoardStatus;
      /** Send the task's checklist as it is when the write-back runs (progress ticks items). */
      checklist: boolean;
      /** A blocker label (GitHub `blocked/<severity>`, Linear `blocked-<severity>`). */
      label?: string;
      /** Board user to assign (null: unassign); absent: leave the assignee alone. */
      assignee?: string | null;
    };

const str = (v: unknown): string => (typeof v === 'string' ? v : '');

export function writebackOp(event: PublishedEvent, settings: ExternalBoardSettings): WritebackOp | null {
  if (event.type === 'task.created') return { kind: 'create' };
  const effect = boardEffect(event);
  if (!effect) return null;
  const p = event.payload;
  const op: WritebackOp = { kind: 'effect', comment: effect.comment, moveTo: effect.moveTo, checklist: event.type === 'task.progress' || event.type === 'task.completed' };
  const mapped = (agentId: string): string | undefined => settings.assignees?.[agentId];
  switch (event.type) {
    case 'task.assigned': {
      const user = mapped(str(p.agent_id));
      if (user !== undefined) op.assignee = user;
      break;
    }
    case 'lease.recovered':
      if (mapped(str(p.previous_agent)) !== undefined) op.assignee = null;
      break;
    case 'task.blocked':
      if (settings.provider === 'github' || settings.provider === 'linear') op.label = blockedLabel(settings.provider, str(p.severity) || 'medium');
      break;
    case 'task.progress':
    case 'task.completed':
    case 'agent.registered':
    case 'decision.logged':
    case 'artifact.logged':
      break;
  }
  return op;
}
