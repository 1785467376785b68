import { Module } from '@nestjs/common';
import { AgentAuthController } from '../auth/agent-auth.controller';
import { HttpAuth } from '../auth/http-auth';
import { TokenService } from '../auth/token.service';
import { TasksModule } from '../tasks/tasks.module';
import { ProjectsController } from './projects.controller';
import { ProjectsService } from './projects.service';

@Module({
  imports: [TasksModule],
  controllers: [ProjectsController, AgentAuthController],
  providers: [ProjectsService, TokenService, HttpAuth],
  exports: [ProjectsService, TokenService, HttpAuth],
})
export class ProjectsModule {}
