import { Logger } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { AppError, CommonErrorCode } from '../../common/errors';
import { withCallTimeout } from '../../common/timeout';
import { isDatabaseUnavailable } from '../../infra/database/unavailable';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { RateLimiter } from '../../infra/shared-state/rate-limiter';
import { apiKeyRoom, KeyRevocations } from '../auth/key-revocations.service';
import { expiredToken, revokedToken, TokenService, type AgentIdentity } from '../auth/token.service';
import { agentRoom, projectRoom, PushService } from '../events/push.service';
import { Lifecycle } from '../health/lifecycle';
import { PresenceTracker } from './presence-tracker.service';
import { ToolsService } from './tools.service';

type Ack = (answer: object) => void;
interface SocketData {
  who: AgentIdentity;
  /** Calls of this socket not yet answered. */
  pending: number;
  /** Calls refused for going over a limit, in the current window (see ABUSE_WINDOW_MS). */
  refused: number;
  refusedSince: number;
}
const ABUSE_WINDOW_MS = 10_000;
/** How long an agent cut off for abuse is refused at the handshake of this replica. */
const ABUSE_COOLDOWN_MS = 30_000;
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
  /** Agents (project:agent) cut off for abuse, until when. */
  private readonly cooling = new Map<string, number>();

  constructor(
    private readonly tokens: TokenService,
    private readonly tools: ToolsService,
    private readonly push: PushService,
    private readonly lifecycle: Lifecycle,
    private readonly limiter: RateLimiter,
    private readonly presence: PresenceTracker,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly revocations: KeyRevocations,
  ) {}

  get namespace(): Namespace | undefined {
    return this.ns;
  }

  afterInit(ns: Namespace): void {
    this.ns = ns;
    this.push.attach(ns);
    this.revocations.attach(ns);
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
    const who = await this.tokens.authenticate((socket.handshake.auth as { token?: unknown } | undefined)?.token);
    const until = this.cooling.get(`${who.projectId}:${who.agentId}`);
    if (until !== undefined) {
      if (until > Date.now()) {
        this.metrics.connectionsRefused.inc({ reason: 'abuse_cooldown' });
        throw rateLimited(until - Date.now(), 'This agent was disconnected for calling over its limits; wait before reconnecting');
      }
      this.cooling.delete(`${who.projectId}:${who.agentId}`);
    }
    // Refused before the socket counts: the client should try another replica (the SDK does).
    if ((this.ns?.sockets.size ?? 0) >= this.config.limits.connectionsPerReplica) {
      this.metrics.connectionsRefused.inc({ reason: 'connection_limit' });
      throw new AppError(CommonErrorCode.CONNECTION_LIMIT, 'This replica is at its connection limit; connect to another', { retry_after_seconds: 1 });
    }
    Object.assign(socket.data as SocketData, { who, pending: 0, refused: 0, refusedSince: Date.now() });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const who = (socket.data as SocketData).who;
    const rooms = [agentRoom(who.projectId, who.agentId), projectRoom(who.projectId)];
    if (who.keyId) rooms.push(apiKeyRoom(who.keyId));
    await socket.join(rooms);
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
      void this.dispatch(socket, event, args[0], ack);
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

  private async dispatch(socket: Socket, event: string, payload: unknown, ack?: Ack): Promise<void> {
    // Events without an ack that are not tools are ignored: there is nobody to answer.
    if (!ack && !this.tools.isTool(event)) return;
    const data = socket.data as SocketData;
    const who = data.who;
    this.inFlight++;
    data.pending++;
    const timer = this.metrics.requestDuration.startTimer({ event: this.tools.isTool(event) ? event : 'unknown' });
    let answer: object;
    try {
      // The token is checked again at every call: a revoked key or an expired token ends here,
      // and the socket is closed so the client reconnects with a fresh token (or learns why not).
      const ended = this.revocations.isRevoked(who.keyId) ? revokedToken() : who.expiresAt !== undefined && Date.now() >= who.expiresAt ? expiredToken() : null;
      if (ended) {
        setImmediate(() => socket.disconnect(true));
        throw ended;
      }
      // A client that piles up calls without waiting for answers is refused, not queued.
      if (data.pending > this.config.limits.callsInFlightPerSocket) {
        throw new AppError(CommonErrorCode.RATE_LIMITED, `At most ${this.config.limits.callsInFlightPerSocket} calls may wait for an answer at once`, { retry_after_seconds: 1 });
      }
      const rate = await this.limiter.hit(`agent:${who.projectId}:${who.agentId}`, this.config.rateLimits.agentPerMinute, MINUTE);
      if (!rate.allowed) throw rateLimited(rate.retryAfterMs, `Rate limit of ${this.config.rateLimits.agentPerMinute} calls a minute exceeded`);
      answer = await withCallTimeout(this.tools.call(event, who, payload), this.config.limits.toolCallTimeoutMs);
    } catch (err) {
      answer = errorAnswer(err, this.logger);
    } finally {
      this.inFlight--;
      data.pending--;
    }
    timer({ outcome: 'success' in answer && answer.success === false ? 'error' : 'ok' });
    ack?.(answer);
    if ((answer as { code?: unknown }).code === CommonErrorCode.RATE_LIMITED) this.noteRefusal(socket, data);
  }

  /**
   * A client that keeps calling after being told to slow down costs the replica a parse and an
   * answer per call; past the budget its socket is closed (a reconnect faces the handshake limit).
   */
  private noteRefusal(socket: Socket, data: SocketData): void {
    const now = Date.now();
    if (now - data.refusedSince > ABUSE_WINDOW_MS) {
      data.refused = 0;
      data.refusedSince = now;
    }
    if (++data.refused === this.config.limits.refusedCallsBeforeDisconnect) {
      this.metrics.connectionsRefused.inc({ reason: 'abuse' });
      this.logger.warn(`closing the socket of agent ${data.who.agentId}: ${data.refused} calls over its limits in ${ABUSE_WINDOW_MS / 1000} s`);
      if (this.cooling.size > 10_000) this.cooling.clear();
      this.cooling.set(`${data.who.projectId}:${data.who.agentId}`, now + ABUSE_COOLDOWN_MS);
      socket.disconnect(true);
    }
  }
}

export function rateLimited(retryAfterMs: number, message: string): AppError {
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
