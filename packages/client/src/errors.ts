/** Error codes the server answers with (clients match on `code`; the text may change). */
export type ServerErrorCode =
  | 'VALIDATION_FAILED'
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'NOT_FOUND'
  | 'PAYLOAD_TOO_LARGE'
  | 'UNKNOWN_TOOL'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'INVALID_API_KEY'
  | 'INVALID_TOKEN'
  | 'PROJECT_NOT_FOUND'
  | 'AGENT_NOT_REGISTERED'
  | 'TASK_NOT_FOUND'
  | 'INVALID_DEPENDENCY'
  | 'STALE_COMPLETION'
  | 'IDEMPOTENCY_CONFLICT';

/** Codes raised by the client itself, not by the server. */
export type ClientErrorCode = 'CLIENT_TIMEOUT' | 'CLIENT_CLOSED' | 'CLIENT_CONNECT_FAILED' | 'CLIENT_AUTH_FAILED';

/** Unknown future server codes still come through as strings. */
export type PmAgentErrorCode = ServerErrorCode | ClientErrorCode | (string & {});

/** A failure answer (`success: false` with a `code`), or a client-side failure after its retries. */
export class PmAgentError extends Error {
  constructor(
    readonly code: PmAgentErrorCode,
    message: string,
    /** The whole error answer of the server (extra fields such as `retry_after_seconds`), if any. */
    readonly details: Readonly<Record<string, unknown>> = {},
    /** The tool that failed, when the failure came from a tool call. */
    readonly tool?: string,
  ) {
    super(message);
    this.name = 'PmAgentError';
  }

  /** Seconds the server asked to wait before trying again, when it said. */
  get retryAfterSeconds(): number | undefined {
    const v = this.details.retry_after_seconds;
    return typeof v === 'number' ? v : undefined;
  }
}
