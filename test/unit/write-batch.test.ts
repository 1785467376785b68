import { describe, expect, it } from 'vitest';
import { combineWrites } from '../../src/infra/database/write-batch';

describe('combineWrites', () => {
  it('renumbers each statement’s parameters after the previous ones and wraps them as CTEs', () => {
    const one = combineWrites([
      { text: 'INSERT INTO a (x, y) VALUES ($1, $2)', params: [1, 2] },
      { text: 'UPDATE b SET v = $2 WHERE id = $1', params: ['id', 'v'] },
      { text: 'DELETE FROM c WHERE k = $1 AND j = $1', params: ['k'] },
    ]);
    expect(one.text).toBe('WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), w1 AS (UPDATE b SET v = $4 WHERE id = $3), w2 AS (DELETE FROM c WHERE k = $5 AND j = $5) SELECT 1');
    expect(one.params).toEqual([1, 2, 'id', 'v', 'k']);
  });

  it('leaves string literals alone', () => {
    const one = combineWrites([
      { text: 'INSERT INTO a VALUES ($1)', params: [1] },
      { text: "UPDATE t SET state = 'completed', reason = 'it''s done' WHERE id = $1", params: ['x'] },
    ]);
    expect(one.text).toBe("WITH w0 AS (INSERT INTO a VALUES ($1)), w1 AS (UPDATE t SET state = 'completed', reason = 'it''s done' WHERE id = $2) SELECT 1");
  });

  it('passes a single statement through unchanged', () => {
    const w = { text: 'SELECT 1 WHERE $1', params: [true] };
    expect(combineWrites([w])).toBe(w);
  });

  it('refuses reads, dollar-quoted text and references to missing parameters', () => {
    const ok = { text: 'INSERT INTO a VALUES ($1)', params: [1] };
    expect(() => combineWrites([ok, { text: 'SELECT * FROM t WHERE id = $1', params: [1] }])).toThrow(/not a write/);
    expect(() => combineWrites([ok, { text: "UPDATE t SET s = 'cost $1'", params: [] }])).toThrow(/literal/);
    expect(() => combineWrites([ok, { text: 'UPDATE t SET s = $$x$$', params: [] }])).toThrow(/literal/);
    expect(() => combineWrites([ok, { text: 'UPDATE t SET s = $2', params: [1] }])).toThrow(/\$2 of 1/);
  });
});
