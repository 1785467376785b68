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
  INTERNAL = 'INTERNAL',
}

export enum AuthErrorCode {
  INVALID_API_KEY = 'INVALID_API_KEY',
  INVALID_TOKEN = 'INVALID_TOKEN',
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

export type ErrorCode = CommonErrorCode | AuthErrorCode | ProjectErrorCode | AgentErrorCode | TaskErrorCode;

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
    case CommonErrorCode.UNKNOWN_TOOL:
      return 400;
    case CommonErrorCode.UNAUTHORIZED:
    case AuthErrorCode.INVALID_API_KEY:
    case AuthErrorCode.INVALID_TOKEN:
      return 401;
    case CommonErrorCode.FORBIDDEN:
      return 403;
    case CommonErrorCode.NOT_FOUND:
    case ProjectErrorCode.PROJECT_NOT_FOUND:
    case TaskErrorCode.TASK_NOT_FOUND:
    case AgentErrorCode.AGENT_NOT_REGISTERED:
      return 404;
    case TaskErrorCode.STALE_COMPLETION:
    case TaskErrorCode.IDEMPOTENCY_CONFLICT:
      return 409;
    case CommonErrorCode.PAYLOAD_TOO_LARGE:
      return 413;
    case CommonErrorCode.RATE_LIMITED:
      return 429;
    case CommonErrorCode.UNAVAILABLE:
      return 503;
    case CommonErrorCode.INTERNAL:
      return 500;
  }
}
