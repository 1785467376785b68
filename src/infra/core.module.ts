import { DynamicModule, Global, Inject, Injectable, Module, OnApplicationShutdown } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { resolveSecrets, Secrets } from '../config/secrets';
import { PushService } from '../modules/events/push.service';
import { Lifecycle } from '../modules/health/lifecycle';
import { Db } from './database/db';

@Injectable()
class DbCloser implements OnApplicationShutdown {
  constructor(@Inject(Db) private readonly db: Db) {}
  async onApplicationShutdown(): Promise<void> {
    await this.db.close();
  }
}

/** Config, secrets, database and the other process-wide singletons. */
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
        DbCloser,
        Lifecycle,
        PushService,
      ],
      exports: [AppConfig, Secrets, Db, Lifecycle, PushService],
    };
  }
}
