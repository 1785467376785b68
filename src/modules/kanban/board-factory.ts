import { KanbanErrorCode } from '../../common/errors';
import type { AppConfig } from '../../config/app-config';
import type { Db } from '../../infra/database/db';
import type { ExternalBoardSettings, BoardSettings } from './board-config';
import { BuiltinBoardProvider } from './builtin/builtin-board.provider';
import { GitHubProvider, githubRateLimitedBody } from './github/github.provider';
import { BoardHttp, type HttpPools } from './http/board-http';
import { KanbanError } from './kanban-error';
import { LinearProvider, linearAuthFailedBody, linearRateLimitedBody } from './linear/linear.provider';
import { PlankaProvider } from './planka/planka.provider';
import type { BoardProvider } from './provider';

/** Builds the provider a project's settings describe, reading its secrets from the named variables. */
export function createBoardProvider(deps: { config: AppConfig; db: Db; pools: HttpPools }, projectId: string, settings: BoardSettings): BoardProvider {
  if (settings.provider === 'builtin') return new BuiltinBoardProvider(deps.db, projectId);
  const secret = (name: string): string => {
    const v = deps.config.boardSecret(name);
    if (v === undefined) throw new KanbanError(KanbanErrorCode.BOARD_NOT_CONFIGURED, `${settings.provider}: environment variable ${name} is not set`, { provider: settings.provider });
    return v;
  };
  const http = (baseUrl: string, extra: Partial<ConstructorParameters<typeof BoardHttp>[0]> = {}): BoardHttp =>
    new BoardHttp({
      provider: settings.provider,
      baseUrl,
      dispatcher: deps.pools.for(baseUrl),
      timeoutMs: deps.config.kanban.httpTimeoutMs,
      maxRetries: deps.config.kanban.httpMaxRetries,
      maxRateLimitWaitMs: deps.config.kanban.rateLimitMaxWaitMs,
      ...extra,
    });
  const s: ExternalBoardSettings = settings;
  switch (s.provider) {
    case 'planka':
      return new PlankaProvider({
        http: http(s.url),
        boardId: s.board_id,
        credentials: s.token_env ? { token: secret(s.token_env) } : { username: secret(s.username_env!), password: secret(s.password_env!) },
        statusMap: s.status_map,
      });
    case 'github':
      return new GitHubProvider({
        http: http(s.api_url, { rateLimitedBody: githubRateLimitedBody }),
        token: secret(s.token_env),
        owner: s.owner,
        repo: s.repo,
        projectNumber: s.project_number,
        ownerType: s.owner_type,
        statusField: s.status_field,
        statusMap: s.status_map,
      });
    case 'linear':
      return new LinearProvider({
        http: http(s.api_url, { rateLimitedBody: linearRateLimitedBody, authFailedBody: linearAuthFailedBody }),
        apiKey: secret(s.api_key_env),
        teamId: s.team_id,
        statusMap: s.status_map,
      });
  }
}
