import type { MigrationInterface, QueryRunner } from 'typeorm';

// Outbox partitions (by aggregate) let every replica relay in parallel while events of one task
// stay in order; processed_events makes consumers act once per event.
export class Events1764500000000 implements MigrationInterface {
  name = 'Events1764500000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE outbox ADD COLUMN partition int NOT NULL GENERATED ALWAYS AS (abs(hashtext(aggregate_id) % 16)) STORED;
      DROP INDEX outbox_unpublished;
      CREATE INDEX outbox_unpublished ON outbox (partition, id) WHERE published_at IS NULL;
      CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

      CREATE TABLE processed_events (
        consumer text NOT NULL,
        event_id bigint NOT NULL,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
      );

      ALTER TABLE tasks ADD COLUMN prepared_instructions text;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE tasks DROP COLUMN prepared_instructions;
      DROP TABLE processed_events;
      DROP INDEX outbox_published_at;
      DROP INDEX outbox_unpublished;
      ALTER TABLE outbox DROP COLUMN partition;
      CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;
    `);
  }
}
