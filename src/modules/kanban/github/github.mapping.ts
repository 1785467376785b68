// Mapping of a GitHub issue and its project item to a BoardTask, and the text helpers it needs.
import { parseChecklist, priorityFromLabels, statusFromColumn, type StatusMap } from '../board-mapping';
import type { BoardStatus, BoardTask } from '../provider';
import type { Found } from './github.types';

/**
 * A closed issue is done whatever the Status field says. `dependencies` are the node ids the body's
 * "Depends on:" lines resolve to; resolving them needs the API, so the caller does it.
 */
export function toBoardTask(f: Found, statusMap: StatusMap, dependencies: string[]): BoardTask {
  const body = normalize(f.issue.body);
  const optionName = f.item.fieldValueByName?.name ?? '';
  const status: BoardStatus = f.issue.state === 'CLOSED' ? 'done' : statusFromColumn(optionName, statusMap);
  return {
    externalId: f.issue.id,
    ref: `#${f.issue.number}`,
    name: f.issue.title,
    description: body,
    status,
    priority: priorityFromLabels(f.labels),
    labels: f.labels,
    dependencies: dependencies.filter((id) => id !== f.issue.id),
    assignee: f.issue.assignees.nodes?.find((u) => u)?.login ?? null,
    checklist: parseChecklist(body),
    updatedAt: f.issue.updatedAt,
  };
}

/** Bodies edited on github.com come back with CRLF line ends; the markdown helpers expect LF. */
export function normalize(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}

export function unique(xs: readonly string[]): string[] {
  return [...new Set(xs)];
}

/** Colours for labels pm-agent creates (hex without '#', as createLabel wants). */
export function labelColor(name: string): string {
  const n = name.toLowerCase();
  if (/^blocked[/-]|urgent|critical/.test(n)) return 'b60205';
  if (/high/.test(n)) return 'd93f0b';
  if (/medium/.test(n)) return 'fbca04';
  if (/low/.test(n)) return '0e8a16';
  return 'ededed';
}
