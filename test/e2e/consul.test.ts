import { afterEach, describe, expect, it } from 'vitest';
import { ConsulRegistration } from '../../src/infra/consul/consul-registration';
import { ManagementServer } from '../../src/infra/health/management-server';
import { DrainService } from '../../src/modules/connections/drain.service';
import { Lifecycle } from '../../src/modules/health/lifecycle';
import { startTestApp, type TestApp } from '../support/app';
import { FakeConsul } from '../support/fake-consul';

// Consul registration of an in-process app against a FAKE Consul agent (test/support/fake-consul.ts):
// the real `consul` client, the payload the agent decodes, the check the agent runs, retry while the
// agent is down, the ACL token, and deregistration on shutdown and on drain.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const fakes: FakeConsul[] = [];
const apps: TestApp[] = [];

async function fake(opts: Parameters<typeof FakeConsul.start>[0] = {}): Promise<FakeConsul> {
  const f = await FakeConsul.start(opts);
  fakes.push(f);
  return f;
}

async function app(consul: FakeConsul, env: Record<string, string> = {}): Promise<TestApp> {
  // The real Postgres (a fresh database) for storage: it starts in seconds where PGlite can take 20+ under load.
  const t = await startTestApp('postgres', {
    CONSUL_HTTP_ADDR: consul.addr,
    CONSUL_SERVICE_ADDRESS: '127.0.0.1',
    CONSUL_CHECK_INTERVAL: '200ms',
    CONSUL_CHECK_TIMEOUT: '1s',
    DRAIN_NOTICE_MS: '50',
    ...env,
  });
  apps.push(t);
  return t;
}

async function closeApp(t: TestApp): Promise<void> {
  apps.splice(apps.indexOf(t), 1);
  await t.close();
}

const portOf = (url: string) => Number(new URL(url).port);

afterEach(async () => {
  await Promise.allSettled(apps.splice(0).map((t) => t.close()));
  await Promise.allSettled(fakes.splice(0).map((f) => f.close()));
});

