import { describe, expect, it } from 'vitest';
import { BoardBreaker } from '../../src/modules/kanban/board-breaker';
import { KanbanErrorCode } from '../../src/common/errors';
import { KanbanError } from '../../src/modules/kanban/kanban-error';
import type { BoardTask } from '../../src/modules/kanban/provider';
import { planDependencies, planImport, type LocalTask } from '../../src/modules/kanban/sync/import-plan';
import { writebackOp } from '../../src/modules/kanban/writeback/writeback-op';
import type { PublishedEvent } from '../../src/modules/events/event-bus';

const card = (over: Partial<BoardTask> = {}): BoardTask => ({
  externalId: 'c1',
  ref: '#1',
  name: 'Card',
  description: 'd',
  status: 'todo',
  priority: 'medium',
  labels: [],
  dependencies: [],
  assignee: null,
  checklist: [],
  updatedAt: '2026-01-01T00:00:00.000Z',
  ...over,
});

const local = (over: Partial<LocalTask> = {}): LocalTask => ({
  id: 't1',
  externalId: 'c1',
  name: 'Card',
  description: 'd',
  priority: 'medium',
  labels: [],
  checklist: [],
  status: 'todo',
  externalStatus: 'todo',
  dependencies: [],
  held: false,
  pendingWritebacks: false,
  ...over,
});

describe('import plan (three-way merge of board and local state)', () => {
  it('creates what is new and leaves what is unchanged alone', () => {
    const plan = planImport([card(), card({ externalId: 'c2', name: 'New' })], [local()]);
    expect(plan.creates.map((c) => c.externalId)).toEqual(['c2']);
    expect(plan.updates).toEqual([]);
  });

  it('takes name, description, priority and labels from the board', () => {
    const plan = planImport([card({ name: 'Renamed', priority: 'urgent', labels: ['x'] })], [local()]);
    expect(plan.updates).toEqual([{ id: 't1', externalId: 'c1', ref: '#1', fields: { name: 'Renamed', priority: 'urgent', labels: ['x'] }, status: undefined, externalStatus: 'todo' }]);
  });

  it('follows a human move of a free task', () => {
    const plan = planImport([card({ status: 'done' })], [local()]);
    expect(plan.updates[0]).toMatchObject({ status: 'done', externalStatus: 'done' });
  });

  it('never moves a task an agent holds, and keeps the move for later', () => {
    const plan = planImport([card({ status: 'done' })], [local({ status: 'in_progress', externalStatus: 'in_progress', held: true })]);
    expect(plan.updates).toEqual([]);
    expect(plan.deferredMoves).toBe(1);
  });

  it('does not undo our own pending write-back (the board is behind, not moved)', () => {
    // The agent finished: locally done, the move to Done is still queued; the board shows In Progress.
    const plan = planImport([card({ status: 'in_progress' })], [local({ status: 'done', externalStatus: 'in_progress', pendingWritebacks: true })]);
    expect(plan.updates).toEqual([]);
    // Even once the queue drained, the board status equals the last one seen: no move.
    expect(planImport([card({ status: 'done' })], [local({ status: 'done', externalStatus: 'done' })]).updates).toEqual([]);
  });

  it('does not take the checklist from the board while an agent ticks it', () => {
    const ticked = [{ text: 'a', done: true }];
    const plan = planImport([card({ checklist: [{ text: 'a', done: false }] })], [local({ checklist: ticked, held: true })]);
    expect(plan.updates).toEqual([]);
    expect(planImport([card({ checklist: [{ text: 'a', done: false }] })], [local({ checklist: ticked })]).updates[0].fields.checklist).toEqual([{ text: 'a', done: false }]);
  });

  it('is idempotent: planning over its own result changes nothing', () => {
    const board = [card({ name: 'N', status: 'blocked', labels: ['l'], checklist: [{ text: 'x', done: true }] })];
    const first = planImport(board, [local()]);
    const u = first.updates[0];
    const after = local({ ...u.fields, status: u.status ?? 'todo', externalStatus: u.externalStatus });
    expect(planImport(board, [after]).updates).toEqual([]);
  });

  it('maps dependencies to local ids, dropping unknown and self references, only where they changed', () => {
    const ids = new Map([
      ['c1', 't1'],
      ['c2', 't2'],
      ['c3', 't3'],
    ]);
    const board = [card({ externalId: 'c3', dependencies: ['c1', 'c2', 'gone', 'c3'] }), card({ externalId: 'c2', dependencies: ['c1'] })];
    const deps = planDependencies(board, ids, new Map([['t2', ['t1']]]));
    expect([...deps]).toEqual([['t3', ['t1', 't2']]]);
  });
});

