import { Logger } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { AppError, CommonErrorCode } from '../../common/errors';
import { isDatabaseUnavailable } from '../../infra/database/unavailable';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { RateLimiter } from '../../infra/shared-state/rate-limiter';
import { TokenService, type AgentIdentity } from '../auth/token.service';
import { agentRoom, projectRoom, PushService } from '../events/push.service';
import { Lifecycle } from '../health/lifecycle';
import { PresenceTracker } from './presence-tracker.service';
import { ToolsService } from './tools.service';

type Ack = (answer: object) => void;
interface SocketData {
  who: AgentIdentity;
}
const MINUTE = 60_000;

/**
 * Namespace /agents: a JWT at the handshake, then every event is a tool call answered through
 * the acknowledgement. Thin on purpose: ToolsService validates and dispatches.
 */
@WebSocketGateway({ namespace: '/agents' })
export class AgentsGateway implements OnGatewayInit<Namespace>, OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket> {
  private readonly logger = new Logger('AgentsGateway');
  private ns?: Namespace;
  /** Calls being answered right now; drain waits for them. */
  inFlight = 0;

  constructor(
    private readonly tokens: TokenService,
    private readonly tools: ToolsService,
    private readonly push: PushService,
    private readonly lifecycle: Lifecycle,
    private readonly limiter: RateLimiter,
    private readonly presence: PresenceTracker,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  get namespace(): Namespace | undefined {
    return this.ns;
  }

  afterInit(ns: Namespace): void {
    this.ns = ns;
    this.push.attach(ns);
    ns.use((socket, next) => {
      void this.admit(socket).then(() => next(), (err: unknown) => {
        const e = err instanceof AppError ? err : new AppError(CommonErrorCode.UNAUTHORIZED, 'Authentication failed');
        next(Object.assign(new Error(e.message), { data: { code: e.code, ...e.details } }));
      });
    });
  }

  private async admit(socket: Socket): Promise<void> {
    if (this.lifecycle.draining) throw new AppError(CommonErrorCode.UNAVAILABLE, 'Server is draining; connect to another replica');
    const rate = await this.limiter.hit(`hs:${socket.handshake.address}`, this.config.rateLimits.handshakePerMinute, MINUTE);
    if (!rate.allowed) throw rateLimited(rate.retryAfterMs, 'Too many connection attempts from this address');
    (socket.data as SocketData).who = this.tokens.verify((socket.handshake.auth as { token?: unknown } | undefined)?.token);
  }

  async handleConnection(socket: Socket): Promise<void> {
    const who = (socket.data as SocketData).who;
    await socket.join([agentRoom(who.projectId, who.agentId), projectRoom(who.projectId)]);
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
      void this.dispatch(who, event, args[0], ack);
    });
    this.metrics.connections.inc();
    await this.presence.connected(who);
  }

  async handleDisconnect(socket: Socket): Promise<void> {
    const who = (socket.data as SocketData).who;
    if (!who) return;
    this.metrics.connections.dec();
    await this.presence.disconnected(who);
  }

  private async dispatch(who: AgentIdentity, event: string, payload: unknown, ack?: Ack): Promise<void> {
    // Events without an ack that are not tools are ignored: there is nobody to answer.
    if (!ack && !this.tools.isTool(event)) return;
    this.inFlight++;
    const timer = this.metrics.requestDuration.startTimer({ event: this.tools.isTool(event) ? event : 'unknown' });
    let answer: object;
    try {
      const rate = await this.limiter.hit(`agent:${who.projectId}:${who.agentId}`, this.config.rateLimits.agentPerMinute, MINUTE);
      if (!rate.allowed) throw rateLimited(rate.retryAfterMs, `Rate limit of ${this.config.rateLimits.agentPerMinute} calls a minute exceeded`);
      answer = await this.tools.call(event, who, payload);
    } catch (err) {
      answer = errorAnswer(err, this.logger);
    } finally {
      this.inFlight--;
    }
    timer({ outcome: 'success' in answer && answer.success === false ? 'error' : 'ok' });
    ack?.(answer);
  }
}

function rateLimited(retryAfterMs: number, message: string): AppError {
  return new AppError(CommonErrorCode.RATE_LIMITED, message, { retry_after_seconds: Math.max(1, Math.ceil(retryAfterMs / 1000)) });
}

export function errorAnswer(err: unknown, logger: Logger): object {
  if (err instanceof AppError) return { success: false, error: err.message, code: err.code, ...err.details };
  // The database is out of reach or saturated: the caller should retry shortly, not report a bug.
  if (err instanceof Error && isDatabaseUnavailable(err)) {
    logger.warn(`database unavailable: ${err.message}`);
    return { success: false, error: 'Service temporarily unavailable; retry shortly', code: CommonErrorCode.UNAVAILABLE, retry_after_seconds: 1 };
  }
  logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return { success: false, error: 'Internal error', code: CommonErrorCode.INTERNAL };
}
