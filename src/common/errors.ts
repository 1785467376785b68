// Stable error codes. Clients match on `code`; the text may change.

export enum CommonErrorCode {
  VALIDATION_FAILED = 'VALIDATION_FAILED',
  UNAUTHORIZED = 'UNAUTHORIZED',
  FORBIDDEN = 'FORBIDDEN',
  NOT_FOUND = 'NOT_FOUND',
  PAYLOAD_TOO_LARGE = 'PAYLOAD_TOO_LARGE',
  UNKNOWN_TOOL = 'UNKNOWN_TOOL',
  RATE_LIMITED = 'RATE_LIMITED',
  UNAVAILABLE = 'UNAVAILABLE',
  /** This replica holds as many sockets as it may; connect to another. */
  CONNECTION_LIMIT = 'CONNECTION_LIMIT',
  INTERNAL = 'INTERNAL',
}

export enum AuthErrorCode {
  INVALID_API_KEY = 'INVALID_API_KEY',
  INVALID_TOKEN = 'INVALID_TOKEN',
  KEY_NOT_FOUND = 'KEY_NOT_FOUND',
  KEY_LIMIT_REACHED = 'KEY_LIMIT_REACHED',
}

export enum ProjectErrorCode {
  PROJECT_NOT_FOUND = 'PROJECT_NOT_FOUND',
}

export enum AgentErrorCode {
  AGENT_NOT_REGISTERED = 'AGENT_NOT_REGISTERED',
}

export enum TaskErrorCode {
  TASK_NOT_FOUND = 'TASK_NOT_FOUND',
  INVALID_DEPENDENCY = 'INVALID_DEPENDENCY',
  STALE_COMPLETION = 'STALE_COMPLETION',
  IDEMPOTENCY_CONFLICT = 'IDEMPOTENCY_CONFLICT',
}

export enum KanbanErrorCode {
  /** Network error, timeout or 5xx from the board's API. Counts toward the breaker. */
  BOARD_UNAVAILABLE = 'BOARD_UNAVAILABLE',
  /** The board's API asked us to wait longer than we are willing to block. */
  BOARD_RATE_LIMITED = 'BOARD_RATE_LIMITED',
  /** Credentials refused (401/403 without a rate limit). */
  BOARD_AUTH_FAILED = 'BOARD_AUTH_FAILED',
  BOARD_NOT_FOUND = 'BOARD_NOT_FOUND',
  /** The board refused the request as invalid (other 4xx, GraphQL errors). */
  BOARD_REJECTED = 'BOARD_REJECTED',
  /** The board answered something we cannot read. */
  BOARD_BAD_RESPONSE = 'BOARD_BAD_RESPONSE',
  /** The breaker is open: the call was not attempted. */
  BOARD_BREAKER_OPEN = 'BOARD_BREAKER_OPEN',
  BOARD_NOT_CONFIGURED = 'BOARD_NOT_CONFIGURED',
  WEBHOOK_SIGNATURE_INVALID = 'WEBHOOK_SIGNATURE_INVALID',
}

export type ErrorCode = CommonErrorCode | AuthErrorCode | ProjectErrorCode | AgentErrorCode | TaskErrorCode | KanbanErrorCode;

/** A failure the caller can act on. `details` is merged into the error answer (never secrets). */
export class AppError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'AppError';
  }
}

export function httpStatusOf(code: ErrorCode): number {
  switch (code) {
    case CommonErrorCode.VALIDATION_FAILED:
    case TaskErrorCode.INVALID_DEPENDENCY:
    case KanbanErrorCode.BOARD_NOT_CONFIGURED:
    case KanbanErrorCode.BOARD_REJECTED:
    case CommonErrorCode.UNKNOWN_TOOL:
      return 400;
    case CommonErrorCode.UNAUTHORIZED:
    case AuthErrorCode.INVALID_API_KEY:
    case AuthErrorCode.INVALID_TOKEN:
    case KanbanErrorCode.WEBHOOK_SIGNATURE_INVALID:
      return 401;
    case CommonErrorCode.FORBIDDEN:
      return 403;
    case CommonErrorCode.NOT_FOUND:
    case ProjectErrorCode.PROJECT_NOT_FOUND:
    case TaskErrorCode.TASK_NOT_FOUND:
    case KanbanErrorCode.BOARD_NOT_FOUND:
    case AgentErrorCode.AGENT_NOT_REGISTERED:
    case AuthErrorCode.KEY_NOT_FOUND:
      return 404;
    case TaskErrorCode.STALE_COMPLETION:
    case TaskErrorCode.IDEMPOTENCY_CONFLICT:
    case AuthErrorCode.KEY_LIMIT_REACHED:
      return 409;
    case CommonErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case CommonErrorCode.RATE_LIMITED:
    case KanbanErrorCode.BOARD_RATE_LIMITED:
      return 429;
    case CommonErrorCode.UNAVAILABLE:
    case CommonErrorCode.CONNECTION_LIMIT:
    case KanbanErrorCode.BOARD_UNAVAILABLE:
    case KanbanErrorCode.BOARD_BREAKER_OPEN:
      return 503;
    case KanbanErrorCode.BOARD_AUTH_FAILED:
    case KanbanErrorCode.BOARD_BAD_RESPONSE:
      return 502;
    case CommonErrorCode.INTERNAL:
      return 500;
  }
}
