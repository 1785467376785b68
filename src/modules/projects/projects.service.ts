import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppError, AuthErrorCode } from '../../common/errors';
import { Db } from '../../infra/database/db';
import { apiKeyFingerprint, generateApiKey, splitApiKey, verifyApiKeySecret } from './api-keys';
import { AuditLog, type Actor } from './audit-log';
import { Gate } from '../../common/gate';

// A replica trusts a verified key this long without asking the database again; a revocation
// clears the cache at once on every replica (KeyRevocations), this bounds a missed broadcast.
const VERIFIED_TTL_MS = 10_000;
const MAX_LIVE_KEYS = 20;
// A well-formed hash of nothing, checked when the prefix is unknown.
const DUMMY_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

export interface ApiKeyOwner {
  projectId: string;
  keyId: string;
}

export interface ApiKeyInfo {
  id: string;
  label: string;
  prefix: string;
  created_at: string;
  revoked_at: string | null;
}

interface KeyRow {
  id: string;
  label: string;
  key_prefix: string;
  created_at: Date | string;
  revoked_at: Date | string | null;
}

const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
const keyInfo = (r: KeyRow): ApiKeyInfo => ({ id: r.id, label: r.label, prefix: `pmk_${r.key_prefix}`, created_at: iso(r.created_at)!, revoked_at: iso(r.revoked_at) });

@Injectable()
export class ProjectsService {
  // Verified keys, by fingerprint: scrypt is deliberately slow, agents re-authenticate often.
  private readonly verified = new Map<string, ApiKeyOwner & { until: number }>();
  private readonly inFlight = new Map<string, Promise<ApiKeyOwner | null>>();
  // Slow hashes run a few at a time: a flood of made-up keys queues here, it cannot take every core.
  private readonly hashing = new Gate(4, 512);

  constructor(
    private readonly db: Db,
    private readonly audit: AuditLog,
  ) {}

  async createProject(name: string, actor: Actor, sourceIp?: string): Promise<{ id: string; name: string; api_key: string; api_key_id: string }> {
    const id = randomUUID();
    const keyId = randomUUID();
    const key = await generateApiKey();
    await this.db.tx(async (c) => {
      await c.query('INSERT INTO projects (id, name) VALUES ($1, $2)', [id, name]);
      await c.query('INSERT INTO api_keys (id, project_id, key_prefix, key_hash, label) VALUES ($1, $2, $3, $4, $5)', [keyId, id, key.prefix, key.hash, 'initial']);
      await this.audit.record(c, { actor, action: 'project.create', projectId: id, target: id, details: { name }, sourceIp });
      await this.audit.record(c, { actor, action: 'api_key.create', projectId: id, target: keyId, details: { label: 'initial', prefix: `pmk_${key.prefix}` }, sourceIp });
    });
    return { id, name, api_key: key.key, api_key_id: keyId };
  }

  /** A new key for the project (rotation: create the new one, move agents, revoke the old one). */
  async createKey(projectId: string, label: string, actor: Actor, sourceIp?: string): Promise<ApiKeyInfo & { api_key: string }> {
    const id = randomUUID();
    const key = await generateApiKey();
    const row = await this.db.tx(async (c) => {
      // Serialises key creation per project, so the cap below cannot be raced past.
      await c.query('SELECT 1 FROM projects WHERE id = $1 FOR UPDATE', [projectId]);
      const live = await c.query<{ n: number }>('SELECT count(*)::int AS n FROM api_keys WHERE project_id = $1 AND revoked_at IS NULL', [projectId]);
      if (live.rows[0].n >= MAX_LIVE_KEYS) {
        throw new AppError(AuthErrorCode.KEY_LIMIT_REACHED, `A project may have at most ${MAX_LIVE_KEYS} active keys; revoke one first`);
      }
      const r = await c.query<KeyRow>(
        'INSERT INTO api_keys (id, project_id, key_prefix, key_hash, label) VALUES ($1, $2, $3, $4, $5) RETURNING id, label, key_prefix, created_at, revoked_at',
        [id, projectId, key.prefix, key.hash, label],
      );
      await this.audit.record(c, { actor, action: 'api_key.create', projectId, target: id, details: { label, prefix: `pmk_${key.prefix}` }, sourceIp });
      return r.rows[0];
    });
    return { ...keyInfo(row), api_key: key.key };
  }

