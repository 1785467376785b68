import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { Initial1764400000000 } from './migrations/1764400000000-initial';
import { Events1764500000000 } from './migrations/1764500000000-events';
import { Boards1764600000000 } from './migrations/1764600000000-boards';
import { ClaimClasses1764700000000 } from './migrations/1764700000000-claim-classes';
import { Security1764800000000 } from './migrations/1764800000000-security';

export const MIGRATIONS = [Initial1764400000000, Events1764500000000, Boards1764600000000, ClaimClasses1764700000000, Security1764800000000];
const MIGRATION_LOCK = 'pm-agent:migrations';

/**
 * Applies pending TypeORM migrations. A session advisory lock serialises replicas starting at
 * once: the first migrates, the others wait and then find nothing to do.
 */
export async function runMigrations(url: string): Promise<string[]> {
  const lock = new Client({ connectionString: url });
  await lock.connect();
  try {
    await lock.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK]);
    const ds = new DataSource({
      type: 'postgres',
      url,
      migrations: MIGRATIONS,
      migrationsTableName: 'schema_migrations',
      synchronize: false,
      logging: false,
      extra: { max: 1 },
    });
    await ds.initialize();
    try {
      const applied = await ds.runMigrations({ transaction: 'each' });
      return applied.map((m) => m.name);
    } finally {
      await ds.destroy();
    }
  } finally {
    await lock.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK]).catch(() => undefined);
    await lock.end();
  }
}
