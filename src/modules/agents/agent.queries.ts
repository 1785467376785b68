import type { Queryable } from '../../infra/database/db';
import { AgentErrorCode, AppError } from '../../common/errors';

export interface AgentRow {
  project_id: string;
  id: string;
  name: string;
  role: string;
  skills: string[];
  capacity: number;
  total_completed: number;
  performance_score: number;
  waiting_since: Date | null;
  registered_at: Date;
}

/** Loads (and row-locks, which serialises one agent's concurrent calls) a registered agent. */
export async function requireAgent(q: Queryable, projectId: string, agentId: string, lock = false): Promise<AgentRow> {
  const r = await q.query<AgentRow>(`SELECT * FROM agents WHERE project_id = $1 AND id = $2${lock ? ' FOR UPDATE' : ''}`, [
    projectId,
    agentId,
  ]);
  const row = r.rows[0];
  if (!row) throw agentNotRegistered(agentId);
  return row;
}

export function agentNotRegistered(agentId: string): AppError {
  return new AppError(AgentErrorCode.AGENT_NOT_REGISTERED, `Agent ${agentId} not found: call register_agent first`, {
    message: `Agent ${agentId} not found`,
  });
}
