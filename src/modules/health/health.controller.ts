import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { Db } from '../../infra/database/db';
import { Lifecycle } from './lifecycle';

@Controller('health')
export class HealthController {
  constructor(
    private readonly db: Db,
    private readonly lifecycle: Lifecycle,
  ) {}

  /** The process answers: nothing else is checked, so a slow database never restarts pods. */
  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  /** Ready to serve agents: not draining, and the database answers. */
  @Get('ready')
  async ready(@Res() res: Response) {
    if (this.lifecycle.draining) {
      res.status(503).json({ status: 'shutting_down' });
      return;
    }
    try {
      await this.db.ping();
      res.status(200).json({ status: 'ok', checks: { database: 'up' } });
    } catch {
      res.status(503).json({ status: 'unavailable', checks: { database: 'down' } });
    }
  }
}
