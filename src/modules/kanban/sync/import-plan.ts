import type { BoardChecklistItem, BoardPriority, BoardStatus, BoardTask } from '../provider';

/** What pm-agent knows about a task that came from (or went to) the board. */
export interface LocalTask {
  id: string;
  externalId: string;
  name: string;
  description: string;
  priority: BoardPriority;
  labels: string[];
  checklist: BoardChecklistItem[];
  status: BoardStatus;
  /** The status the board had when we last read it or last moved the card. */
  externalStatus: BoardStatus | null;
  dependencies: string[];
  /** An agent holds it (an active assignment). */
  held: boolean;
  /** Write-backs for it are still waiting for the board. */
  pendingWritebacks: boolean;
}

export interface TaskUpdate {
  id: string;
  externalId: string;
  ref: string;
  fields: Partial<Pick<LocalTask, 'name' | 'description' | 'priority' | 'labels' | 'checklist'>>;
  /** Set when a human moved the card and the task is free to follow. */
  status?: BoardStatus;
  /** The board's status, recorded as last seen. */
  externalStatus: BoardStatus;
}

export interface ImportPlan {
  creates: BoardTask[];
  updates: TaskUpdate[];
  /** Local task id → local ids it depends on, for every board task (replaces the edges). */
  dependencies: Map<string, string[]> | null;
  /** Board cards whose move is ignored for now because an agent holds the task or our own write-back is pending. */
  deferredMoves: number;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The board is the source of truth for what a task is (name, description, priority, labels); for
 * where it is, a three-way merge: the board moved only if its status differs from the status last
 * seen there. Such a move is applied only to a task no agent holds and with no write-back of ours
 * in flight (which would be the board catching up with us, not a human decision). The checklist
 * follows the board only for tasks that are free, since agents tick it through progress.
 * Idempotent: planning again over the result changes nothing.
 */
export function planImport(board: readonly BoardTask[], local: readonly LocalTask[]): Omit<ImportPlan, 'dependencies'> {
  const byExternal = new Map(local.map((t) => [t.externalId, t]));
  const creates: BoardTask[] = [];
  const updates: TaskUpdate[] = [];
  let deferredMoves = 0;
  for (const b of board) {
    const l = byExternal.get(b.externalId);
    if (!l) {
      creates.push(b);
      continue;
    }
    const free = !l.held && !l.pendingWritebacks;
    const fields: TaskUpdate['fields'] = {};
    if (l.name !== b.name) fields.name = b.name;
    if (l.description !== b.description) fields.description = b.description;
    if (l.priority !== b.priority) fields.priority = b.priority;
    if (!same(l.labels, b.labels)) fields.labels = b.labels;
    if (free && !same(l.checklist, b.checklist)) fields.checklist = b.checklist;
    const boardMoved = l.externalStatus !== b.status;
    let status: BoardStatus | undefined;
    let externalStatus = l.externalStatus ?? b.status;
    if (boardMoved) {
      if (free) {
        if (l.status !== b.status) status = b.status;
        externalStatus = b.status;
      } else {
        deferredMoves++;
      }
    }
    if (Object.keys(fields).length > 0 || status !== undefined || externalStatus !== l.externalStatus) {
      updates.push({ id: l.id, externalId: b.externalId, ref: b.ref, fields, status, externalStatus });
    }
  }
  return { creates, updates, deferredMoves };
}

/** Dependency edges in local ids, for board tasks whose edges changed (unknown external ids dropped). */
export function planDependencies(board: readonly BoardTask[], localIdOf: ReadonlyMap<string, string>, current: ReadonlyMap<string, readonly string[]>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const b of board) {
    const id = localIdOf.get(b.externalId);
    if (!id) continue;
    const want = [...new Set(b.dependencies.map((e) => localIdOf.get(e)).filter((x): x is string => x !== undefined && x !== id))].sort();
    const have = [...(current.get(id) ?? [])].sort();
    if (!same(want, have)) out.set(id, want);
  }
  return out;
}
