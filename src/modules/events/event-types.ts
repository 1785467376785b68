// Domain events. Each is written to the outbox in the transaction that made it true.

export const EVENT_TYPES = [
  'agent.registered',
  'task.created',
  'task.assigned',
  'task.progress',
  'task.completed',
  'task.blocked',
  'lease.recovered',
  'decision.logged',
  'artifact.logged',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface DomainEvent {
  type: EventType;
  projectId: string;
  /** Events of one aggregate (a task, or an agent) are kept in order. */
  aggregateId: string;
  payload: Record<string, unknown>;
}
