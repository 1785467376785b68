// The board as one `GET /api/boards/:id` answers it, indexed for the provider's lookups and mapping.
import { PLANKA_POSITION_GAP, type PlankaBoardAnswer, type PlankaCard, type PlankaCardLabel, type PlankaCardMembership, type PlankaLabel, type PlankaList, type PlankaTask, type PlankaUser } from './planka.types';

/** Numeric id strings (bigint snowflakes) in numeric order without parsing them. */
export const compareIds = (a: string, b: string): number => a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);

/** One read of the board, indexed; provider methods also add what they create to it. */
export class BoardView {
  readonly lists: PlankaList[];
  readonly cards: PlankaCard[];
  readonly labels: PlankaLabel[];
  readonly users: PlankaUser[];
  readonly cardLabels: PlankaCardLabel[];
  readonly cardMemberships: PlankaCardMembership[];
  readonly tasks: PlankaTask[];

  constructor(answer: PlankaBoardAnswer) {
    const inc = answer.included;
    this.lists = [...inc.lists].sort((a, b) => a.position - b.position || compareIds(a.id, b.id));
    this.cards = [...inc.cards];
    this.labels = [...inc.labels];
    this.users = [...inc.users];
    this.cardLabels = [...inc.cardLabels];
    this.cardMemberships = [...inc.cardMemberships];
    this.tasks = [...inc.tasks];
  }

  card(id: string): PlankaCard | undefined {
    return this.cards.find((c) => c.id === id);
  }

  list(id: string): PlankaList | undefined {
    return this.lists.find((l) => l.id === id);
  }

  /** The position that puts a new card at the bottom of a list, as Planka's own client does. */
  bottomOf(listId: string, exceptCardId?: string): number {
    const positions = this.cards.filter((c) => c.listId === listId && c.id !== exceptCardId).map((c) => c.position);
    return (positions.length ? Math.max(...positions) : 0) + PLANKA_POSITION_GAP;
  }

  membersOf(cardId: string): PlankaCardMembership[] {
    return this.cardMemberships.filter((m) => m.cardId === cardId).sort((a, b) => compareIds(a.id, b.id));
  }
}

/** Per-card lookups for mapping many cards at once (listTasks) without quadratic scans. */
export interface CardIndex {
  labelsByCard: Map<string, string[]>;
  tasksByCard: Map<string, PlankaTask[]>;
  membersByCard: Map<string, PlankaCardMembership[]>;
}

function push<V>(m: Map<string, V[]>, k: string, v: V): void {
  const arr = m.get(k);
  if (arr) arr.push(v);
  else m.set(k, [v]);
}

export function indexCards(view: BoardView): CardIndex {
  const labelName = new Map(view.labels.map((l) => [l.id, l.name]));
  const labelsByCard = new Map<string, string[]>();
  for (const cl of [...view.cardLabels].sort((a, b) => compareIds(a.id, b.id))) {
    const name = labelName.get(cl.labelId);
    if (name) push(labelsByCard, cl.cardId, name);
  }
  const tasksByCard = new Map<string, PlankaTask[]>();
  for (const t of view.tasks) push(tasksByCard, t.cardId, t);
  const membersByCard = new Map<string, PlankaCardMembership[]>();
  for (const m of [...view.cardMemberships].sort((a, b) => compareIds(a.id, b.id))) push(membersByCard, m.cardId, m);
  return { labelsByCard, tasksByCard, membersByCard };
}
