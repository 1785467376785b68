import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppConfig, parseConfig } from '../../src/config/app-config';
import { Db } from '../../src/infra/database/db';
import { createTestDatabase } from '../support/pg';

// Postgres restarting (or an admin terminating sessions) while a transaction is between two
// statements: the transaction fails, the process does not (found by the postgres-restart chaos case,
// where every replica died of an unhandled 'error' event on a checked-out client).

describe('Db: a connection lost in the middle of a transaction', () => {
  let db: Db;
  let drop: () => Promise<void>;
  let admin: Client;
  beforeAll(async () => {
    const d = await createTestDatabase();
    drop = d.drop;
    db = await Db.connect(new AppConfig(parseConfig({ DATABASE_URL: d.url, DATABASE_POOL_MAX: '2' })), { migrate: false });
    admin = new Client({ connectionString: d.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await db?.close();
    await drop?.();
  });

  it('fails that transaction with a connection error, and the pool serves the next one', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      let pid = 0;
      let release!: () => void;
      const paused = new Promise<void>((r) => (release = r));
      const tx = db.tx(async (c) => {
        pid = (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
        await paused; // between two statements, as app code awaiting something
        await c.query('SELECT 1');
      }, 1);
      while (pid === 0) await new Promise((r) => setTimeout(r, 10));
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await new Promise((r) => setTimeout(r, 200)); // the FATAL reaches the client while it is checked out
      release();
      await expect(tx).rejects.toThrow();
      expect(uncaught).toEqual([]);
      expect((await db.query<{ one: number }>('SELECT 1 AS one')).rows[0].one).toBe(1);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });
});
