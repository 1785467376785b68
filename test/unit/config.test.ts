import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AppConfig, ConfigError, parseConfig } from '../../src/config/app-config';
import { resolveSecrets } from '../../src/config/secrets';

function configError(env: Record<string, string>): ConfigError {
  try {
    parseConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`parseConfig accepted ${JSON.stringify(env)}`);
}

describe('parseConfig', () => {
  it('fills in the documented defaults', () => {
    const raw = parseConfig({});
    expect(raw).toMatchObject({
      PORT: 3100,
      HOST: '0.0.0.0',
      LOG_LEVEL: 'log',
      PM_AGENT_DATA_DIR: './data',
      DATABASE_POOL_MAX: 10,
      DATABASE_STATEMENT_TIMEOUT_MS: 10_000,
      PM_AGENT_EMBEDDED_DB: 'disk',
      JWT_TTL_SECONDS: 900,
      LEASE_TIMEOUT_SCALE: 1,
      RETRY_AFTER_SECONDS: 30,
      AGENT_DEFAULT_CAPACITY: 1,
    });
    expect(raw.DATABASE_URL).toBeUndefined();
    expect(raw.PM_AGENT_ADMIN_KEY).toBeUndefined();
    expect(raw.PM_AGENT_JWT_SECRET).toBeUndefined();
    expect(raw.PM_AGENT_GENERATE_SECRETS).toBeUndefined();
  });

  it('gives AppConfig a resolved data dir, the lease schedule of the architecture and embedded mode', () => {
    const config = new AppConfig(parseConfig({}));
    expect(config.port).toBe(3100);
    expect(config.dataDir).toBe(resolve(process.cwd(), 'data'));
    expect(config.embedded).toBe(true);
    expect(config.generateSecrets).toBe(true);
    expect(config.lease).toMatchObject({
      scale: 1,
      initial: { timeout: 180, grace: 60 },
      started: { timeout: 240, grace: 60 },
      midway: { timeout: 300, grace: 60 },
      finishing: { timeout: 360, grace: 90 },
    });
  });

  it('reads the variables it is given, coercing numbers and booleans', () => {
    const config = new AppConfig(
      parseConfig({
        PORT: '8080',
        PM_AGENT_DATA_DIR: '/var/lib/pm',
        DATABASE_URL: 'postgres://u@db:5432/pm',
        LEASE_TIMEOUT_SCALE: '0.01',
        PM_AGENT_GENERATE_SECRETS: 'yes',
      }),
    );
    expect(config.port).toBe(8080);
    expect(config.dataDir).toBe('/var/lib/pm');
    expect(config.database.url).toBe('postgres://u@db:5432/pm');
    expect(config.embedded).toBe(false);
    expect(config.lease.scale).toBe(0.01);
    expect(config.generateSecrets).toBe(true);
    expect(new AppConfig(parseConfig({ DATABASE_URL: 'postgres://u@db/pm' })).generateSecrets).toBe(false);
  });

  it.each<[string, string]>([
    ['PORT', 'abc'],
    ['PORT', '70000'],
    ['PORT', '80.5'],
    ['LOG_LEVEL', 'loud'],
    ['DATABASE_URL', 'not a url'],
    ['DATABASE_POOL_MAX', '0'],
    ['PM_AGENT_EMBEDDED_DB', 'tape'],
    ['PM_AGENT_ADMIN_KEY', 'short'],
    ['PM_AGENT_JWT_SECRET', 'too-short-for-a-secret'],
    ['LEASE_TIMEOUT_SCALE', '-1'],
    ['AGENT_DEFAULT_CAPACITY', '33'],
    ['PM_AGENT_GENERATE_SECRETS', 'maybe'],
  ])('refuses %s=%s, naming the variable', (name, value) => {
    const err = configError({ [name]: value });
    expect(err.message).toContain('Invalid configuration');
    expect(err.message).toContain(`${name}:`);
  });

  it('names every bad variable at once', () => {
    const err = configError({ PORT: 'x', LOG_LEVEL: 'y', RETRY_AFTER_SECONDS: '0' });
    for (const name of ['PORT', 'LOG_LEVEL', 'RETRY_AFTER_SECONDS']) expect(err.message).toContain(`${name}:`);
    expect(err.message).not.toContain('HOST:');
  });

  it('treats blank strings as unset', () => {
    const raw = parseConfig({ PORT: '', DATABASE_URL: '', LOG_LEVEL: '', PM_AGENT_ADMIN_KEY: '', LEASE_INITIAL_GRACE_SECONDS: '' });
    expect(raw.PORT).toBe(3100);
    expect(raw.DATABASE_URL).toBeUndefined();
    expect(raw.LOG_LEVEL).toBe('log');
    expect(raw.PM_AGENT_ADMIN_KEY).toBeUndefined();
    expect(raw.LEASE_INITIAL_GRACE_SECONDS).toBe(60);
  });

  it('treats whitespace-only strings as unset too (a number must not silently become 0)', () => {
    const raw = parseConfig({ PORT: '  ', DATABASE_STATEMENT_TIMEOUT_MS: ' ', DATABASE_URL: '\t', LEASE_MIDWAY_GRACE_SECONDS: ' \n' });
    expect(raw.PORT).toBe(3100);
    expect(raw.DATABASE_STATEMENT_TIMEOUT_MS).toBe(10_000);
    expect(raw.DATABASE_URL).toBeUndefined();
    expect(raw.LEASE_MIDWAY_GRACE_SECONDS).toBe(60);
  });
});

