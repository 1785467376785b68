import { Body, Controller, Delete, Get, Headers, HttpCode, Ip, Param, Post, Query } from '@nestjs/common';
import { z } from 'zod';
import { AppError, AuthErrorCode } from '../../common/errors';
import { uuidSchema } from '../../common/schemas';
import { parseOrThrow } from '../../common/validation';
import { HttpAuth } from '../auth/http-auth';
import { KeyRevocations } from '../auth/key-revocations.service';
import { AuditLog } from './audit-log';
import { ProjectsService } from './projects.service';

export const createKeySchema = z.object({ label: z.string().trim().max(100).optional().default('') });
export const auditQuerySchema = z.object({
  project_id: uuidSchema.optional(),
  limit: z.coerce.number().int().min(1).max(500).optional().default(100),
  before: z.string().regex(/^\d{1,19}$/).optional(),
});

/** API keys of a project (create, list, revoke) and the audit trail of admin actions. */
@Controller('api/v1')
export class KeysController {
  constructor(
    private readonly auth: HttpAuth,
    private readonly projects: ProjectsService,
    private readonly revocations: KeyRevocations,
    private readonly audit: AuditLog,
  ) {}

  /** A new key, shown this once. The project's own key may create one (rotation without the admin). */
  @Post('projects/:id/keys')
  @HttpCode(201)
  async create(@Headers('authorization') authz: string | undefined, @Param('id') id: string, @Body() body: unknown, @Ip() ip: string) {
    const caller = await this.auth.requireProjectAccess(authz, id);
    return this.projects.createKey(id, parseOrThrow(createKeySchema, body ?? {}).label, caller, ip);
  }

  @Get('projects/:id/keys')
  async list(@Headers('authorization') authz: string | undefined, @Param('id') id: string) {
    await this.auth.requireProjectAccess(authz, id);
    return { keys: await this.projects.listKeys(id) };
  }

  /** Revokes the key: requests with it and agent tokens issued from it stop working, open sockets included. */
  @Delete('projects/:id/keys/:keyId')
  async revoke(@Headers('authorization') authz: string | undefined, @Param('id') id: string, @Param('keyId') keyId: string, @Ip() ip: string) {
    const caller = await this.auth.requireProjectAccess(authz, id);
    if (!uuidSchema.safeParse(keyId).success) throw new AppError(AuthErrorCode.KEY_NOT_FOUND, 'API key not found');
    const key = await this.projects.revokeKey(id, keyId, caller, ip);
    await this.revocations.announce({ projectId: id, keyId });
    return { key };
  }

  @Get('projects/:id/audit')
  async projectAudit(@Headers('authorization') authz: string | undefined, @Param('id') id: string, @Query() query: unknown) {
    await this.auth.requireProjectAccess(authz, id);
    const q = parseOrThrow(auditQuerySchema.omit({ project_id: true }), query);
    return { entries: await this.audit.list(id, q.limit, q.before) };
  }

  @Get('audit')
  async allAudit(@Headers('authorization') authz: string | undefined, @Query() query: unknown) {
    await this.auth.requireAdmin(authz);
    const q = parseOrThrow(auditQuerySchema, query);
    return { entries: await this.audit.list(q.project_id ?? null, q.limit, q.before) };
  }
}
