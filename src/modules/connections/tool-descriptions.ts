import type { ToolName } from './tool-schemas';

// What each tool is for and when to call it, written for an LLM agent that sees nothing else
// (MCP tools/list, docs/protocol.md). A mapped type, so a new tool without a description does
// not compile.

/** The work loop in a few lines (Markdown); MCP servers hand it to clients as their `instructions`. */
export const AGENT_LOOP_SUMMARY = [
  'pm-agent hands out tasks to coding agents. Work loop:',
  '1. register_agent once (agent_id, name, role, skills).',
  '2. request_next_task: take the returned task and its lease.token. If success is false with retry_after_seconds, no task is free: wait that long and ask again.',
  '3. report_task_progress with status "in_progress" (progress 0-100, a short message, the lease_token) when you start and then regularly, before lease.expires_at, or the task is taken back and given to another agent.',
  '4. Stuck on something you cannot solve yourself? report_blocker (or report_task_progress with status "blocked"), then wait or keep reporting.',
  '5. When the work is done: report_task_progress with status "completed". Then go back to step 2.',
  '',
  'Always send your own agent_id (the one your credentials were issued for). Give every mutating call a fresh request_id and reuse the same request_id when you retry that call after a timeout: the server then answers the retry from the first attempt instead of acting twice.',
  '',
  'Errors come back with a code: VALIDATION_FAILED (fix the arguments), FORBIDDEN (wrong agent_id), STALE_COMPLETION (your lease was lost: drop the task and request a new one), RATE_LIMITED or UNAVAILABLE (wait retry_after_seconds, retry with the same request_id).',
].join('\n');

export const toolDescriptions: { [N in ToolName]: string } = {
  register_agent:
    'Register this agent (or update its name, role, skills, capacity) before asking for work. Call it once at start-up; calling it again is harmless. ' +
    'Skills are matched against task labels when tasks are assigned. agent_id must be the id your credentials were issued for. ' +
    'Next step: request_next_task.',
  request_next_task:
    'Claim the next task for this agent: the best-scored open task whose dependencies are done (or the task you already hold). ' +
    'The answer has task.id, name, description, instructions, acceptance_criteria, implementation_context and lease {token, expires_at}. ' +
    'Keep task.id and lease.token: pass them as task_id and lease_token to report_task_progress / report_blocker. ' +
    'The lease expires unless you report progress before lease.expires_at; an expired task goes back to the pool. ' +
    'If the answer is success: false with retry_after_seconds, there is no task for you now: wait that many seconds and call again. ' +
    'Give a request_id and reuse it if you retry after a timeout, so a retry does not claim a second task.',
  report_task_progress:
    'Report progress on a task you hold. Call it with status "in_progress" when you start (progress 0) and then regularly with rising progress (0-100) and a short message: ' +
    'each report renews the lease, which otherwise expires and the task is reassigned. ' +
    'When the work is done and meets the acceptance criteria, call it with status "completed" (progress is set to 100); then call request_next_task again. ' +
    'Use status "blocked" only together with an explanation (prefer report_blocker, which also returns suggestions). ' +
    'Pass the lease_token from request_next_task (or from the lease in the previous answer): a STALE_COMPLETION error means you lost the task and must stop working on it. ' +
    'Give each report a fresh request_id; reuse it only when retrying the same report.',
  report_blocker:
    'Report that work on a task you hold is blocked (missing access, unclear requirement, failing dependency...). ' +
    'The task is marked blocked, the project owners are told, and the answer carries suggestions to unblock it. You keep the task and its lease (the report renews it). ' +
    'Once unblocked, continue with report_task_progress status "in_progress". Pass lease_token and a request_id as for report_task_progress.',
  get_project_status:
    'Read-only overview of the project: task counts by status, completion percentage, workers connected and available, board provider. ' +
    'Useful to decide whether to keep polling request_next_task.',
  get_agent_status:
    'Read-only status of this agent: registration, availability and the tasks it currently holds (with their instructions). ' +
    'Use it after a restart to find a task you still hold instead of claiming a new one.',
  list_registered_agents: 'Read-only list of the agents registered in the project with their role, skills, status, connection and load.',
  ping: 'Health check: answers status "online", the board provider and the echo text. No side effects.',
  get_task_context:
    'Read-only history of a task: dependencies, logged decisions, artifacts, blockers and progress reports. ' +
    'Call it after request_next_task when you need more background than the task card gives.',
  log_decision:
    'Record an architectural or implementation decision on a task (what you chose and why) so later agents working on dependent tasks see it in their context. ' +
    'Give a request_id so a retry does not log it twice.',
  log_artifact:
    'Store a text artifact for a task (a design note, an API spec, a report; up to 512 KiB) so other agents and humans can read it. ' +
    'artifact_type is a free label such as "specification", "documentation" or "report". Give a request_id so a retry does not store it twice.',
  check_assignment_health:
    'Read-only consistency check of the project\'s assignments: active leases, leases past expiry, orphaned or mismatched tasks, with a list of issues.',
};
