import { Body, Controller, Get, Headers, HttpCode, Param, Post, Put, Req } from '@nestjs/common';
import type { Request } from 'express';
import { AppError, CommonErrorCode, KanbanErrorCode } from '../../common/errors';
import { uuidSchema } from '../../common/schemas';
import { AppConfig } from '../../config/app-config';
import { Db } from '../../infra/database/db';
import { HttpAuth } from '../auth/http-auth';
import { BoardRegistry } from './board-registry';
import { githubWebhookHint, verifyGitHubSignature } from './github/github-webhook';
import { linearWebhookHint, verifyLinearSignature } from './linear/linear-webhook';
import { BoardSyncService } from './sync/board-sync.service';

/** Board settings, state and on-demand sync for operators; the live board through the cache. */
@Controller('api/v1/projects/:id/board')
export class BoardController {
  constructor(
    private readonly auth: HttpAuth,
    private readonly boards: BoardRegistry,
    private readonly sync: BoardSyncService,
    private readonly db: Db,
  ) {}

  @Put()
  async configure(@Headers('authorization') authz: string | undefined, @Param('id') id: string, @Body() body: unknown) {
    await this.auth.requireAdmin(authz);
    await this.auth.requireProjectAccess(authz, id);
    return { board: await this.boards.configure(id, body) };
  }

  @Get()
  async state(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    const settings = await this.boards.settings(id);
    const sync = await this.db.query('SELECT requested_at, last_started_at, last_finished_at, last_ok_at, last_error, last_created, last_updated, last_duration_ms FROM board_sync_state WHERE project_id = $1', [id]);
    const wb = await this.db.query<{ pending: string; dead: string }>(
      'SELECT count(*) FILTER (WHERE applied_at IS NULL) AS pending, count(*) FILTER (WHERE dead) AS dead FROM board_writebacks WHERE project_id = $1',
      [id],
    );
    const breaker = settings.provider === 'builtin' ? null : (await this.boards.handle(id).catch(() => null))?.breaker.state ?? null;
    return {
      board: settings,
      sync: sync.rows[0] ?? null,
      writebacks: { pending: Number(wb.rows[0].pending), dead: Number(wb.rows[0].dead) },
      breaker,
    };
  }

  @Post('sync')
  @HttpCode(202)
  async requestSync(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    await this.sync.request(id);
    return { accepted: true };
  }

  /** The board as its provider shows it now (through the two-level cache). */
  @Get('cards')
  async cards(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    const handle = await this.boards.handle(id);
    return { provider: handle.settings.provider, cards: await handle.board.listTasks() };
  }
}

/**
 * GitHub and Linear webhooks: the signature is checked against the raw body with the project's
 * webhook secret; a relevant event drops the cached board and asks the leader for a sync.
 * Unknown projects and projects without a webhook secret get the same answer as a bad signature.
 */
@Controller('api/v1/webhooks')
export class WebhooksController {
  constructor(
    private readonly config: AppConfig,
    private readonly boards: BoardRegistry,
    private readonly sync: BoardSyncService,
  ) {}

  @Post(':provider/:projectId')
  @HttpCode(202)
  async receive(@Param('provider') provider: string, @Param('projectId') projectId: string, @Req() req: Request & { rawBody?: Buffer }, @Headers() headers: Record<string, string | undefined>) {
    if (provider !== 'github' && provider !== 'linear') throw new AppError(CommonErrorCode.NOT_FOUND, 'Unknown webhook provider');
    const refused = new AppError(KanbanErrorCode.WEBHOOK_SIGNATURE_INVALID, 'Webhook signature invalid');
    if (!uuidSchema.safeParse(projectId).success) throw refused;
    const settings = await this.boards.settings(projectId);
    if (settings.provider !== provider || !settings.webhook_secret_env) throw refused;
    const secret = this.config.boardSecret(settings.webhook_secret_env);
    const raw = req.rawBody;
    if (!secret || !raw) throw refused;
    const body: unknown = req.body;
    const hint =
      provider === 'github'
        ? verifyGitHubSignature(raw, headers['x-hub-signature-256'], secret)
          ? githubWebhookHint(headers['x-github-event'] ?? '', body)
          : null
        : verifyLinearSignature(raw, headers['linear-signature'], secret)
          ? linearWebhookHint(body)
          : null;
    if (!hint) throw refused;
    if (hint.relevant) {
      await this.boards.cache.invalidate(projectId);
      await this.sync.request(projectId);
    }
    return { accepted: true, relevant: hint.relevant };
  }
}
