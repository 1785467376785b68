import { describe, expect, it } from 'vitest';
import {
  blockedLabel,
  columnForStatus,
  linearPriority,
  parseChecklist,
  parseDependencyRefs,
  priorityFromLabels,
  priorityFromLinear,
  renderChecklist,
  statusFromColumn,
} from '../../src/modules/kanban/board-mapping';
import { retryDecision, type RetryInput } from '../../src/modules/kanban/http/retry-policy';

describe('status from a column or state name', () => {
  it.each([
    ['Done', 'done'],
    ['Completed', 'done'],
    ['complete ✔', 'done'],
    ['In Progress', 'in_progress'],
    ['in-progress', 'in_progress'],
    ['Work in progress', 'in_progress'],
    ['Blocked', 'blocked'],
    ['Backlog', 'todo'],
    ['To Do', 'todo'],
    ['Review', 'todo'],
  ] as const)('%s → %s', (name, status) => {
    expect(statusFromColumn(name, {})).toBe(status);
  });

  it('per-project overrides win, case-insensitively', () => {
    expect(statusFromColumn('Review', { review: 'in_progress' })).toBe('in_progress');
    expect(statusFromColumn('  DONE ', { done: 'blocked' })).toBe('blocked');
  });

  it('picks the column for a status: overrides, then a to-do-like column before a backlog', () => {
    const cols = [{ name: 'Backlog' }, { name: 'To Do' }, { name: 'In Progress' }, { name: 'Review' }, { name: 'Done' }];
    expect(columnForStatus(cols, 'todo')!.name).toBe('To Do');
    expect(columnForStatus(cols, 'done')!.name).toBe('Done');
    expect(columnForStatus(cols, 'blocked')).toBeNull();
    expect(columnForStatus(cols, 'in_progress', { review: 'in_progress' })!.name).toBe('Review');
    expect(columnForStatus([{ name: 'Backlog' }], 'todo')!.name).toBe('Backlog');
  });
});

describe('priority', () => {
  it('from labels: urgent/critical, high, low, else medium; blocker labels do not count', () => {
    expect(priorityFromLabels(['bug', 'priority: critical'])).toBe('urgent');
    expect(priorityFromLabels(['urgent'])).toBe('urgent');
    expect(priorityFromLabels(['priority/high', 'low-hanging'])).toBe('high');
    expect(priorityFromLabels(['low'])).toBe('low');
    expect(priorityFromLabels([])).toBe('medium');
    expect(priorityFromLabels(['blocked/high', 'blocked-critical'])).toBe('medium');
  });

  it('Linear numbers: 1 urgent, 2 high, 3 medium, 4 and 0 low; and back', () => {
    expect([0, 1, 2, 3, 4].map(priorityFromLinear)).toEqual(['low', 'urgent', 'high', 'medium', 'low']);
    for (const p of ['low', 'medium', 'high', 'urgent'] as const) expect(priorityFromLinear(linearPriority(p))).toBe(p);
  });

  it('blocker labels per board', () => {
    expect(blockedLabel('github', 'HIGH')).toBe('blocked/high');
    expect(blockedLabel('linear', 'medium')).toBe('blocked-medium');
  });
});

describe('markdown checklists and dependency lines', () => {
  const body = 'Intro\n\n- [ ] one\n- [x] two\n* [X] three\n\nOutro';

  it('parses task-list items in order', () => {
    expect(parseChecklist(body)).toEqual([
      { text: 'one', done: false },
      { text: 'two', done: true },
      { text: 'three', done: true },
    ]);
  });

  it('replaces the items in place and keeps the text around them', () => {
    const out = renderChecklist(body, [
      { text: 'one', done: true },
      { text: 'two', done: true },
    ]);
    expect(out).toBe('Intro\n\n- [x] one\n- [x] two\n\nOutro');
    expect(parseChecklist(out)).toHaveLength(2);
  });

  it('appends a checklist section to a body without one, and leaves it alone when there is nothing to add', () => {
    expect(renderChecklist('Text', [{ text: 'a', done: false }])).toBe('Text\n\n### Checklist\n- [ ] a');
    expect(renderChecklist('', [{ text: 'a', done: false }])).toBe('### Checklist\n- [ ] a');
    expect(renderChecklist('Text', [])).toBe('Text');
  });

  it('reads "Depends on" lines', () => {
    expect(parseDependencyRefs('x\nDepends on: #12, #14\n- depends on ENG-3.\nDepends on: #12')).toEqual(['#12', '#14', 'ENG-3']);
    expect(parseDependencyRefs('nothing here')).toEqual([]);
  });
});

describe('retry decisions for board API calls', () => {
  const base: RetryInput = { status: null, headers: {}, attempt: 0, nowMs: 1_000_000, baseMs: 200, random: 0.5 };

  it('backs off exponentially with equal jitter on network errors and 5xx', () => {
    expect(retryDecision(base)).toEqual({ retry: true, delayMs: 150, rateLimited: false });
    expect(retryDecision({ ...base, status: 503, attempt: 2 })).toEqual({ retry: true, delayMs: 600, rateLimited: false });
    expect(retryDecision({ ...base, status: 502, attempt: 20, random: 0.999 }).retry).toBe(true);
    const capped = retryDecision({ ...base, status: 502, attempt: 20, random: 0.999 });
    expect(capped.retry && capped.delayMs).toBeLessThanOrEqual(10_000);
  });

  it('does not retry other client errors', () => {
    for (const status of [400, 401, 404, 422]) expect(retryDecision({ ...base, status })).toEqual({ retry: false });
    expect(retryDecision({ ...base, status: 403, headers: { 'x-ratelimit-remaining': '12' } })).toEqual({ retry: false });
  });

  it('honours Retry-After in seconds and as a date', () => {
    expect(retryDecision({ ...base, status: 429, headers: { 'retry-after': '3' } })).toEqual({ retry: true, delayMs: 3000, rateLimited: true });
    const at = new Date(base.nowMs + 5000).toUTCString();
    const d = retryDecision({ ...base, status: 503, headers: { 'retry-after': at } });
    expect(d.retry && d.delayMs).toBeGreaterThan(3000);
  });

  it('waits for GitHub x-ratelimit-reset (epoch seconds) on a 403 with nothing remaining', () => {
    const d = retryDecision({ ...base, status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(base.nowMs / 1000 + 7) } });
    expect(d).toEqual({ retry: true, delayMs: 7000, rateLimited: true });
  });

  it('waits for Linear x-ratelimit-*-reset (epoch ms), the later of the two', () => {
    const d = retryDecision({
      ...base,
      status: 429,
      headers: {
        'x-ratelimit-requests-remaining': '0',
        'x-ratelimit-requests-reset': String(base.nowMs + 2000),
        'x-ratelimit-complexity-remaining': '0',
        'x-ratelimit-complexity-reset': String(base.nowMs + 4000),
      },
    });
    expect(d).toEqual({ retry: true, delayMs: 4000, rateLimited: true });
  });
});
