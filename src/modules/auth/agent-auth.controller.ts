import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { z } from 'zod';
import { AppError, AuthErrorCode } from '../../common/errors';
import { agentIdSchema } from '../../common/schemas';
import { parseOrThrow } from '../../common/validation';
import { ProjectsService } from '../projects/projects.service';
import { TokenService } from './token.service';

export const authSchema = z.object({ api_key: z.string().min(1).max(512), agent_id: agentIdSchema });

@Controller('api/v1/agents')
export class AgentAuthController {
  constructor(
    private readonly projects: ProjectsService,
    private readonly tokens: TokenService,
  ) {}

  /** Exchanges a project API key for an agent token bound to that agent id and project. */
  @Post('auth')
  @HttpCode(200)
  async auth(@Body() body: unknown) {
    const input = parseOrThrow(authSchema, body);
    const projectId = await this.projects.projectOfApiKey(input.api_key);
    if (!projectId) throw new AppError(AuthErrorCode.INVALID_API_KEY, 'Invalid API key');
    return this.tokens.issue({ projectId, agentId: input.agent_id });
  }
}
