import { Module } from '@nestjs/common';
import { AgentAuthController } from '../auth/agent-auth.controller';
import { HttpAuth } from '../auth/http-auth';
import { KeyRevocations } from '../auth/key-revocations.service';
import { TokenService } from '../auth/token.service';
import { AuditLog } from './audit-log';
import { KeysController } from './keys.controller';
import { TasksModule } from '../tasks/tasks.module';
import { ProjectsController } from './projects.controller';
import { ProjectsService } from './projects.service';

@Module({
  imports: [TasksModule],
  controllers: [ProjectsController, KeysController, AgentAuthController],
  providers: [ProjectsService, TokenService, HttpAuth, KeyRevocations, AuditLog],
  exports: [ProjectsService, TokenService, HttpAuth, KeyRevocations, AuditLog],
})
export class ProjectsModule {}
