export { PmAgentClient } from './client';
export type { AgentProfile, BackoffOptions, CallOptions, PmAgentClientOptions } from './options';
export { PmAgentError, type ClientErrorCode, type PmAgentErrorCode, type ServerErrorCode } from './errors';
export { PUSH_EVENTS, type ClientEventName, type ClientEvents, type LifecycleEvents, type PushEventName, type PushEvents } from './events';
export { KeepAlive, type KeepAliveOptions } from './keep-alive';
export * from './types';
