// Which tasks an agent may be given. The claim query applies the same rules in SQL
// (see claimSqlEligible); a contract test checks both agree on random boards.

export const TASK_STATUSES = ['todo', 'in_progress', 'done', 'blocked'] as const;
export type TaskStatus = (typeof TASK_STATUSES)[number];

export interface EligibilityView {
  id: string;
  projectId: string;
  status: TaskStatus;
  held: boolean;
  dependencyStatuses: readonly TaskStatus[];
  subtaskStatuses: readonly TaskStatus[];
}

export type IneligibleReason = 'other_project' | 'not_todo' | 'held' | 'dependencies_open' | 'subtasks_open';

export function ineligibility(task: EligibilityView, projectId: string): IneligibleReason | null {
  if (task.projectId !== projectId) return 'other_project';
  if (task.status !== 'todo') return 'not_todo';
  if (task.held) return 'held';
  if (task.dependencyStatuses.some((s) => s !== 'done')) return 'dependencies_open';
  if (task.subtaskStatuses.some((s) => s !== 'done')) return 'subtasks_open';
  return null;
}

export function isEligible(task: EligibilityView, projectId: string): boolean {
  return ineligibility(task, projectId) === null;
}

/** The eligibility rules as a SQL predicate over `tasks t`, with the project id in $projectParam. */
export function claimSqlEligible(projectParam: number): string {
  return `t.project_id = $${projectParam} AND t.status = 'todo'
    AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.state = 'active')
    AND NOT EXISTS (SELECT 1 FROM task_dependencies d JOIN tasks dt ON dt.id = d.depends_on
                    WHERE d.task_id = t.id AND dt.status <> 'done')
    AND NOT EXISTS (SELECT 1 FROM tasks c WHERE c.parent_task_id = t.id AND c.status <> 'done')`;
}