describe('resolveSecrets', () => {
  let root: string;
  const logged: string[] = [];
  const logger = { log: (m: string) => logged.push(m) } as unknown as Logger;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'pm-agent-config-'));
    logged.length = 0;
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const configFor = (env: Record<string, string>) => new AppConfig(parseConfig({ PM_AGENT_DATA_DIR: join(root, 'data'), ...env }));

  it('generates both secrets in embedded mode, in files of mode 0600, and reuses them', () => {
    const config = configFor({});
    const first = resolveSecrets(config, logger);
    const dir = join(root, 'data');
    expect(first.adminKey).toMatch(/^pma_[A-Za-z0-9_-]{32}$/);
    expect(first.jwtSecret.length).toBeGreaterThanOrEqual(32);
    for (const [file, value] of [
      ['admin.key', first.adminKey],
      ['jwt.secret', first.jwtSecret],
    ]) {
      const path = join(dir, file);
      expect(statSync(path).mode & 0o777).toBe(0o600);
      expect(readFileSync(path, 'utf8').trim()).toBe(value);
    }
    expect(statSync(dir).mode & 0o077).toBe(0);
    expect(logged).toHaveLength(2);
    expect(logged.join('\n')).not.toContain(first.adminKey);
    expect(logged.join('\n')).not.toContain(first.jwtSecret);

    const second = resolveSecrets(configFor({}), logger);
    expect(second).toEqual(first);
    expect(logged).toHaveLength(2);
  });

  it('prefers secrets from the environment and writes no file for them', () => {
    const adminKey = 'admin-key-from-the-environment';
    const config = configFor({ PM_AGENT_ADMIN_KEY: adminKey });
    const s = resolveSecrets(config, logger);
    expect(s.adminKey).toBe(adminKey);
    expect(() => statSync(join(root, 'data', 'admin.key'))).toThrow();
    expect(readFileSync(join(root, 'data', 'jwt.secret'), 'utf8').trim()).toBe(s.jwtSecret);
  });

  it('refuses to generate secrets when DATABASE_URL is set, naming what is missing', () => {
    const url = { DATABASE_URL: 'postgres://u@db:5432/pm' };
    expect(() => resolveSecrets(configFor(url), logger)).toThrow(ConfigError);
    expect(() => resolveSecrets(configFor(url), logger)).toThrow(/PM_AGENT_ADMIN_KEY and PM_AGENT_JWT_SECRET must be set/);

    const onlyJwt = configFor({ ...url, PM_AGENT_ADMIN_KEY: 'admin-key-from-the-environment' });
    expect(() => resolveSecrets(onlyJwt, logger)).toThrow(/^PM_AGENT_JWT_SECRET must be set/);
    const onlyAdmin = configFor({ ...url, PM_AGENT_JWT_SECRET: 'j'.repeat(40) });
    expect(() => resolveSecrets(onlyAdmin, logger)).toThrow(/^PM_AGENT_ADMIN_KEY must be set/);
    expect(() => statSync(join(root, 'data'))).toThrow();

    const both = configFor({ ...url, PM_AGENT_ADMIN_KEY: 'admin-key-from-the-environment', PM_AGENT_JWT_SECRET: 'j'.repeat(40) });
    expect(resolveSecrets(both, logger)).toEqual({ adminKey: 'admin-key-from-the-environment', jwtSecret: 'j'.repeat(40) });
  });

  it('generates with DATABASE_URL when PM_AGENT_GENERATE_SECRETS=true', () => {
    const s = resolveSecrets(configFor({ DATABASE_URL: 'postgres://u@db:5432/pm', PM_AGENT_GENERATE_SECRETS: 'true' }), logger);
    expect(readFileSync(join(root, 'data', 'admin.key'), 'utf8').trim()).toBe(s.adminKey);
  });
});
