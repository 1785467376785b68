import { describe, expect, it } from 'vitest';
import { clampProgress, isRecoverable, leaseStage, leaseTerms, type LeaseSchedule, type LeaseStageName } from '../../src/modules/tasks/lease';

// The documented defaults (ARCHITECTURE.md §4).
const schedule: LeaseSchedule = {
  scale: 1,
  initial: { timeout: 180, grace: 60 },
  started: { timeout: 240, grace: 60 },
  midway: { timeout: 300, grace: 60 },
  finishing: { timeout: 360, grace: 90 },
};
const now = new Date('2025-06-01T12:00:00.000Z');

describe('leaseStage', () => {
  it('is initial before the first report, whatever the progress', () => {
    expect(leaseStage(0, 0)).toBe('initial');
    expect(leaseStage(0, 50)).toBe('initial');
    expect(leaseStage(0, 100)).toBe('initial');
    expect(leaseStage(-1, 90)).toBe('initial');
  });

  it.each<[number, LeaseStageName]>([
    [0, 'started'],
    [24, 'started'],
    [24.9, 'started'],
    [25, 'midway'],
    [50, 'midway'],
    [75, 'midway'],
    [75.1, 'finishing'],
    [76, 'finishing'],
    [100, 'finishing'],
  ])('after a report at %s percent it is %s', (progress, stage) => {
    expect(leaseStage(1, progress)).toBe(stage);
    expect(leaseStage(7, progress)).toBe(stage);
  });
});

describe('leaseTerms', () => {
  it.each<[number, number, LeaseStageName, number, number]>([
    [0, 0, 'initial', 180, 60],
    [1, 10, 'started', 240, 60],
    [2, 25, 'midway', 300, 60],
    [3, 75, 'midway', 300, 60],
    [4, 80, 'finishing', 360, 90],
  ])('reports=%d progress=%d → %s: %d s + %d s grace', (reports, progress, stage, timeout, grace) => {
    const terms = leaseTerms(schedule, now, reports, progress);
    expect(terms.stage).toBe(stage);
    expect(terms.expiresAt.getTime() - now.getTime()).toBe(timeout * 1000);
    expect(terms.graceMs).toBe(grace * 1000);
  });

  it('multiplies timeout and grace by the scale', () => {
    const fast = leaseTerms({ ...schedule, scale: 0.01 }, now, 0, 0);
    expect(fast.expiresAt.getTime() - now.getTime()).toBe(1800);
    expect(fast.graceMs).toBe(600);
    const slow = leaseTerms({ ...schedule, scale: 2 }, now, 1, 90);
    expect(slow.expiresAt.getTime() - now.getTime()).toBe(720_000);
    expect(slow.graceMs).toBe(180_000);
  });

  it('rounds scaled values to whole milliseconds', () => {
    const terms = leaseTerms({ ...schedule, scale: 0.5, initial: { timeout: 1.0011, grace: 0.0033 } }, now, 0, 0);
    expect(terms.expiresAt.getTime() - now.getTime()).toBe(501); // 500.55 ms
    expect(terms.graceMs).toBe(2); // 1.65 ms
  });

  it('does not modify the time it was given', () => {
    const at = new Date(now);
    leaseTerms(schedule, at, 1, 50);
    expect(at.getTime()).toBe(now.getTime());
  });
});

describe('isRecoverable', () => {
  const expiresAt = new Date('2025-06-01T12:03:00.000Z');
  const grace = 60_000;

  it('is false before expiry and during the grace period', () => {
    expect(isRecoverable(expiresAt, grace, now)).toBe(false);
    expect(isRecoverable(expiresAt, grace, expiresAt)).toBe(false);
    expect(isRecoverable(expiresAt, grace, new Date(expiresAt.getTime() + 30_000))).toBe(false);
  });

  it('is false exactly at expiry + grace and true one millisecond later', () => {
    expect(isRecoverable(expiresAt, grace, new Date(expiresAt.getTime() + grace))).toBe(false);
    expect(isRecoverable(expiresAt, grace, new Date(expiresAt.getTime() + grace + 1))).toBe(true);
  });

  it('with no grace, is recoverable right after expiry', () => {
    expect(isRecoverable(expiresAt, 0, expiresAt)).toBe(false);
    expect(isRecoverable(expiresAt, 0, new Date(expiresAt.getTime() + 1))).toBe(true);
  });
});

describe('clampProgress', () => {
  it.each<[number, number]>([
    [0, 0],
    [42, 42],
    [100, 100],
    [-1, 0],
    [-500, 0],
    [101, 100],
    [1e9, 100],
    [49.4, 49],
    [49.5, 50],
    [99.6, 100],
    [0.4, 0],
    [-0.4, 0],
    [Number.NaN, 0],
    [Number.POSITIVE_INFINITY, 0],
    [Number.NEGATIVE_INFINITY, 0],
  ])('clampProgress(%s) = %s', (input, expected) => {
    const out = clampProgress(input);
    expect(out).toBe(expected);
    expect(Object.is(out, -0)).toBe(false);
  });
});
