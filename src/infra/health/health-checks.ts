import { Injectable } from '@nestjs/common';
import { withTimeout } from '../../common/timeout';
import { Db } from '../database/db';
import { SharedState } from '../shared-state/shared-state';
import { EventBus } from '../../modules/events/event-bus';
import { Lifecycle } from '../../modules/health/lifecycle';

export interface Readiness {
  ok: boolean;
  body: { status: 'ok' | 'unavailable' | 'shutting_down'; checks?: Record<string, 'up' | 'down'> };
}

/** Readiness: not draining, and Postgres, Redis (when configured) and the event bus answer. */
@Injectable()
export class HealthChecks {
  constructor(
    private readonly db: Db,
    private readonly lifecycle: Lifecycle,
    private readonly shared: SharedState,
    private readonly bus: EventBus,
  ) {}

  async readiness(): Promise<Readiness> {
    if (this.lifecycle.draining) return { ok: false, body: { status: 'shutting_down' } };
    const checks: Record<string, 'up' | 'down'> = {};
    const probe = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000);
        checks[name] = 'up';
      } catch {
        checks[name] = 'down';
      }
    };
    const redis = this.shared.redis;
    await Promise.all([
      probe('database', () => this.db.ping()),
      ...(redis ? [probe('redis', () => redis.ping())] : []),
      probe('events', async () => {
        if (!this.bus.ready()) throw new Error('not connected');
      }),
    ]);
    const ok = Object.values(checks).every((v) => v === 'up');
    return { ok, body: { status: ok ? 'ok' : 'unavailable', checks } };
  }
}
