import { Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Namespace } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { Db } from '../../infra/database/db';
import { ProjectsService } from '../projects/projects.service';

/** Room of every agent socket opened with a token of this API key. */
export const apiKeyRoom = (keyId: string) => `apikey:${keyId}`;

const BROADCAST = 'pm:key_revoked';

interface Revoked {
  projectId: string;
  keyId: string;
}

/**
 * Which API keys are revoked, known to every replica without a database read per call. A
 * revocation is applied at once here, broadcast to the other replicas through the socket
 * adapter (which also disconnects the key's sockets wherever they are), and picked up by a
 * short poll of the database in case a broadcast was missed.
 */
@Injectable()
export class KeyRevocations implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('KeyRevocations');
  private readonly revoked = new Map<string, string>();
  private ns?: Namespace;
  private timer?: NodeJS.Timeout;
  private lastPollOk = 0;

  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
    private readonly projects: ProjectsService,
  ) {}

  async onModuleInit(): Promise<void> {
    await this.poll(true);
    this.timer = setInterval(() => void this.poll(false), this.config.keyRevocationPollMs);
    this.timer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.timer);
  }

  /** The agents namespace: revocations from other replicas arrive on it. */
  attach(ns: Namespace): void {
    this.ns = ns;
    ns.on(BROADCAST, (msg: unknown) => {
      const m = msg as Partial<Revoked> | undefined;
      if (typeof m?.keyId === 'string' && typeof m.projectId === 'string') this.apply({ keyId: m.keyId, projectId: m.projectId });
    });
  }

  isRevoked(keyId: string | undefined): boolean {
    return keyId !== undefined && this.revoked.has(keyId);
  }

  /** After the database says the key is revoked: every replica forgets it and drops its sockets. */
  async announce(r: Revoked): Promise<void> {
    this.apply(r);
    const ns = this.ns;
    if (!ns) return;
    try {
      ns.serverSideEmit(BROADCAST, r);
      ns.to(apiKeyRoom(r.keyId)).emit('token_revoked', { reason: 'api_key_revoked', at: new Date().toISOString() });
      ns.in(apiKeyRoom(r.keyId)).disconnectSockets(true);
    } catch (err) {
      // The poll still reaches the other replicas within KEY_REVOCATION_POLL_MS.
      this.logger.warn(`revocation broadcast failed: ${(err as Error).message}`);
    }
  }

  private apply(r: Revoked): void {
    if (!this.revoked.has(r.keyId)) this.projects.forgetProject(r.projectId);
    this.revoked.set(r.keyId, r.projectId);
  }

  private async poll(full: boolean): Promise<void> {
    // A poll window a few intervals wide; after a gap (database down) read everything again.
    const windowMs = this.config.keyRevocationPollMs * 5 + 10_000;
    const reload = full || Date.now() - this.lastPollOk > windowMs;
    try {
      const r = await this.db.query<{ id: string; project_id: string }>(
        reload
          ? 'SELECT id, project_id FROM api_keys WHERE revoked_at IS NOT NULL'
          : `SELECT id, project_id FROM api_keys WHERE revoked_at > now() - ($1::int * interval '1 millisecond')`,
        reload ? [] : [windowMs],
      );
      for (const row of r.rows) {
        if (!this.revoked.has(row.id)) this.apply({ keyId: row.id, projectId: row.project_id });
      }
      // A socket of a key learnt here (its broadcast was lost) is refused at its next call.
      this.lastPollOk = Date.now();
    } catch (err) {
      if (full) throw err;
      this.logger.warn(`revoked keys not refreshed: ${(err as Error).message}`);
    }
  }
}
