import { Injectable, Logger } from '@nestjs/common';
import type { Namespace } from 'socket.io';

/** Server pushes to agents. */
export interface PushEvents {
  tasks_available: { project_id: string; eligible_tasks: number; at: string };
  task_revoked: { task_id: string; reason: string; at: string };
  server_draining: { reconnect_after_ms: number };
  blocker_analysis: { task_id: string; blocker_id: string; analysis: unknown; source: 'llm' | 'fallback'; at: string };
  /** Sent by KeyRevocations to the sockets of a revoked API key, just before they are closed. */
  token_revoked: { reason: string; at: string };
}

/**
 * Every push with one line per payload field, for the generated protocol catalogue
 * (`docs/protocol.md`). The mapped type makes a new push or payload field a compile error here.
 */
export const PUSH_EVENT_DOCS: {
  [E in keyof PushEvents]: { description: string; fields: { [K in keyof PushEvents[E]]-?: { type: string; description: string } } };
} = {
  tasks_available: {
    description: 'Tasks became eligible in the project; agents should call request_next_task.',
    fields: {
      project_id: { type: 'string (uuid)', description: 'project with eligible tasks' },
      eligible_tasks: { type: 'integer', description: 'how many tasks are eligible now' },
      at: { type: 'string (ISO 8601 date-time)', description: 'when the server sent it' },
    },
  },
  task_revoked: {
    description: 'The agent no longer holds the task: its lease was recovered.',
    fields: {
      task_id: { type: 'string (uuid)', description: 'the revoked task' },
      reason: { type: 'string', description: 'why the task was taken back' },
      at: { type: 'string (ISO 8601 date-time)', description: 'when the server sent it' },
    },
  },
  server_draining: {
    description: 'This replica is shutting down; reconnect (to another replica) after the delay.',
    fields: {
      reconnect_after_ms: { type: 'integer', description: 'milliseconds to wait before reconnecting' },
    },
  },
  blocker_analysis: {
    description: 'Analysis of a reported blocker, from the LLM or the built-in fallback.',
    fields: {
      task_id: { type: 'string (uuid)', description: 'the blocked task' },
      blocker_id: { type: 'string', description: 'id of the blocker report' },
      analysis: { type: 'object', description: 'the analysis (suggestions, next steps)' },
      source: { type: "'llm' | 'fallback'", description: 'who produced the analysis' },
      at: { type: 'string (ISO 8601 date-time)', description: 'when the server sent it' },
    },
  },
  token_revoked: {
    description: "The API key this socket's token was issued from was revoked; the server closes the socket next.",
    fields: {
      reason: { type: "'api_key_revoked'", description: 'why the token ended' },
      at: { type: 'string (ISO 8601 date-time)', description: 'when the server sent it' },
    },
  },
};

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
