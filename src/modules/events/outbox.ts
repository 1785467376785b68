import { noteOutboxWrite, type Queryable } from '../../infra/database/db';
import type { DomainEvent } from './event-types';

/** Writes an event row; call it inside the transaction whose change it announces. */
export async function recordEvent(q: Queryable, event: DomainEvent): Promise<void> {
  await q.query('INSERT INTO outbox (project_id, aggregate_id, event_type, payload) VALUES ($1, $2, $3, $4)', [
    event.projectId,
    event.aggregateId,
    event.type,
    JSON.stringify(event.payload),
  ]);
  noteOutboxWrite(q);
}