describe('write-back operations', () => {
  const ev = (type: PublishedEvent['type'], payload: Record<string, unknown>): PublishedEvent => ({ id: '1', type, project_id: 'p', aggregate_id: 't', payload, occurred_at: '2026-01-01T00:00:00.000Z' });

  it('blockers add blocked/<severity> on GitHub and blocked-<severity> on Linear, no label on Planka', () => {
    const e = ev('task.blocked', { severity: 'high', agent_name: 'A', description: 'd', suggestions: ['s'] });
    const gh = writebackOp(e, { provider: 'github', token_env: 'PM_AGENT_BOARD_T', owner: 'o', repo: 'r', project_number: 1, owner_type: 'user', api_url: 'https://api.github.com', status_field: 'Status' });
    const ln = writebackOp(e, { provider: 'linear', api_key_env: 'PM_AGENT_BOARD_K', team_id: 'T', api_url: 'https://api.linear.app' });
    const pl = writebackOp(e, { provider: 'planka', url: 'http://p', board_id: '1', token_env: 'PM_AGENT_BOARD_P' });
    expect(gh).toMatchObject({ kind: 'effect', moveTo: 'blocked', label: 'blocked/high' });
    expect(ln).toMatchObject({ label: 'blocked-high' });
    expect(pl).not.toHaveProperty('label');
    expect(gh?.kind === 'effect' && gh.comment.startsWith('🚫 BLOCKER (HIGH)')).toBe(true);
  });

  it('assigns the mapped board user on assignment and clears it on recovery; unmapped agents leave the assignee alone', () => {
    const s = { provider: 'planka' as const, url: 'http://p', board_id: '1', token_env: 'PM_AGENT_BOARD_P', assignees: { 'agent-1': 'alice' } };
    expect(writebackOp(ev('task.assigned', { agent_id: 'agent-1', agent_name: 'A' }), s)).toMatchObject({ moveTo: 'in_progress', assignee: 'alice' });
    expect(writebackOp(ev('task.assigned', { agent_id: 'agent-2', agent_name: 'B' }), s)).not.toHaveProperty('assignee');
    expect(writebackOp(ev('lease.recovered', { previous_agent: 'agent-1', recovery_info: {} }), s)).toMatchObject({ moveTo: 'todo', assignee: null });
    expect(writebackOp(ev('task.completed', { progress: 100 }), s)).toMatchObject({ moveTo: 'done', checklist: true });
    expect(writebackOp(ev('task.created', {}), s)).toEqual({ kind: 'create' });
    expect(writebackOp(ev('decision.logged', {}), s)).toBeNull();
  });
});

describe('board breaker', () => {
  const down = () => Promise.reject(new KanbanError(KanbanErrorCode.BOARD_UNAVAILABLE, 'down'));

  it('opens after N consecutive transient failures, fails fast, half-opens after the reset and closes on success', async () => {
    const changes: string[] = [];
    const b = new BoardBreaker('t', { failures: 5, resetMs: 150, onChange: (s) => changes.push(s) });
    for (let i = 0; i < 4; i++) await expect(b.fire(down)).rejects.toMatchObject({ code: KanbanErrorCode.BOARD_UNAVAILABLE });
    expect(b.state).toBe('closed');
    await expect(b.fire(down)).rejects.toMatchObject({ code: KanbanErrorCode.BOARD_UNAVAILABLE });
    expect(b.state).toBe('open');
    let called = false;
    await expect(b.fire(async () => (called = true))).rejects.toMatchObject({ code: KanbanErrorCode.BOARD_BREAKER_OPEN });
    expect(called).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(b.state).toBe('half_open');
    expect(await b.fire(async () => 'ok')).toBe('ok');
    expect(b.state).toBe('closed');
    expect(changes).toEqual(['open', 'half_open', 'closed']);
    b.shutdown();
  });

  it('any answer from the board resets the count (a rejected request proves it is up); only transient failures open it', async () => {
    const b = new BoardBreaker('t', { failures: 3, resetMs: 10_000 });
    const rejected = () => Promise.reject(new KanbanError(KanbanErrorCode.BOARD_REJECTED, 'bad request'));
    await expect(b.fire(down)).rejects.toBeDefined();
    await expect(b.fire(down)).rejects.toBeDefined();
    await b.fire(async () => 1);
    await expect(b.fire(down)).rejects.toBeDefined();
    await expect(b.fire(down)).rejects.toBeDefined();
    for (let i = 0; i < 5; i++) await expect(b.fire(rejected)).rejects.toMatchObject({ code: KanbanErrorCode.BOARD_REJECTED });
    expect(b.state).toBe('closed');
    for (let i = 0; i < 2; i++) await expect(b.fire(down)).rejects.toBeDefined();
    expect(b.state).toBe('closed');
    await expect(b.fire(down)).rejects.toBeDefined();
    expect(b.state).toBe('open');
    b.shutdown();
  });
});
