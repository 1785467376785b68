import { AppError, CommonErrorCode } from './errors';

/**
 * Runs at most `concurrency` tasks at once with at most `maxWaiting` queued; beyond that a task is
 * refused with RATE_LIMITED instead of growing the queue without bound.
 */
export class Gate {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(
    private readonly concurrency: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.maxWaiting) throw new AppError(CommonErrorCode.RATE_LIMITED, 'Server busy; retry shortly', { retry_after_seconds: 1 });
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, so `running` never drops below the queue's needs.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
