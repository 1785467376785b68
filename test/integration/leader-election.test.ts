import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { V1MicroTime } from '@kubernetes/client-node';
import { Client } from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { coordinationApiFor } from '../../src/infra/leader/k8s-api';
import { KubernetesLeaseElector, type KubernetesLeaseElectorOptions } from '../../src/infra/leader/k8s-lease-elector';
import type { ElectionLog, LeaderElector } from '../../src/infra/leader/leader-elector';
import { PgAdvisoryLeaderElector } from '../../src/infra/leader/pg-advisory-elector';
import { TEST_DATABASE_URL } from '../support/env';
import { FakeK8sLeaseServer } from '../support/fakes/fake-k8s-lease';

/** Timer and scheduling delay a loaded 2-core CI machine adds on top of the election rules being checked. */
const SLOP_MS = 1000;

const RUN = randomBytes(4).toString('hex');
let seq = 0;
/** A name no other test (or parallel test file) uses. */
const unique = (what: string) => `${what}-${RUN}-${++seq}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every few ms; returns the ms it took (throws after `timeoutMs`). */
async function until(cond: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(2);
  }
  return performance.now() - t0;
}

const quiet = (): ElectionLog & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, log: (m) => void lines.push(m), warn: (m) => void lines.push(`WARN ${m}`) };
};

/**
 * Watches a group of electors: samples them every few ms, and also checks at every change to
 * leader that nobody else leads at that instant.
 */
class LeaderWatch {
  samples = 0;
  overlaps = 0;
  leaderless = 0;
  /** Changes to leader made while another elector led. */
  violations: string[] = [];
  private readonly timer: NodeJS.Timeout;
  private readonly offs: (() => void)[];

  constructor(private readonly electors: LeaderElector[]) {
    this.offs = electors.map((e) =>
      e.onChange((leader) => {
        if (!leader) return;
        const others = this.electors.filter((o) => o !== e && o.isLeader());
        if (others.length) this.violations.push(`${e.identity} became leader while ${others.map((o) => o.identity).join(', ')} led`);
      }),
    );
    this.timer = setInterval(() => this.sample(), 3);
  }

  private sample(): void {
    const n = this.electors.filter((e) => e.isLeader()).length;
    this.samples++;
    if (n > 1) this.overlaps++;
    if (n === 0) this.leaderless++;
  }

  leaders(): LeaderElector[] {
    return this.electors.filter((e) => e.isLeader());
  }

  /** Starts a window in which exactly one leader is expected at every sample. */
  steady(): void {
    this.leaderless = 0;
  }

  stop(): void {
    clearInterval(this.timer);
    for (const off of this.offs) off();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

// ---------------------------------------------------------------------------------------------
// Kubernetes Lease, against the fake API server through the real client-node API objects
// ---------------------------------------------------------------------------------------------

describe('KubernetesLeaseElector (fake API server, real @kubernetes/client-node)', () => {
  const L = 2; // leaseDurationSeconds
  const RD = 1.5; // renewDeadlineSeconds
  const RP = 0.25; // retryPeriodSeconds
  const NS = 'pm-agent';

  async function setup(opts: { token?: string; count?: number; now?: (i: number) => (() => number) | undefined } = {}) {
    const fake = await FakeK8sLeaseServer.start({ token: 'sa-token' });
    cleanups.push(() => fake.close());
    const name = unique('board-sync');
    const electors = Array.from({ length: opts.count ?? 2 }, (_, i) => {
      const o: KubernetesLeaseElectorOptions = {
        // Each replica has its own client, as separate pods would.
        api: coordinationApiFor(fake.url, opts.token ?? 'sa-token'),
        namespace: NS,
        name,
        identity: `pm-agent-${i}`,
        leaseDurationSeconds: L,
        renewDeadlineSeconds: RD,
        retryPeriodSeconds: RP,
        log: quiet(),
      };
      const now = opts.now?.(i);
      const e = new KubernetesLeaseElector(now ? { ...o, now } : o);
      cleanups.push(() => e.stop());
      return e;
    });
    const watch = new LeaderWatch(electors);
    cleanups.push(() => watch.stop());
    return { fake, name, electors, watch };
  }

  const leaderOf = (electors: KubernetesLeaseElector[]) => {
    const l = electors.filter((e) => e.isLeader());
    expect(l).toHaveLength(1);
    return { leader: l[0], other: electors.find((e) => e !== l[0])! };
  };

  it('elects exactly one; a crashed leader is replaced within one lease period + one retry period', async () => {
    const { fake, name, electors, watch } = await setup();
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    watch.steady();
    await sleep(1_500); // several renewals
    expect(watch.leaderless).toBe(0);
    const { leader, other } = leaderOf(electors);

    const lease = fake.lease(NS, name)!;
    expect(lease.spec.holderIdentity).toBe(leader.identity);
    expect(lease.spec.leaseDurationSeconds).toBe(L);
    expect(lease.spec.leaseTransitions).toBe(0);
    // MicroTime on the wire: six fractional digits, or the API server would have refused it.
    expect(lease.spec.renewTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(fake.requestsOf('PUT', name).filter((r) => r.status === 200).length).toBeGreaterThanOrEqual(4);
    expect(fake.requests.every((r) => r.headers.authorization === 'Bearer sa-token')).toBe(true);

    const putsBefore = fake.requestsOf('PUT', name).length;
    leader.crash();
    const tookMs = await until(() => other.isLeader(), 12_000, 'the other replica to take over');
    // The crashed leader wrote nothing on its way out (no release).
    expect(fake.requestsOf('PUT', name).slice(putsBefore).every((r) => r.body?.spec?.holderIdentity !== '')).toBe(true);
    expect(tookMs).toBeLessThanOrEqual((L + RP) * 1000 + SLOP_MS);
    // Not before the lease ran out: the last renewal was at most one retry period before the crash.
    expect(tookMs).toBeGreaterThan((L - RP) * 1000 - 150);

    const after = fake.lease(NS, name)!;
    expect(after.spec.holderIdentity).toBe(other.identity);
    expect(after.spec.leaseTransitions).toBe(1);
    watch.steady();
    await sleep(600);
    expect(watch.leaderless).toBe(0);
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
    expect(watch.samples).toBeGreaterThan(500);
  });

  it('a graceful stop releases the lease, and the other takes over much faster than a crash', async () => {
    const { fake, name, electors, watch } = await setup();
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const { leader, other } = leaderOf(electors);

    const t0 = performance.now();
    void leader.stop();
    const stopping = leader.stop(); // a second caller waits for the same release
    expect(leader.isLeader()).toBe(false); // steps down before anything else
    await stopping;
    const release = fake.requestsOf('PUT', name).find((r) => r.body?.spec?.holderIdentity === '');
    expect(release?.status).toBe(200);
    expect(release?.body.spec.leaseDurationSeconds).toBe(1);
    await until(() => other.isLeader(), 10_000, 'the other replica to take over');
    const handoverMs = performance.now() - t0;
    // The other's next attempt (under one retry period), not a lease expiry.
    expect(handoverMs).toBeLessThan(RP * 1000 + 250);
    expect(handoverMs).toBeLessThan((L * 1000) / 2);
    expect(fake.lease(NS, name)!.spec).toMatchObject({ holderIdentity: other.identity, leaseTransitions: 1, leaseDurationSeconds: L });

    // And back again: leaseTransitions counts every handover.
    await other.stop();
    await leader.start(); // a stopped elector is idle again and may campaign anew
    await until(() => leader.isLeader(), 10_000, 'the first replica to lead again');
    expect(fake.lease(NS, name)!.spec).toMatchObject({ holderIdentity: leader.identity, leaseTransitions: 2 });
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
  });

  it('two replicas creating the lease at once: one creates it, the other gets 409 AlreadyExists', async () => {
    const { fake, name, electors, watch } = await setup({ count: 3 });
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const posts = fake.requestsOf('POST', name);
    expect(posts.filter((p) => p.status === 201)).toHaveLength(1);
    const refused = posts.filter((p) => p.status === 409);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    expect(refused.every((p) => p.reason === 'AlreadyExists')).toBe(true);
    await sleep(800);
    expect(watch.leaders()).toHaveLength(1);
    expect(fake.lease(NS, name)!.spec.holderIdentity).toBe(watch.leaders()[0].identity);
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
  });

  it('injected conflicts never produce two leaders, through crashes and handovers', async () => {
    const { fake, name, electors, watch } = await setup({ count: 3 });
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');

    // Conflicts on and off for a while: renewals and takeovers fail at random moments.
    const end = performance.now() + 3_000;
    while (performance.now() < end) {
      fake.injectConflicts(1 + Math.floor(Math.random() * 3));
      await sleep(150 + Math.random() * 200);
    }
    const first = watch.leaders()[0] as KubernetesLeaseElector | undefined;
    first?.crash();
    fake.injectConflicts(3);
    await until(() => watch.leaders().some((e) => e !== first), 15_000, 'a new leader after the crash');
    await sleep(500);

    const conflicts = fake.requestsOf('PUT', name).filter((r) => r.status === 409);
    expect(conflicts.length).toBeGreaterThanOrEqual(5);
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
    expect(watch.leaders()).toHaveLength(1);
    expect(fake.lease(NS, name)!.spec.holderIdentity).toBe(watch.leaders()[0].identity);
  });

  it('a candidate whose clock is an hour off neither steals a live lease nor waits an hour for a dead one', async () => {
    const { fake, name, electors, watch } = await setup({ now: (i) => (i === 1 ? () => Date.now() - 3_600_000 : undefined) });
    const [onTime, skewed] = electors;
    await onTime.start();
    await until(() => onTime.isLeader(), 10_000, 'the first replica to lead');
    await skewed.start();
    watch.steady();
    await sleep(L * 1000 + 500); // longer than a lease: a renewTime-based check would have stolen it
    expect(onTime.isLeader()).toBe(true);
    expect(skewed.isLeader()).toBe(false);
    expect(watch.leaderless).toBe(0);

    onTime.crash();
    const tookMs = await until(() => skewed.isLeader(), 12_000, 'the skewed replica to take over');
    expect(tookMs).toBeLessThanOrEqual((L + RP) * 1000 + SLOP_MS);
    expect(fake.lease(NS, name)!.spec.holderIdentity).toBe(skewed.identity);
    expect(watch.overlaps).toBe(0);
  });

  it('the leader steps down within the renew deadline when the API server is unreachable, and someone leads again after', async () => {
    const { fake, electors, watch } = await setup();
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const { leader } = leaderOf(electors);

    fake.setDown(true);
    const downMs = await until(() => !leader.isLeader(), 12_000, 'the leader to step down');
    // The deadline counts from the last renewal sent, before the outage; the rest is timer slop.
    expect(downMs).toBeLessThanOrEqual(RD * 1000 + SLOP_MS);
    await sleep(L * 1000);
    expect(watch.leaders()).toHaveLength(0); // nobody can prove leadership while the API is down
    expect(fake.requests.filter((r) => r.status === 503).length).toBeGreaterThan(4);

    fake.setDown(false);
    await until(() => watch.leaders().length === 1, 10_000, 'a leader after the outage');
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
  });

  it('failures shorter than the renew deadline (500, 429 with Retry-After) do not move leadership', async () => {
    const { fake, electors, watch } = await setup();
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const { leader } = leaderOf(electors);
    const changes: boolean[] = [];
    electors.forEach((e) => e.onChange((l) => changes.push(l)));
    watch.steady();

    fake.failNext(1, 500);
    fake.rateLimitNext(2);
    await sleep(1_500);
    expect(changes).toEqual([]);
    expect(leader.isLeader()).toBe(true);
    expect(watch.leaderless).toBe(0);
    const failed = fake.requests.filter((r) => r.status === 500 || r.status === 429);
    expect(failed).toHaveLength(3);
    expect(failed.filter((r) => r.status === 429).every((r) => r.reason === 'TooManyRequests')).toBe(true);
  });

  it('with a wrong token every call is refused 401 and nobody leads', async () => {
    const { fake, electors, watch } = await setup({ token: 'wrong' });
    await Promise.all(electors.map((e) => e.start()));
    await sleep(800);
    expect(watch.leaders()).toHaveLength(0);
    expect(fake.requests.length).toBeGreaterThan(2);
    expect(fake.requests.every((r) => r.status === 401)).toBe(true);
  });
});

describe('the fake API server answers like the real one (through the real client)', () => {
  const NS = 'pm-agent';
  const spec = () => ({
    holderIdentity: 'pod-a',
    leaseDurationSeconds: 15,
    acquireTime: new V1MicroTime(Date.now()),
    renewTime: new V1MicroTime(Date.now()),
    leaseTransitions: 0,
  });

  async function failure(p: Promise<unknown>): Promise<{ code: number; body: any }> {
    const err: any = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const body = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
    return { code: err.code, body };
  }

  it('creates, reads, replaces with optimistic concurrency, and refuses with Status objects', async () => {
    const fake = await FakeK8sLeaseServer.start({ token: 'sa-token' });
    cleanups.push(() => fake.close());
    const api = coordinationApiFor(fake.url, 'sa-token');
    const name = unique('lease');

    const missing = await failure(api.readNamespacedLease({ name, namespace: NS }));
    expect(missing.code).toBe(404);
    expect(missing.body).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, details: { name, group: 'coordination.k8s.io', kind: 'leases' } });

    const created = await api.createNamespacedLease({ namespace: NS, body: { metadata: { name }, spec: spec() } });
    expect(created.metadata).toMatchObject({ name, namespace: NS });
    expect(created.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(created.metadata?.creationTimestamp).toBeInstanceOf(Date);
    const v1 = created.metadata!.resourceVersion!;

    const again = await failure(api.createNamespacedLease({ namespace: NS, body: { metadata: { name }, spec: spec() } }));
    expect(again.code).toBe(409);
    expect(again.body).toMatchObject({ kind: 'Status', reason: 'AlreadyExists', message: `leases.coordination.k8s.io "${name}" already exists` });

    const read = await api.readNamespacedLease({ name, namespace: NS });
    const replaced = await api.replaceNamespacedLease({ name, namespace: NS, body: { ...read, spec: { ...spec(), holderIdentity: 'pod-b' } } });
    expect(replaced.spec?.holderIdentity).toBe('pod-b');
    expect(Number(replaced.metadata!.resourceVersion)).toBeGreaterThan(Number(v1));
    expect(replaced.metadata?.uid).toBe(created.metadata?.uid);

    // A write based on the old version loses.
    const stale = await failure(api.replaceNamespacedLease({ name, namespace: NS, body: { ...read, spec: spec() } }));
    expect(stale.code).toBe(409);
    expect(stale.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Conflict', code: 409 });
    expect(stale.body.message).toMatch(/the object has been modified/);

    // Leases never update unconditionally.
    const unconditional = await failure(api.replaceNamespacedLease({ name, namespace: NS, body: { metadata: { name }, spec: spec() } }));
    expect(unconditional.code).toBe(422);
    expect(unconditional.body).toMatchObject({ reason: 'Invalid', details: { causes: [{ field: 'metadata.resourceVersion' }] } });

    // A plain Date has millisecond precision; the server parses MicroTime with six digits.
    const millis = await failure(api.replaceNamespacedLease({ name, namespace: NS, body: { ...replaced, spec: { ...spec(), renewTime: new Date() } } }));
    expect(millis.code).toBe(400);
    expect(millis.body.reason).toBe('BadRequest');

    const invalid = await failure(api.replaceNamespacedLease({ name, namespace: NS, body: { ...replaced, spec: { ...spec(), leaseDurationSeconds: 0 } } }));
    expect(invalid.code).toBe(422);
    expect(invalid.body.message).toMatch(/spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0/);

    const list = await api.listNamespacedLease({ namespace: NS });
    expect(list.items.map((l) => l.metadata?.name)).toEqual([name]);

    // Controls.
    fake.injectConflicts(1);
    const injected = await failure(api.replaceNamespacedLease({ name, namespace: NS, body: replaced }));
    expect(injected.body.reason).toBe('Conflict');
    expect((await api.replaceNamespacedLease({ name, namespace: NS, body: replaced })).spec?.holderIdentity).toBe('pod-b');
    fake.rateLimitNext(1);
    const limited = await failure(api.readNamespacedLease({ name, namespace: NS }));
    expect(limited.code).toBe(429);
    expect(fake.requests.at(-1)?.status).toBe(429);
    fake.setDown(true);
    expect((await failure(api.readNamespacedLease({ name, namespace: NS }))).code).toBe(503);
    fake.setDown(false);
    fake.failNext(1, 500);
    expect((await failure(api.readNamespacedLease({ name, namespace: NS }))).code).toBe(500);
    expect((await api.readNamespacedLease({ name, namespace: NS })).spec?.holderIdentity).toBe('pod-b');

    const unauthorized = await failure(coordinationApiFor(fake.url, 'nope').readNamespacedLease({ name, namespace: NS }));
    expect(unauthorized.code).toBe(401);
    expect(fake.requests.map((r) => r.method)).toContain('POST');
  });
});

// ---------------------------------------------------------------------------------------------
// Postgres advisory lock, against the real Postgres
// ---------------------------------------------------------------------------------------------

describe('PgAdvisoryLeaderElector (real Postgres)', () => {
  const RETRY = 300;
  const CHECK = 100;

  async function admin(): Promise<Client> {
    const c = new Client({ connectionString: TEST_DATABASE_URL });
    await c.connect();
    cleanups.push(() => c.end());
    return c;
  }

  function electorsFor(names: string[]) {
    const electors = names.map((name, i) => {
      const e = new PgAdvisoryLeaderElector({ connectionString: TEST_DATABASE_URL, name, identity: `pm-agent-${i}`, retryMs: RETRY, checkMs: CHECK, log: quiet() });
      cleanups.push(() => e.stop());
      return e;
    });
    return electors;
  }

  /** Backend pids holding the session advisory lock of `key` (a bigint lock shows as classid/objid, objsubid 1). */
  async function lockHolders(c: Client, key: string): Promise<number[]> {
    const u = BigInt.asUintN(64, BigInt(key));
    const r = await c.query<{ pid: number }>(
      `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 AND classid = $1::bigint::oid AND objid = $2::bigint::oid`,
      [(u >> 32n).toString(), (u & 0xffffffffn).toString()],
    );
    return r.rows.map((row) => row.pid);
  }

  it('two replicas with one name: exactly one leads, holding the lock in its own session', async () => {
    const name = unique('board-sync');
    const electors = electorsFor([name, name]);
    const watch = new LeaderWatch(electors);
    cleanups.push(() => watch.stop());
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    watch.steady();
    await sleep(1_000);
    expect(watch.leaderless).toBe(0);
    expect(watch.overlaps).toBe(0);
    expect(watch.samples).toBeGreaterThan(200);

    const leader = watch.leaders()[0] as PgAdvisoryLeaderElector;
    const c = await admin();
    expect(await lockHolders(c, leader.key)).toEqual([leader.backendPid]);
    // Its own connection, named for the election.
    const app = await c.query<{ application_name: string }>('SELECT application_name FROM pg_stat_activity WHERE pid = $1', [leader.backendPid]);
    expect(app.rows[0]?.application_name).toBe(`pm-agent leader ${leader.identity}`);
  });

  it('when the leader session is killed (what a SIGKILL looks like to Postgres), the other takes over within retryMs', async () => {
    const name = unique('board-sync');
    const electors = electorsFor([name, name]);
    const watch = new LeaderWatch(electors);
    cleanups.push(() => watch.stop());
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const leader = watch.leaders()[0] as PgAdvisoryLeaderElector;
    const other = electors.find((e) => e !== leader)!;
    const lostAt: number[] = [];
    leader.onChange((l) => !l && lostAt.push(performance.now()));

    const c = await admin();
    const t0 = performance.now();
    const killed = await c.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [leader.backendPid]);
    expect(killed.rows[0]?.ok).toBe(true);
    const tookMs = await until(() => other.isLeader(), 10_000, 'the other replica to take over');
    expect(tookMs).toBeLessThanOrEqual(RETRY + SLOP_MS);
    // The killed leader noticed at once (the connection ended), not at its next check.
    expect(lostAt).toHaveLength(1);
    expect(lostAt[0] - t0).toBeLessThan(CHECK + 50);

    // It reconnects with a new session and stays a candidate.
    await until(() => leader.backendPid !== undefined, 10_000, 'the old leader to reconnect');
    await sleep(3 * RETRY);
    expect(other.isLeader()).toBe(true);
    expect(leader.isLeader()).toBe(false);
    expect(await lockHolders(c, other.key)).toEqual([other.backendPid]);
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
  });

  it('a graceful stop unlocks at once and hands over within retryMs', async () => {
    const name = unique('board-sync');
    const electors = electorsFor([name, name]);
    const watch = new LeaderWatch(electors);
    cleanups.push(() => watch.stop());
    await Promise.all(electors.map((e) => e.start()));
    await until(() => watch.leaders().length === 1, 10_000, 'a leader');
    const leader = watch.leaders()[0] as PgAdvisoryLeaderElector;
    const other = electors.find((e) => e !== leader)!;
    const pid = leader.backendPid;

    const c = await admin();
    const t0 = performance.now();
    const stopping = leader.stop();
    expect(leader.isLeader()).toBe(false); // steps down before unlocking
    await stopping;
    expect(leader.backendPid).toBeUndefined();
    await until(() => other.isLeader(), 10_000, 'the other replica to take over');
    expect(performance.now() - t0).toBeLessThanOrEqual(RETRY + SLOP_MS);
    const gone = await c.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    expect(gone.rowCount).toBe(0); // its session was ended too
    expect(watch.overlaps).toBe(0);
    expect(watch.violations).toEqual([]);
  });

  it('different names are different elections: both lead', async () => {
    const electors = electorsFor([unique('board-sync'), unique('other-job')]);
    await Promise.all(electors.map((e) => e.start()));
    await until(() => electors.every((e) => e.isLeader()), 10_000, 'both to lead');
    expect(electors[0].key).not.toBe(electors[1].key);
  });

  it('with Postgres unreachable, start() still resolves and the replica keeps retrying as a candidate', async () => {
    const log = quiet();
    const e = new PgAdvisoryLeaderElector({ connectionString: 'postgres://postgres@127.0.0.1:1/test', name: unique('board-sync'), identity: 'pm-agent-x', retryMs: 100, checkMs: CHECK, connectTimeoutMs: 500, log });
    cleanups.push(() => e.stop());
    await e.start();
    await sleep(350);
    expect(e.isLeader()).toBe(false);
    expect(e.backendPid).toBeUndefined();
  });
});
