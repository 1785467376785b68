import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import type { Response } from 'express';
import { HealthChecks } from '../../infra/health/health-checks';

@Controller('health')
export class HealthController {
  constructor(private readonly health: HealthChecks) {}

  /** The process answers: nothing else is checked, so a slow database never restarts pods. */
  @Get('live')
  @HttpCode(200)
  live() {
    return { status: 'ok' };
  }

  @Get('ready')
  async ready(@Res() res: Response) {
    const r = await this.health.readiness();
    res.status(r.ok ? 200 : 503).json(r.body);
  }
}
