import { z } from 'zod';
import { agentIdSchema, requestIdSchema, shortText, uuidSchema } from '../../common/schemas';

// Payload schemas of the socket tools, with the original's parameter names.
const leaseToken = z.union([z.string().regex(/^\d{1,19}$/), z.number().int().nonnegative()]).transform(String).optional();
const longText = (max: number) => z.string().max(max);

export const toolSchemas = {
  register_agent: z.object({
    agent_id: agentIdSchema,
    name: shortText(200),
    role: shortText(100),
    skills: z.array(z.string().trim().min(1).max(64)).max(50).optional().default([]),
    capacity: z.number().int().min(1).max(32).optional(),
    request_id: requestIdSchema,
  }),
  request_next_task: z.object({ agent_id: agentIdSchema, request_id: requestIdSchema }),
  report_task_progress: z.object({
    agent_id: agentIdSchema,
    task_id: uuidSchema,
    status: z.enum(['in_progress', 'completed', 'blocked']),
    progress: z.number().finite().optional().default(0),
    message: longText(10_000).optional().default(''),
    lease_token: leaseToken,
    request_id: requestIdSchema,
  }),
  report_blocker: z.object({
    agent_id: agentIdSchema,
    task_id: uuidSchema,
    blocker_description: z.string().trim().min(1).max(10_000),
    severity: z.enum(['low', 'medium', 'high', 'critical']).optional().default('medium'),
    lease_token: leaseToken,
    request_id: requestIdSchema,
  }),
  get_project_status: z.object({}),
  get_agent_status: z.object({ agent_id: agentIdSchema }),
  list_registered_agents: z.object({}),
  ping: z.object({ echo: longText(1000).optional() }),
  get_task_context: z.object({ task_id: uuidSchema }),
  log_decision: z.object({
    agent_id: agentIdSchema,
    task_id: uuidSchema,
    decision: z.string().trim().min(1).max(10_000),
    request_id: requestIdSchema,
  }),
  log_artifact: z.object({
    agent_id: agentIdSchema.optional(),
    task_id: uuidSchema,
    filename: z.string().trim().min(1).max(255),
    content: longText(512 * 1024),
    artifact_type: z.string().trim().min(1).max(64),
    description: longText(2000).optional(),
    request_id: requestIdSchema,
  }),
  check_assignment_health: z.object({}),
} as const;

export type ToolName = keyof typeof toolSchemas;
export type ToolInput<N extends ToolName> = z.infer<(typeof toolSchemas)[N]>;
export const TOOL_NAMES = Object.keys(toolSchemas) as ToolName[];
