import { Body, Controller, Get, Headers, HttpCode, Ip, Param, Post } from '@nestjs/common';
import { z } from 'zod';
import { parseOrThrow } from '../../common/validation';
import { HttpAuth } from '../auth/http-auth';
import { createTaskSchema, TasksService } from '../tasks/tasks.service';
import { ProjectsService } from './projects.service';

export const createProjectSchema = z.object({ name: z.string().trim().min(1).max(200) });

@Controller('api/v1/projects')
export class ProjectsController {
  constructor(
    private readonly auth: HttpAuth,
    private readonly projects: ProjectsService,
    private readonly tasks: TasksService,
  ) {}

  @Post()
  @HttpCode(201)
  async create(@Headers('authorization') authz: string | undefined, @Body() body: unknown, @Ip() ip: string) {
    const caller = await this.auth.requireAdmin(authz);
    return this.projects.createProject(parseOrThrow(createProjectSchema, body).name, caller, ip);
  }

  @Post(':id/tasks')
  @HttpCode(201)
  async addTask(@Headers('authorization') authz: string | undefined, @Param('id') id: string, @Body() body: unknown) {
    await this.auth.requireProjectAccess(authz, id);
    return this.tasks.create(id, parseOrThrow(createTaskSchema, body));
  }

  @Get(':id/tasks')
  async listTasks(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    return { tasks: await this.tasks.list(id) };
  }
}
