import { createHash } from 'node:crypto';

/*
 * The timing rules of pm-agent's leader election, kept pure so they can be unit-tested without
 * clocks or servers. The Kubernetes rules follow client-go's leaderelection package: a candidate
 * never trusts the holder's renewTime (the holder's clock); it measures the lease on its OWN clock
 * from the moment it last saw the lease record change.
 */

/** Timings of a Kubernetes Lease election, in seconds, as in client-go's LeaderElectionConfig. */
export interface LeaseTimings {
  leaseDurationSeconds: number;
  renewDeadlineSeconds: number;
  retryPeriodSeconds: number;
}

/** client-go's JitterFactor: the renew deadline must leave room for more than one jittered retry. */
export const RENEW_JITTER_FACTOR = 1.2;

/**
 * Candidates wait a random fraction in [min, max) of the retry period between attempts: the
 * jitter keeps replicas out of lockstep, and staying below one retry period bounds the takeover
 * after a holder dies by leaseDuration + retryPeriod.
 */
export const CANDIDATE_JITTER = { min: 0.5, max: 0.75 } as const;

/** Throws unless the timings are usable (the checks client-go's NewLeaderElector makes). */
export function validateLeaseTimings(t: LeaseTimings): void {
  const { leaseDurationSeconds: lease, renewDeadlineSeconds: renew, retryPeriodSeconds: retry } = t;
  if (!Number.isInteger(lease) || lease < 1) throw new Error(`leaseDurationSeconds must be a whole number of seconds ≥ 1 (it is an int32 in the Lease), got ${lease}`);
  if (!(renew > 0)) throw new Error(`renewDeadlineSeconds must be greater than zero, got ${renew}`);
  if (!(retry > 0)) throw new Error(`retryPeriodSeconds must be greater than zero, got ${retry}`);
  // A holder must give up before any candidate may take over, or there would be two leaders.
  if (lease <= renew) throw new Error(`leaseDurationSeconds (${lease}) must be greater than renewDeadlineSeconds (${renew})`);
  if (renew <= RENEW_JITTER_FACTOR * retry) {
    throw new Error(`renewDeadlineSeconds (${renew}) must be greater than retryPeriodSeconds × ${RENEW_JITTER_FACTOR} (${RENEW_JITTER_FACTOR * retry})`);
  }
}

/** The parts of a Lease the election reads. Times as they come off the wire (string) or as Dates. */
export interface LeaseSnapshot {
  resourceVersion?: string;
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  leaseTransitions?: number | null;
  acquireTime?: Date | string | null;
  renewTime?: Date | string | null;
}

/** What a candidate last saw of the lease, and when it first saw it (on its own clock). */
export interface LeaseObservation {
  /** Identifies the record: any write (new resourceVersion or spec) is a change. */
  fingerprint: string;
  /** '' when nobody holds the lease. */
  holderIdentity: string;
  leaseDurationSeconds: number;
  leaseTransitions: number;
  /** The holder's acquireTime in ms, when readable. */
  acquireTime?: number;
  /** Our clock (ms) when this record was first seen. */
  observedAt: number;
}

/** A MicroTime (RFC 3339, microseconds) or Date as epoch milliseconds; undefined if absent or unreadable. */
export function microTimeMs(v: Date | string | null | undefined): number | undefined {
  if (v === null || v === undefined) return undefined;
  const ms = v instanceof Date ? v.getTime() : Date.parse(v);
  return Number.isFinite(ms) ? ms : undefined;
}

function isoOrRaw(v: Date | string | null | undefined): string {
  if (v instanceof Date) return Number.isFinite(v.getTime()) ? v.toISOString() : 'invalid';
  return v ?? '';
}

export function leaseFingerprint(s: LeaseSnapshot): string {
  return JSON.stringify([
    s.resourceVersion ?? '',
    s.holderIdentity ?? '',
    s.leaseDurationSeconds ?? 0,
    s.leaseTransitions ?? 0,
    isoOrRaw(s.acquireTime),
    isoOrRaw(s.renewTime),
  ]);
}

/**
 * Records a read of the lease. An unchanged record keeps the time it was first seen, so a holder
 * that stopped renewing expires on our clock however its own clock is set.
 */
