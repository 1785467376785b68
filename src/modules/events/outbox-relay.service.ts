import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { Db } from '../../infra/database/db';
import { EventBus, type PublishedEvent } from './event-bus';
import type { EventType } from './event-types';

// Namespace of the relay's advisory locks (the second key is the partition).
const RELAY_LOCK = 0x0e7b0;

interface OutboxRow {
  id: string;
  project_id: string;
  aggregate_id: string;
  event_type: EventType;
  payload: Record<string, unknown>;
  created_at: Date;
}

/**
 * Publishes committed outbox rows. Every replica relays; rows are split into 16 partitions by
 * aggregate, and a transaction-scoped advisory lock gives each partition to one relay at a time,
 * so events of one task leave in order while partitions go out in parallel. Rows are marked sent
 * only after the broker confirmed them: a crash in between republishes (consumers dedupe).
 */
@Injectable()
export class OutboxRelay implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('OutboxRelay');
  private timer?: NodeJS.Timeout;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;
  private nudged = false;
  private lastCleanup = 0;
  published = 0;

  constructor(
    private readonly db: Db,
    private readonly bus: EventBus,
    private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // Off (OUTBOX_RELAY_ENABLED=false): rows stay unsent until another replica's relay takes them.
    if (!this.config.outbox.relayEnabled) return;
    this.db.onOutboxCommit(() => this.nudge());
    this.schedule(0);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** Asks for a relay pass soon (after a local commit), instead of waiting for the next tick. */
  nudge(): void {
    if (this.nudged || this.stopped) return;
    this.nudged = true;
    // Coalesce bursts of commits into one pass.
    this.schedule(5);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.nudged = false;
      this.running = this.running
        .then(() => this.relayAll())
        .then(
          (n) => this.schedule(n > 0 ? 0 : this.config.outbox.relayIntervalMs),
          (err: Error) => {
            this.logger.warn(`relay pass failed: ${err.message}`);
            this.schedule(this.config.outbox.relayIntervalMs * 4);
          },
        );
    }, delayMs);
    this.timer.unref();
  }

  /** One pass over the partitions that have unsent rows. Returns how many rows went out. */
  async relayAll(): Promise<number> {
    const parts = await this.db.query<{ partition: number }>('SELECT DISTINCT partition FROM outbox WHERE published_at IS NULL');
    const total = parts.rows.length > 0 && !this.stopped ? await this.relayPartitions(shuffle(parts.rows.map((r) => r.partition))) : 0;
    await this.cleanup();
    return total;
  }

  /**
   * Publishes the oldest unsent rows of those of these partitions no other relay holds right now,
   * in one transaction: the partition locks and the rows in one statement, the sent mark in another.
   */
  private async relayPartitions(partitions: number[]): Promise<number> {
    return this.db.tx(async (c) => {
      const rows = await c.query<OutboxRow>(
        `WITH mine AS MATERIALIZED (SELECT p FROM unnest($1::int[]) AS p WHERE pg_try_advisory_xact_lock($2::int, p))
         SELECT id, project_id, aggregate_id, event_type, payload, created_at FROM outbox
          WHERE published_at IS NULL AND partition IN (SELECT p FROM mine) ORDER BY id LIMIT $3 FOR UPDATE SKIP LOCKED`,
        [partitions, RELAY_LOCK, this.config.outbox.batchSize],
      );
      if (rows.rows.length === 0) return 0; // every one of them is being relayed by another replica
      await this.bus.publish(rows.rows.map(toEvent));
      await c.query('UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])', [rows.rows.map((r) => r.id)]);
      this.published += rows.rows.length;
      return rows.rows.length;
    }, 1);
  }

  private async cleanup(): Promise<void> {
    const hours = this.config.outbox.retentionHours;
    if (Date.now() - this.lastCleanup < 60_000) return;
    this.lastCleanup = Date.now();
    await this.db.query(`DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)`, [hours * 3600]);
    await this.db.query(`DELETE FROM processed_events WHERE processed_at < now() - make_interval(secs => $1)`, [Math.max(hours, 24) * 3600]);
  }

  /** Unsent rows and the age of the oldest (outbox lag). */
  async lag(): Promise<{ pending: number; oldestMs: number }> {
    const r = await this.db.query<{ n: number; oldest: Date | null }>(
      'SELECT count(*)::int AS n, min(created_at) AS oldest FROM outbox WHERE published_at IS NULL',
    );
    const row = r.rows[0];
    return { pending: row.n, oldestMs: row.oldest ? Date.now() - row.oldest.getTime() : 0 };
  }
}

function toEvent(r: OutboxRow): PublishedEvent {
  return {
    id: String(r.id),
    type: r.event_type,
    project_id: r.project_id,
    aggregate_id: r.aggregate_id,
    payload: r.payload,
    occurred_at: r.created_at.toISOString(),
  };
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}
