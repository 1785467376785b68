import { Module } from '@nestjs/common';
import { AssignmentService } from './assignment.service';
import { TaskAvailability } from './availability.service';
import { BlockerService } from './blocker.service';
import { LeaseSweeper } from './lease-sweeper.service';
import { ProgressService } from './progress.service';
import { ProjectStatusService } from './project-status.service';
import { TaskContextService } from './task-context.service';
import { TasksService } from './tasks.service';

const services = [AssignmentService, TaskAvailability, BlockerService, LeaseSweeper, ProgressService, ProjectStatusService, TaskContextService, TasksService];

@Module({ providers: services, exports: services })
export class TasksModule {}
