import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import jwt from 'jsonwebtoken';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { shortLivedToken } from '../support/tokens';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// Issue 9 §1: keys hashed, shown once, rotatable and revocable; tokens end with their key, on
// open sockets too; expiry is enforced on open sockets; the audit trail records admin actions;
// tokens issued elsewhere verify with the operator's public keys and nothing else.

const JWT_SECRET = 'security-auth-test-secret-0123456789abcdef';

function disconnected(s: AgentSocket, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!s.socket.connected) return resolve('already');
    const t = setTimeout(() => reject(new Error('socket still open')), timeoutMs);
    s.socket.once('disconnect', (reason) => {
      clearTimeout(t);
      resolve(reason);
    });
  });
}

describe.each(STORAGE_MODES)('authentication (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  const open: AgentSocket[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode, { PM_AGENT_JWT_SECRET: JWT_SECRET, RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000', RATE_LIMIT_AGENT_PER_MINUTE: '100000' });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterEach(() => {
    for (const s of open.splice(0)) s.close();
  });
  afterAll(async () => t?.close());

  it('stores only a slow hash of each key; the key is shown once and never listed', async () => {
    const p = await api.createProject('hashing');
    const rows = await t.db.query<{ key_prefix: string; key_hash: string }>('SELECT key_prefix, key_hash FROM api_keys WHERE project_id = $1', [p.id]);
    expect(rows.rows).toHaveLength(1);
    expect(rows.rows[0].key_hash).toMatch(/^scrypt\$/);
    expect(rows.rows[0].key_hash).not.toContain(p.api_key.slice('pmk_'.length + 17));
    const listed = await api.request('GET', `/api/v1/projects/${p.id}/keys`, undefined, t.adminKey);
    expect(listed.status).toBe(200);
    expect(listed.body.keys).toEqual([expect.objectContaining({ label: 'initial', revoked_at: null, prefix: `pmk_${rows.rows[0].key_prefix}` })]);
    expect(JSON.stringify(listed.body)).not.toContain(p.api_key);
  });

  it('rotation: a second key works, revoking the first ends it for HTTP, tokens and open sockets, and the audit trail says who did what', async () => {
    const p = await api.createProject('rotation');
    const oldKeyId = (await api.request('GET', `/api/v1/projects/${p.id}/keys`, undefined, p.api_key)).body.keys[0].id as string;
    // The project's own key creates its successor: no admin needed to rotate.
    const created = await api.request('POST', `/api/v1/projects/${p.id}/keys`, { label: 'ci' }, p.api_key);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ label: 'ci', revoked_at: null });
    const newKey = created.body.api_key as string;
    expect(newKey).toMatch(/^pmk_/);

    const oldAgent = await api.agent(p.api_key, 'old-agent');
    open.push(oldAgent);
    const revokedPush = oldAgent.next('token_revoked');
    const gone = disconnected(oldAgent);

    const revoked = await api.request('DELETE', `/api/v1/projects/${p.id}/keys/${oldKeyId}`, undefined, newKey);
    expect(revoked.status).toBe(200);
    expect(revoked.body.key.revoked_at).toEqual(expect.any(String));
    // The open socket of a token from the old key hears why, then is closed.
    expect(await revokedPush).toMatchObject({ reason: 'api_key_revoked' });
    expect(await gone).toBe('io server disconnect');

    expect((await api.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, p.api_key)).status).toBe(401);
    expect((await api.request('POST', '/api/v1/agents/auth', { api_key: p.api_key, agent_id: 'x' })).body.code).toBe('INVALID_API_KEY');
    // A token minted before the revocation no longer opens a socket.
    const err = await api.connectError({ token: (oldAgent.socket.auth as { token: string }).token });
    expect(err.data).toMatchObject({ code: 'INVALID_TOKEN', reason: 'revoked' });

    // The new key carries on.
    const fresh = await api.agent(newKey, 'new-agent');
    open.push(fresh);
    expect(await fresh.call('ping')).toMatchObject({ success: true });

    // Revoking again changes nothing and writes no second entry.
    expect((await api.request('DELETE', `/api/v1/projects/${p.id}/keys/${oldKeyId}`, undefined, newKey)).body.key.revoked_at).toBe(revoked.body.key.revoked_at);
    const audit = await api.request('GET', `/api/v1/projects/${p.id}/audit`, undefined, newKey);
    expect(audit.status).toBe(200);
    const entries = audit.body.entries as { action: string; actor: string; target: string }[];
    expect(entries.map((e) => e.action)).toEqual(['api_key.revoke', 'api_key.create', 'api_key.create', 'project.create']);
    expect(entries[0]).toMatchObject({ target: oldKeyId, actor: `api_key:${created.body.id}` });
    expect(entries[3].actor).toBe('admin');
    const everything = JSON.stringify(audit.body);
    for (const secret of [p.api_key, newKey, t.adminKey]) expect(everything).not.toContain(secret);
  });

  it('a key id of another project is "not found", and nothing is revoked', async () => {
    const a = await api.createProject('a');
    const b = await api.createProject('b');
    const bKeyId = (await api.request('GET', `/api/v1/projects/${b.id}/keys`, undefined, b.api_key)).body.keys[0].id as string;
    const r = await api.request('DELETE', `/api/v1/projects/${a.id}/keys/${bKeyId}`, undefined, a.api_key);
    expect(r.status).toBe(404);
    expect(r.body.code).toBe('KEY_NOT_FOUND');
    expect((await api.request('DELETE', `/api/v1/projects/${b.id}/keys/${bKeyId}`, undefined, a.api_key)).status).toBe(403);
    expect((await api.request('GET', `/api/v1/projects/${b.id}/tasks`, undefined, b.api_key)).status).toBe(200);
    expect((await api.request('GET', '/api/v1/audit', undefined, a.api_key)).status).toBe(403);
    const all = await api.request('GET', `/api/v1/audit?project_id=${b.id}`, undefined, t.adminKey);
    expect(all.body.entries.every((e: { project_id: string }) => e.project_id === b.id)).toBe(true);
  });

  it('an expired token ends on the open socket at the next call; a fresh token from the key carries on', async () => {
    const p = await api.createProject('expiry');
    const short = await shortLivedToken(api, p, 'ttl-agent', JWT_SECRET, 3);
    const s = await api.connect(short);
    open.push(s);
    expect(await s.call('register_agent', { agent_id: 'ttl-agent', name: 'ttl', role: 'developer' })).toMatchObject({ success: true });
    const gone = disconnected(s);
    await new Promise((r) => setTimeout(r, 3500));
    expect(await s.call('ping')).toMatchObject({ success: false, code: 'INVALID_TOKEN', reason: 'expired' });
    expect(await gone).toBe('io server disconnect');
    const again = await api.agent(p.api_key, 'ttl-agent');
    open.push(again);
    expect(await again.call('ping')).toMatchObject({ success: true });
  });
});

