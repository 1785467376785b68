// Pure translations between board vocabulary and pm-agent's (BEHAVIOUR.md "Board providers").
import type { BoardChecklistItem, BoardPriority, BoardStatus } from './provider';

/** Per-project overrides: column/state name (case-insensitive) → status. */
export type StatusMap = Readonly<Record<string, BoardStatus>>;

/** done|complete → done, progress → in_progress, blocked → blocked, anything else → todo. */
export function statusFromColumn(name: string, overrides: StatusMap = {}): BoardStatus {
  const key = name.trim().toLowerCase();
  for (const [k, v] of Object.entries(overrides)) if (k.trim().toLowerCase() === key) return v;
  if (/done|complete/.test(key)) return 'done';
  if (/progress/.test(key)) return 'in_progress';
  if (/blocked/.test(key)) return 'blocked';
  return 'todo';
}

/**
 * The column a card with `status` belongs in: an override naming it first, then the column whose
 * name maps to it; for todo a "to do"-like column before a backlog. Null when the board has none.
 */
export function columnForStatus<C extends { name: string }>(columns: readonly C[], status: BoardStatus, overrides: StatusMap = {}): C | null {
  const matching = columns.filter((c) => statusFromColumn(c.name, overrides) === status);
  if (matching.length === 0) return null;
  const overridden = matching.find((c) => Object.keys(overrides).some((k) => k.trim().toLowerCase() === c.name.trim().toLowerCase()));
  if (overridden) return overridden;
  if (status === 'todo') return matching.find((c) => /to ?do|ready|open/i.test(c.name)) ?? matching[0];
  return matching[0];
}

const isBlockedLabel = (l: string): boolean => /^blocked[/-]/i.test(l);

/** GitHub-style priority from labels: urgent/critical, high, low; medium otherwise. Blocker labels don't count. */
export function priorityFromLabels(labels: readonly string[]): BoardPriority {
  const ls = labels.filter((l) => !isBlockedLabel(l)).map((l) => l.toLowerCase());
  if (ls.some((l) => /urgent|critical/.test(l))) return 'urgent';
  if (ls.some((l) => /high/.test(l))) return 'high';
  if (ls.some((l) => /low/.test(l))) return 'low';
  return 'medium';
}

export function priorityLabel(priority: BoardPriority): string {
  return `priority/${priority}`;
}

/** Linear: 1 urgent, 2 high, 3 medium, 4 or 0 (none) low. */
export function priorityFromLinear(n: number): BoardPriority {
  switch (n) {
    case 1:
      return 'urgent';
    case 2:
      return 'high';
    case 3:
      return 'medium';
    default:
      return 'low';
  }
}

export function linearPriority(p: BoardPriority): number {
  return { urgent: 1, high: 2, medium: 3, low: 4 }[p];
}

/** The label a blocker adds: `blocked/<severity>` on GitHub, `blocked-<severity>` on Linear. */
export function blockedLabel(kind: 'github' | 'linear', severity: string): string {
  const s = severity.toLowerCase();
  return kind === 'github' ? `blocked/${s}` : `blocked-${s}`;
}

const CHECK_LINE = /^\s*[-*] \[( |x|X)\] (.*)$/;

/** Markdown task-list items (`- [ ] a`, `- [x] b`) in a body, in order. */
export function parseChecklist(markdown: string): BoardChecklistItem[] {
  const items: BoardChecklistItem[] = [];
  for (const line of markdown.split('\n')) {
    const m = CHECK_LINE.exec(line);
    if (m) items.push({ text: m[2].trim(), done: m[1] !== ' ' });
  }
  return items;
}

/** The body with its task-list lines replaced by `items` (appended under "Checklist" if it had none). */
export function renderChecklist(markdown: string, items: readonly BoardChecklistItem[]): string {
  const render = (i: BoardChecklistItem): string => `- [${i.done ? 'x' : ' '}] ${i.text}`;
  const lines = markdown.split('\n');
  const at = lines.map((l, i) => (CHECK_LINE.test(l) ? i : -1)).filter((i) => i >= 0);
  if (at.length === 0) {
    if (items.length === 0) return markdown;
    const base = markdown.trimEnd();
    return `${base}${base ? '\n\n' : ''}### Checklist\n${items.map(render).join('\n')}`;
  }
  // Replace the first block of task-list lines in place; drop any later ones.
  const first = at[0];
  const kept = lines.filter((_, i) => !at.includes(i) || i === first);
  const idx = kept.indexOf(lines[first]);
  kept.splice(idx, 1, ...items.map(render));
  return kept.join('\n');
}

/**
 * References in "Depends on: #12, #14" / "Depends on ENG-3" / "Depends on: Card name" lines.
 * Providers resolve the refs to external ids of cards on the same board.
 */
export function parseDependencyRefs(markdown: string): string[] {
  const refs: string[] = [];
  for (const line of markdown.split('\n')) {
    const m = /^\s*(?:[-*]\s*)?depends on:?\s+(.+)$/i.exec(line);
    if (!m) continue;
    for (const part of m[1].split(',')) {
      const ref = part.trim().replace(/\.$/, '');
      if (ref && !refs.includes(ref)) refs.push(ref);
    }
  }
  return refs;
}
