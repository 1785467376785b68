import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Algorithm } from 'jsonwebtoken';
import { ConfigError } from '../../config/app-config';

/** A key a token's `kid` can name, with the algorithms and issuer accepted with it. */
export interface VerificationKey {
  kind: 'secret' | 'public';
  key: string | KeyObject;
  algorithms: Algorithm[];
  issuer: string;
}

const OWN_ISSUER = 'pm-agent';

/** The key id of a signing secret: names it without revealing it. */
export function secretKid(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

/** Algorithms a public key may verify, from its type: never HS*, so a public key cannot be used as an HMAC secret. */
function algorithmsFor(key: KeyObject): Algorithm[] {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return ['RS256', 'RS384', 'RS512'];
    case 'rsa-pss':
      return ['PS256', 'PS384', 'PS512'];
    case 'ec':
      return ['ES256', 'ES384', 'ES512'];
    // jsonwebtoken verifies no EdDSA: such keys are refused at start rather than failing every token.
    case 'ed25519':
    case 'dsa':
    case 'ed448':
    case 'x25519':
    case 'x448':
    case undefined:
      throw new ConfigError(`PM_AGENT_JWT_PUBLIC_KEYS_FILE: unsupported key type ${key.asymmetricKeyType ?? 'unknown'}`);
  }
}

/** Parses a JWKS document ({ keys: [...] }) into public keys by kid. Exported for tests. */
export function parseJwks(text: string, issuer: string): Map<string, VerificationKey> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new ConfigError('PM_AGENT_JWT_PUBLIC_KEYS_FILE is not JSON (expected a JWKS: { "keys": [...] })');
  }
  const keys = (doc as { keys?: unknown }).keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new ConfigError('PM_AGENT_JWT_PUBLIC_KEYS_FILE: a JWKS with at least one key is required');
  const out = new Map<string, VerificationKey>();
  for (const jwk of keys as Record<string, unknown>[]) {
    const kid = jwk.kid;
    if (typeof kid !== 'string' || kid.length === 0) throw new ConfigError('PM_AGENT_JWT_PUBLIC_KEYS_FILE: every key needs a kid');
    if ('d' in jwk) throw new ConfigError(`PM_AGENT_JWT_PUBLIC_KEYS_FILE: key ${kid} is a private key; give public keys only`);
    let key: KeyObject;
    try {
      key = createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
    } catch (err) {
      throw new ConfigError(`PM_AGENT_JWT_PUBLIC_KEYS_FILE: key ${kid} is not a valid public JWK (${(err as Error).message})`);
    }
    out.set(kid, { kind: 'public', key, algorithms: algorithmsFor(key), issuer });
  }
  return out;
}

/** Every key tokens may be verified with: the signing secret, earlier secrets, and the operator's public keys. */
export function loadVerificationKeys(current: string, previous: string[], publicKeysFile: string | undefined, externalIssuer: string): Map<string, VerificationKey> {
  const keys = new Map<string, VerificationKey>();
  for (const secret of [current, ...previous]) keys.set(secretKid(secret), { kind: 'secret', key: secret, algorithms: ['HS256'], issuer: OWN_ISSUER });
  if (publicKeysFile) {
    let text: string;
    try {
      text = readFileSync(publicKeysFile, 'utf8');
    } catch (err) {
      throw new ConfigError(`PM_AGENT_JWT_PUBLIC_KEYS_FILE cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    }
    for (const [kid, key] of parseJwks(text, externalIssuer)) {
      if (keys.has(kid)) throw new ConfigError(`PM_AGENT_JWT_PUBLIC_KEYS_FILE: kid ${kid} collides with a signing secret's kid`);
      keys.set(kid, key);
    }
  }
  return keys;
}
