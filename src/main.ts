import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { ConfigError } from './config/app-config';

startApp().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    new Logger('pm-agent').error(err.message);
  } else {
    new Logger('pm-agent').error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  }
  process.exit(1);
});
