import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import Consul from 'consul';
import { once } from 'node:events';
import type { Server } from 'node:http';
import { networkInterfaces } from 'node:os';
import { AppConfig } from '../../config/app-config';
import { ManagementServer } from '../health/management-server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const REQUEST_TIMEOUT_MS = 5000;

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
  /** The registration request in flight, awaited by deregister() so a late success is undone. */
  private attempt?: Promise<void>;
  registered = false;
  readonly serviceId: string;

  constructor(
    private readonly config: AppConfig,
    private readonly management: ManagementServer,
    private readonly adapterHost: HttpAdapterHost,
  ) {
    this.serviceId = `${config.consul?.serviceName ?? 'pm-agent'}-${config.replicaId}`;
    const c = config.consul;
    if (!c) return;
    const url = new URL(c.addr.includes('://') ? c.addr : `http://${c.addr}`);
    // Per-call options; `timeout` (not in the client's typings) keeps a stuck agent from stalling
    // registration, or a drain, forever: the call fails and is retried.
    const defaults: { token?: string; timeout: number } = { timeout: REQUEST_TIMEOUT_MS, ...(c.token ? { token: c.token } : {}) };
    this.client = new Consul({
      host: url.hostname,
      port: Number(url.port || (url.protocol === 'https:' ? 443 : 8500)),
      secure: url.protocol === 'https:',
      defaults,
    });
  }

  onApplicationBootstrap(): void {
    if (this.client) void this.registerWithRetry();
  }

  registrationBody(port: number, checkPort = this.management.port ?? port) {
    const c = this.config.consul!;
    const address = podAddress(c.address);
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

  /** The ports actually bound (PORT or MANAGEMENT_PORT may be 0): known once the app listens. */
  private async boundPort(): Promise<number> {
    const server = this.adapterHost.httpAdapter?.getHttpServer() as Server | undefined;
    if (!server) return this.config.port;
    if (!server.listening) await once(server, 'listening');
    const addr = server.address();
    return typeof addr === 'object' && addr ? addr.port : this.config.port;
  }

  private async registerWithRetry(): Promise<void> {
    const body = this.registrationBody(await this.boundPort());
    for (let attempt = 1; !this.stopped; attempt++) {
      try {
        this.attempt = this.client!.agent.service.register(body).then(() => {
          this.registered = true;
        });
        await this.attempt;
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
    await this.attempt?.catch(() => undefined);
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
