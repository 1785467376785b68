import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { LeaderElector } from '../../infra/leader/leader-elector';
import { BoardSyncService } from './sync/board-sync.service';
import { BoardWritebackService } from './writeback/board-writeback.service';

const SYNC_POLL_MS = 1000;

/**
 * While this replica is the leader: imports boards that are due (interval, webhook, settings
 * change) and drains queued write-backs. Each loop waits for its previous pass, so a slow board
 * never piles up work; losing leadership stops both at the next pass.
 */
@Injectable()
export class BoardWorker implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Kanban');
  private timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private active = false;

  constructor(
    private readonly config: AppConfig,
    private readonly elector: LeaderElector,
    private readonly sync: BoardSyncService,
    private readonly writebacks: BoardWritebackService,
  ) {}

  onApplicationBootstrap(): void {
    this.unsubscribe = this.elector.onChange((leader) => (leader ? this.begin() : this.end()));
    if (this.elector.isLeader()) this.begin();
  }

  onApplicationShutdown(): void {
    this.unsubscribe?.();
    this.end();
  }

  private begin(): void {
    if (this.active) return;
    this.active = true;
    this.logger.log('leading: board sync and write-back run on this replica');
    this.loop(SYNC_POLL_MS, () => this.sync.syncDue());
    this.loop(this.config.kanban.writebackIntervalMs, () => this.writebacks.drainAll());
  }

  private end(): void {
    this.active = false;
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  private loop(everyMs: number, pass: () => Promise<void>): void {
    const next = (): void => {
      if (!this.active) return;
      const t = setTimeout(() => {
        this.timers = this.timers.filter((x) => x !== t);
        pass()
          .catch((err: unknown) => this.logger.warn(`board pass failed: ${err instanceof Error ? err.message : String(err)}`))
          .finally(next);
      }, everyMs);
      t.unref();
      this.timers.push(t);
    };
    next();
  }
}
