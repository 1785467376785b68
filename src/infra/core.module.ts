import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { resolveSecrets, Secrets } from '../config/secrets';
import { PushService } from '../modules/events/push.service';
import { Lifecycle } from '../modules/health/lifecycle';
import { Db } from './database/db';
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
        Closer,
        Lifecycle,
        PushService,
        MetricsService,
      ],
      exports: [AppConfig, Secrets, Db, Lifecycle, PushService, SharedState, RateLimiter, Presence, MetricsService],
    };
  }
}
