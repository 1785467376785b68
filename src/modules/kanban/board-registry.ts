import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { createHash } from 'node:crypto';
import { AppConfig } from '../../config/app-config';
import { parseOrThrow } from '../../common/validation';
import { Db, type Queryable } from '../../infra/database/db';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { SharedState } from '../../infra/shared-state/shared-state';
import { BoardBreaker, type BreakerState } from './board-breaker';
import { BoardCache } from './board-cache';
import { BUILTIN_BOARD, boardSettingsSchema, type BoardSettings } from './board-config';
import { createBoardProvider } from './board-factory';
import { GuardedProvider } from './guarded-provider';
import { HttpPools } from './http/board-http';

/** A project's board, ready to use: the guarded provider and its breaker. */
export interface BoardHandle {
  projectId: string;
  settings: BoardSettings;
  board: GuardedProvider;
  breaker: BoardBreaker;
}

const SETTINGS_TTL_MS = 5_000;

/**
 * Which board each project uses, and one guarded provider per project built from its settings
 * (rebuilt when they change). Pools are shared per API origin across projects.
 */
@Injectable()
export class BoardRegistry implements OnApplicationShutdown {
  private readonly logger = new Logger('Kanban');
  private readonly pools: HttpPools;
  readonly cache: BoardCache;
  private readonly handles = new Map<string, { digest: string; handle: BoardHandle }>();
  private readonly settingsCache = new Map<string, { settings: BoardSettings; until: number }>();

  constructor(
    private readonly config: AppConfig,
    private readonly db: Db,
    shared: SharedState,
    metrics: MetricsService,
  ) {
    this.pools = new HttpPools(config.kanban.httpConnections);
    this.cache = new BoardCache(shared.redis?.client ?? null, config.redis.keyPrefix, config.kanban.localCacheTtlMs, config.kanban.cacheTtlMs);
    metrics.setSource('pm_agent_kanban_breaker_open', () => [...this.handles.values()].filter((h) => h.handle.breaker.state === 'open').length);
  }

  async settings(projectId: string, q: Queryable = this.db): Promise<BoardSettings> {
    const hit = this.settingsCache.get(projectId);
    if (hit && hit.until > Date.now()) return hit.settings;
    const r = await q.query<{ provider: string; config: Record<string, unknown> }>('SELECT provider, config FROM project_boards WHERE project_id = $1', [projectId]);
    const row = r.rows[0];
    // Stored settings were validated on the way in; parse again so a hand-edited row fails loudly.
    const settings = row ? boardSettingsSchema.parse({ ...row.config, provider: row.provider }) : BUILTIN_BOARD;
    if (this.settingsCache.size > 10_000) this.settingsCache.clear();
    this.settingsCache.set(projectId, { settings, until: Date.now() + SETTINGS_TTL_MS });
    return settings;
  }

  /** Validates and stores a project's board settings; the next use builds the new provider. */
  async configure(projectId: string, body: unknown): Promise<BoardSettings> {
    const settings = parseOrThrow(boardSettingsSchema, body);
    const { provider, ...rest } = settings;
    await this.db.query(
      `INSERT INTO project_boards (project_id, provider, config) VALUES ($1, $2, $3)
       ON CONFLICT (project_id) DO UPDATE SET provider = EXCLUDED.provider, config = EXCLUDED.config, updated_at = now()`,
      [projectId, provider, JSON.stringify(rest)],
    );
    await this.db.query('INSERT INTO board_sync_state (project_id, requested_at) VALUES ($1, now()) ON CONFLICT (project_id) DO UPDATE SET requested_at = now()', [projectId]);
    this.settingsCache.delete(projectId);
    await this.cache.invalidate(projectId);
    return settings;
  }

  async handle(projectId: string): Promise<BoardHandle> {
    const settings = await this.settings(projectId);
    const digest = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    const known = this.handles.get(projectId);
    if (known && known.digest === digest) return known.handle;
    if (known) void known.handle.board.close().catch(() => undefined);
    const name = `${settings.provider}:${projectId}`;
    const breaker = new BoardBreaker(name, {
      failures: this.config.kanban.breakerFailures,
      resetMs: this.config.kanban.breakerResetMs,
      onChange: (state: BreakerState) => this.logger.warn(`board ${name}: circuit ${state}`),
    });
    const inner = createBoardProvider({ config: this.config, db: this.db, pools: this.pools }, projectId, settings);
    const handle: BoardHandle = { projectId, settings, breaker, board: new GuardedProvider(inner, breaker, this.cache, projectId) };
    this.handles.set(projectId, { digest, handle });
    return handle;
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([...this.handles.values()].map((h) => h.handle.board.close()));
    this.handles.clear();
    await this.pools.close();
  }
}
