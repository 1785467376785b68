/** Pushes the server sends to agents (see the server's PushService). */
export interface PushEvents {
  tasks_available: { project_id: string; eligible_tasks: number; at: string };
  task_revoked: { task_id: string; reason: string; at: string };
  server_draining: { reconnect_after_ms: number };
  blocker_analysis: { task_id: string; blocker_id: string; analysis: unknown; source: 'llm' | 'fallback'; at: string };
  token_revoked: { reason: string; at: string };
}

export type PushEventName = keyof PushEvents;

export const PUSH_EVENTS: readonly PushEventName[] = ['tasks_available', 'task_revoked', 'server_draining', 'blocker_analysis', 'token_revoked'];

/** Events of the client's own connection life. */
export interface LifecycleEvents {
  /** A socket is open and the agent is registered on it (also after every reconnect). */
  connected: { url: string; reconnect: boolean };
  disconnected: { url: string; reason: string };
  /** A keepAlive could not renew its lease; it has stopped when `stopped` is true. */
  keepalive_error: { task_id: string; error: Error; stopped: boolean };
}

export type ClientEvents = PushEvents & LifecycleEvents;
export type ClientEventName = keyof ClientEvents;
