import { Logger } from '@nestjs/common';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { AppConfig } from '../../config/app-config';

export type RedisClient = Redis | Cluster;

const COMMON: RedisOptions = {
  // Fail calls fast while a master fails over instead of queueing them for ever; callers degrade.
  maxRetriesPerRequest: 2,
  enableOfflineQueue: true,
  connectTimeout: 5000,
};

/**
 * The Redis connections of a replica: one command client and one subscriber for the Socket.IO
 * adapter. A Cluster subscriber must be created with `shardedSubscribers: true`, or sharded
 * pub/sub messages are lost silently.
 */
export class RedisConnections {
  private readonly logger = new Logger('Redis');

  private constructor(
    readonly client: RedisClient,
    readonly subscriber: RedisClient,
    readonly cluster: boolean,
  ) {
    for (const [name, c] of [['client', client], ['subscriber', subscriber]] as const) {
      c.on('error', (err: Error) => this.logger.warn(`${name}: ${err.message}`));
    }
  }

  static create(config: AppConfig): RedisConnections | null {
    const { clusterNodes, url } = config.redis;
    if (clusterNodes) {
      const opts: ClusterOptions = {
        redisOptions: COMMON,
        scaleReads: 'master',
        slotsRefreshTimeout: 2000,
        clusterRetryStrategy: (times) => Math.min(100 * times, 2000),
      };
      return new RedisConnections(new Cluster(clusterNodes, opts), new Cluster(clusterNodes, { ...opts, shardedSubscribers: true }), true);
    }
    if (url) {
      const client = new Redis(url, COMMON);
      return new RedisConnections(client, client.duplicate(), false);
    }
    return null;
  }

  async ping(): Promise<void> {
    await this.client.ping();
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.client.quit(), this.subscriber.quit()]);
  }
}
