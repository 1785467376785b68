import jwt from 'jsonwebtoken';
import { secretKid } from '../../src/modules/auth/verification-keys';
import type { ApiClient } from './client';

/**
 * An agent token exactly like the server's own (kid, akid, issuer, audience) but with a lifetime
 * of our choosing: JWT_TTL_SECONDS cannot go below a minute, the expiry tests need seconds.
 */
export async function shortLivedToken(api: ApiClient, project: { id: string; api_key: string }, agentId: string, secret: string, seconds: number): Promise<string> {
  const keyId = (await api.request('GET', `/api/v1/projects/${project.id}/keys`, undefined, project.api_key)).body.keys[0].id as string;
  return jwt.sign({ pid: project.id, typ: 'agent', akid: keyId }, secret, {
    algorithm: 'HS256',
    keyid: secretKid(secret),
    issuer: 'pm-agent',
    audience: 'pm-agent/agents',
    subject: agentId,
    expiresIn: seconds,
  });
}
