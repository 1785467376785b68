import { describe, expect, it, vi } from 'vitest';
import {
  acquireRecord,
  advisoryKey,
  CANDIDATE_JITTER,
  candidateDelayMs,
  leadershipDeadline,
  leaseExpired,
  leaseExpiresAt,
  leaseFingerprint,
  mayAcquire,
  microTimeMs,
  observeLease,
  pgRetryDelayMs,
  releaseRecord,
  validateLeaseTimings,
  type LeaseObservation,
  type LeaseSnapshot,
} from '../../src/infra/leader/election';
import type { ElectionLog } from '../../src/infra/leader/leader-elector';
import { LocalLeaderElector } from '../../src/infra/leader/local-elector';

const T0 = Date.parse('2025-06-01T12:00:00.000Z');

const held = (over: Partial<LeaseSnapshot> = {}): LeaseSnapshot => ({
  resourceVersion: '101',
  holderIdentity: 'pod-a',
  leaseDurationSeconds: 15,
  leaseTransitions: 3,
  acquireTime: '2025-06-01T11:00:00.000000Z',
  renewTime: '2025-06-01T11:59:58.123456Z',
  ...over,
});

const quietLog = (): ElectionLog & { warnings: string[] } => {
  const warnings: string[] = [];
  return { warnings, log: () => undefined, warn: (m: string) => void warnings.push(m) };
};

describe('validateLeaseTimings (client-go rules)', () => {
  it('accepts the client-go defaults and the short test timings', () => {
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 })).not.toThrow();
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 2, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.25 })).not.toThrow();
  });

  it('requires the lease duration to exceed the renew deadline', () => {
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 10, renewDeadlineSeconds: 10, retryPeriodSeconds: 2 })).toThrow(/greater than renewDeadlineSeconds/);
  });

  it('requires the renew deadline to exceed 1.2 retry periods', () => {
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 15, renewDeadlineSeconds: 2.4, retryPeriodSeconds: 2 })).toThrow(/retryPeriodSeconds × 1.2/);
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 15, renewDeadlineSeconds: 2.5, retryPeriodSeconds: 2 })).not.toThrow();
  });

  it('requires a whole, positive lease duration (an int32 in the Lease) and positive periods', () => {
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 2.5, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.25 })).toThrow(/whole number/);
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 0, renewDeadlineSeconds: 1.5, retryPeriodSeconds: 0.25 })).toThrow(/whole number/);
    expect(() => validateLeaseTimings({ leaseDurationSeconds: 15, renewDeadlineSeconds: 10, retryPeriodSeconds: 0 })).toThrow(/retryPeriodSeconds must be greater than zero/);
  });
});

describe('observing a lease (measured on our clock)', () => {
  it('keeps the first-seen time while the record does not change, whatever renewTime says', () => {
    const first = observeLease(undefined, held(), T0);
    expect(first.observedAt).toBe(T0);
    const again = observeLease(first, held(), T0 + 9_000);
    expect(again.observedAt).toBe(T0);
  });

  it('restarts the clock when the resourceVersion or the record changes', () => {
    const first = observeLease(undefined, held(), T0);
    expect(observeLease(first, held({ resourceVersion: '102' }), T0 + 5_000).observedAt).toBe(T0 + 5_000);
    expect(observeLease(first, held({ renewTime: '2025-06-01T12:00:01.000000Z' }), T0 + 6_000).observedAt).toBe(T0 + 6_000);
    expect(observeLease(first, held({ holderIdentity: 'pod-b' }), T0 + 7_000).observedAt).toBe(T0 + 7_000);
  });

  it('reads the record fields, defaulting what is absent', () => {
    const obs = observeLease(undefined, held(), T0);
    expect(obs).toMatchObject({ holderIdentity: 'pod-a', leaseDurationSeconds: 15, leaseTransitions: 3, acquireTime: Date.parse('2025-06-01T11:00:00.000Z') });
    expect(observeLease(undefined, {}, T0)).toMatchObject({ holderIdentity: '', leaseDurationSeconds: 0, leaseTransitions: 0, acquireTime: undefined });
  });

  it('fingerprints equal records alike and any changed field differently', () => {
    expect(leaseFingerprint(held())).toBe(leaseFingerprint(held()));
    expect(leaseFingerprint(held({ renewTime: '2025-06-01T11:59:58.123457Z' }))).not.toBe(leaseFingerprint(held()));
    expect(leaseFingerprint(held({ leaseTransitions: 4 }))).not.toBe(leaseFingerprint(held()));
    expect(leaseFingerprint(held({ renewTime: new Date(T0) }))).toBe(leaseFingerprint(held({ renewTime: new Date(T0) })));
  });

  it('parses MicroTime strings and Dates to milliseconds', () => {
    expect(microTimeMs('2025-06-01T12:00:00.123456Z')).toBe(T0 + 123);
    expect(microTimeMs(new Date(T0))).toBe(T0);
    expect(microTimeMs('not a time')).toBeUndefined();
    expect(microTimeMs(undefined)).toBeUndefined();
  });
});

