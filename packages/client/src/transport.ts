import type { Socket } from 'socket.io-client';
import { PmAgentError } from './errors';
import type { BackoffOptions } from './options';

// What PmAgentClient needs around its socket: the token request, backoff, acks and errors.

/** Error codes that no retry or reconnect can fix. */
const FATAL_CODES = new Set(['VALIDATION_FAILED', 'FORBIDDEN', 'INVALID_API_KEY', 'INVALID_TOKEN', 'UNKNOWN_TOOL', 'PAYLOAD_TOO_LARGE', 'CLIENT_CLOSED']);

/** Exchanges the project API key for an agent token (POST /api/v1/agents/auth). */
export async function fetchAgentToken(url: string, apiKey: string | undefined, agentId: string, timeoutMs: number): Promise<string> {
  if (!apiKey) throw new PmAgentError('INVALID_TOKEN', 'the token was refused and no API key was given to get another');
  const res = await fetch(`${url}/api/v1/agents/auth`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ api_key: apiKey, agent_id: agentId }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null; // a proxy's HTML error page, say: the status says enough
  }
  const b = (body ?? {}) as { access_token?: unknown; code?: unknown; error?: unknown };
  if (!res.ok) {
    const code = typeof b.code === 'string' ? b.code : 'CLIENT_AUTH_FAILED';
    throw new PmAgentError(code, `token request failed: HTTP ${res.status} ${typeof b.error === 'string' ? b.error : ''}`.trim());
  }
  if (typeof b.access_token !== 'string') throw new PmAgentError('CLIENT_AUTH_FAILED', 'token answer without access_token');
  return b.access_token;
}

/** Exponential backoff with jitter (50–100 % of the step) so agents do not reconnect in step. */
export function backoffDelayMs(step: number, { initialMs, maxMs, factor }: Required<BackoffOptions>): number {
  const full = Math.min(maxMs, initialMs * factor ** step);
  return Math.round(full / 2 + (Math.random() * full) / 2);
}

export function emitWithAck(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (err: Error | null, answer: unknown) => (err ? reject(err) : resolve(answer)));
  });
}

export function toPmAgentError(tool: string, answer: unknown): PmAgentError {
  const a = (answer ?? {}) as Record<string, unknown>;
  const code = typeof a.code === 'string' ? a.code : 'INTERNAL';
  const message = typeof a.error === 'string' ? a.error : typeof a.message === 'string' ? a.message : `${tool} failed`;
  return new PmAgentError(code, message, a, tool);
}

export function closedError(): PmAgentError {
  return new PmAgentError('CLIENT_CLOSED', 'the client was closed');
}

export function isFatal(err: unknown): boolean {
  return err instanceof PmAgentError && FATAL_CODES.has(err.code);
}

export function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
