import type { Queryable } from './db';

export interface Statement {
  text: string;
  params: unknown[];
}

/**
 * One statement doing all of these writes, each as a data-modifying CTE: one round trip instead
 * of one per write. On this machine a statement's round trip (the client's write to the loopback
 * socket and the server waking up for it) costs more than most of the writes themselves.
 *
 * The writes must be INSERT, UPDATE or DELETE statements touching different rows: they run on one
 * snapshot and do not see each other's effects. Parameters are renumbered after the previous ones'.
 */
export function combineWrites(writes: readonly Statement[]): Statement {
  if (writes.length === 1) return writes[0];
  const params: unknown[] = [];
  const ctes = writes.map((w, i) => {
    if (!/^\s*(INSERT|UPDATE|DELETE)\b/i.test(w.text)) throw new Error(`combineWrites: statement ${i} is not a write`);
    const offset = params.length;
    // Renumber outside string literals only; a parameter-like $n inside one would be ambiguous.
    const text = w.text
      .split(/('(?:[^']|'')*')/)
      .map((part, j) => {
        if (j % 2 === 1) {
          if (/\$\d/.test(part)) throw new Error(`combineWrites: statement ${i} has a $ inside a literal`);
          return part;
        }
        if (part.includes('$$')) throw new Error(`combineWrites: statement ${i} has a $ inside a literal`);
        return part.replace(/\$(\d+)/g, (_, n: string) => {
          const k = Number(n);
          if (k < 1 || k > w.params.length) throw new Error(`combineWrites: statement ${i} refers to $${k} of ${w.params.length} parameters`);
          return `$${k + offset}`;
        });
      })
      .join('');
    params.push(...w.params);
    return `w${i} AS (${text})`;
  });
  return { text: `WITH ${ctes.join(', ')} SELECT 1`, params };
}

/** Runs the writes in one round trip (none when there is nothing to write). */
export async function runWrites(q: Queryable, writes: readonly (Statement | null)[]): Promise<void> {
  const todo = writes.filter((w): w is Statement => w !== null);
  if (todo.length === 0) return;
  const one = combineWrites(todo);
  await q.query(one.text, one.params);
}
