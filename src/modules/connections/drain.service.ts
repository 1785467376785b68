import { Injectable, Logger } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { ConsulRegistration } from '../../infra/consul/consul-registration';
import { PushService } from '../events/push.service';
import { Lifecycle } from '../health/lifecycle';
import { AgentsGateway } from './agents.gateway';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Graceful drain on SIGTERM: readiness goes 503 and new sockets are refused, agents are told
 * `server_draining`, calls in flight finish, then sockets close. Leases are left alone so agents
 * carry on from another replica.
 */
@Injectable()
export class DrainService {
  private readonly logger = new Logger('Drain');

  constructor(
    private readonly lifecycle: Lifecycle,
    private readonly push: PushService,
    private readonly gateway: AgentsGateway,
    private readonly config: AppConfig,
    private readonly consul: ConsulRegistration,
  ) {}

  async drain(deadline: number): Promise<{ sockets: number; waitedForCallsMs: number }> {
    this.lifecycle.draining = true;
    await this.consul.deregister();
    const sockets = this.gateway.namespace?.sockets.size ?? 0;
    this.logger.log(`draining: ${sockets} socket(s), ${this.gateway.inFlight} call(s) in flight`);
    this.push.toAll('server_draining', { reconnect_after_ms: 0 });
    await sleep(Math.min(this.config.shutdown.drainNoticeMs, Math.max(0, deadline - Date.now())));
    const t0 = Date.now();
    while (this.gateway.inFlight > 0 && Date.now() < deadline) await sleep(20);
    this.gateway.namespace?.local.disconnectSockets(true);
    return { sockets, waitedForCallsMs: Date.now() - t0 };
  }
}
