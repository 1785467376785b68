import 'reflect-metadata';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INestApplication } from '@nestjs/common';
import { startApp } from '../../src/app';
import { Db } from '../../src/infra/database/db';
import { createTestDatabase } from './pg';
import { watchSecret } from './secret-registry';

export const TEST_JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789';

export type StorageMode = 'embedded' | 'postgres';
export const STORAGE_MODES: StorageMode[] = ['embedded', 'postgres'];

export interface TestApp {
  url: string;
  adminKey: string;
  app: INestApplication;
  db: Db;
  close: () => Promise<void>;
}

/** Starts the whole service in this process on a free port, against PGlite or the real Postgres. */
export async function startTestApp(mode: StorageMode, env: Record<string, string> = {}): Promise<TestApp> {
  const dataDir = mkdtempSync(join(tmpdir(), 'pm-agent-test-'));
  const database = mode === 'postgres' ? await createTestDatabase() : undefined;
  const adminKey = `test-admin-${Math.random().toString(36).slice(2)}-key`;
  watchSecret(adminKey);
  watchSecret(env.PM_AGENT_JWT_SECRET ?? TEST_JWT_SECRET);
  const { app, url } = await startApp({
    PORT: '0',
    MANAGEMENT_PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    PM_AGENT_DATA_DIR: dataDir,
    PM_AGENT_EMBEDDED_DB: 'memory',
    PM_AGENT_ADMIN_KEY: adminKey,
    PM_AGENT_JWT_SECRET: TEST_JWT_SECRET,
    ...(database ? { DATABASE_URL: database.url } : {}),
    ...env,
  });
  return {
    url,
    adminKey,
    app,
    db: app.get(Db),
    close: async () => {
      await app.close();
      await database?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function readSecretFile(dir: string, name: string): string {
  return readFileSync(join(dir, name), 'utf8').trim();
}
