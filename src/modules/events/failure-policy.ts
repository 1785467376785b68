import { isDatabaseUnavailable } from '../../infra/database/unavailable';
import { retryDelayMs } from './topology';

export interface DeliveryState {
  /** Failures of the work itself so far, this delivery included (1 on the first). */
  attempt: number;
  /** Deliveries that failed because the database was out of reach: they do not count as attempts. */
  unavailable: number;
}

export type FailureOutcome = { retry: true; next: DeliveryState; delayMs: number } | { retry: false };

/**
 * What a consumer does after a failed delivery. Work that fails on its own goes round the retry
 * queue with a growing delay and is dead-lettered after maxAttempts. Work that failed because the
 * database was down (a restart, a failover) is not at fault: it is retried without spending an
 * attempt, the delay growing up to a minute, until the database answers again — else a Postgres
 * restart longer than the few retries would dead-letter every event that arrived meanwhile.
 */
export function afterFailure(err: unknown, state: DeliveryState, opts: { maxAttempts: number; retryBaseMs: number }): FailureOutcome {
  if (isDatabaseUnavailable(err)) {
    const next = { attempt: state.attempt, unavailable: state.unavailable + 1 };
    return { retry: true, next, delayMs: retryDelayMs(next.unavailable, opts.retryBaseMs) };
  }
  if (state.attempt >= opts.maxAttempts) return { retry: false };
  return { retry: true, next: { attempt: state.attempt + 1, unavailable: state.unavailable }, delayMs: retryDelayMs(state.attempt, opts.retryBaseMs) };
}
