import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { Db } from '../../infra/database/db';
import { apiKeyFingerprint, generateApiKey, splitApiKey, verifyApiKeySecret } from './api-keys';

const VERIFIED_TTL_MS = 60_000;

@Injectable()
export class ProjectsService {
  // Verified keys, by fingerprint: scrypt is deliberately slow, agents re-authenticate often.
  private readonly verified = new Map<string, { projectId: string; until: number }>();
  private readonly inFlight = new Map<string, Promise<string | null>>();

  constructor(private readonly db: Db) {}

  async createProject(name: string): Promise<{ id: string; name: string; api_key: string }> {
    const id = randomUUID();
    const key = await generateApiKey();
    await this.db.tx(async (c) => {
      await c.query('INSERT INTO projects (id, name) VALUES ($1, $2)', [id, name]);
      await c.query('INSERT INTO api_keys (id, project_id, key_prefix, key_hash) VALUES ($1, $2, $3, $4)', [
        randomUUID(),
        id,
        key.prefix,
        key.hash,
      ]);
    });
    return { id, name, api_key: key.key };
  }

  async exists(projectId: string): Promise<boolean> {
    const r = await this.db.query('SELECT 1 FROM projects WHERE id = $1', [projectId]);
    return r.rows.length > 0;
  }

  /** The project an API key belongs to, or null for an unknown, malformed or revoked key. */
  async projectOfApiKey(key: string): Promise<string | null> {
    const fp = apiKeyFingerprint(key);
    const hit = this.verified.get(fp);
    if (hit && hit.until > Date.now()) return hit.projectId;
    // Many agents of one project authenticate at once: one scrypt check serves them all.
    let pending = this.inFlight.get(fp);
    if (!pending) {
      pending = this.verify(key, fp).finally(() => this.inFlight.delete(fp));
      this.inFlight.set(fp, pending);
    }
    return pending;
  }

  private async verify(key: string, fp: string): Promise<string | null> {
    const parts = splitApiKey(key);
    if (!parts) return null;
    const r = await this.db.query<{ project_id: string; key_hash: string }>(
      'SELECT project_id, key_hash FROM api_keys WHERE key_prefix = $1 AND revoked_at IS NULL',
      [parts.prefix],
    );
    const row = r.rows[0];
    if (!row || !(await verifyApiKeySecret(parts.secret, row.key_hash))) return null;
    if (this.verified.size > 10_000) this.verified.clear();
    this.verified.set(fp, { projectId: row.project_id, until: Date.now() + VERIFIED_TTL_MS });
    return row.project_id;
  }
}