  async listKeys(projectId: string): Promise<ApiKeyInfo[]> {
    const r = await this.db.query<KeyRow>('SELECT id, label, key_prefix, created_at, revoked_at FROM api_keys WHERE project_id = $1 ORDER BY created_at, id', [projectId]);
    return r.rows.map(keyInfo);
  }

  /**
   * Revokes a key of this project. Another project's key id is "not found", as is an unknown one.
   * Revoking twice answers the first revocation's time and writes no second audit row.
   */
  async revokeKey(projectId: string, keyId: string, actor: Actor, sourceIp?: string): Promise<ApiKeyInfo> {
    const row = await this.db.tx(async (c) => {
      const r = await c.query<KeyRow>(
        `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND project_id = $2 AND revoked_at IS NULL
          RETURNING id, label, key_prefix, created_at, revoked_at`,
        [keyId, projectId],
      );
      if (r.rows[0]) {
        await this.audit.record(c, { actor, action: 'api_key.revoke', projectId, target: keyId, details: { label: r.rows[0].label }, sourceIp });
        return r.rows[0];
      }
      const before = await c.query<KeyRow>('SELECT id, label, key_prefix, created_at, revoked_at FROM api_keys WHERE id = $1 AND project_id = $2', [keyId, projectId]);
      if (!before.rows[0]) throw new AppError(AuthErrorCode.KEY_NOT_FOUND, 'API key not found');
      return before.rows[0];
    });
    this.forgetProject(projectId);
    return keyInfo(row);
  }

  /** Drops cached verifications of a project's keys (after a revocation here or on another replica). */
  forgetProject(projectId: string): void {
    for (const [fp, v] of this.verified) if (v.projectId === projectId) this.verified.delete(fp);
  }

  async exists(projectId: string): Promise<boolean> {
    const r = await this.db.query('SELECT 1 FROM projects WHERE id = $1', [projectId]);
    return r.rows.length > 0;
  }

  isRecentlyVerified(key: string): boolean {
    return (this.verified.get(apiKeyFingerprint(key))?.until ?? 0) > Date.now();
  }

  /** The project and key id of an API key, or null for an unknown, malformed or revoked key. */
  async ownerOfApiKey(key: string): Promise<ApiKeyOwner | null> {
    const fp = apiKeyFingerprint(key);
    const hit = this.verified.get(fp);
    if (hit && hit.until > Date.now()) return { projectId: hit.projectId, keyId: hit.keyId };
    // Many agents of one project authenticate at once: one scrypt check serves them all.
    let pending = this.inFlight.get(fp);
    if (!pending) {
      pending = this.verify(key, fp).finally(() => this.inFlight.delete(fp));
      this.inFlight.set(fp, pending);
    }
    return pending;
  }

  private async verify(key: string, fp: string): Promise<ApiKeyOwner | null> {
    const parts = splitApiKey(key);
    if (!parts) return null;
    return this.hashing.run(() => this.check(parts, fp));
  }

  private async check(parts: { prefix: string; secret: string }, fp: string): Promise<ApiKeyOwner | null> {
    const r = await this.db.query<{ id: string; project_id: string; key_hash: string }>(
      'SELECT id, project_id, key_hash FROM api_keys WHERE key_prefix = $1 AND revoked_at IS NULL',
      [parts.prefix],
    );
    const row = r.rows[0];
    // An unknown prefix costs the same slow hash as a wrong secret: timing tells a prober nothing.
    const ok = await verifyApiKeySecret(parts.secret, row?.key_hash ?? DUMMY_HASH);
    if (!row || !ok) return null;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(fp, { projectId: row.project_id, keyId: row.id, until: Date.now() + VERIFIED_TTL_MS });
    return { projectId: row.project_id, keyId: row.id };
  }
}
