import { Module } from '@nestjs/common';
import { KanbanModule } from '../kanban/kanban.module';
import { HealthModule } from '../health/health.module';
import { AgentsModule } from '../agents/agents.module';
import { ProjectsModule } from '../projects/projects.module';
import { TasksModule } from '../tasks/tasks.module';
import { AgentsGateway } from './agents.gateway';
import { DrainService } from './drain.service';
import { ProjectViewsController } from './project-views.controller';
import { PresenceTracker } from './presence-tracker.service';
import { ToolsService } from './tools.service';

@Module({
  imports: [AgentsModule, TasksModule, ProjectsModule, HealthModule, KanbanModule],
  controllers: [ProjectViewsController],
  providers: [AgentsGateway, ToolsService, PresenceTracker, DrainService],
  exports: [DrainService, PresenceTracker, ToolsService],
})
export class ConnectionsModule {}
