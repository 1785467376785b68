import { BeforeApplicationShutdown, DynamicModule, Global, Inject, Injectable, Module, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { resolveSecrets, Secrets } from '../config/secrets';
import { PushService } from '../modules/events/push.service';
import { Lifecycle } from '../modules/health/lifecycle';
import { Db } from './database/db';
import { createLeaderElector } from './leader/create-elector';
import { LeaderElector } from './leader/leader-elector';
import { MetricsService } from './metrics/metrics.service';
import { Presence } from './shared-state/presence';
import { RateLimiter } from './shared-state/rate-limiter';
import { SharedState } from './shared-state/shared-state';

@Injectable()
class Closer implements OnApplicationShutdown {
  constructor(
    @Inject(Db) private readonly db: Db,
    @Inject(SharedState) private readonly shared: SharedState,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.db.close(), this.shared.close()]);
  }
}

/** Campaigns for leadership once the app is up; steps down (releasing the lock or Lease) before it closes. */
@Injectable()
class LeaderLifecycle implements OnApplicationBootstrap, BeforeApplicationShutdown {
  constructor(
    @Inject(LeaderElector) private readonly elector: LeaderElector,
    @Inject(MetricsService) metrics: MetricsService,
  ) {
    metrics.setSource('pm_agent_leader', () => (elector.isLeader() ? 1 : 0));
  }
  async onApplicationBootstrap(): Promise<void> {
    await this.elector.start();
  }
  async beforeApplicationShutdown(): Promise<void> {
    await this.elector.stop();
  }
}

/** Config, secrets, database, shared state (Redis or in-process) and other process-wide singletons. */
@Global()
@Module({})
export class CoreModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: AppConfig, useValue: config },
        {
          provide: Secrets,
          useFactory: () => {
            const s = resolveSecrets(config);
            return new Secrets(s.adminKey, s.jwtSecret);
          },
        },
        { provide: Db, useFactory: () => Db.connect(config) },
        { provide: SharedState, useFactory: () => SharedState.create(config) },
        { provide: RateLimiter, useFactory: (s: SharedState) => s.rateLimiter, inject: [SharedState] },
        { provide: Presence, useFactory: (s: SharedState) => s.presence, inject: [SharedState] },
        { provide: LeaderElector, useFactory: () => createLeaderElector(config) },
        LeaderLifecycle,
        Closer,
        Lifecycle,
        PushService,
        MetricsService,
      ],
      exports: [AppConfig, Secrets, Db, LeaderElector, Lifecycle, PushService, SharedState, RateLimiter, Presence, MetricsService],
    };
  }
}
