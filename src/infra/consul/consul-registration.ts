import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import Consul from 'consul';
import { networkInterfaces } from 'node:os';
import { AppConfig } from '../../config/app-config';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The address other services reach this pod at: config, else the first non-internal IPv4. */
function podAddress(configured?: string): string {
  if (configured) return configured;
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

/**
 * Registers this replica with the local Consul agent (one instance per pod, with an HTTP check on
 * the readiness route of the management port) and deregisters it at shutdown. Registration is
 * retried in the background while Consul is unreachable; start-up never waits for it.
 */
@Injectable()
export class ConsulRegistration implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Consul');
  private readonly client?: Consul;
  private stopped = false;
  registered = false;
  readonly serviceId: string;

  constructor(private readonly config: AppConfig) {
    this.serviceId = `${config.consul?.serviceName ?? 'pm-agent'}-${config.replicaId}`;
    const c = config.consul;
    if (!c) return;
    const url = new URL(c.addr.includes('://') ? c.addr : `http://${c.addr}`);
    this.client = new Consul({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 8500)),
      secure: url.protocol === 'https:',
      defaults: c.token ? { token: c.token } : undefined,
    });
  }

  onApplicationBootstrap(): void {
    if (this.client) void this.registerWithRetry();
  }

  registrationBody(port: number) {
    const c = this.config.consul!;
    const address = podAddress(c.address);
    const checkPort = this.config.managementPort || port;
    return {
      id: this.serviceId,
      name: c.serviceName,
      address,
      port,
      tags: c.tags,
      meta: { replica: this.config.replicaId, ...c.meta },
      check: {
        name: 'pm-agent readiness',
        http: `http://${address}:${checkPort}/health/ready`,
        interval: c.checkInterval,
        timeout: c.checkTimeout,
        deregistercriticalserviceafter: c.deregisterAfter,
      },
    };
  }

  private async registerWithRetry(): Promise<void> {
    const body = this.registrationBody(this.config.port);
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        await this.client!.agent.service.register(body);
        this.registered = true;
        this.logger.log(`registered ${this.serviceId}`);
        return;
      } catch (err) {
        const wait = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
        this.logger.warn(`registration failed (${(err as Error).message}); retrying in ${wait} ms`);
        await sleep(wait);
      }
    }
  }

  /** Called first thing in a drain, so discovery stops sending agents here. */
  async deregister(): Promise<void> {
    this.stopped = true;
    if (!this.client || !this.registered) return;
    try {
      await this.client.agent.service.deregister(this.serviceId);
      this.registered = false;
      this.logger.log(`deregistered ${this.serviceId}`);
    } catch (err) {
      // The check's DeregisterCriticalServiceAfter removes us anyway.
      this.logger.warn(`deregistration failed: ${(err as Error).message}`);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.deregister();
  }
}
