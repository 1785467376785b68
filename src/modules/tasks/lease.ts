// Lease arithmetic: how long an agent may stay silent before its task goes back to the pool.
// Agents further along get longer leases, so a long final step is not cut off.

export interface LeaseStage {
  /** Seconds until the lease expires (before scaling). */
  timeout: number;
  /** Seconds after expiry before the task is actually recovered (before scaling). */
  grace: number;
}

export interface LeaseSchedule {
  /** Multiplies every timeout and grace (tests use small values). */
  scale: number;
  /** No progress report yet. */
  initial: LeaseStage;
  /** At least one report, progress below 25 %. */
  started: LeaseStage;
  /** Progress 25–75 %. */
  midway: LeaseStage;
  /** Progress above 75 %. */
  finishing: LeaseStage;
}

export type LeaseStageName = 'initial' | 'started' | 'midway' | 'finishing';

export function leaseStage(reportCount: number, progress: number): LeaseStageName {
  if (reportCount <= 0) return 'initial';
  if (progress > 75) return 'finishing';
  if (progress >= 25) return 'midway';
  return 'started';
}

export interface LeaseTerms {
  stage: LeaseStageName;
  expiresAt: Date;
  graceMs: number;
}

export function leaseTerms(schedule: LeaseSchedule, now: Date, reportCount: number, progress: number): LeaseTerms {
  const stage = leaseStage(reportCount, progress);
  const { timeout, grace } = schedule[stage];
  return {
    stage,
    expiresAt: new Date(now.getTime() + Math.round(timeout * schedule.scale * 1000)),
    graceMs: Math.round(grace * schedule.scale * 1000),
  };
}

/** A lease is recoverable once its expiry plus grace has passed. */
export function isRecoverable(expiresAt: Date, graceMs: number, now: Date): boolean {
  return now.getTime() > expiresAt.getTime() + graceMs;
}

/** Progress is clamped to 0–100 and rounded; the original stored whatever it was sent. */
export function clampProgress(progress: number): number {
  if (!Number.isFinite(progress)) return 0;
  return Math.min(100, Math.max(0, Math.round(progress)));
}