describe('Consul registration', { timeout: 180_000 }, () => {
  it('registers one instance per replica: id, name, address, ports, tags, meta and the readiness check of the management port', async () => {
    const consul = await fake();
    const env = {
      CONSUL_SERVICE_NAME: 'pm-agent',
      CONSUL_TAGS: 'api, agents ,socketio',
      CONSUL_META: 'zone=eu-west-1a,version=0.1.0',
      CONSUL_CHECK_INTERVAL: '1s',
      CONSUL_CHECK_TIMEOUT: '500ms',
      CONSUL_DEREGISTER_AFTER: '90s',
    };
    const [a, b] = await Promise.all([app(consul, { ...env, REPLICA_ID: 'pod-a' }), app(consul, { ...env, REPLICA_ID: 'pod-b' })]);
    await consul.waitFor('two registrations', () => consul.registrations.length >= 2);

    const mgmtA = a.app.get(ManagementServer).port!;
    expect(mgmtA).toBeGreaterThan(0);
    expect(mgmtA).not.toBe(portOf(a.url));
    const reqA = consul.requests.find((r) => r.path === '/v1/agent/service/register' && r.body.ID === 'pm-agent-pod-a')!;
    expect(reqA.method).toBe('PUT');
    expect(reqA.status).toBe(200);
    // Every field is one the agent knows (a misspelt one would be silently dropped by Consul).
    expect(reqA.unknownFields).toEqual([]);
    expect(reqA.body).toEqual({
      ID: 'pm-agent-pod-a',
      Name: 'pm-agent',
      Address: '127.0.0.1',
      Port: portOf(a.url),
      Tags: ['api', 'agents', 'socketio'],
      Meta: { replica: 'pod-a', zone: 'eu-west-1a', version: '0.1.0' },
      Check: {
        Name: expect.any(String),
        HTTP: `http://127.0.0.1:${mgmtA}/health/ready`,
        Interval: '1s',
        Timeout: '500ms',
        DeregisterCriticalServiceAfter: '90s',
      },
    });
    expect(a.app.get(ConsulRegistration).serviceId).toBe('pm-agent-pod-a');

    // What the agent now lists: one instance per replica.
    const services = (await (await fetch(`${consul.url}/v1/agent/services`)).json()) as Record<string, unknown>;
    expect(Object.keys(services).sort()).toEqual(['pm-agent-pod-a', 'pm-agent-pod-b']);
    expect(services['pm-agent-pod-b']).toMatchObject({
      ID: 'pm-agent-pod-b',
      Service: 'pm-agent',
      Address: '127.0.0.1',
      Port: portOf(b.url),
      Tags: ['api', 'agents', 'socketio'],
      Meta: { replica: 'pod-b', zone: 'eu-west-1a', version: '0.1.0' },
    });

    // The agent runs the check against the management port and sees the replica ready.
    const check = await consul.waitFor('check of pod-a passing', () => {
      const c = consul.checks.get('service:pm-agent-pod-a');
      return c?.Status === 'passing' ? c : undefined;
    });
    expect(check.HTTP).toBe(`http://127.0.0.1:${mgmtA}/health/ready`);
    expect(check.Output).toContain(': 200 ');
    expect(check.Output).toContain('"status":"ok"');
    // Like an agent: a new check starts critical until its first run passes.
    expect(consul.statuses('service:pm-agent-pod-a').slice(0, 2)).toEqual(['critical', 'passing']);
  });

  it("the agent's check follows readiness: critical while not ready, passing again after", async () => {
    const consul = await fake();
    const t = await app(consul, { REPLICA_ID: 'flip' });
    const id = 'service:pm-agent-flip';
    await consul.waitFor('passing', () => consul.checks.get(id)?.Status === 'passing');
    const lifecycle = t.app.get(Lifecycle);
    lifecycle.draining = true;
    try {
      const c = await consul.waitFor('critical', () => (consul.checks.get(id)?.Status === 'critical' ? consul.checks.get(id) : undefined));
      expect(c.Output).toContain(': 503 ');
      expect(c.Output).toContain('shutting_down');
    } finally {
      lifecycle.draining = false;
    }
    await consul.waitFor('passing again', () => consul.checks.get(id)?.Status === 'passing');
    const history = consul.checks.get(id)!.history;
    const went503 = history.findIndex((h) => h.status === 'critical' && h.output.includes(': 503 '));
    expect(went503).toBeGreaterThan(0);
    expect(history.slice(went503).some((h) => h.status === 'passing')).toBe(true);
  });

  it('starts and serves while Consul is unreachable, and registers once the agent comes up', async () => {
    const consul = await fake({ down: true });
    const t0 = Date.now();
    const t = await app(consul, { REPLICA_ID: 'late' });
    const startedIn = Date.now() - t0;
    // Start-up did not wait for Consul: the public and management ports answer ready.
    expect((await fetch(`${t.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${t.app.get(ManagementServer).port}/health/ready`)).status).toBe(200);
    expect(t.app.get(ConsulRegistration).registered).toBe(false);
    await sleep(1500); // at least one refused attempt
    expect(consul.requests).toEqual([]);
    await consul.up();
    await consul.waitFor('registration after the agent came up', () => consul.services.get('pm-agent-late'), 20_000);
    // (the app learns of its success when the answer arrives, just after the fake applied it)
    await consul.waitFor('the app registered', () => t.app.get(ConsulRegistration).registered);
    expect(consul.registrations).toHaveLength(1);
    expect(consul.registrations[0]).toMatchObject({ ID: 'pm-agent-late', Port: portOf(t.url) });
    await consul.waitFor('passing', () => consul.checks.get('service:pm-agent-late')?.Status === 'passing');
    expect(startedIn).toBeLessThan(30_000);
  });

  it('sends the ACL token in X-Consul-Token; a wrong token is refused and retried without harming the app', async () => {
    const consul = await fake({ token: 'consul-acl-token-0123456789' });
    const good = await app(consul, { REPLICA_ID: 'acl-ok', CONSUL_HTTP_TOKEN: 'consul-acl-token-0123456789' });
    const bad = await app(consul, { REPLICA_ID: 'acl-bad', CONSUL_HTTP_TOKEN: 'not-the-token' });
    await consul.waitFor('registration with the token', () => consul.services.get('pm-agent-acl-ok'));
    const ok = consul.requests.find((r) => r.body?.ID === 'pm-agent-acl-ok' && r.status === 200)!;
    expect(ok.headers['x-consul-token']).toBe('consul-acl-token-0123456789');

    const refused = await consul.waitFor('refused attempt', () => consul.requests.find((r) => r.body?.ID === 'pm-agent-acl-bad'));
    expect(refused.status).toBe(403);
    expect(refused.error).toBe('ACL not found');
    expect(consul.services.has('pm-agent-acl-bad')).toBe(false);
    expect(bad.app.get(ConsulRegistration).registered).toBe(false);
    expect((await fetch(`${bad.url}/health/ready`)).status).toBe(200);

    // Shutdown of the refused one does not try to deregister what was never registered.
    await closeApp(bad);
    expect(consul.requests.filter((r) => r.path.startsWith('/v1/agent/service/deregister/'))).toEqual([]);
    await closeApp(good);
    const dereg = consul.requests.find((r) => r.path === '/v1/agent/service/deregister/pm-agent-acl-ok')!;
    expect(dereg.status).toBe(200);
    expect(dereg.headers['x-consul-token']).toBe('consul-acl-token-0123456789');
  });

  it('deregisters on shutdown (app.close())', async () => {
    const consul = await fake();
    const t = await app(consul, { REPLICA_ID: 'close-me' });
    await consul.waitFor('registered', () => consul.services.get('pm-agent-close-me'));
    await closeApp(t);
    expect(consul.deregistered).toEqual(['pm-agent-close-me']);
    expect(consul.services.size).toBe(0);
    expect(consul.checks.size).toBe(0);
    const dereg = consul.requests.find((r) => r.path === '/v1/agent/service/deregister/pm-agent-close-me')!;
    expect(dereg.method).toBe('PUT');
    expect(dereg.status).toBe(200);
  });

  it('deregisters first thing in a drain, before sockets close; readiness says shutting_down', async () => {
    const consul = await fake();
    const t = await app(consul, { REPLICA_ID: 'drain-me' });
    await consul.waitFor('registered', () => consul.services.get('pm-agent-drain-me'));
    const drained = t.app.get(DrainService).drain(Date.now() + 5000);
    await consul.waitFor('deregistered', () => consul.deregistered.includes('pm-agent-drain-me'));
    const ready = await fetch(`http://127.0.0.1:${t.app.get(ManagementServer).port}/health/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: 'shutting_down' });
    await drained;
    expect(consul.services.has('pm-agent-drain-me')).toBe(false);
    // app.close() after the drain does not deregister twice.
    await closeApp(t);
    expect(consul.requests.filter((r) => r.path.startsWith('/v1/agent/service/deregister/'))).toHaveLength(1);
  });

  it('a shutdown while the registration is still in flight leaves nothing registered', async () => {
    const consul = await fake();
    consul.delayMs = 1500; // a slow agent: the register call is answered (and applied) 1.5 s later
    const t = await app(consul, { REPLICA_ID: 'in-flight' });
    await consul.waitFor('register request received', () => consul.requests.find((r) => r.path === '/v1/agent/service/register'));
    await closeApp(t);
    consul.delayMs = 0;
    await sleep(2000);
    expect(consul.services.has('pm-agent-in-flight')).toBe(false);
  });

  it('a stuck agent does not stall registration forever: the request times out and is retried', async () => {
    const consul = await fake();
    consul.hang = true;
    const t = await app(consul, { REPLICA_ID: 'stuck' });
    await consul.waitFor('first attempt', () => consul.requests.length >= 1);
    consul.hang = false;
    await consul.waitFor('registration after the agent recovers', () => consul.services.get('pm-agent-stuck'), 30_000);
    await consul.waitFor('the app registered', () => t.app.get(ConsulRegistration).registered);
  });
});

describe('the fake Consul agent itself', { timeout: 60_000 }, () => {
  const put = (f: FakeConsul, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${f.url}${path}`, { method: 'PUT', headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });

  it('validates a registration like the agent: 400 with a plain-text reason', async () => {
    const f = await fake();
    const cases: [unknown, RegExp][] = [
      ['{not json', /^Request decode failed: /],
      [{ ID: 'x' }, /^Missing service name$/],
      [{ Name: 42 }, /cannot unmarshal number into Go struct field ServiceDefinition.Name of type string/],
      [{ Name: 'x', Port: '80' }, /cannot unmarshal string into Go struct field ServiceDefinition.Port of type int/],
      [{ Name: 'x', Port: 80.5 }, /cannot unmarshal number 80.5/],
      [{ Name: 'x', Tags: 'a,b' }, /into Go struct field ServiceDefinition.Tags of type \[\]string/],
      [{ Name: 'x', Meta: { k: 1 } }, /into Go struct field ServiceDefinition.Meta of type string/],
      [{ Name: 'x', Meta: { 'bad key': 'v' } }, /^Invalid Service Meta: .*invalid characters/],
      [{ Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/', Interval: '10 seconds' } }, /^Request decode failed: time: invalid duration "10 seconds"/],
      [{ Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/', Interval: '10' } }, /missing unit in duration/],
      [{ Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/', Interval: '1s', DeregisterCriticalServiceAfter: true } }, /CheckType.DeregisterCriticalServiceAfter of type time.Duration/],
      [{ Name: 'x', Check: { HTTP: 'http://127.0.0.1:1/' } }, /^Invalid check: Interval must be > 0/],
    ];
    for (const [body, message] of cases) {
      const r = await put(f, '/v1/agent/service/register', body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get('content-type')).toMatch(/^text\/plain/);
      expect(await r.text(), JSON.stringify(body)).toMatch(message);
    }
    expect(f.services.size).toBe(0);
    // Field names are matched case-insensitively (Go encoding/json); unknown ones are ignored but recorded.
    const r = await put(f, '/v1/agent/service/register', { name: 'svc', id: 'svc-1', port: 1, DeregisterAfter: '1m' });
    expect(r.status).toBe(200);
    expect(f.services.get('svc-1')).toMatchObject({ Service: 'svc', Port: 1, Tags: [], Meta: {} });
    expect(f.requests.at(-1)!.unknownFields).toEqual(['DeregisterAfter']);
  });

  it('404 for an unknown service id; ACLs with a token; refuses connections while down', async () => {
    const f = await fake({ token: 't0ken' });
    let r = await put(f, '/v1/agent/service/deregister/nope', undefined, { 'x-consul-token': 't0ken' });
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/^Unknown service ID "nope"/);
    r = await put(f, '/v1/agent/service/register', { Name: 'svc' }, { 'x-consul-token': 'wrong' });
    expect(r.status).toBe(403);
    expect(await r.text()).toBe('ACL not found');
    r = await put(f, '/v1/agent/service/register', { Name: 'svc' });
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/^Permission denied/);
    r = await put(f, '/v1/agent/service/register', { Name: 'svc' }, { 'x-consul-token': 't0ken' });
    expect(r.status).toBe(200);
    expect(await (await fetch(`${f.url}/v1/agent/services`, { headers: { 'x-consul-token': 't0ken' } })).json()).toMatchObject({ svc: { ID: 'svc', Service: 'svc' } });
    expect((await fetch(`${f.url}/v1/agent/services`, { headers: { 'x-consul-token': 'wrong' } })).status).toBe(403);

    await f.down();
    await expect(fetch(`${f.url}/v1/agent/services`)).rejects.toThrow();
    await f.up();
    expect((await fetch(`${f.url}/v1/agent/services`, { headers: { authorization: 'Bearer t0ken' } })).status).toBe(200);
  });

  it('runs HTTP checks and reaps a service critical for longer than DeregisterCriticalServiceAfter', async () => {
    const f = await fake({ minDeregisterMs: 0 });
    const r = await fetch(`${f.url}/v1/agent/service/register`, {
      method: 'PUT',
      body: JSON.stringify({ Name: 'gone', Check: { HTTP: 'http://127.0.0.1:1/health', Interval: '100ms', Timeout: '200ms', DeregisterCriticalServiceAfter: '300ms' } }),
    });
    expect(r.status).toBe(200);
    await f.waitFor('reaped', () => f.reaped.includes('gone'));
    expect(f.services.size).toBe(0);
  });
});
