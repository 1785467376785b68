import { Pool, type Dispatcher } from 'undici';
import { KanbanErrorCode } from '../../../common/errors';
import { KanbanError } from '../kanban-error';
import { isRateLimited, retryDecision } from './retry-policy';

export interface BoardHttpOptions {
  /** Provider name used in errors and metrics. */
  provider: string;
  /** Origin plus an optional base path, e.g. https://api.github.com or http://planka:1337. */
  baseUrl: string;
  /** Headers added to every request (auth); called per request so tokens can be refreshed. */
  headers?: () => Record<string, string> | Promise<Record<string, string>>;
  timeoutMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  /** A rate limit asking us to wait longer than this fails the call instead (the write-back waits in its queue). */
  maxRateLimitWaitMs?: number;
  connections?: number;
  /** Shared pool for the origin (see HttpPools); a private one is made otherwise. */
  dispatcher?: Dispatcher;
  /** Rate limits some APIs report in the body of an error (Linear: HTTP 400, extensions.code RATELIMITED). */
  rateLimitedBody?: (status: number, text: string) => boolean;
  /** Refused credentials some APIs report as another status (Linear: HTTP 400, AUTHENTICATION_ERROR). */
  authFailedBody?: (status: number, text: string) => boolean;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  random?: () => number;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Safe to send again after a timeout or a 5xx (default: GET, PUT, DELETE). A request that is not
   * (a POST creating something) is retried only when the API said it did nothing: a rate limit, a
   * 503, or a connection that was refused.
   */
  idempotent?: boolean;
}

export interface HttpResponse<T> {
  status: number;
  headers: Record<string, string | undefined>;
  body: T;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * JSON over a keep-alive undici pool, with retries: network errors and 5xx back off exponentially,
 * rate limits wait for the time the API names (Retry-After, GitHub x-ratelimit-reset, Linear
 * x-ratelimit-*-reset). Errors are KanbanErrors that name method and path only.
 */
export class BoardHttp {
  private readonly pool: Dispatcher;
  private readonly ownsPool: boolean;
  private readonly base: URL;
  private readonly timeoutMs: number;
  private readonly maxRetries: number;
  private readonly retryBaseMs: number;
  private readonly maxRateLimitWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(private readonly opts: BoardHttpOptions) {
    this.base = new URL(opts.baseUrl);
    this.ownsPool = !opts.dispatcher;
    this.pool = opts.dispatcher ?? new Pool(this.base.origin, { connections: opts.connections ?? 8, keepAliveTimeout: 30_000 });
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxRetries = opts.maxRetries ?? 3;
    this.retryBaseMs = opts.retryBaseMs ?? 250;
    this.maxRateLimitWaitMs = opts.maxRateLimitWaitMs ?? 30_000;
    this.sleep = opts.sleep ?? defaultSleep;
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
  }

  get provider(): string {
    return this.opts.provider;
  }

  async request<T>(req: HttpRequest): Promise<HttpResponse<T>> {
    const what = `${this.opts.provider} ${req.method} ${req.path}`;
    for (let attempt = 0; ; attempt++) {
      let status: number | null = null;
      let headers: Record<string, string | undefined> = {};
      let text = '';
      let refused = false;
      try {
        const res = await this.pool.request({
          origin: this.base.origin,
          path: this.pathOf(req),
          method: req.method,
          headers: {
            accept: 'application/json',
            'user-agent': 'pm-agent', // GitHub refuses requests without one
            ...(req.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...(this.opts.headers ? await this.opts.headers() : {}),
            ...req.headers,
          },
          body: req.body === undefined ? undefined : JSON.stringify(req.body),
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          signal: req.signal,
        });
        status = res.statusCode;
        headers = flatten(res.headers);
        text = await res.body.text();
      } catch (err) {
        if (req.signal?.aborted) throw new KanbanError(KanbanErrorCode.BOARD_UNAVAILABLE, `${what}: aborted`, { provider: this.opts.provider });
        refused = (err as { code?: unknown }).code === 'ECONNREFUSED';
        if (attempt >= this.maxRetries) {
          throw new KanbanError(KanbanErrorCode.BOARD_UNAVAILABLE, `${what}: ${networkReason(err)}`, { provider: this.opts.provider });
        }
      }
      // Some APIs report a rate limit in a 200 (GitHub GraphQL's primary limit) or a 400 (Linear).
      const limited = status !== null && status !== 429 && this.opts.rateLimitedBody?.(status, text) === true;
      if (status !== null && status < 400 && !limited) return { status, headers, body: parse<T>(text, what, this.opts.provider) };
      if (limited) status = 429;
      else if (status !== null && status < 500 && this.opts.authFailedBody?.(status, text)) status = 401;
      const d = retryDecision({ status, headers, attempt, nowMs: this.now(), baseMs: this.retryBaseMs, random: this.random() });
      const idempotent = req.idempotent ?? (req.method !== 'POST' && req.method !== 'PATCH');
      const unprocessed = d.retry && (d.rateLimited || status === 503 || refused);
      if (!d.retry || (!idempotent && !unprocessed) || attempt >= this.maxRetries || (d.rateLimited && d.delayMs > this.maxRateLimitWaitMs)) {
        throw this.failure(what, status, headers, d.retry && d.rateLimited ? d.delayMs : undefined);
      }
      await this.sleep(d.delayMs);
    }
  }

  async close(): Promise<void> {
    if (this.ownsPool) await this.pool.close();
  }

  private pathOf(req: HttpRequest): string {
    const basePath = this.base.pathname.replace(/\/$/, '');
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) if (v !== undefined) qs.set(k, String(v));
    const q = qs.toString();
    return `${basePath}${req.path}${q ? `?${q}` : ''}`;
  }

  private failure(what: string, status: number | null, headers: Record<string, string | undefined>, retryAfterMs?: number): KanbanError {
    const details = { provider: this.opts.provider, ...(status !== null ? { status } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
    if (status === null) return new KanbanError(KanbanErrorCode.BOARD_UNAVAILABLE, `${what}: no answer`, details);
    if (isRateLimited(status, headers)) return new KanbanError(KanbanErrorCode.BOARD_RATE_LIMITED, `${what}: rate limited (${status})`, details);
    if (status === 401 || status === 403) return new KanbanError(KanbanErrorCode.BOARD_AUTH_FAILED, `${what}: credentials refused (${status})`, details);
    if (status === 404) return new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `${what}: not found`, details);
    if (status >= 500) return new KanbanError(KanbanErrorCode.BOARD_UNAVAILABLE, `${what}: server error ${status}`, details);
    return new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${what}: rejected (${status})`, details);
  }
}

function flatten(h: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(h)) out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

function parse<T>(text: string, what: string, provider: string): T {
  if (text === '') return undefined as T;
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new KanbanError(KanbanErrorCode.BOARD_BAD_RESPONSE, `${what}: answer is not JSON`, { provider });
  }
}

function networkReason(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : 'network error';
}

/** One keep-alive pool per origin, shared by every project that uses the same board API. */
export class HttpPools {
  private readonly pools = new Map<string, Pool>();

  constructor(private readonly connections = 16) {}

  for(baseUrl: string): Dispatcher {
    const origin = new URL(baseUrl).origin;
    let p = this.pools.get(origin);
    if (!p) {
      p = new Pool(origin, { connections: this.connections, keepAliveTimeout: 30_000 });
      this.pools.set(origin, p);
    }
    return p;
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((p) => p.close()));
    this.pools.clear();
  }
}
