import { randomUUID } from 'node:crypto';
import { AppConfig, parseConfig } from '../../src/config/app-config';
import { Db } from '../../src/infra/database/db';
import { BuiltinBoardProvider } from '../../src/modules/kanban/builtin/builtin-board.provider';
import { boardProviderContract } from '../support/board-contract';
import { createTestDatabase } from '../support/pg';

// The built-in board on both storages pm-agent runs on.

async function builtinOn(db: Db, drop: () => Promise<void>) {
  const projectId = randomUUID();
  await db.query('INSERT INTO projects (id, name) VALUES ($1, $2)', [projectId, 'contract']);
  return {
    provider: new BuiltinBoardProvider(db, projectId),
    assignee: 'agent-alice',
    otherAssignee: 'agent-bob',
    cleanup: async () => {
      await db.close();
      await drop();
    },
  };
}

boardProviderContract('builtin (PGlite)', async () => {
  const db = await Db.connect(new AppConfig(parseConfig({ PM_AGENT_EMBEDDED_DB: 'memory', DATABASE_POOL_MAX: '4' })), { migrate: true });
  return builtinOn(db, async () => undefined);
});

boardProviderContract('builtin (Postgres)', async () => {
  const d = await createTestDatabase();
  const db = await Db.connect(new AppConfig(parseConfig({ DATABASE_URL: d.url, DATABASE_POOL_MAX: '4' })), { migrate: true });
  return builtinOn(db, d.drop);
});
