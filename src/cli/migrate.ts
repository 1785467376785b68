import 'reflect-metadata';
import { AppConfig, parseConfig } from '../config/app-config';
import { EmbeddedPostgres } from '../infra/database/embedded-postgres';
import { runMigrations } from '../infra/database/migrate';

/** `npm run migrate`: applies pending migrations and exits (the Helm pre-upgrade hook runs this). */
async function main(): Promise<void> {
  const config = new AppConfig(parseConfig());
  const embedded = config.database.url ? undefined : await EmbeddedPostgres.start({ dataDir: config.dataDir, maxConnections: 2 });
  try {
    const applied = await runMigrations(config.database.url ?? embedded!.url);
    console.log(applied.length > 0 ? `applied: ${applied.join(', ')}` : 'schema is up to date');
  } finally {
    await embedded?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
