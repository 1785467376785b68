// How Linear reports failures, and the KanbanErrors the provider raises for them.
import { KanbanErrorCode } from '../../../common/errors';
import { KanbanError } from '../kanban-error';

export const PROVIDER = 'linear';

/** Linear reports rate limits as HTTP 400 with a GraphQL error coded RATELIMITED (for BoardHttp's `rateLimitedBody`). */
export function linearRateLimitedBody(status: number, text: string): boolean {
  return status === 400 && text.includes('RATELIMITED');
}

/** Linear refuses a bad key with HTTP 400 and extensions.code AUTHENTICATION_ERROR. */
export function linearAuthFailedBody(status: number, text: string): boolean {
  return status === 400 && text.includes('AUTHENTICATION_ERROR');
}

export function notFound(): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `${PROVIDER}: issue not found on the team`, { provider: PROVIDER });
}

export function rejected(what: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${PROVIDER}: ${what}`, { provider: PROVIDER });
}
