import type { PoolClient } from 'pg';
import { describe, expect, it } from 'vitest';
import { PREPARED_PER_CONNECTION, prepareStatements, statementName } from '../../src/infra/database/statement-cache';

/** A stand-in for pg's client that records what query() was given. */
function recordingClient() {
  const calls: unknown[][] = [];
  const client = { query: (...args: unknown[]) => calls.push(args) } as unknown as PoolClient;
  prepareStatements(client);
  return { client, calls };
}

describe('prepareStatements', () => {
  it('sends parameterised queries as named statements, one name per text', () => {
    const { client, calls } = recordingClient();
    const cb = () => undefined;
    void client.query('SELECT * FROM t WHERE id = $1', [1]);
    (client.query as unknown as (...a: unknown[]) => void)('SELECT * FROM t WHERE id = $1', [2], cb);
    void client.query('SELECT * FROM u WHERE id = $1', [3]);
    expect(calls[0]).toEqual([{ name: statementName('SELECT * FROM t WHERE id = $1'), text: 'SELECT * FROM t WHERE id = $1', values: [1] }]);
    expect(calls[1]).toEqual([{ name: statementName('SELECT * FROM t WHERE id = $1'), text: 'SELECT * FROM t WHERE id = $1', values: [2] }, cb]);
    expect((calls[2][0] as { name: string }).name).not.toBe((calls[0][0] as { name: string }).name);
  });

  it('leaves plain text (BEGIN, COMMIT) and config objects alone', () => {
    const { client, calls } = recordingClient();
    void client.query('BEGIN');
    void client.query({ text: 'SELECT $1', values: [1] });
    expect(calls).toEqual([['BEGIN'], [{ text: 'SELECT $1', values: [1] }]]);
  });

  it('stops naming new texts past the per-connection bound, keeps the ones it has', () => {
    const { client, calls } = recordingClient();
    for (let i = 0; i < PREPARED_PER_CONNECTION + 3; i++) void client.query(`SELECT ${i} + $1`, [i]);
    void client.query('SELECT 0 + $1', [0]);
    const named = calls.filter((c) => typeof c[0] === 'object').length;
    expect(named).toBe(PREPARED_PER_CONNECTION + 1);
    expect(calls[PREPARED_PER_CONNECTION]).toEqual([`SELECT ${PREPARED_PER_CONNECTION} + $1`, [PREPARED_PER_CONNECTION]]);
  });
});
