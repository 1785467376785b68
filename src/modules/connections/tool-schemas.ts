import { z } from 'zod';
import { agentIdSchema, requestIdSchema, shortText, uuidSchema } from '../../common/schemas';

// Payload schemas of the socket tools, with the original's parameter names.
const leaseToken = z
  .union([z.string().regex(/^\d{1,19}$/), z.number().int().nonnegative()])
  .transform(String)
  .optional()
  .describe('lease.token from request_next_task (or the latest lease in a progress answer); refused with STALE_COMPLETION once the task is no longer yours');
const longText = (max: number) => z.string().max(max);
// Descriptions shared by several tools; they reach MCP clients and docs/protocol.md.
const agentId = agentIdSchema.describe('Your own agent id: the one your token or API key was issued for');
const taskId = uuidSchema.describe('Task id (task.id in the request_next_task answer)');
const requestId = requestIdSchema.describe('Idempotency key: a fresh value per call, the same value when retrying that call after a timeout');

export const toolSchemas = {
  register_agent: z.object({
    agent_id: agentId,
    name: shortText(200).describe('Display name of the agent'),
    role: shortText(100).describe('Role such as developer, tester or reviewer'),
    skills: z.array(z.string().trim().min(1).max(64)).max(50).optional().default([]).describe('Skills matched against task labels, e.g. ["backend", "typescript"]'),
    capacity: z.number().int().min(1).max(32).optional().describe('How many tasks this agent may hold at once (server default when omitted)'),
    request_id: requestId,
  }),
  request_next_task: z.object({ agent_id: agentId, request_id: requestId }),
  report_task_progress: z.object({
    agent_id: agentId,
    task_id: taskId,
    status: z.enum(['in_progress', 'completed', 'blocked']).describe('in_progress while working (renews the lease), completed when done, blocked when stuck'),
    progress: z.number().finite().optional().default(0).describe('Percent done, 0-100 (completed counts as 100)'),
    message: longText(10_000).optional().default('').describe('What was done since the last report'),
    lease_token: leaseToken,
    request_id: requestId,
  }),
  report_blocker: z.object({
    agent_id: agentId,
    task_id: taskId,
    blocker_description: z.string().trim().min(1).max(10_000).describe('What blocks the work and what was tried'),
    severity: z.enum(['low', 'medium', 'high', 'critical']).optional().default('medium').describe('How badly the task is held up'),
    lease_token: leaseToken,
    request_id: requestId,
  }),
  get_project_status: z.object({}),
  get_agent_status: z.object({ agent_id: agentId }),
  list_registered_agents: z.object({}),
  ping: z.object({ echo: longText(1000).optional().describe('Text answered back (default "pong")') }),
  get_task_context: z.object({ task_id: taskId }),
  log_decision: z.object({
    agent_id: agentId,
    task_id: taskId,
    decision: z.string().trim().min(1).max(10_000).describe('The decision and its reason'),
    request_id: requestId,
  }),
  log_artifact: z.object({
    agent_id: agentId.optional(),
    task_id: taskId,
    filename: z.string().trim().min(1).max(255).describe('Name of the artifact, e.g. api-spec.md'),
    content: longText(512 * 1024).describe('Text content of the artifact'),
    artifact_type: z.string().trim().min(1).max(64).describe('Free label: specification, documentation, report...'),
    description: longText(2000).optional().describe('One-line summary of the artifact'),
    request_id: requestId,
  }),
  check_assignment_health: z.object({}),
} as const;

export type ToolName = keyof typeof toolSchemas;
export type ToolInput<N extends ToolName> = z.infer<(typeof toolSchemas)[N]>;
export const TOOL_NAMES = Object.keys(toolSchemas) as ToolName[];
