import { format } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { io } from 'socket.io-client';
import { ApiClient, type AgentSocket } from '../support/client';
import { startTestApp, type TestApp } from '../support/app';

// Issue 9 §3–4: a replica refuses sockets over its limit with a clear code, a socket cannot pile
// up unanswered calls, oversized messages are refused, HTTP answers carry security headers, and
// nothing secret reaches the logs.

const JWT_SECRET = 'limits-test-secret-0123456789abcdefghijkl';

describe('limits and hygiene', () => {
  let t: TestApp;
  let api: ApiClient;
  const output: string[] = [];
  const restore: (() => void)[] = [];

  beforeAll(async () => {
    // Everything the process writes from the start, service logs at the most verbose level included.
    for (const stream of [process.stdout, process.stderr]) {
      const original = stream.write;
      stream.write = function (this: NodeJS.WriteStream, chunk: unknown, ...rest: unknown[]) {
        output.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
        return (original as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
      };
      restore.push(() => (stream.write = original));
    }
    for (const m of ['log', 'info', 'warn', 'error', 'debug'] as const) {
      const original = console[m];
      console[m] = (...args: unknown[]) => {
        output.push(format(...args));
        original.apply(console, args);
      };
      restore.push(() => (console[m] = original));
    }
    t = await startTestApp('embedded', {
      LOG_LEVEL: 'verbose',
      PM_AGENT_JWT_SECRET: JWT_SECRET,
      MAX_CONNECTIONS_PER_REPLICA: '3',
      MAX_CALLS_IN_FLIGHT_PER_SOCKET: '2',
      MAX_MESSAGE_BYTES: '16384',
      RATE_LIMIT_AGENT_PER_MINUTE: '100000',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '100000',
    });
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => {
    await t?.close();
    for (const r of restore.splice(0)) r();
  });

  it('a replica at its connection limit refuses with CONNECTION_LIMIT, and admits again when a socket leaves', async () => {
    const p = await api.createProject('limit');
    const sockets: AgentSocket[] = [];
    try {
      for (let i = 0; i < 3; i++) sockets.push(await api.connect(await api.token(p.api_key, `c${i}`)));
      const err = await api.connectError({ token: await api.token(p.api_key, 'c3') });
      expect(err.data).toMatchObject({ code: 'CONNECTION_LIMIT', retry_after_seconds: 1 });
      sockets.shift()!.close();
      await new Promise((r) => setTimeout(r, 200));
      sockets.push(await api.connect(await api.token(p.api_key, 'c3')));
      expect(sockets.every((s) => s.socket.connected)).toBe(true);
    } finally {
      for (const s of sockets) s.close();
    }
  });

  it('calls beyond the in-flight limit of a socket are refused at once; every call is answered', async () => {
    const p = await api.createProject('inflight');
    await api.addTask(p.id, { name: 'a task' }, p.api_key);
    const s = await api.agent(p.api_key, 'busy');
    try {
      // Twelve calls at once without waiting: two may be in flight, the rest are told to slow down.
      const answers = await Promise.all(Array.from({ length: 12 }, () => s.call('get_project_status', {})));
      const refused = answers.filter((a) => a.code === 'RATE_LIMITED');
      expect(answers.filter((a) => a.success === true).length).toBeGreaterThanOrEqual(2);
      expect(refused.length).toBeGreaterThan(0);
      expect(refused[0]).toMatchObject({ success: false, retry_after_seconds: 1 });
      // Waiting for answers, one at a time, is never refused.
      for (let i = 0; i < 5; i++) expect(await s.call('get_project_status', {})).toMatchObject({ success: true });
    } finally {
      s.close();
    }
  });

  it('a socket message over MAX_MESSAGE_BYTES closes that socket; the server carries on', async () => {
    const p = await api.createProject('big');
    const s = await api.agent(p.api_key, 'big');
    const closed = new Promise<string>((resolve) => s.socket.once('disconnect', resolve));
    s.socket.emit('ping', { echo: 'x'.repeat(20_000) }, () => undefined);
    expect(await closed).toBe('transport close');
    const other = await api.agent(p.api_key, 'small');
    try {
      expect(await other.call('ping', { echo: 'ok' })).toMatchObject({ success: true, echo: 'ok' });
    } finally {
      other.close();
    }
  });

  it('HTTP answers carry security headers, and no CORS grant to another origin', async () => {
    const res = await fetch(`${t.url}/health/live`, { headers: { origin: 'https://evil.example' } });
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(res.headers.get('x-powered-by')).toBeNull();
    expect(res.headers.get('access-control-allow-origin')).toBeNull();
    const poll = await fetch(`${t.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: 'https://evil.example' } });
    expect(poll.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('no secret value appears in anything the process wrote', async () => {
    // Give the logs every chance to leak: failed logins, forged tokens, a socket with a bad token.
    const p = await api.createProject('logs');
    const token = await api.token(p.api_key, 'logger');
    await api.request('POST', '/api/v1/agents/auth', { api_key: `${p.api_key}x`, agent_id: 'x' });
    await api.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, `${t.adminKey}x`);
    await api.connectError({ token: `${token}x` });
    const bad = io(`${t.url}/agents`, { auth: { token: t.adminKey }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise((r) => bad.once('connect_error', r));
    bad.close();
    const s = await api.agent(p.api_key, 'logger');
    await s.call('log_decision', { agent_id: 'logger', task_id: '00000000-0000-4000-8000-000000000000', decision: `uses ${p.api_key}` });
    s.close();
    const all = output.join('');
    expect(all).toContain('listening on'); // the capture did see the service's logs
    for (const secret of [t.adminKey, JWT_SECRET, p.api_key, p.api_key.slice('pmk_'.length + 17), token]) expect(all).not.toContain(secret);
  });
});
