import { AppError, KanbanErrorCode } from '../../common/errors';

/** A board failure. Messages name the provider, method and path, never credentials or bodies. */
export class KanbanError extends AppError {
  constructor(
    code: KanbanErrorCode,
    message: string,
    details: { provider?: string; status?: number; retryAfterMs?: number } = {},
  ) {
    super(code, message, details);
    this.name = 'KanbanError';
  }

  /** Failures that say the board is unhealthy (and so feed the breaker), not that we asked wrong. */
  get transient(): boolean {
    return this.code === KanbanErrorCode.BOARD_UNAVAILABLE || this.code === KanbanErrorCode.BOARD_RATE_LIMITED || this.code === KanbanErrorCode.BOARD_BAD_RESPONSE;
  }
}

export function isTransientBoardError(err: unknown): boolean {
  return err instanceof KanbanError ? err.transient : !(err instanceof AppError);
}
