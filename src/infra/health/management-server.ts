import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { createServer, type Server } from 'node:http';
import { AppConfig } from '../../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { HealthChecks } from './health-checks';

/**
 * The internal port (MANAGEMENT_PORT): /health/live, /health/ready and /metrics, kept off the
 * public port so the Ingress never exposes metrics and probes still answer under agent load.
 */
@Injectable()
export class ManagementServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Management');
  private server?: Server;
  port?: number;

  constructor(
    private readonly config: AppConfig,
    private readonly health: HealthChecks,
    private readonly metrics: MetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    if (this.config.managementPort === null) return;
    this.server = createServer((req, res) => {
      const send = (status: number, body: string, type = 'application/json') => {
        res.writeHead(status, { 'content-type': type });
        res.end(body);
      };
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') return send(405, JSON.stringify({ error: 'Method not allowed', code: 'VALIDATION_FAILED' }));
      if (path === '/health/live') return send(200, JSON.stringify({ status: 'ok' }));
      if (path === '/health/ready') {
        void this.health.readiness().then((r) => send(r.ok ? 200 : 503, JSON.stringify(r.body)));
        return;
      }
      if (path === '/metrics') {
        void this.metrics.render().then(
          (m) => send(200, m.body, m.contentType),
          () => send(500, 'metrics unavailable', 'text/plain'),
        );
        return;
      }
      send(404, JSON.stringify({ error: 'Not found', code: 'NOT_FOUND' }));
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.config.managementPort ?? 0, this.config.host, () => resolve());
    });
    const addr = this.server.address();
    this.port = typeof addr === 'object' && addr ? addr.port : undefined;
    this.logger.log(`health and metrics on ${this.config.host}:${this.port}`);
  }

  async onApplicationShutdown(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