describe('expiry and who may acquire', () => {
  const obs = observeLease(undefined, held({ leaseDurationSeconds: 15 }), T0);

  it('a held lease expires leaseDurationSeconds after it was last seen to change (validity is strict)', () => {
    expect(leaseExpiresAt(obs)).toBe(T0 + 15_000);
    expect(leaseExpired(obs, T0 + 14_999)).toBe(false);
    expect(leaseExpired(obs, T0 + 15_000)).toBe(true);
  });

  it('uses the duration written in the record (a released lease says 1 s)', () => {
    const released = observeLease(undefined, held({ holderIdentity: '', leaseDurationSeconds: 1 }), T0);
    expect(leaseExpiresAt(released)).toBe(T0 + 1_000);
  });

  it('skewed holder clocks do not matter: a renewTime far in the future or past changes nothing', () => {
    const future = observeLease(undefined, held({ renewTime: '2099-01-01T00:00:00.000000Z' }), T0);
    const past = observeLease(undefined, held({ renewTime: '1999-01-01T00:00:00.000000Z' }), T0);
    for (const o of [future, past]) {
      expect(leaseExpired(o, T0 + 14_000)).toBe(false);
      expect(leaseExpired(o, T0 + 15_000)).toBe(true);
    }
  });

  it('another holder blocks a candidate until expiry; a free lease or our own never does', () => {
    expect(mayAcquire(obs, 'pod-b', T0 + 1_000)).toBe(false);
    expect(mayAcquire(obs, 'pod-b', T0 + 15_000)).toBe(true);
    expect(mayAcquire(obs, 'pod-a', T0 + 1_000)).toBe(true);
    const free = observeLease(undefined, held({ holderIdentity: '' }), T0);
    expect(mayAcquire(free, 'pod-b', T0)).toBe(true);
  });
});

describe('the leader steps down before anyone may take over', () => {
  it('leads until renewDeadline after the last successful write was sent', () => {
    expect(leadershipDeadline(T0, 10_000)).toBe(T0 + 10_000);
  });

  it('for any send/apply/observe delays, the deadline comes before the earliest takeover', () => {
    const lease = { leaseDurationSeconds: 2, renewDeadlineMs: 1_500 };
    for (const applyDelay of [0, 5, 200, 1_400]) {
      for (const observeDelay of [0, 1, 300]) {
        const sentAt = T0;
        const appliedAt = sentAt + applyDelay; // the server writes no earlier than we sent
        const seen = observeLease(undefined, held({ leaseDurationSeconds: lease.leaseDurationSeconds }), appliedAt + observeDelay);
        expect(leadershipDeadline(sentAt, lease.renewDeadlineMs)).toBeLessThan(leaseExpiresAt(seen));
      }
    }
  });
});

describe('candidateDelayMs', () => {
  it('waits a jittered fraction of the retry period, never a full one', () => {
    expect(candidateDelayMs(2_000, 0, T0)).toBe(2_000 * CANDIDATE_JITTER.min);
    expect(candidateDelayMs(2_000, 0.999_999, T0)).toBeLessThan(2_000 * CANDIDATE_JITTER.max);
    expect(candidateDelayMs(2_000, 0.5, T0)).toBeGreaterThan(2_000 * CANDIDATE_JITTER.min);
  });

  it('wakes just after the observed lease expires when that comes first', () => {
    const obs = observeLease(undefined, held({ leaseDurationSeconds: 2 }), T0);
    expect(candidateDelayMs(2_000, 0.9, T0 + 1_900)).toBeGreaterThan(1_000);
    expect(candidateDelayMs(2_000, 0.9, T0 + 1_900, obs)).toBe(101);
    expect(candidateDelayMs(2_000, 0.9, T0 + 5_000, obs)).toBe(0);
  });

  it('a free lease is retried at the jittered period', () => {
    const free = observeLease(undefined, held({ holderIdentity: '', leaseDurationSeconds: 1 }), T0);
    expect(candidateDelayMs(1_000, 0, T0 + 5_000, free)).toBe(500);
  });
});

