import { Logger, type INestApplication, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig, parseConfig } from './config/app-config';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { SharedState } from './infra/shared-state/shared-state';
import { SocketIoAdapter } from './modules/connections/socket-io.adapter';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/** Builds and starts the service; used by main.ts and by the end-to-end tests. */
export async function startApp(env: NodeJS.ProcessEnv = process.env): Promise<{ app: INestApplication; config: AppConfig; url: string }> {
  const config = new AppConfig(parseConfig(env));
  const logger = LEVELS.slice(0, LEVELS.indexOf(config.logLevel === 'log' ? 'log' : config.logLevel) + 1);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger, bodyParser: false, rawBody: true });
  app.useBodyParser('json', { limit: config.maxMessageBytes });
  app.useGlobalFilters(new HttpExceptionFilter());
  app.useWebSocketAdapter(new SocketIoAdapter(app, config, app.get(SharedState).redis));
  app.disable('x-powered-by');
  await app.listen(config.port, config.host);
  const addr = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${addr.port}`;
  new Logger('pm-agent').log(`listening on ${config.host}:${addr.port} (${config.embedded ? 'embedded' : 'external'} database)`);
  return { app, config, url };
}
