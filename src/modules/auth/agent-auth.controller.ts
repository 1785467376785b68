import { Body, Controller, HttpCode, Ip, Post } from '@nestjs/common';
import { z } from 'zod';
import { AppConfig } from '../../config/app-config';
import { AppError, AuthErrorCode, CommonErrorCode } from '../../common/errors';
import { agentIdSchema } from '../../common/schemas';
import { parseOrThrow } from '../../common/validation';
import { RateLimiter } from '../../infra/shared-state/rate-limiter';
import { ProjectsService } from '../projects/projects.service';
import { TokenService } from './token.service';

export const authSchema = z.object({ api_key: z.string().min(1).max(512), agent_id: agentIdSchema });

@Controller('api/v1/agents')
export class AgentAuthController {
  constructor(
    private readonly projects: ProjectsService,
    private readonly tokens: TokenService,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
  ) {}

  /** Exchanges a project API key for an agent token bound to that agent id, project and key. */
  @Post('auth')
  @HttpCode(200)
  async auth(@Body() body: unknown, @Ip() ip: string) {
    const input = parseOrThrow(authSchema, body);
    // A key this replica verified lately costs nothing; any other costs a slow hash, so guessing
    // keys is rate-limited per address (the same budget as socket handshakes).
    if (!this.projects.isRecentlyVerified(input.api_key)) {
      const rate = await this.limiter.hit(`auth:${ip}`, this.config.rateLimits.handshakePerMinute, 60_000);
      if (!rate.allowed) {
        throw new AppError(CommonErrorCode.RATE_LIMITED, 'Too many authentication attempts from this address', {
          retry_after_seconds: Math.max(1, Math.ceil(rate.retryAfterMs / 1000)),
        });
      }
    }
    const owner = await this.projects.ownerOfApiKey(input.api_key);
    if (!owner) throw new AppError(AuthErrorCode.INVALID_API_KEY, 'Invalid API key');
    return this.tokens.issue({ projectId: owner.projectId, agentId: input.agent_id, keyId: owner.keyId });
  }
}
