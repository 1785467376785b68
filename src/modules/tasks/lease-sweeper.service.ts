import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { Db } from '../../infra/database/db';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { recordEvent } from '../events/outbox';
import type { AssignmentRow, RecoveryInfo } from './task.types';

const BATCH = 100;

interface Recovered {
  projectId: string;
  taskId: string;
  agentId: string;
}

/**
 * Returns tasks whose lease ran out (plus grace) to the pool, with notes for the next holder.
 * Every replica sweeps; SKIP LOCKED keeps them from treading on each other, so no leader is needed.
 */
@Injectable()
export class LeaseSweeper implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('LeaseSweeper');
  private timer?: NodeJS.Timeout;
  private running?: Promise<unknown>;
  private stopped = false;

  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  onApplicationBootstrap(): void {
    this.metrics.setSource('pm_agent_leases_active', async () => (await this.counts()).active);
    this.metrics.setSource('pm_agent_leases_overdue', async () => (await this.counts()).overdue);
    this.schedule();
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.sweepAll()
        .catch((err: Error) => this.logger.warn(`lease sweep failed: ${err.message}`))
        .finally(() => this.schedule());
    }, this.config.lease.sweepIntervalMs);
    this.timer.unref();
  }

  /** Sweeps until no expired lease is left. Returns how many tasks were recovered. */
  async sweepAll(): Promise<number> {
    let total = 0;
    for (;;) {
      const batch = await this.sweepOnce();
      total += batch.length;
      this.metrics.leasesRecovered.inc(batch.length);
      if (batch.length < BATCH || this.stopped) return total;
    }
  }

  private async counts(): Promise<{ active: number; overdue: number }> {
    const r = await this.db.query<{ active: number; overdue: number }>(
      `SELECT count(*)::int AS active,
              count(*) FILTER (WHERE lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0) < now())::int AS overdue
       FROM assignments WHERE state = 'active'`,
    );
    return r.rows[0];
  }

  private async sweepOnce(): Promise<Recovered[]> {
    return this.db.tx(async (c) => {
      const expired = await c.query<AssignmentRow>(
        `SELECT * FROM assignments WHERE state = 'active'
           AND lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0) < now()
         ORDER BY lease_expires_at LIMIT ${BATCH} FOR UPDATE SKIP LOCKED`,
      );
      const out: Recovered[] = [];
      for (const a of expired.rows) {
        const now = new Date();
        const recovery: RecoveryInfo = {
          previous_agent: a.agent_id,
          previous_progress: a.progress,
          time_spent_minutes: Math.round((now.getTime() - a.assigned_at.getTime()) / 600) / 100,
          reason: 'lease_expired',
          last_message: a.last_message,
          recovered_at: now.toISOString(),
        };
        await c.query(`UPDATE assignments SET state = 'expired', ended_at = now(), end_reason = 'lease_expired' WHERE id = $1`, [a.id]);
        await c.query(
          `UPDATE tasks SET status = 'todo', assigned_to = NULL, recovery_info = $2, updated_at = now()
           WHERE id = $1 AND status IN ('in_progress', 'blocked')`,
          [a.task_id, JSON.stringify(recovery)],
        );
        await recordEvent(c, {
          type: 'lease.recovered',
          projectId: a.project_id,
          aggregateId: a.task_id,
          payload: { task_id: a.task_id, previous_agent: a.agent_id, fencing_token: a.fencing_token, recovery_info: recovery },
        });
        out.push({ projectId: a.project_id, taskId: a.task_id, agentId: a.agent_id });
      }
      if (out.length > 0) this.logger.log(`recovered ${out.length} task(s) whose lease expired`);
      return out;
    });
  }
}
