import { describe, expect, it } from 'vitest';
import { Gate } from '../../src/common/gate';
import { Redactor } from '../../src/infra/logging/redactor';

describe('Redactor', () => {
  const r = new Redactor();
  r.addSecret('admin-key-super-secret-value');
  r.addSecret('short'); // too short to mask safely: ignored

  it('masks registered secrets and credential shapes, keeps the rest', () => {
    const key = `pmk_${'a'.repeat(16)}_${'B'.repeat(43)}`;
    const jwt = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJlLXZhbHVl';
    const line = `admin=admin-key-super-secret-value key=${key} token=${jwt} hdr="Authorization: Bearer abcdefghijkl" db=postgres://user:hunter22@db:5432/x short`;
    const out = r.scrub(line);
    for (const secret of ['admin-key-super-secret-value', key, jwt, 'abcdefghijkl', 'hunter22']) expect(out).not.toContain(secret);
    expect(out).toContain('postgres://user:[REDACTED]@db:5432/x');
    expect(out).toContain('Bearer [REDACTED]');
    expect(out).toContain('short');
  });
});

describe('Gate', () => {
  it('runs at most N at once and refuses beyond the queue', async () => {
    const gate = new Gate(2, 1);
    let running = 0;
    let peak = 0;
    const release: (() => void)[] = [];
    const task = () =>
      new Promise<number>((resolve) => {
        running++;
        peak = Math.max(peak, running);
        release.push(() => {
          running--;
          resolve(1);
        });
      });
    const a = gate.run(task);
    const b = gate.run(task);
    const c = gate.run(task); // queued
    await expect(gate.run(task)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(2);
    release.shift()!();
    await a;
    await new Promise((r) => setImmediate(r));
    expect(release).toHaveLength(2); // c started in a's slot
    for (const f of release.splice(0)) f();
    expect(await Promise.all([b, c])).toEqual([1, 1]);
    expect(peak).toBe(2);
  });
});
