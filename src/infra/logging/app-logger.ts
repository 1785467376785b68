import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { type Logger } from 'pino';
import { Writable } from 'node:stream';
import { redactor } from './redactor';

const NEST_TO_PINO: Record<LogLevel, pino.Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };
const ORDER: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

// Fields that hold credentials wherever they appear in a structured log record.
const REDACT_PATHS = ['api_key', 'token', 'access_token', 'authorization', 'password', 'secret', '*.api_key', '*.token', '*.access_token', '*.authorization', '*.password', '*.secret', 'headers.authorization', '*.headers.authorization'];

/** Text lines for a terminal: time, level, context, message. */
function textStream(out: NodeJS.WritableStream): Writable {
  const names: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      try {
        const r = JSON.parse(chunk.toString('utf8')) as { time: number; level: number; context?: string; msg?: string; stack?: string };
        const ctx = r.context ? ` [${r.context}]` : '';
        out.write(`${new Date(r.time).toISOString()} ${(names[r.level] ?? String(r.level)).padEnd(5)}${ctx} ${r.msg ?? ''}${r.stack ? `\n${r.stack}` : ''}\n`);
      } catch {
        out.write(chunk);
      }
      done();
    },
  });
}

/**
 * Nest's logger on pino: JSON lines (or text on a terminal), every message and stack passed through
 * the redactor, credential fields redacted by path. Writes through process.stdout so the output
 * can be captured and checked.
 */
export class AppLogger implements LoggerService {
  private readonly pino: Logger;

  constructor(level: LogLevel, format: 'json' | 'text') {
    const enabled = ORDER.slice(0, ORDER.indexOf(level) + 1);
    const dest = format === 'text' ? textStream(process.stdout) : process.stdout;
    this.pino = pino(
      {
        level: NEST_TO_PINO[enabled[enabled.length - 1]],
        base: { pid: process.pid },
        redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
        formatters: { level: (label, number) => ({ level: number, severity: label }) },
      },
      dest,
    );
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('log', message, params);
  }
  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }
  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }
  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }
  verbose(message: unknown, ...params: unknown[]): void {
    this.write('verbose', message, params);
  }
  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  private write(level: LogLevel, message: unknown, params: unknown[]): void {
    // Nest passes the context last; error() may pass a stack before it.
    const rest = [...params];
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const stack = level === 'error' && typeof rest[0] === 'string' ? (rest.shift() as string) : undefined;
    const record: Record<string, unknown> = {};
    if (context) record.context = context;
    if (stack) record.stack = redactor.scrub(stack);
    let msg: string;
    if (message instanceof Error) {
      msg = redactor.scrub(message.message);
      if (!record.stack && message.stack) record.stack = redactor.scrub(message.stack);
    } else if (typeof message === 'object' && message !== null) {
      Object.assign(record, JSON.parse(redactor.scrub(JSON.stringify(message))) as object);
      msg = '';
    } else {
      msg = redactor.scrub(String(message));
    }
    this.pino[NEST_TO_PINO[level]](record, msg);
  }
}
