import type { INestApplicationContext } from '@nestjs/common';
import { IoAdapter } from '@nestjs/platform-socket.io';
import type { Server, ServerOptions } from 'socket.io';
import { AppConfig } from '../../config/app-config';

/** Socket.IO server options from config (message size limit; websocket first). */
export class SocketIoAdapter extends IoAdapter {
  constructor(
    app: INestApplicationContext,
    private readonly config: AppConfig,
  ) {
    super(app);
  }

  override createIOServer(port: number, options?: Partial<ServerOptions>): Server {
    return super.createIOServer(port, {
      ...(options as ServerOptions),
      maxHttpBufferSize: this.config.maxMessageBytes,
      pingInterval: 20_000,
      pingTimeout: 20_000,
      cors: { origin: false },
    });
  }
}
