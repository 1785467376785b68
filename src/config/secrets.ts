import { Injectable, Logger } from '@nestjs/common';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { redactor } from '../infra/logging/redactor';
import { AppConfig, ConfigError } from './app-config';

export interface ResolvedSecrets {
  adminKey: string;
  jwtSecret: string;
}

/**
 * The admin key and JWT secret. Taken from the environment; in embedded mode, when unset, they
 * are generated once and kept in the data dir (mode 0600). Only their location is ever logged.
 */
export function resolveSecrets(config: AppConfig, logger = new Logger('Secrets')): ResolvedSecrets {
  const missing: string[] = [];
  if (!config.secrets.adminKey) missing.push('PM_AGENT_ADMIN_KEY');
  if (!config.secrets.jwtSecret) missing.push('PM_AGENT_JWT_SECRET');
  if (missing.length > 0 && !config.generateSecrets) {
    throw new ConfigError(
      `${missing.join(' and ')} must be set: replicas sharing a database must share these secrets ` +
        '(they are only generated automatically in embedded mode).',
    );
  }
  const adminKey = config.secrets.adminKey ?? loadOrCreate(config.dataDir, 'admin.key', () => `pma_${randomBytes(24).toString('base64url')}`, logger);
  const jwtSecret = config.secrets.jwtSecret ?? loadOrCreate(config.dataDir, 'jwt.secret', () => randomBytes(48).toString('base64url'), logger);
  // Generated secrets are masked in logs like configured ones.
  redactor.addSecret(adminKey);
  redactor.addSecret(jwtSecret);
  return { adminKey, jwtSecret };
}

function loadOrCreate(dir: string, name: string, make: () => string, logger: Logger): string {
  const path = join(dir, name);
  if (existsSync(path)) return readFileSync(path, 'utf8').trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(path, `${make()}\n`, { mode: 0o600, flag: 'wx' });
  logger.log(`generated ${name} and stored it in ${path} (mode 0600)`);
  return readFileSync(path, 'utf8').trim();
}

/** Injectable holder so services receive secrets without reading files or the environment. */
@Injectable()
export class Secrets implements ResolvedSecrets {
  constructor(
    readonly adminKey: string,
    readonly jwtSecret: string,
  ) {}
}
