import { noteOutboxWrite, type Queryable } from '../../infra/database/db';
import type { Statement } from '../../infra/database/write-batch';
import type { DomainEvent } from './event-types';

/** Writes an event row; call it inside the transaction whose change it announces. */
export async function recordEvent(q: Queryable, event: DomainEvent): Promise<void> {
  const w = eventWrite(q, event);
  await q.query(w.text, w.params);
}

/**
 * The event row's insert, to run with the transaction's other writes (runWrites). The transaction
 * is marked as writing the outbox, so its commit wakes the relay.
 */
export function eventWrite(q: Queryable, event: DomainEvent): Statement {
  noteOutboxWrite(q);
  return {
    text: 'INSERT INTO outbox (project_id, aggregate_id, event_type, payload) VALUES ($1, $2, $3, $4)',
    params: [event.projectId, event.aggregateId, event.type, JSON.stringify(event.payload)],
  };
}
