import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import type { Namespace } from 'socket.io';
import { AppConfig } from '../../config/app-config';
import { DashboardService, snapshotHash } from './dashboard.service';

export const dashboardRoom = (projectId: string) => `dash:${projectId}`;

/**
 * Keeps this replica's dashboard viewers current. Changes can be made by any replica (or by the
 * lease sweeper, or the AI consumer), so rather than chase every event source, each replica
 * recomputes the snapshot of the projects ITS viewers watch on a short interval and pushes it only
 * when it changed. Cost: one query set per watched project per interval per replica; no timer at
 * all while nobody watches. Emits are `local`: the other replicas serve their own viewers.
 */
@Injectable()
export class DashboardRefresher implements OnModuleDestroy {
  private readonly logger = new Logger('DashboardRefresher');
  private readonly watched = new Map<string, { viewers: number; hash?: string }>();
  private ns?: Namespace;
  private timer?: NodeJS.Timeout;
  private running = false;

  constructor(
    private readonly service: DashboardService,
    private readonly config: AppConfig,
  ) {}

  attach(ns: Namespace): void {
    this.ns = ns;
  }

  get watchedProjects(): number {
    return this.watched.size;
  }

  watch(projectId: string): void {
    const w = this.watched.get(projectId);
    if (w) w.viewers++;
    else this.watched.set(projectId, { viewers: 1 });
    if (!this.timer) {
      this.timer = setInterval(() => void this.tick(), this.config.dashboard.refreshMs);
      this.timer.unref();
    }
  }

  unwatch(projectId: string): void {
    const w = this.watched.get(projectId);
    if (!w) return;
    if (--w.viewers <= 0) this.watched.delete(projectId);
    if (this.watched.size === 0) this.stop();
  }

  /** Records what a viewer was just sent, so the next tick does not send the same again. */
  noteSent(projectId: string, hash: string): void {
    const w = this.watched.get(projectId);
    if (w && w.hash === undefined) w.hash = hash;
  }

  onModuleDestroy(): void {
    this.stop();
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One pass over the watched projects; a slow pass makes the next ticks skip, never pile up. */
  async tick(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all([...this.watched.keys()].map((projectId) => this.refresh(projectId)));
    } finally {
      this.running = false;
    }
  }

  private async refresh(projectId: string): Promise<void> {
    try {
      const snap = await this.service.snapshot(projectId);
      const w = this.watched.get(projectId);
      if (!snap || !w) return;
      const hash = snapshotHash(snap);
      if (hash === w.hash) return;
      w.hash = hash;
      this.ns?.local.to(dashboardRoom(projectId)).emit('snapshot', snap);
    } catch (err) {
      // The database may be briefly out of reach: viewers keep the last snapshot, the next tick retries.
      this.logger.warn(`dashboard refresh failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
