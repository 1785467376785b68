import { Logger, OnModuleDestroy } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayDisconnect, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { AppError, CommonErrorCode, ProjectErrorCode } from '../../common/errors';
import { RateLimiter } from '../../infra/shared-state/rate-limiter';
import { HttpAuth } from '../auth/http-auth';
import { Lifecycle } from '../health/lifecycle';
import { dashboardRoom, DashboardRefresher } from './dashboard-refresher.service';
import { DashboardService, snapshotHash } from './dashboard.service';

/** What the handshake settled: one project to watch, or (admin key, no project) the project picker. */
type View = { kind: 'project'; projectId: string } | { kind: 'picker' };
interface SocketData {
  view?: View;
  watching?: string;
}
type Ack = (answer: object) => void;
const MINUTE = 60_000;
const REFUSALS = new Set<string>([CommonErrorCode.UNAUTHORIZED, CommonErrorCode.FORBIDDEN, ProjectErrorCode.PROJECT_NOT_FOUND]);

/**
 * Whether a browser page at `origin` may open the namespace. No Origin header: not a browser, so
 * CORS has nothing to protect. Otherwise only the service's own origin (same Host) or one listed
 * in DASHBOARD_ALLOWED_ORIGINS: a page elsewhere must not read a board with a key it phished.
 */
export function originAllowed(origin: string | undefined, host: string | undefined, allowed: readonly string[]): boolean {
  if (origin === undefined) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false; // includes the opaque "null" origin of sandboxed frames and file: pages
  }
  if (host !== undefined && url.host === host.toLowerCase()) return true;
  return allowed.includes(url.origin);
}

/**
 * Namespace /dashboard: read-only live view of one project for the page served at `/`.
 * Handshake `auth: { key, project_id? }` with a project API key (its own project only) or the
 * admin key (any project; without project_id it gets the project list to pick from). The server
 * pushes `snapshot`; anything a client emits is answered with an error and changes nothing.
 */
@WebSocketGateway({ namespace: '/dashboard' })
export class DashboardGateway implements OnGatewayInit<Namespace>, OnGatewayConnection<Socket>, OnGatewayDisconnect<Socket>, OnModuleDestroy {
  private readonly logger = new Logger('DashboardGateway');
  private ns?: Namespace;
  private recheckTimer?: NodeJS.Timeout;
  private rechecking = false;

