import type { ChecklistItem } from '../kanban/comments';
import type { TaskStatus } from './eligibility';
import type { Priority } from './scoring';

export interface RecoveryInfo {
  previous_agent: string;
  previous_progress: number;
  time_spent_minutes: number;
  reason: string;
  last_message: string | null;
  recovered_at: string;
}

export interface TaskRow {
  id: string;
  seq: string;
  project_id: string;
  name: string;
  description: string;
  status: TaskStatus;
  priority: Priority;
  labels: string[];
  assigned_to: string | null;
  estimated_hours: number | null;
  actual_hours: number | null;
  due_date: Date | null;
  parent_task_id: string | null;
  acceptance_criteria: string[];
  checklist: ChecklistItem[];
  recovery_info: RecoveryInfo | null;
  prepared_instructions: string | null;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

export interface AssignmentRow {
  id: string;
  project_id: string;
  task_id: string;
  agent_id: string;
  slot: number;
  fencing_token: string;
  state: 'active' | 'completed' | 'expired';
  instructions: string;
  assigned_at: Date;
  lease_expires_at: Date;
  lease_grace_ms: number;
  progress: number;
  report_count: number;
  last_report_at: Date | null;
  last_message: string | null;
}

/** The task as the HTTP API and agents see it. */
export interface TaskView {
  id: string;
  project_id: string;
  name: string;
  description: string;
  status: TaskStatus;
  priority: Priority;
  labels: string[];
  dependencies: string[];
  assigned_to: string | null;
  estimated_hours: number | null;
  actual_hours: number | null;
  due_date: string | null;
  parent_task_id: string | null;
  acceptance_criteria: string[];
  checklist: ChecklistItem[];
  recovery_info: RecoveryInfo | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
}

export function toTaskView(row: TaskRow, dependencies: string[]): TaskView {
  return {
    id: row.id,
    project_id: row.project_id,
    name: row.name,
    description: row.description,
    status: row.status,
    priority: row.priority,
    labels: row.labels,
    dependencies,
    assigned_to: row.assigned_to,
    estimated_hours: row.estimated_hours,
    actual_hours: row.actual_hours,
    due_date: row.due_date?.toISOString() ?? null,
    parent_task_id: row.parent_task_id,
    acceptance_criteria: row.acceptance_criteria,
    checklist: row.checklist,
    recovery_info: row.recovery_info,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    completed_at: row.completed_at?.toISOString() ?? null,
  };
}
