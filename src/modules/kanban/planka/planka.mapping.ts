// Pure helpers turning Planka records into board values (assignee, dependencies, label colors).
import { PLANKA_LABEL_COLORS, type PlankaCard, type PlankaCardMembership, type PlankaUser } from './planka.types';

/** The first member the board still knows, by username (email when it has none). */
export function assigneeOf(members: readonly PlankaCardMembership[], users: readonly PlankaUser[]): string | null {
  for (const m of members) {
    const u = users.find((x) => x.id === m.userId);
    if (u) return u.username || u.email || null;
  }
  return null;
}

export function findUser(users: readonly PlankaUser[], who: string): PlankaUser | undefined {
  const w = who.trim().toLowerCase();
  return users.find((u) => u.username?.toLowerCase() === w) ?? users.find((u) => u.email.toLowerCase() === w);
}

/** Refs are card ids, `#<cardId>` or card names; only cards on this board count, never the card itself. */
export function resolveDependencies(refs: readonly string[], cards: readonly PlankaCard[], selfId: string): string[] {
  const out: string[] = [];
  for (const ref of refs) {
    const bare = ref.replace(/^#/, '').trim();
    const byId = /^\d+$/.test(bare) ? cards.find((c) => c.id === bare) : undefined;
    const lower = ref.trim().toLowerCase();
    const card = byId ?? cards.find((c) => c.name.trim().toLowerCase() === lower) ?? cards.find((c) => c.name.trim().toLowerCase() === bare.toLowerCase());
    if (card && card.id !== selfId && !out.includes(card.id)) out.push(card.id);
  }
  return out;
}

/** A stable color per label name, from Planka's palette. */
export function colorFor(name: string): (typeof PLANKA_LABEL_COLORS)[number] {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)!) >>> 0;
  return PLANKA_LABEL_COLORS[h % PLANKA_LABEL_COLORS.length];
}
