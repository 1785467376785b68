import { Injectable } from '@nestjs/common';
import { AppConfig } from '../../config/app-config';
import { beginIdempotent } from '../../common/idempotency';
import { Db } from '../../infra/database/db';
import { Presence } from '../../infra/shared-state/presence';
import type { AgentIdentity } from '../auth/token.service';
import { recordEvent } from '../events/outbox';
import { requireAgent } from './agent.queries';

export interface RegisterInput {
  agent_id: string;
  name: string;
  role: string;
  skills: string[];
  capacity?: number;
  request_id?: string;
}

interface AgentWithLoad {
  id: string;
  name: string;
  role: string;
  skills: string[];
  capacity: number;
  total_completed: number;
  performance_score: number;
  current_tasks: number;
}

@Injectable()
export class AgentsService {
  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
    private readonly presence: Presence,
  ) {}

  async register(who: AgentIdentity, input: RegisterInput) {
    return this.db.tx(async (c) => {
      const idem = await beginIdempotent<Record<string, unknown>>(c, { ...who, requestId: input.request_id, tool: 'register_agent' });
      if (idem.replay) return idem.response;
      const skills = [...new Set(input.skills)];
      // Re-registering updates name, role and skills; capacity only when given.
      await c.query(
        `INSERT INTO agents (project_id, id, name, role, skills, capacity) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (project_id, id) DO UPDATE SET name = EXCLUDED.name, role = EXCLUDED.role, skills = EXCLUDED.skills,
           capacity = CASE WHEN $7 THEN EXCLUDED.capacity ELSE agents.capacity END, updated_at = now()`,
        [who.projectId, who.agentId, input.name, input.role, skills, input.capacity ?? this.config.agentDefaultCapacity, input.capacity !== undefined],
      );
      await recordEvent(c, {
        type: 'agent.registered',
        projectId: who.projectId,
        aggregateId: `agent:${who.agentId}`,
        payload: { agent_id: who.agentId, name: input.name, role: input.role, skills },
      });
      const response = { success: true, message: `Agent ${input.name} registered successfully`, agent_id: who.agentId };
      await idem.finish(response);
      return response;
    });
  }

  async status(who: AgentIdentity) {
    const agent = await requireAgent(this.db, who.projectId, who.agentId);
    const held = await this.db.query<{ task_id: string; task_name: string; assigned_at: Date; instructions: string }>(
      `SELECT a.task_id, t.name AS task_name, a.assigned_at, a.instructions FROM assignments a JOIN tasks t ON t.id = a.task_id
       WHERE a.project_id = $1 AND a.agent_id = $2 AND a.state = 'active' ORDER BY a.slot`,
      [who.projectId, who.agentId],
    );
    const current = held.rows[0];
    return {
      success: true,
      agent: {
        id: agent.id,
        name: agent.name,
        role: agent.role,
        skills: agent.skills,
        status: held.rows.length > 0 ? 'working' : 'available',
        current_tasks: held.rows.map((h) => h.task_id),
        capacity: agent.capacity,
        total_completed: agent.total_completed,
        performance_score: agent.performance_score,
      },
      ...(current
        ? {
            current_assignment: {
              task_id: current.task_id,
              task_name: current.task_name,
              assigned_at: current.assigned_at.toISOString(),
              instructions: current.instructions,
            },
          }
        : {}),
    };
  }

  async list(projectId: string) {
    const [agents, online] = await Promise.all([this.withLoad(projectId), this.onlineAgents(projectId)]);
    return {
      success: true,
      agents: agents.map((a) => ({
        id: a.id,
        name: a.name,
        role: a.role,
        status: a.current_tasks > 0 ? 'working' : 'available',
        skills: a.skills,
        current_tasks: a.current_tasks,
        total_completed: a.total_completed,
        connected: online.has(a.id),
      })),
      total: agents.length,
    };
  }

  /** Agents of the project with a live socket on any replica. */
  async onlineAgents(projectId: string): Promise<Set<string>> {
    return new Set((await this.presence.online(projectId)).map((e) => e.agentId));
  }

  async withLoad(projectId: string): Promise<AgentWithLoad[]> {
    const r = await this.db.query<AgentWithLoad>(
      `SELECT g.id, g.name, g.role, g.skills, g.capacity, g.total_completed, g.performance_score,
              (SELECT count(*)::int FROM assignments a WHERE a.project_id = g.project_id AND a.agent_id = g.id AND a.state = 'active') AS current_tasks
       FROM agents g WHERE g.project_id = $1 ORDER BY g.registered_at, g.id`,
      [projectId],
    );
    return r.rows;
  }
}
