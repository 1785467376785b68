import { createHash, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

// Project API keys look like `pmk_<prefix>_<secret>`. The prefix finds the row; only a scrypt
// hash of the secret is stored, so a database dump reveals no usable key.

const KEY_RE = /^pmk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;

export interface NewApiKey {
  key: string;
  prefix: string;
  hash: string;
}

export function splitApiKey(key: string): { prefix: string; secret: string } | null {
  const m = KEY_RE.exec(key);
  return m ? { prefix: m[1], secret: m[2] } : null;
}

function scryptAsync(secret: string, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(secret, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }, (err, out) => (err ? reject(err) : resolve(out))),
  );
}

export async function generateApiKey(): Promise<NewApiKey> {
  const prefix = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  const salt = randomBytes(16);
  const digest = await scryptAsync(secret, salt);
  return { key: `pmk_${prefix}_${secret}`, prefix, hash: `scrypt$${salt.toString('base64url')}$${digest.toString('base64url')}` };
}

export async function verifyApiKeySecret(secret: string, stored: string): Promise<boolean> {
  const [alg, salt, digest] = stored.split('$');
  if (alg !== 'scrypt' || !salt || !digest) return false;
  const expected = Buffer.from(digest, 'base64url');
  const actual = await scryptAsync(secret, Buffer.from(salt, 'base64url'));
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Cache key for a verified API key: a fast hash, so the cache never holds the key itself. */
export function apiKeyFingerprint(key: string): string {
  return createHash('sha256').update(key).digest('base64url');
}

export function safeEqual(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}
