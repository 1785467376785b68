import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AppConfig, ConfigError, parseConfig } from '../../src/config/app-config';
import { Secrets } from '../../src/config/secrets';
import type { KeyRevocations } from '../../src/modules/auth/key-revocations.service';
import { TokenService } from '../../src/modules/auth/token.service';
import { parseJwks } from '../../src/modules/auth/verification-keys';

// Rotating the signing secret: tokens signed with the old one verify while it is listed in
// PM_AGENT_JWT_PREVIOUS_SECRETS, so replicas restarted with the new secret keep the connected
// agents (and agents holding a token) working; once the old secret is dropped they are refused.

const OLD = 'old-signing-secret-0123456789-abcdefghijkl';
const NEW = 'new-signing-secret-9876543210-zyxwvutsrqpo';
const revokedSet = new Set<string>();
const revocations = { isRevoked: (id?: string) => id !== undefined && revokedSet.has(id) } as unknown as KeyRevocations;

function service(secret: string, previous?: string): TokenService {
  const config = new AppConfig(parseConfig({ PM_AGENT_JWT_SECRET: secret, ...(previous ? { PM_AGENT_JWT_PREVIOUS_SECRETS: previous } : {}) }));
  return new TokenService(config, new Secrets('admin-key-0123456789', secret), revocations, {} as never);
}

const identity = { projectId: randomUUID(), agentId: 'agent-1', keyId: randomUUID() };

describe('signing secret rotation', () => {
  it('a token of the old secret verifies where the old secret is listed as previous, and nowhere else', () => {
    const oldToken = service(OLD).issue(identity).access_token;
    expect(service(OLD).verify(oldToken)).toMatchObject({ projectId: identity.projectId, agentId: 'agent-1', keyId: identity.keyId });
    expect(service(NEW, OLD).verify(oldToken)).toMatchObject({ agentId: 'agent-1' });
    expect(() => service(NEW).verify(oldToken)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
  });

  it('new tokens are signed with the new secret only', () => {
    const newToken = service(NEW, OLD).issue(identity).access_token;
    expect(service(NEW).verify(newToken)).toMatchObject({ agentId: 'agent-1' });
    expect(() => service(OLD).verify(newToken)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
  });

  it('a revoked key ends its tokens with reason "revoked"', () => {
    const svc = service(NEW);
    const token = svc.issue({ ...identity, keyId: randomUUID() }).access_token;
    const { keyId } = svc.verify(token);
    revokedSet.add(keyId!);
    expect(() => svc.verify(token)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN', details: { reason: 'revoked' } }));
  });

  it('PM_AGENT_JWT_PREVIOUS_SECRETS refuses short secrets', () => {
    expect(() => parseConfig({ PM_AGENT_JWT_PREVIOUS_SECRETS: 'short' })).toThrow(ConfigError);
  });
});

describe('JWKS parsing', () => {
  it('refuses private keys, keys without kid, and non-JSON', () => {
    expect(() => parseJwks('not json', 'iss')).toThrow(/not JSON/);
    expect(() => parseJwks('{"keys":[]}', 'iss')).toThrow(/at least one key/);
    expect(() => parseJwks(JSON.stringify({ keys: [{ kty: 'oct', k: 'abc' }] }), 'iss')).toThrow(/kid/);
    expect(() => parseJwks(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'c', kid: 'k' }] }), 'iss')).toThrow(/private key/);
  });
});
