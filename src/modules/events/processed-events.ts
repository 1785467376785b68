import type { PoolClient } from 'pg';
import type { Db } from '../../infra/database/db';
import type { PublishedEvent } from './event-bus';

/**
 * Runs a consumer's work once per event: the processed-events row and the work's own writes
 * commit together, so a redelivery finds the row and does nothing. Returns false for a duplicate.
 */
export async function processOnce(db: Db, consumer: string, event: PublishedEvent, work: (c: PoolClient) => Promise<void>): Promise<boolean> {
  return db.tx(async (c) => {
    const claimed = await c.query('INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING event_id', [
      consumer,
      event.id,
    ]);
    if (claimed.rows.length === 0) return false;
    await work(c);
    return true;
  }, 1);
}
