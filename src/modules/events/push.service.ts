import { Injectable, Logger } from '@nestjs/common';
import type { Namespace } from 'socket.io';

/** Server pushes to agents. */
export interface PushEvents {
  tasks_available: { project_id: string; eligible_tasks: number; at: string };
  task_revoked: { task_id: string; reason: string; at: string };
  server_draining: { reconnect_after_ms: number };
  blocker_analysis: { task_id: string; blocker_id: string; analysis: unknown; source: 'llm' | 'fallback'; at: string };
}

export const agentRoom = (projectId: string, agentId: string) => `agent:${projectId}:${agentId}`;
export const projectRoom = (projectId: string) => `project:${projectId}`;

/**
 * Sends pushes to agents by room, so the socket adapter delivers them whichever replica holds the
 * socket. The gateway attaches its namespace at start.
 */
@Injectable()
export class PushService {
  private readonly logger = new Logger('Push');
  private ns?: Namespace;

  attach(ns: Namespace): void {
    this.ns = ns;
  }

  toAgents<E extends keyof PushEvents>(projectId: string, agentIds: readonly string[], event: E, payload: PushEvents[E]): void {
    if (!this.ns || agentIds.length === 0) return;
    this.ns.to(agentIds.map((a) => agentRoom(projectId, a))).emit(event, payload);
  }

  toAll<E extends keyof PushEvents>(event: E, payload: PushEvents[E]): void {
    if (!this.ns) {
      this.logger.debug(`no namespace attached; ${event} not sent`);
      return;
    }
    this.ns.local.emit(event, payload);
  }
}
