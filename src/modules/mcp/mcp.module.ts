import { Module } from '@nestjs/common';
import { ConnectionsModule } from '../connections/connections.module';
import { ProjectsModule } from '../projects/projects.module';
import { McpController } from './mcp.controller';

/** The MCP endpoint (/mcp): the agent tools for MCP clients, over streamable HTTP. */
@Module({
  imports: [ConnectionsModule, ProjectsModule],
  controllers: [McpController],
})
export class McpModule {}
