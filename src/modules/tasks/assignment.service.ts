import { Injectable } from '@nestjs/common';
import type { PoolClient } from 'pg';
import { AppConfig } from '../../config/app-config';
import { beginIdempotent } from '../../common/idempotency';
import { Db } from '../../infra/database/db';
import { runWrites } from '../../infra/database/write-batch';
import { MetricsService } from '../../infra/metrics/metrics.service';
import type { AgentRow } from '../agents/agent.queries';
import { fallbackInstructions, recoverySection } from '../ai/fallback-instructions';
import type { AgentIdentity } from '../auth/token.service';
import { eventWrite } from '../events/outbox';
import { leaseTerms } from './lease';
import { activeAssignmentsOf, claimBestTask, countEligible, findTask, lockAgentForClaim, taskContext, type TaskContext } from './task.queries';
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

  /**
   * One transaction: pick the best eligible task, claim it with a lease and a fencing token.
   * Statements are merged where their order allows (7 round trips for a claim, BEGIN and COMMIT
   * included): on this machine a round trip to Postgres costs more than most statements do.
   */
  async requestNextTask(who: AgentIdentity, requestId?: string): Promise<NextTaskAnswer> {
    let claimed = false;
    return this.db.tx(async (c) => {
      claimed = false;
      const idem = await beginIdempotent<NextTaskAnswer>(c, { ...who, requestId, tool: 'request_next_task' });
      if (idem.replay) return idem.response;
      const { agent, heldSlots } = await lockAgentForClaim(c, who.projectId, who.agentId);

      let answer: NextTaskAnswer;
      if (heldSlots.length >= agent.capacity) {
        // Already at capacity: the same task again, so a retrying agent resumes instead of stalling.
        const [held] = await activeAssignmentsOf(c, who.projectId, who.agentId);
        const task = await findTask(c, who.projectId, held.task_id);
        answer = { success: true, task: await this.taskAnswer(c, task!, held) };
      } else if (heldSlots.length > 0 && (await this.idleAgentsShouldGoFirst(c, who))) {
        answer = this.noTask();
      } else {
        const best = await claimBestTask(c, who.projectId, agent.skills);
        claimed = best !== null;
        answer = best ? { success: true, task: await this.claim(c, agent, best.task, best.context, heldSlots) } : this.noTask();
      }
      const waitingSince = answer.success ? null : new Date();
      await runWrites(c, [
        // A waiting agent's timestamp moves on each "no task"; a working agent's stays NULL (no write).
        waitingSince || agent.waiting_since
          ? { text: 'UPDATE agents SET waiting_since = $3 WHERE project_id = $1 AND id = $2', params: [who.projectId, who.agentId, waitingSince] }
          : null,
        idem.finishWrite(answer),
      ]);
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

  private async claim(c: PoolClient, agent: AgentRow, task: TaskRow, context: TaskContext, heldSlots: number[]): Promise<Record<string, unknown>> {
    const now = new Date();
    const usedSlots = new Set(heldSlots);
    let slot = 0;
    while (usedSlots.has(slot)) slot++;
    const lease = leaseTerms(this.config.lease, now, 0, 0);
    // Instructions prepared by the LLM while the task waited, else the deterministic brief.
    const instructions = task.prepared_instructions
      ? [`# Task Assignment for ${agent.name}`, ...(task.recovery_info ? [recoverySection(task.recovery_info)] : []), task.prepared_instructions].join('\n\n')
      : fallbackInstructions({ agentName: agent.name, task, dependencies: context.dependencies, recovery: task.recovery_info });
    const event = eventWrite(c, {
      type: 'task.assigned',
      projectId: task.project_id,
      aggregateId: task.id,
      // fencing_token is added in SQL: it is drawn by the same statement.
      payload: { task_id: task.id, agent_id: agent.id, agent_name: agent.name, assigned_at: now.toISOString(), lease_expires_at: lease.expiresAt.toISOString() },
    });
    // The assignment, the task's new status and the event in one statement.
    const inserted = await c.query<AssignmentRow>(
      `WITH a AS (
         INSERT INTO assignments (project_id, task_id, agent_id, slot, fencing_token, instructions, assigned_at, lease_expires_at, lease_grace_ms)
         VALUES ($1, $2, $3, $4, nextval('fencing_token_seq'), $5, $6, $7, $8) RETURNING *
       ), t AS (
         UPDATE tasks SET status = 'in_progress', assigned_to = $3, updated_at = $6 WHERE id = $2
       ), e AS (
         INSERT INTO outbox (project_id, aggregate_id, event_type, payload)
         SELECT $9, $10, $11, $12::jsonb || jsonb_build_object('fencing_token', a.fencing_token::text) FROM a
       )
       SELECT * FROM a`,
      [task.project_id, task.id, agent.id, slot, instructions, now, lease.expiresAt, lease.graceMs, ...event.params],
    );
    const updated: TaskRow = { ...task, status: 'in_progress', assigned_to: agent.id, updated_at: now };
    return this.taskAnswer(c, updated, inserted.rows[0], context);
  }

  /** The `task` of a request_next_task answer (original field names plus the lease). */
  async taskAnswer(c: PoolClient, task: TaskRow, assignment: AssignmentRow, known?: TaskContext): Promise<Record<string, unknown>> {
    const { dependencies: deps, decisions } = known ?? (await taskContext(c, task.id));
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
        decisions,
        recovery_info: task.recovery_info,
        previous_progress: task.recovery_info?.previous_progress ?? 0,
      },
      lease: { expires_at: assignment.lease_expires_at.toISOString(), token: assignment.fencing_token },
    };
  }
}
