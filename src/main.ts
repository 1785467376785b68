import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { startApp } from './app';
import { ConfigError } from './config/app-config';
import { DrainService } from './modules/connections/drain.service';

const logger = new Logger('pm-agent');

async function main(): Promise<void> {
  const { app, config } = await startApp();
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const t0 = Date.now();
    const deadline = t0 + config.shutdown.graceMs;
    // Whatever happens, leave before the orchestrator's SIGKILL.
    setTimeout(() => {
      logger.error(`drain exceeded ${config.shutdown.graceMs} ms; exiting`);
      process.exit(1);
    }, config.shutdown.graceMs + 2000).unref();
    logger.log(`${signal}: draining`);
    const drained = await app.get(DrainService).drain(deadline);
    await app.close();
    logger.log(`drained ${drained.sockets} socket(s) in ${Date.now() - t0} ms; bye`);
    process.exit(0);
  };
  for (const s of ['SIGTERM', 'SIGINT'] as const) process.once(s, () => void stop(s));
}

main().catch((err: unknown) => {
  logger.error(err instanceof ConfigError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
