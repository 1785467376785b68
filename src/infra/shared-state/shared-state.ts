import { AppConfig } from '../../config/app-config';
import { RedisConnections } from '../redis/redis-connections';
import { InMemoryPresence, Presence, RedisPresence } from './presence';
import { InMemoryRateLimiter, RateLimiter, RedisRateLimiter } from './rate-limiter';

/** State shared between replicas: in Redis when configured, in this process otherwise. */
export class SharedState {
  private constructor(
    readonly redis: RedisConnections | null,
    readonly rateLimiter: RateLimiter,
    readonly presence: Presence,
  ) {}

  static create(config: AppConfig): SharedState {
    const redis = RedisConnections.create(config);
    const ttlMs = config.presence.ttlSeconds * 1000;
    if (!redis) return new SharedState(null, new InMemoryRateLimiter(), new InMemoryPresence(ttlMs));
    const prefix = config.redis.keyPrefix;
    return new SharedState(redis, new RedisRateLimiter(redis.client, prefix), new RedisPresence(redis.client, prefix, ttlMs));
  }

  async close(): Promise<void> {
    await this.redis?.close();
  }
}