  constructor(
    private readonly auth: HttpAuth,
    private readonly service: DashboardService,
    private readonly refresher: DashboardRefresher,
    private readonly lifecycle: Lifecycle,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  afterInit(ns: Namespace): void {
    this.ns = ns;
    this.refresher.attach(ns);
    // A viewer stays connected for hours: a key revoked meanwhile must close its views too.
    this.recheckTimer = setInterval(() => void this.recheckAll(), this.config.keyRevocationPollMs);
    this.recheckTimer.unref();
    ns.use((socket, next) => {
      void this.admit(socket).then(
        (view) => {
          (socket.data as SocketData).view = view;
          next();
        },
        (err: unknown) => {
          const e = err instanceof AppError ? err : new AppError(CommonErrorCode.UNAUTHORIZED, 'Authentication failed');
          if (!(err instanceof AppError)) this.logger.warn(`dashboard handshake failed: ${err instanceof Error ? err.message : String(err)}`);
          next(Object.assign(new Error(e.message), { data: { code: e.code, ...e.details } }));
        },
      );
    });
  }

  onModuleDestroy(): void {
    if (this.recheckTimer) clearInterval(this.recheckTimer);
  }

  private async admit(socket: Socket): Promise<View> {
    if (this.lifecycle.draining) throw new AppError(CommonErrorCode.UNAVAILABLE, 'Server is draining; connect to another replica');
    const { origin, host } = socket.handshake.headers;
    if (!originAllowed(origin, host, this.config.dashboard.allowedOrigins)) {
      throw new AppError(CommonErrorCode.FORBIDDEN, 'Origin not allowed: add it to DASHBOARD_ALLOWED_ORIGINS');
    }
    const rate = await this.limiter.hit(`dash-hs:${socket.handshake.address}`, this.config.rateLimits.handshakePerMinute, MINUTE);
    if (!rate.allowed) {
      throw new AppError(CommonErrorCode.RATE_LIMITED, 'Too many connection attempts from this address', {
        retry_after_seconds: Math.max(1, Math.ceil(rate.retryAfterMs / 1000)),
      });
    }
    const auth = (socket.handshake.auth ?? {}) as { key?: unknown; project_id?: unknown };
    if (typeof auth.key !== 'string' || auth.key.length === 0 || auth.key.length > 512 || /\s/.test(auth.key)) {
      throw new AppError(CommonErrorCode.UNAUTHORIZED, 'Missing or malformed key');
    }
    if (auth.project_id !== undefined && typeof auth.project_id !== 'string') throw new AppError(CommonErrorCode.VALIDATION_FAILED, 'project_id must be a string');
    return this.authorize(auth.key, auth.project_id);
  }

  /** The HTTP API's rules, so a key grants the same here as there. */
  private async authorize(key: string, requested: string | undefined): Promise<View> {
    const bearer = `Bearer ${key}`;
    const caller = await this.auth.caller(bearer);
    const projectId = requested ?? (caller.kind === 'project' ? caller.projectId : undefined);
    if (projectId === undefined) return { kind: 'picker' };
    await this.auth.requireProjectAccess(bearer, projectId);
    return { kind: 'project', projectId };
  }

  /**
   * Checks every local viewer's key again (answered from the verified-key cache, which a
   * revocation clears on every replica); a viewer whose key no longer grants its view is told
   * `session_ended` and disconnected. Failures other than a refusal (database down) keep it.
   */
  async recheckAll(): Promise<void> {
    if (this.rechecking || !this.ns) return;
    this.rechecking = true;
    try {
      await Promise.all(
        [...this.ns.sockets.values()].map(async (socket) => {
          const { key, project_id } = (socket.handshake.auth ?? {}) as { key?: string; project_id?: string };
          if (typeof key !== 'string') return;
          try {
            await this.authorize(key, project_id);
          } catch (err) {
            if (!(err instanceof AppError) || !REFUSALS.has(err.code)) return;
            socket.emit('session_ended', { code: err.code, error: err.message });
            socket.disconnect(true);
          }
        }),
      );
    } finally {
      this.rechecking = false;
    }
  }

  async handleConnection(socket: Socket): Promise<void> {
    const data = socket.data as SocketData;
    const view = data.view;
    if (!view) return;
    // Read-only: nothing a client sends is acted on; an acknowledged call learns so.
    socket.onAny((...args: unknown[]) => {
      const ack = args[args.length - 1];
      if (typeof ack === 'function') (ack as Ack)({ success: false, code: CommonErrorCode.FORBIDDEN, error: 'The dashboard namespace is read-only' });
    });
    if (view.kind === 'picker') {
      socket.emit('projects', { projects: await this.service.listProjects() });
      return;
    }
    // Watch before the first await, so a disconnect racing the snapshot still balances the count.
    data.watching = view.projectId;
    this.refresher.watch(view.projectId);
    await socket.join(dashboardRoom(view.projectId));
    try {
      const snap = await this.service.snapshot(view.projectId);
      if (!snap) return;
      this.refresher.noteSent(view.projectId, snapshotHash(snap));
      socket.emit('snapshot', snap);
    } catch (err) {
      // The refresher's next pass sends it instead.
      this.logger.warn(`dashboard snapshot failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  handleDisconnect(socket: Socket): void {
    const data = socket.data as SocketData;
    if (data.watching) this.refresher.unwatch(data.watching);
    data.watching = undefined;
  }
}
