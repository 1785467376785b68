// Payloads and answers of the socket tools, with the server's field names.

export type TaskStatus = 'in_progress' | 'completed' | 'blocked';
export type Severity = 'low' | 'medium' | 'high' | 'critical';
export type Priority = 'urgent' | 'high' | 'medium' | 'low';

/** Every tool answer that succeeded carries `success: true`. */
export interface Ok {
  success: true;
}

export interface Lease {
  expires_at: string;
  /** Fencing token: send it back on progress and blocker reports. */
  token: string;
}

export interface RegisterAgentPayload {
  agent_id: string;
  name: string;
  role: string;
  skills?: string[];
  capacity?: number;
  request_id?: string;
}
export interface RegisterAgentAnswer extends Ok {
  message: string;
  agent_id: string;
}

export interface RequestNextTaskPayload {
  agent_id: string;
  request_id?: string;
}
export interface DependencySummary {
  id: string;
  name?: string;
  status?: string;
  [field: string]: unknown;
}
export interface AssignedTask {
  id: string;
  name: string;
  description: string;
  instructions: string;
  priority: Priority;
  labels: string[];
  estimated_hours: number | null;
  dependencies: string[];
  acceptance_criteria: unknown;
  recovery_info: unknown;
  implementation_context: {
    dependencies: DependencySummary[];
    decisions: unknown[];
    recovery_info: unknown;
    previous_progress: number;
  };
  lease: Lease;
}
export interface TaskAssigned extends Ok {
  task: AssignedTask;
}
/** The server has nothing for this agent now; ask again after `retry_after_seconds` or on `tasks_available`. */
export interface NoTaskAvailable {
  success: false;
  message: string;
  retry_after_seconds: number;
}
export type RequestNextTaskAnswer = TaskAssigned | NoTaskAvailable;

export interface ReportTaskProgressPayload {
  agent_id: string;
  task_id: string;
  status: TaskStatus;
  progress?: number;
  message?: string;
  lease_token?: string;
  request_id?: string;
}
export interface ReportTaskProgressAnswer extends Ok {
  message: string;
  task_status: string;
  /** The renewed lease (absent once the task is completed). */
  lease?: Lease;
}

export interface ReportBlockerPayload {
  agent_id: string;
  task_id: string;
  blocker_description: string;
  severity?: Severity;
  lease_token?: string;
  request_id?: string;
}
export interface BlockerAnalysis {
  root_cause: string;
  impact_assessment: string;
  resolution_steps: string[];
  required_resources: string[];
  estimated_hours: number;
  escalation_needed: boolean;
  prevention_measures: string[];
}
export interface ReportBlockerAnswer extends Ok {
  blocker_id: string;
  suggestions: string[];
  analysis: BlockerAnalysis;
  message: string;
}

export type EmptyPayload = Record<string, never>;

export interface ProjectStatusAnswer extends Ok {
  project: { total_tasks: number; completed: number; in_progress: number; blocked: number; todo: number; completion_percentage: number };
  workers: { total: number; active: number; available: number; connected: number };
  provider: string;
}

export interface GetAgentStatusPayload {
  agent_id: string;
}
export interface AgentStatusAnswer extends Ok {
  agent: {
    id: string;
    name: string;
    role: string;
    skills: string[];
    status: 'working' | 'available';
    current_tasks: string[];
    capacity: number;
    total_completed: number;
    performance_score: number;
  };
  current_assignment?: { task_id: string; task_name: string; assigned_at: string; instructions: string };
}

export interface RegisteredAgent {
  id: string;
  name: string;
  role: string;
  status: 'working' | 'available';
  skills: string[];
  current_tasks: number;
  total_completed: number;
  connected: boolean;
}
export interface ListRegisteredAgentsAnswer extends Ok {
  agents: RegisteredAgent[];
  total: number;
}

export interface PingPayload {
  echo?: string;
}
export interface PingAnswer extends Ok {
  status: 'online';
  provider: string;
  echo: string;
  timestamp: string;
}

export interface GetTaskContextPayload {
  task_id: string;
}
export interface TaskContextAnswer extends Ok {
  task: Record<string, unknown> & { id: string; name: string; status: string };
  context: {
    dependencies: DependencySummary[];
    decisions: unknown[];
    artifacts: unknown[];
    blockers: unknown[];
    recent_progress: unknown[];
    recovery_info: unknown;
  };
}

export interface LogDecisionPayload {
  agent_id: string;
  task_id: string;
  decision: string;
  request_id?: string;
}
export interface LogDecisionAnswer extends Ok {
  decision_id: string;
  message: string;
}

export interface LogArtifactPayload {
  agent_id?: string;
  task_id: string;
  filename: string;
  content: string;
  artifact_type: string;
  description?: string;
  request_id?: string;
}
export interface LogArtifactAnswer extends Ok {
  artifact_id: string;
  message: string;
}

export interface AssignmentHealthAnswer extends Ok {
  healthy: boolean;
  active_assignments: number;
  expired_leases: number;
  orphaned_tasks: number;
  mismatched_assignments: number;
  issues: string[];
  checked_at: string;
}

/** Payload and answer of every socket tool. */
export interface Tools {
  register_agent: { payload: RegisterAgentPayload; answer: RegisterAgentAnswer };
  request_next_task: { payload: RequestNextTaskPayload; answer: RequestNextTaskAnswer };
  report_task_progress: { payload: ReportTaskProgressPayload; answer: ReportTaskProgressAnswer };
  report_blocker: { payload: ReportBlockerPayload; answer: ReportBlockerAnswer };
  get_project_status: { payload: EmptyPayload; answer: ProjectStatusAnswer };
  get_agent_status: { payload: GetAgentStatusPayload; answer: AgentStatusAnswer };
  list_registered_agents: { payload: EmptyPayload; answer: ListRegisteredAgentsAnswer };
  ping: { payload: PingPayload; answer: PingAnswer };
  get_task_context: { payload: GetTaskContextPayload; answer: TaskContextAnswer };
  log_decision: { payload: LogDecisionPayload; answer: LogDecisionAnswer };
  log_artifact: { payload: LogArtifactPayload; answer: LogArtifactAnswer };
  check_assignment_health: { payload: EmptyPayload; answer: AssignmentHealthAnswer };
}

export type ToolName = keyof Tools;
export type ToolPayload<N extends ToolName> = Tools[N]['payload'];
export type ToolAnswer<N extends ToolName> = Tools[N]['answer'];

/** Tools that change state: they get a request_id so a retry is answered from the first attempt. */
export const MUTATING_TOOLS: ReadonlySet<ToolName> = new Set<ToolName>([
  'register_agent',
  'request_next_task',
  'report_task_progress',
  'report_blocker',
  'log_decision',
  'log_artifact',
]);
