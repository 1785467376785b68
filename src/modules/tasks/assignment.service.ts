import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { AppConfig } from '../../config/app-config';
import { beginIdempotent } from '../../common/idempotency';
import { Db } from '../../infra/database/db';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { requireAgent, type AgentRow } from '../agents/agent.queries';
import { fallbackInstructions, recoverySection } from '../ai/fallback-instructions';
import type { AgentIdentity } from '../auth/token.service';
import { recordEvent } from '../events/outbox';
import { leaseTerms } from './lease';
import { activeAssignmentsOf, claimNextTask, countEligible, dependencySummaries, findTask } from './task.queries';
import type { AssignmentRow, TaskRow } from './task.types';

type NextTaskAnswer =
  | { success: true; task: Record<string, unknown> }
  | { success: false; message: string; retry_after_seconds: number };

@Injectable()
export class AssignmentService {
  constructor(
    private readonly db: Db,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** One transaction: pick the best eligible task, claim it with a lease and a fencing token. */
  async requestNextTask(who: AgentIdentity, requestId?: string): Promise<NextTaskAnswer> {
    let claimed = false;
    return this.db.tx(async (c) => {
      claimed = false;
      const idem = await beginIdempotent<NextTaskAnswer>(c, { ...who, requestId, tool: 'request_next_task' });
      if (idem.replay) return idem.response;
      const agent = await requireAgent(c, who.projectId, who.agentId, true);
      const held = await activeAssignmentsOf(c, who.projectId, who.agentId);

      let answer: NextTaskAnswer;
      if (held.length >= agent.capacity) {
        // Already at capacity: the same task again, so a retrying agent resumes instead of stalling.
        const task = await findTask(c, who.projectId, held[0].task_id);
        answer = { success: true, task: await this.taskAnswer(c, task!, held[0]) };
      } else if (held.length > 0 && (await this.idleAgentsShouldGoFirst(c, who))) {
        answer = this.noTask();
      } else {
        const task = await claimNextTask(c, who.projectId, agent.skills);
        claimed = task !== null;
        answer = task ? { success: true, task: await this.claim(c, agent, task, held) } : this.noTask();
      }
      await c.query('UPDATE agents SET waiting_since = $3 WHERE project_id = $1 AND id = $2', [
        who.projectId,
        who.agentId,
        answer.success ? null : new Date(),
      ]);
      await idem.finish(answer);
      return answer;
    }).then((answer) => {
      if (claimed) this.metrics.taskAssignments.inc();
      return answer;
    });
  }

  private noTask(): NextTaskAnswer {
    return { success: false, message: 'No suitable tasks available at this time', retry_after_seconds: this.config.retryAfterSeconds };
  }

  /** Spread work: a busy agent gets a second task only when no idle agent is waiting for one. */
  private async idleAgentsShouldGoFirst(c: PoolClient, who: AgentIdentity): Promise<boolean> {
    const r = await c.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM agents g WHERE g.project_id = $1 AND g.id <> $2 AND g.waiting_since > now() - make_interval(secs => $3)
         AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.project_id = g.project_id AND a.agent_id = g.id AND a.state = 'active')`,
      [who.projectId, who.agentId, this.config.retryAfterSeconds * 2],
    );
    const idleWaiting = r.rows[0]?.n ?? 0;
    return idleWaiting > 0 && (await countEligible(c, who.projectId)) <= idleWaiting;
  }

  private async claim(c: PoolClient, agent: AgentRow, task: TaskRow, held: AssignmentRow[]): Promise<Record<string, unknown>> {
    const now = new Date();
    const usedSlots = new Set(held.map((h) => h.slot));
    let slot = 0;
    while (usedSlots.has(slot)) slot++;
    const lease = leaseTerms(this.config.lease, now, 0, 0);
    const deps = await dependencySummaries(c, task.id);
    // Instructions prepared by the LLM while the task waited, else the deterministic brief.
    const instructions = task.prepared_instructions
      ? [`# Task Assignment for ${agent.name}`, ...(task.recovery_info ? [recoverySection(task.recovery_info)] : []), task.prepared_instructions].join('\n\n')
      : fallbackInstructions({ agentName: agent.name, task, dependencies: deps, recovery: task.recovery_info });
    const inserted = await c.query<AssignmentRow>(
      `INSERT INTO assignments (project_id, task_id, agent_id, slot, fencing_token, instructions, assigned_at, lease_expires_at, lease_grace_ms)
       VALUES ($1, $2, $3, $4, nextval('fencing_token_seq'), $5, $6, $7, $8) RETURNING *`,
      [task.project_id, task.id, agent.id, slot, instructions, now, lease.expiresAt, lease.graceMs],
    );
    const assignment = inserted.rows[0];
    const updated = await c.query<TaskRow>(
      `UPDATE tasks SET status = 'in_progress', assigned_to = $2, updated_at = $3 WHERE id = $1 RETURNING *`,
      [task.id, agent.id, now],
    );
    await recordEvent(c, {
      type: 'task.assigned',
      projectId: task.project_id,
      aggregateId: task.id,
      payload: { task_id: task.id, agent_id: agent.id, agent_name: agent.name, assigned_at: now.toISOString(), fencing_token: assignment.fencing_token, lease_expires_at: lease.expiresAt.toISOString() },
    });
    return this.taskAnswer(c, updated.rows[0], assignment, deps);
  }

  /** The `task` of a request_next_task answer (original field names plus the lease). */
  async taskAnswer(
    c: PoolClient,
    task: TaskRow,
    assignment: AssignmentRow,
    known?: { id: string; name: string; status: string }[],
  ): Promise<Record<string, unknown>> {
    const deps = known ?? (await dependencySummaries(c, task.id));
    const decisions = await c.query<{ task_id: string; decision: string; agent_id: string }>(
      `SELECT d.task_id, d.decision, d.agent_id FROM decisions d
       WHERE d.task_id = $1 OR d.task_id IN (SELECT depends_on FROM task_dependencies WHERE task_id = $1)
       ORDER BY d.created_at DESC LIMIT 20`,
      [task.id],
    );
    return {
      id: task.id,
      name: task.name,
      description: task.description,
      instructions: assignment.instructions,
      priority: task.priority,
      labels: task.labels,
      estimated_hours: task.estimated_hours,
      dependencies: deps.map((d) => d.id),
      acceptance_criteria: task.acceptance_criteria,
      recovery_info: task.recovery_info,
      implementation_context: {
        dependencies: deps,
        decisions: decisions.rows,
        recovery_info: task.recovery_info,
        previous_progress: task.recovery_info?.previous_progress ?? 0,
      },
      lease: { expires_at: assignment.lease_expires_at.toISOString(), token: assignment.fencing_token },
    };
  }
}
