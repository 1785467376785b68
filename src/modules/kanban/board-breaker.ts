import CircuitBreaker from 'opossum';
import { KanbanErrorCode } from '../../common/errors';
import { isTransientBoardError, KanbanError } from './kanban-error';

export type BreakerState = 'closed' | 'open' | 'half_open';

/**
 * One circuit breaker per board (opossum). It opens after `failures` consecutive transient
 * failures (network, 5xx, rate limit, unreadable answers; a rejected request or a missing card is
 * an answer, which proves the board is up, and resets the count), fails fast while open, and lets one trial
 * call through after `resetMs`; a success closes it.
 */
export class BoardBreaker {
  private readonly breaker: CircuitBreaker<[() => Promise<unknown>], unknown>;
  private consecutive = 0;

  constructor(
    readonly name: string,
    opts: { failures: number; resetMs: number; onChange?: (state: BreakerState) => void },
  ) {
    this.breaker = new CircuitBreaker((fn: () => Promise<unknown>) => fn(), {
      name,
      timeout: false, // BoardHttp bounds each request; a call with retries may legitimately take longer
      resetTimeout: opts.resetMs,
      // opossum's own percentage rule would open on the first failure of a quiet window: the
      // consecutive-failure rule below replaces it.
      volumeThreshold: Number.MAX_SAFE_INTEGER,
      errorThresholdPercentage: 100,
      errorFilter: (err: unknown) => !isTransientBoardError(err),
    });
    this.breaker.on('success', () => {
      this.consecutive = 0;
    });
    this.breaker.on('failure', () => {
      this.consecutive++;
      if (this.consecutive >= opts.failures) this.breaker.open();
    });
    this.breaker.on('open', () => opts.onChange?.('open'));
    this.breaker.on('halfOpen', () => opts.onChange?.('half_open'));
    this.breaker.on('close', () => opts.onChange?.('closed'));
  }

  get state(): BreakerState {
    return this.breaker.opened ? 'open' : this.breaker.halfOpen ? 'half_open' : 'closed';
  }

  async fire<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return (await this.breaker.fire(fn)) as T;
    } catch (err) {
      if ((err as { code?: unknown }).code === 'EOPENBREAKER') {
        throw new KanbanError(KanbanErrorCode.BOARD_BREAKER_OPEN, `${this.name}: board unavailable, circuit open`);
      }
      throw err;
    }
  }

  shutdown(): void {
    this.breaker.shutdown();
  }
}
