import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import type { Server, ServerOptions } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import type { RedisConnections } from '../../infra/redis/redis-connections';

/**
 * Socket.IO server options from config, and the cross-replica adapter: with Redis, rooms span
 * every replica through the sharded pub/sub adapter (SPUBLISH on the shard that owns the
 * namespace channel; plain PUBLISH would be broadcast to every node of the cluster). The static
 * subscription mode keeps one channel per namespace: pushes are rare and small, and it spares a
 * SSUBSCRIBE per agent room at every connect.
 */
export class SocketIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
    private readonly redis: RedisConnections | null,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    const server = super.createIOServer(port, {
      ...(options as ServerOptions),
      maxHttpBufferSize: this.config.maxMessageBytes,
      pingInterval: 20_000,
      pingTimeout: 20_000,
      cors: { origin: false },
    });
    if (this.redis) server.adapter(createShardedAdapter(this.redis.client, this.redis.subscriber, { subscriptionMode: 'static', channelPrefix: `${this.config.redis.keyPrefix}:socket.io` }));
    return server;
  }
}
