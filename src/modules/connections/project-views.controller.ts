import { Controller, Get, Headers, Param } from '@nestjs/common';
import { HttpAuth } from '../auth/http-auth';
import { ToolsService } from './tools.service';

/**
 * HTTP views of two read-only socket tools, for the CLI and dashboards.
 * They go through ToolsService so the answer is byte-for-byte what an agent sees; both tools only
 * read `projectId` from the identity, so the agent id here is a placeholder that is never used.
 */
@Controller('api/v1/projects')
export class ProjectViewsController {
  constructor(
    private readonly auth: HttpAuth,
    private readonly tools: ToolsService,
  ) {}

  @Get(':id/agents')
  async agents(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    return this.tools.call('list_registered_agents', { projectId: id, agentId: '' }, {});
  }

  @Get(':id/status')
  async status(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    return this.tools.call('get_project_status', { projectId: id, agentId: '' }, {});
  }
}
