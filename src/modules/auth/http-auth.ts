import { Injectable } from '@nestjs/common';
import { Secrets } from '../../config/secrets';
import { AppError, CommonErrorCode, ProjectErrorCode } from '../../common/errors';
import { uuidSchema } from '../../common/schemas';
import { safeEqual } from '../projects/api-keys';
import type { Actor } from '../projects/audit-log';
import { ProjectsService } from '../projects/projects.service';

export type Caller = Actor;

/** Who is calling the HTTP API: the admin key or a project's API key, from `Authorization: Bearer`. */
@Injectable()
export class HttpAuth {
  constructor(
    private readonly secrets: Secrets,
    private readonly projects: ProjectsService,
  ) {}

  async caller(authorization: string | undefined): Promise<Caller> {
    const m = /^Bearer\s+(\S{1,512})$/i.exec(authorization ?? '');
    if (!m) throw new AppError(CommonErrorCode.UNAUTHORIZED, 'Missing Authorization: Bearer <key>');
    const key = m[1];
    if (safeEqual(key, this.secrets.adminKey)) return { kind: 'admin' };
    const owner = await this.projects.ownerOfApiKey(key);
    if (owner) return { kind: 'project', ...owner };
    throw new AppError(CommonErrorCode.UNAUTHORIZED, 'Invalid key');
  }

  async requireAdmin(authorization: string | undefined): Promise<Caller> {
    const caller = await this.caller(authorization);
    if (caller.kind !== 'admin') throw new AppError(CommonErrorCode.FORBIDDEN, 'This call needs the admin key');
    return caller;
  }

  /**
   * Admin, or the API key of this very project. Another project's key learns nothing: an existing
   * and a missing project answer alike, without a lookup for either.
   */
  async requireProjectAccess(authorization: string | undefined, projectId: string): Promise<Caller> {
    const caller = await this.caller(authorization);
    if (caller.kind === 'project' && caller.projectId !== projectId) {
      throw new AppError(CommonErrorCode.FORBIDDEN, 'This key does not grant access to that project');
    }
    // A malformed id is "no such project"; it never reaches SQL.
    if (caller.kind === 'admin' && !(uuidSchema.safeParse(projectId).success && (await this.projects.exists(projectId)))) {
      throw new AppError(ProjectErrorCode.PROJECT_NOT_FOUND, 'Project not found');
    }
    return caller;
  }
}
