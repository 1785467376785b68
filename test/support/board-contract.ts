import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KanbanErrorCode } from '../../src/common/errors';
import { KanbanError } from '../../src/modules/kanban/kanban-error';
import type { BoardProvider, BoardTask } from '../../src/modules/kanban/provider';

export interface ContractSubject {
  provider: BoardProvider;
  /** A board user tasks can be assigned to (login, username or email, as the provider expects). */
  assignee: string;
  /** A second one, to check reassignment. */
  otherAssignee: string;
  cleanup: () => Promise<void>;
}

/**
 * The BoardProvider contract: every provider (built-in, Planka, GitHub, Linear) runs this same
 * suite, the external ones against local fakes of their APIs. Fakes must page lists in pages of
 * at most 10 so `listTasks` paging is exercised by the 23-task case.
 */
export function boardProviderContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`BoardProvider contract: ${name}`, () => {
    let s: ContractSubject;
    let p: BoardProvider;
    beforeAll(async () => {
      s = await make();
      p = s.provider;
    });
    afterAll(async () => {
      await p?.close?.();
      await s?.cleanup();
    });

    const expectNotFound = async (op: Promise<unknown>): Promise<void> => {
      const err = await op.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KanbanError);
      expect((err as KanbanError).code).toBe(KanbanErrorCode.BOARD_NOT_FOUND);
    };

    it('creates a task and lists it with the fields it was given', async () => {
      const created = await p.createTask({
        name: 'Build the login page',
        description: 'Email + password.\nShow errors inline.',
        priority: 'high',
        labels: ['frontend'],
        checklist: [
          { text: 'form', done: false },
          { text: 'validation', done: false },
        ],
      });
      expect(created.externalId).toMatch(/\S/);
      expect(created.name).toBe('Build the login page');
      expect(created.status).toBe('todo');
      expect(created.priority).toBe('high');
      expect(created.labels).toContain('frontend');
      expect(created.checklist).toEqual([
        { text: 'form', done: false },
        { text: 'validation', done: false },
      ]);
      expect(created.description).toContain('Show errors inline.');
      expect(Number.isNaN(Date.parse(created.updatedAt))).toBe(false);

      const listed = (await p.listTasks()).find((t) => t.externalId === created.externalId);
      expect(listed).toBeDefined();
      expect(listed!.name).toBe(created.name);
      expect(listed!.priority).toBe('high');
      expect(listed!.status).toBe('todo');
      expect(listed!.checklist).toEqual(created.checklist);
      expect(await p.getTask({ externalId: created.externalId })).toMatchObject({ externalId: created.externalId, name: created.name });
    });

    it.each(['low', 'medium', 'high', 'urgent'] as const)('keeps priority %s', async (priority) => {
      const t = await p.createTask({ name: `priority ${priority}`, priority });
      expect((await p.getTask({ externalId: t.externalId }))!.priority).toBe(priority);
    });

    it('moves a task through every status', async () => {
      const t = await p.createTask({ name: 'Move me' });
      for (const status of ['in_progress', 'blocked', 'done', 'todo', 'done'] as const) {
        await p.moveTask({ externalId: t.externalId, status });
        expect((await p.getTask({ externalId: t.externalId }))!.status).toBe(status);
      }
      const listed = (await p.listTasks()).find((x) => x.externalId === t.externalId);
      expect(listed!.status).toBe('done');
    });

    it('adds comments with real newlines and emoji, in order', async () => {
      const t = await p.createTask({ name: 'Comment me' });
      const first = '📋 Task assigned to Alice at 2026-01-01T00:00:00.000Z';
      const second = '🚫 BLOCKER (HIGH)\n\nReported by: Alice\nDescription: db down\n\n📋 AI Suggestions:\n1. restart it';
      await p.addComment({ externalId: t.externalId, body: first });
      await p.addComment({ externalId: t.externalId, body: second });
      const bodies = (await p.listComments({ externalId: t.externalId })).map((c) => c.body);
      expect(bodies).toContain(first);
      expect(bodies).toContain(second);
      expect(bodies.indexOf(first)).toBeLessThan(bodies.indexOf(second));
      expect(bodies.join('')).not.toContain('\\n');
    });

    it('replaces the checklist', async () => {
      const t = await p.createTask({ name: 'Checklist', checklist: [{ text: 'a', done: false }, { text: 'b', done: false }, { text: 'c', done: false }] });
      const items = [
        { text: 'a', done: true },
        { text: 'b', done: true },
        { text: 'c', done: false },
      ];
      await p.setChecklist({ externalId: t.externalId, items });
      expect((await p.getTask({ externalId: t.externalId }))!.checklist).toEqual(items);
    });

    it('adds a label once, creating it when the board lacks it', async () => {
      const t = await p.createTask({ name: 'Label me' });
      const label = `blocked-high-${Date.now()}`;
      await p.addLabel({ externalId: t.externalId, label });
      await p.addLabel({ externalId: t.externalId, label });
      const labels = (await p.getTask({ externalId: t.externalId }))!.labels;
      expect(labels.filter((l) => l === label)).toHaveLength(1);
    });

    it('assigns, reassigns and unassigns', async () => {
      const t = await p.createTask({ name: 'Assign me' });
      expect(t.assignee).toBeNull();
      await p.assign({ externalId: t.externalId, assignee: s.assignee });
      expect((await p.getTask({ externalId: t.externalId }))!.assignee).toBe(s.assignee);
      await p.assign({ externalId: t.externalId, assignee: s.otherAssignee });
      expect((await p.getTask({ externalId: t.externalId }))!.assignee).toBe(s.otherAssignee);
      await p.assign({ externalId: t.externalId, assignee: null });
      expect((await p.getTask({ externalId: t.externalId }))!.assignee).toBeNull();
    });

    it('reports dependencies between tasks on the board as external ids', async () => {
      const a = await p.createTask({ name: 'Schema' });
      const b = await p.createTask({ name: 'API' });
      const c = await p.createTask({ name: 'UI', dependencies: [a.externalId, b.externalId] });
      expect([...c.dependencies].sort()).toEqual([a.externalId, b.externalId].sort());
      const listed = (await p.listTasks()).find((x) => x.externalId === c.externalId)!;
      expect([...listed.dependencies].sort()).toEqual([a.externalId, b.externalId].sort());
    });

    it('lists every task of a board bigger than one page', async () => {
      const made: BoardTask[] = [];
      for (let i = 0; i < 23; i++) made.push(await p.createTask({ name: `bulk ${i}` }));
      const ids = new Set((await p.listTasks()).map((t) => t.externalId));
      for (const t of made) expect(ids.has(t.externalId)).toBe(true);
    });

    it('answers null for an unknown task and BOARD_NOT_FOUND when changing one', async () => {
      const known = await p.createTask({ name: 'known' });
      const unknown = mutateId(known.externalId);
      expect(await p.getTask({ externalId: unknown })).toBeNull();
      await expectNotFound(p.moveTask({ externalId: unknown, status: 'done' }));
      await expectNotFound(p.addComment({ externalId: unknown, body: 'x' }));
    });
  });
}

/** An id shaped like `id` that names no task (same length and alphabet where possible). */
function mutateId(id: string): string {
  if (/^\d+$/.test(id)) return String(BigInt(id) + 987_654_321n);
  if (/^[0-9a-f-]{36}$/i.test(id)) return '00000000-0000-4000-8000-000000000000';
  return `${id.slice(0, -4)}zzzz`;
}
