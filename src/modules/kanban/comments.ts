// Board comment formats agents and humans already read (kept from the original, with real newlines).

export function assignmentComment(agentName: string, at: Date): string {
  return `📋 Task assigned to ${agentName} at ${at.toISOString()}`;
}

export function progressComment(progress: number, status: string, message: string): string {
  return `📊 Progress Update: ${progress}% | Status: ${status} | ${message}`;
}

export function blockerComment(input: {
  severity: string;
  agentName: string;
  description: string;
  suggestions: readonly string[];
}): string {
  return [
    `🚫 BLOCKER (${input.severity.toUpperCase()})`,
    '',
    `Reported by: ${input.agentName}`,
    `Description: ${input.description}`,
    '',
    '📋 AI Suggestions:',
    ...input.suggestions.map((s, i) => `${i + 1}. ${s}`),
  ].join('\n');
}

export function leaseRecoveredComment(previousAgent: string, progress: number, at: Date): string {
  return `⏰ Lease expired: ${previousAgent} stopped reporting at ${progress}%. Task returned to the pool at ${at.toISOString()} with recovery notes.`;
}

export interface ChecklistItem {
  text: string;
  done: boolean;
}

/** Ticks the first floor(p/100·N) items; never unticks what is already done. */
export function tickChecklist(items: readonly ChecklistItem[], progress: number): ChecklistItem[] {
  const upTo = Math.floor((progress * items.length) / 100); // not (p/100)·N: 0.58·50 is 28.999…
  return items.map((item, i) => ({ text: item.text, done: item.done || i < upTo }));
}
