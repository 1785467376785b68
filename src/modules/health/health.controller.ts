import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Db } from '../../infra/database/db';
import { SharedState } from '../../infra/shared-state/shared-state';
import { EventBus } from '../events/event-bus';
import { Lifecycle } from './lifecycle';

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e instanceof Error ? e : new Error(String(e)))),
    );
  });
}

@Controller('health')
export class HealthController {
  constructor(
    private readonly db: Db,
    private readonly lifecycle: Lifecycle,
    private readonly shared: SharedState,
    private readonly bus: EventBus,
  ) {}

  /** The process answers: nothing else is checked, so a slow database never restarts pods. */
  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  /** Ready to serve agents: not draining; database, Redis and the event bus answer. */
  @Get('ready')
  async ready(@Res() res: Response) {
    if (this.lifecycle.draining) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    const checks: Record<string, 'up' | 'down'> = {};
    const probe = async (name: string, fn: () => Promise<unknown>) => {
      try {
        await withTimeout(fn(), 2000);
        checks[name] = 'up';
      } catch {
        checks[name] = 'down';
      }
    };
    await Promise.all([
      probe('database', () => this.db.ping()),
      ...(this.shared.redis ? [probe('redis', () => this.shared.redis!.ping())] : []),
      probe('events', async () => {
        if (!this.bus.ready()) throw new Error('not connected');
      }),
    ]);
    const ok = Object.values(checks).every((v) => v === 'up');
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'unavailable', checks });
  }
}