describe('the records written', () => {
  const current: LeaseObservation = observeLease(undefined, held({ holderIdentity: 'pod-a', leaseTransitions: 3 }), T0);

  it('a new lease starts with zero transitions, acquired and renewed now', () => {
    expect(acquireRecord(undefined, 'pod-a', T0, 15)).toEqual({ holderIdentity: 'pod-a', leaseDurationSeconds: 15, acquireTime: T0, renewTime: T0, leaseTransitions: 0 });
  });

  it('renewing keeps acquireTime and the transition count', () => {
    expect(acquireRecord(current, 'pod-a', T0 + 2_000, 15)).toEqual({
      holderIdentity: 'pod-a',
      leaseDurationSeconds: 15,
      acquireTime: Date.parse('2025-06-01T11:00:00.000Z'),
      renewTime: T0 + 2_000,
      leaseTransitions: 3,
    });
  });

  it('taking over from another holder, or from nobody, is one more transition', () => {
    expect(acquireRecord(current, 'pod-b', T0 + 20_000, 15)).toEqual({ holderIdentity: 'pod-b', leaseDurationSeconds: 15, acquireTime: T0 + 20_000, renewTime: T0 + 20_000, leaseTransitions: 4 });
    const free = observeLease(undefined, held({ holderIdentity: '', leaseTransitions: 4 }), T0);
    expect(acquireRecord(free, 'pod-a', T0, 15).leaseTransitions).toBe(5);
  });

  it('releasing clears the holder and shortens the lease to one second, keeping the count', () => {
    expect(releaseRecord(current, T0 + 3_000)).toEqual({ holderIdentity: '', leaseDurationSeconds: 1, acquireTime: T0 + 3_000, renewTime: T0 + 3_000, leaseTransitions: 3 });
  });
});

describe('advisoryKey', () => {
  it('is a deterministic signed 64-bit integer in decimal', () => {
    const k = advisoryKey('board-sync');
    expect(k).toMatch(/^-?\d+$/);
    expect(advisoryKey('board-sync')).toBe(k);
    const n = BigInt(k);
    expect(n >= -(2n ** 63n) && n < 2n ** 63n).toBe(true);
  });

  it('differs between names, and uses the whole 64-bit range (not just int4)', () => {
    const keys = new Set(Array.from({ length: 200 }, (_, i) => advisoryKey(`election-${i}`)));
    expect(keys.size).toBe(200);
    const big = [...keys].filter((k) => BigInt(k) > 2n ** 31n || BigInt(k) < -(2n ** 31n));
    expect(big.length).toBeGreaterThan(190);
    expect([...keys].some((k) => k.startsWith('-'))).toBe(true);
  });

  it('refuses an empty name', () => {
    expect(() => advisoryKey('')).toThrow();
  });
});

describe('pgRetryDelayMs', () => {
  it('retries every retryMs, and half a period later after losing the session', () => {
    expect(pgRetryDelayMs(1_000, false)).toBe(1_000);
    expect(pgRetryDelayMs(1_000, true)).toBe(1_500);
  });
});

describe('LeaderElector listeners (through the local elector)', () => {
  it('is the leader from start() until stop(), telling listeners once per change', async () => {
    const e = new LocalLeaderElector({ identity: 'solo', log: quietLog() });
    const seen: boolean[] = [];
    e.onChange((l) => seen.push(l));
    expect(e.isLeader()).toBe(false);
    await e.start();
    await e.start();
    expect(e.isLeader()).toBe(true);
    await e.stop();
    expect(e.isLeader()).toBe(false);
    expect(seen).toEqual([true, false]);
    expect(e.kind).toBe('local');
    expect(e.identity).toBe('solo');
  });

  it('a throwing or rejecting listener is logged and does not stop the others', async () => {
    const log = quietLog();
    const e = new LocalLeaderElector({ identity: 'solo', log });
    const seen: string[] = [];
    e.onChange(() => {
      throw new Error('boom');
    });
    e.onChange(async () => {
      throw new Error('async boom');
    });
    e.onChange((l) => seen.push(`third:${l}`));
    await e.start();
    await vi.waitFor(() => expect(log.warnings).toHaveLength(2));
    expect(seen).toEqual(['third:true']);
    expect(e.isLeader()).toBe(true);
    expect(log.warnings.join('\n')).toMatch(/boom/);
  });

  it('unsubscribing stops the calls, even for a function registered twice', async () => {
    const e = new LocalLeaderElector({ identity: 'solo', log: quietLog() });
    const calls: boolean[] = [];
    const fn = (l: boolean) => void calls.push(l);
    const off1 = e.onChange(fn);
    e.onChange(fn);
    off1();
    await e.start();
    expect(calls).toEqual([true]);
  });
});
