// How GitHub reports failures, and the KanbanErrors the provider raises for them.
import { KanbanErrorCode } from '../../../common/errors';
import { KanbanError } from '../kanban-error';

export const PROVIDER = 'github';

/**
 * Rate limits GitHub reports in a body rather than in headers, for BoardHttp's `rateLimitedBody`:
 * a secondary limit answered 403 without retry-after or x-ratelimit-remaining 0 ("wait at least a
 * minute", https://docs.github.com/graphql/overview/rate-limits-and-query-limits-for-the-graphql-api),
 * and an exhausted GraphQL budget (errors of type RATE_LIMITED, also seen as RATE_LIMIT).
 */
export function githubRateLimitedBody(_status: number, text: string): boolean {
  return /secondary rate limit|"type"\s*:\s*"RATE_LIMIT(?:ED)?"|API rate limit (?:already )?exceeded/i.test(text);
}

/**
 * GitHub answers an unknown id with `{"data":{"node":null},"errors":[{"type":"NOT_FOUND",...}]}`;
 * graphqlRequest reports that as BOARD_REJECTED (data is present), so the message decides too.
 */
export function isNotFound(err: unknown): boolean {
  if (!(err instanceof KanbanError)) return false;
  return err.code === KanbanErrorCode.BOARD_NOT_FOUND || (err.code === KanbanErrorCode.BOARD_REJECTED && /Could not resolve to /.test(err.message));
}

export function notConfigured(message: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_NOT_CONFIGURED, `github: ${message}`, { provider: PROVIDER });
}

export function bad(message: string): KanbanError {
  return new KanbanError(KanbanErrorCode.BOARD_BAD_RESPONSE, `github GraphQL: ${message}`, { provider: PROVIDER });
}