describe('tokens issued elsewhere, verified with the operator public keys (JWKS)', () => {
  let t: TestApp;
  let api: ApiClient;
  let dir: string;
  let es: { privateKey: KeyObject; publicKey: KeyObject };
  const KID = 'operator-es256-1';

  const external = (claims: object, key: KeyObject | string, opts: jwt.SignOptions = {}) =>
    jwt.sign({ typ: 'agent', ...claims }, key, { algorithm: 'ES256', keyid: KID, issuer: 'https://issuer.example', audience: 'pm-agent/agents', expiresIn: 300, ...opts });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pm-agent-jwks-'));
    es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'jwks.json'), JSON.stringify({ keys: [{ ...es.publicKey.export({ format: 'jwk' }), kid: KID, use: 'sig' }] }));
    t = await startTestApp('embedded', {
      PM_AGENT_JWT_SECRET: JWT_SECRET,
      PM_AGENT_JWT_PUBLIC_KEYS_FILE: join(dir, 'jwks.json'),
      PM_AGENT_JWT_EXTERNAL_ISSUER: 'https://issuer.example',
    });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a token signed with the operator key connects and acts as its subject in its project', async () => {
    const p = await api.createProject('external');
    const s = await api.connect(external({ pid: p.id }, es.privateKey, { subject: 'ext-agent' }));
    try {
      const r = await s.call('register_agent', { agent_id: 'ext-agent', name: 'External', role: 'developer' });
      expect(r).toMatchObject({ success: true });
      expect((await s.call('list_registered_agents', {})).agents.map((a: { id: string }) => a.id)).toEqual(['ext-agent']);
    } finally {
      s.close();
    }
  });

  it('a well-signed token naming a project that does not exist is refused at the handshake and on /mcp', async () => {
    const token = external({ pid: '00000000-0000-4000-8000-000000000000' }, es.privateKey, { subject: 'ghost' });
    const err = await api.connectError({ token });
    expect(err.data?.code).toBe('INVALID_TOKEN');
    const mcp = await fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    expect(mcp.status).toBe(401);
  });

  it('refuses other keys, other issuers, and the public key used as an HMAC secret', async () => {
    const p = await api.createProject('external-bad');
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = es.publicKey.export({ format: 'pem', type: 'spki' }).toString();
    const forged = [
      external({ pid: p.id }, other.privateKey, { subject: 'x' }),
      external({ pid: p.id }, es.privateKey, { subject: 'x', issuer: 'pm-agent' }),
      external({ pid: p.id }, es.privateKey, { subject: 'x', audience: 'elsewhere' }),
      external({ pid: p.id }, es.privateKey, { subject: 'x', expiresIn: -10 }),
      jwt.sign({ typ: 'agent', pid: p.id }, pem, { algorithm: 'HS256', keyid: KID, subject: 'x', issuer: 'https://issuer.example', audience: 'pm-agent/agents' }),
    ];
    for (const token of forged) {
      const err = await api.connectError({ token });
      expect(err.data?.code).toBe('INVALID_TOKEN');
    }
  });
});
