import { expect } from 'vitest';
import type { TestApp } from './app';
import { eventually } from './eventually';

// Snapshots of the whole database, for checking that a refused call changed nothing.

/**
 * Written after the answer, off the agent's path, by the outbox relay and its consumers (board
 * comments, AI analysis): left out of snapshots, which compare what the calls themselves did.
 */
const WRITTEN_LATER: Record<string, readonly string[] | 'all'> = {
  outbox: ['published_at'],
  processed_events: 'all',
  board_comments: 'all',
  tasks: ['prepared_instructions'],
  blockers: ['analysis', 'suggestions'],
};

/** Every row of every table (but WRITTEN_LATER), so "nothing changed" means nothing at all. */
export async function snapshot(t: TestApp): Promise<Record<string, string[]>> {
  const tables = await t.db.query<{ name: string }>("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename");
  const out: Record<string, string[]> = {};
  for (const { name } of tables.rows) {
    const later = WRITTEN_LATER[name] ?? [];
    if (later === 'all') continue;
    const r = await t.db.query<{ r: string }>(`SELECT (to_jsonb(x) - $1::text[])::text AS r FROM "${name}" x`, [later]);
    out[name] = r.rows.map((row) => row.r).sort();
  }
  return out;
}

/**
 * Lets the relay and consumers catch up with earlier commits, then snapshots. Best effort: a
 * database that keeps changing is not an error here; the comparison that follows decides.
 */
export async function settled(t: TestApp): Promise<Record<string, string[]>> {
  try {
    return await eventually(async () => {
      const pending = await t.db.query<{ n: number }>('SELECT count(*)::int AS n FROM outbox WHERE published_at IS NULL');
      expect(pending.rows[0].n).toBe(0);
      const a = await snapshot(t);
      await new Promise((r) => setTimeout(r, 200));
      const b = await snapshot(t);
      expect(b).toEqual(a);
      return b;
    }, 10_000);
  } catch {
    return snapshot(t);
  }
}
