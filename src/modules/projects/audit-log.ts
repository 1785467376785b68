import { Injectable } from '@nestjs/common';
import type { Queryable } from '../../infra/database/db';
import { Db } from '../../infra/database/db';

/** Who did it: the admin key, or one project's API key (by its id, never its value). */
export type Actor = { kind: 'admin' } | { kind: 'project'; projectId: string; keyId: string };

export type AuditAction = 'project.create' | 'api_key.create' | 'api_key.revoke';

export interface AuditEntry {
  actor: Actor;
  action: AuditAction;
  projectId: string;
  target?: string;
  details?: Record<string, unknown>;
  sourceIp?: string;
}

export interface AuditRow {
  id: string;
  at: string;
  actor: string;
  action: AuditAction;
  project_id: string | null;
  target: string | null;
  details: Record<string, unknown>;
  source_ip: string | null;
}

export const actorName = (a: Actor): string => (a.kind === 'admin' ? 'admin' : `api_key:${a.keyId}`);

/** The append-only trail of admin actions, written in the same transaction as the action. */
@Injectable()
export class AuditLog {
  constructor(private readonly db: Db) {}

  async record(q: Queryable, e: AuditEntry): Promise<void> {
    await q.query('INSERT INTO audit_log (actor, action, project_id, target, details, source_ip) VALUES ($1, $2, $3, $4, $5, $6)', [
      actorName(e.actor),
      e.action,
      e.projectId,
      e.target ?? null,
      JSON.stringify(e.details ?? {}),
      e.sourceIp ?? null,
    ]);
  }

  /** Newest first; one project's entries, or every entry for the admin. */
  async list(projectId: string | null, limit: number, beforeId?: string): Promise<AuditRow[]> {
    const r = await this.db.query<AuditRow>(
      `SELECT id::text, at, actor, action, project_id, target, details, source_ip FROM audit_log
        WHERE ($1::uuid IS NULL OR project_id = $1) AND ($2::bigint IS NULL OR id < $2)
        ORDER BY id DESC LIMIT $3`,
      [projectId, beforeId ?? null, limit],
    );
    return r.rows.map((row) => ({ ...row, at: new Date(row.at).toISOString() }));
  }
}
