import { Injectable, Logger, OnApplicationBootstrap, OnModuleDestroy } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { Presence } from '../../infra/shared-state/presence';
import type { AgentIdentity } from '../auth/token.service';

/** Counts this replica's sockets per agent and keeps their presence entries fresh. */
@Injectable()
export class PresenceTracker implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger('PresenceTracker');
  private readonly local = new Map<string, { who: AgentIdentity; sockets: number }>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly presence: Presence,
    private readonly config: AppConfig,
  ) {}

  get connectedSockets(): number {
    let n = 0;
    for (const e of this.local.values()) n += e.sockets;
    return n;
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      const entries = [...this.local.values()].map((e) => e.who);
      this.presence.refresh(entries, this.config.replicaId).catch((err: Error) => this.logger.warn(err.message));
    }, this.config.presence.heartbeatMs);
    this.timer.unref();
  }

  onModuleDestroy(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async connected(who: AgentIdentity): Promise<void> {
    const key = `${who.projectId}\u0001${who.agentId}`;
    const e = this.local.get(key);
    if (e) e.sockets++;
    else this.local.set(key, { who, sockets: 1 });
    await this.presence.connected(who.projectId, who.agentId, this.config.replicaId);
  }

  async disconnected(who: AgentIdentity): Promise<void> {
    const key = `${who.projectId}\u0001${who.agentId}`;
    const e = this.local.get(key);
    if (!e) return;
    if (--e.sockets > 0) return;
    this.local.delete(key);
    await this.presence.disconnected(who.projectId, who.agentId, this.config.replicaId);
  }
}
