import { Logger } from '@nestjs/common';
import { withTimeout } from '../../common/timeout';
import type { RedisClient } from '../redis/redis-connections';

const REDIS_WAIT_MS = 300;

export interface RateDecision {
  allowed: boolean;
  count: number;
  /** Milliseconds until the window resets (meaningful when refused). */
  retryAfterMs: number;
}

/** Fixed-window counters: `limit` hits per `windowMs` per key. */
export abstract class RateLimiter {
  abstract hit(key: string, limit: number, windowMs: number): Promise<RateDecision>;
}

/** Embedded mode: counters in this process. */
export class InMemoryRateLimiter extends RateLimiter {
  private readonly windows = new Map<string, { start: number; count: number }>();

  async hit(key: string, limit: number, windowMs: number, now = Date.now()): Promise<RateDecision> {
    const start = now - (now % windowMs);
    let w = this.windows.get(key);
    if (!w || w.start !== start) {
      if (this.windows.size > 100_000) this.prune(start);
      w = { start, count: 0 };
      this.windows.set(key, w);
    }
    w.count++;
    return { allowed: w.count <= limit, count: w.count, retryAfterMs: start + windowMs - now };
  }

  private prune(currentStart: number): void {
    for (const [k, w] of this.windows) if (w.start < currentStart) this.windows.delete(k);
  }
}

// INCR and set the expiry on first use, atomically; one key per window.
const HIT_SCRIPT = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n`;

/**
 * Cluster mode: counters in Redis, so an agent spreading its calls over replicas is counted once.
 * If Redis is unreachable (a failover), calls are let through: availability over strictness.
 */
export class RedisRateLimiter extends RateLimiter {
  private readonly logger = new Logger('RateLimiter');

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
  ) {
    super();
  }

  async hit(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const now = Date.now();
    const start = now - (now % windowMs);
    const retryAfterMs = start + windowMs - now;
    try {
      // A master failover can stall a command for seconds; the agent's call must not wait on it.
      const reply = await withTimeout(this.redis.eval(HIT_SCRIPT, 1, `${this.prefix}:{rl:${key}}:${start}`, String(windowMs + 1000)), REDIS_WAIT_MS, 'rate limit check');
      const count = Number(reply);
      return { allowed: count <= limit, count, retryAfterMs };
    } catch (err) {
      this.logger.warn(`rate limit check skipped: ${(err as Error).message}`);
      return { allowed: true, count: 0, retryAfterMs };
    }
  }
}
