import { Logger, type INestApplication } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import helmet from 'helmet';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig, parseConfig } from './config/app-config';
import { HttpExceptionFilter } from './common/http-exception.filter';
import { AppLogger } from './infra/logging/app-logger';
import { redactor } from './infra/logging/redactor';
import { SharedState } from './infra/shared-state/shared-state';
import { SocketIoAdapter } from './modules/connections/socket-io.adapter';

// Security headers. The dashboard ships its scripts and styles as files, so the policy needs no
// 'unsafe-inline'; upgrade-insecure-requests is off because plain HTTP behind a TLS-terminating
// Ingress (or on a laptop) must keep working.
const HELMET: Parameters<typeof helmet>[0] = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      defaultSrc: ["'self'"],
      scriptSrc: ["'self'"],
      styleSrc: ["'self'"],
      imgSrc: ["'self'", 'data:'],
      connectSrc: ["'self'", 'ws:', 'wss:'],
      fontSrc: ["'self'"],
      objectSrc: ["'none'"],
      baseUri: ["'self'"],
      formAction: ["'self'"],
      frameAncestors: ["'none'"],
    },
  },
  crossOriginEmbedderPolicy: false,
};


/** Builds and starts the service; used by main.ts and by the end-to-end tests. */
export async function startApp(env: NodeJS.ProcessEnv = process.env): Promise<{ app: INestApplication; config: AppConfig; url: string }> {
  const config = new AppConfig(parseConfig(env));
  for (const secret of config.secretValues()) redactor.addSecret(secret);
  const logger = new AppLogger(config.logLevel, config.logFormat);
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), { logger, bodyParser: false, rawBody: true });
  app.useBodyParser('json', { limit: config.maxMessageBytes });
  app.useGlobalFilters(new HttpExceptionFilter());
  app.useWebSocketAdapter(new SocketIoAdapter(app, config, app.get(SharedState).redis));
  app.disable('x-powered-by');
  app.use(helmet(HELMET));
  // Slow clients (a trickle of headers or body) are cut off instead of holding sockets forever.
  const server = app.getHttpServer();
  server.requestTimeout = config.limits.httpRequestTimeoutMs;
  server.headersTimeout = Math.min(config.limits.httpHeadersTimeoutMs, config.limits.httpRequestTimeoutMs);
  // Requests Node refuses before Nest sees them (oversized head, bad HTTP, timeout) still get the
  // JSON error shape with a code, not Node's empty answer.
  server.on('clientError', (err: NodeJS.ErrnoException, socket: import('node:stream').Duplex) => {
    if (!socket.writable || err.code === 'ECONNRESET') return void socket.destroy();
    const [status, text, code] =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'PAYLOAD_TOO_LARGE']
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? [408, 'Request Timeout', 'UNAVAILABLE']
          : [400, 'Bad Request', 'VALIDATION_FAILED'];
    const body = JSON.stringify({ error: text, code });
    socket.end(`HTTP/1.1 ${status} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
  await app.listen(config.port, config.host);
  const addr = app.getHttpServer().address() as { port: number };
  const url = `http://127.0.0.1:${addr.port}`;
  new Logger('pm-agent').log(`listening on ${config.host}:${addr.port} (${config.embedded ? 'embedded' : 'external'} database)`);
  return { app, config, url };
}