export function observeLease(prev: LeaseObservation | undefined, s: LeaseSnapshot, now: number): LeaseObservation {
  const fingerprint = leaseFingerprint(s);
  return {
    fingerprint,
    holderIdentity: s.holderIdentity ?? '',
    leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
    leaseTransitions: s.leaseTransitions ?? 0,
    acquireTime: microTimeMs(s.acquireTime),
    observedAt: prev && prev.fingerprint === fingerprint ? prev.observedAt : now,
  };
}

/** When the observed lease runs out on our clock (ms). Uses the record's duration, as client-go does. */
export function leaseExpiresAt(obs: LeaseObservation): number {
  return obs.observedAt + obs.leaseDurationSeconds * 1000;
}

/** client-go's !isLeaseValid: the lease is valid while observedAt + duration is after now. */
export function leaseExpired(obs: LeaseObservation, now: number): boolean {
  return now >= leaseExpiresAt(obs);
}

/** Whether `identity` may write itself into the lease now: it is free, already ours, or expired. */
export function mayAcquire(obs: LeaseObservation, identity: string, now: number): boolean {
  return obs.holderIdentity === '' || obs.holderIdentity === identity || leaseExpired(obs, now);
}

/**
 * Until when a holder may act as leader after a successful write it SENT at `sentAt`. Counting
 * from the send (not the answer) is conservative: the server applied the write no earlier, and
 * candidates count their lease duration from no earlier than that, so with
 * leaseDuration > renewDeadline the holder always steps down before anyone may take over.
 */
export function leadershipDeadline(sentAt: number, renewDeadlineMs: number): number {
  return sentAt + renewDeadlineMs;
}

/**
 * How long a candidate waits before its next attempt: a jittered fraction of the retry period,
 * and never past the moment the lease it observed expires (plus a millisecond, as validity is
 * strict), so a dead holder is replaced as soon as the rules allow.
 */
export function candidateDelayMs(retryMs: number, random: number, now: number, obs?: LeaseObservation): number {
  const r = Math.min(Math.max(random, 0), 1);
  const jittered = retryMs * (CANDIDATE_JITTER.min + (CANDIDATE_JITTER.max - CANDIDATE_JITTER.min) * r);
  if (!obs || obs.holderIdentity === '') return jittered;
  const untilExpiry = leaseExpiresAt(obs) - now + 1;
  return Math.max(0, Math.min(jittered, untilExpiry));
}

/** The lease fields pm-agent writes (times in epoch ms; the elector sends them as MicroTime). */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: number;
  renewTime: number;
  leaseTransitions: number;
}

/**
 * The record `identity` writes to acquire or renew the lease. Renewing (the record already names
 * us) keeps acquireTime and leaseTransitions; taking it from someone else, or from nobody, is a
 * transition. A brand-new lease (no current record) starts at 0 transitions, as in client-go.
 */
export function acquireRecord(current: LeaseObservation | undefined, identity: string, now: number, leaseDurationSeconds: number): LeaseRecord {
  if (!current) return { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 };
  if (current.holderIdentity === identity) {
    return { holderIdentity: identity, leaseDurationSeconds, acquireTime: current.acquireTime ?? now, renewTime: now, leaseTransitions: current.leaseTransitions };
  }
  return { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: current.leaseTransitions + 1 };
}

/**
 * The record a holder writes when it stops gracefully (client-go's ReleaseOnCancel): no holder and
 * a one-second duration, so candidates take over at their next attempt instead of waiting out the
 * lease.
 */
export function releaseRecord(current: LeaseObservation, now: number): LeaseRecord {
  return { holderIdentity: '', leaseDurationSeconds: 1, acquireTime: now, renewTime: now, leaseTransitions: current.leaseTransitions };
}

// Namespaces pm-agent's election keys so they cannot meet another user of the 64-bit key space.
const ADVISORY_KEY_PREFIX = 'pm-agent/leader/';

/** The Postgres advisory-lock key for an election name: a signed 64-bit integer, as a decimal string. */
export function advisoryKey(name: string): string {
  if (name === '') throw new Error('an election name is required');
  const digest = createHash('sha256').update(ADVISORY_KEY_PREFIX + name, 'utf8').digest();
  return digest.readBigInt64BE(0).toString();
}

/** How long a Postgres candidate waits before retrying after it lost its session involuntarily. */
export function pgRetryDelayMs(retryMs: number, lostSession: boolean): number {
  // A replica whose session just died (its network, or an administrator, ended it) waits half a
  // period longer, so a replica with a healthy session takes the lock first.
  return lostSession ? Math.round(retryMs * 1.5) : retryMs;
}
