import { describe, expect, it } from 'vitest';
import { isDatabaseUnavailable } from '../../src/infra/database/unavailable';
import { afterFailure } from '../../src/modules/events/failure-policy';

const opts = { maxAttempts: 3, retryBaseMs: 100 };
const pgError = (message: string, code?: string) => Object.assign(new Error(message), code ? { code } : {});

describe('isDatabaseUnavailable', () => {
  it('recognises a server that is restarting, unreachable or full', () => {
    for (const e of [
      pgError('terminating connection due to administrator command', '57P01'),
      pgError('the database system is starting up', '57P03'),
      pgError('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'),
      pgError('Connection terminated unexpectedly'),
      pgError('timeout exceeded when trying to connect'),
      pgError('sorry, too many clients already', '53300'),
      pgError('could not receive data from client', '08006'),
    ])
      expect(isDatabaseUnavailable(e), e.message).toBe(true);
  });

  it('does not excuse the work’s own errors', () => {
    for (const e of [pgError('duplicate key value violates unique constraint', '23505'), pgError('syntax error at or near "x"', '42601'), new TypeError('x is undefined'), 'not an error'])
      expect(isDatabaseUnavailable(e), String(e)).toBe(false);
  });
});

describe('afterFailure', () => {
  it('retries the work’s own failures with a growing delay, then dead-letters after maxAttempts', () => {
    const err = new Error('board said 422');
    expect(afterFailure(err, { attempt: 1, unavailable: 0 }, opts)).toEqual({ retry: true, next: { attempt: 2, unavailable: 0 }, delayMs: 100 });
    expect(afterFailure(err, { attempt: 2, unavailable: 0 }, opts)).toEqual({ retry: true, next: { attempt: 3, unavailable: 0 }, delayMs: 200 });
    expect(afterFailure(err, { attempt: 3, unavailable: 0 }, opts)).toEqual({ retry: false });
  });

  it('keeps retrying while the database is down without spending attempts, the delay capped at a minute', () => {
    const down = pgError('the database system is shutting down', '57P03');
    let state = { attempt: 3, unavailable: 0 };
    const delays: number[] = [];
    for (let i = 0; i < 20; i++) {
      const o = afterFailure(down, state, opts);
      if (!o.retry) throw new Error('dead-lettered while the database was down');
      delays.push(o.delayMs);
      state = o.next;
    }
    expect(state).toEqual({ attempt: 3, unavailable: 20 });
    expect(delays.slice(0, 4)).toEqual([100, 200, 400, 800]);
    expect(Math.max(...delays)).toBe(60_000);
    // Once the database is back, a real failure on the last attempt still dead-letters.
    expect(afterFailure(new Error('bug'), state, opts)).toEqual({ retry: false });
  });
});
