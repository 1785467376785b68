import { Injectable } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { AppError, TaskErrorCode } from '../../common/errors';
import { beginIdempotent } from '../../common/idempotency';
import { Db, type Queryable } from '../../infra/database/db';
import { requireAgent } from '../agents/agent.queries';
import type { AgentIdentity } from '../auth/token.service';
import { recordEvent } from '../events/outbox';
import { dependencySummaries, findTask } from './task.queries';
import { toTaskView } from './task.types';

export interface DecisionInput {
  task_id: string;
  decision: string;
  request_id?: string;
}

export interface ArtifactInput {
  task_id: string;
  filename: string;
  content: string;
  artifact_type: string;
  description?: string;
  request_id?: string;
}

/** What an agent needs to know about a task beyond its card: history, decisions, artifacts. */
@Injectable()
export class TaskContextService {
  constructor(private readonly db: Db) {}

  async context(who: AgentIdentity, taskId: string) {
    const task = await this.requireTask(this.db, who.projectId, taskId);
    const [deps, decisions, artifacts, blockers, progress] = await Promise.all([
      dependencySummaries(this.db, taskId),
      this.db.query('SELECT id, agent_id, decision, created_at FROM decisions WHERE task_id = $1 ORDER BY created_at, id', [taskId]),
      this.db.query(
        'SELECT id, agent_id, filename, artifact_type, description, length(content) AS size, created_at FROM artifacts WHERE task_id = $1 ORDER BY created_at, id',
        [taskId],
      ),
      this.db.query('SELECT id, agent_id, description, severity, suggestions, created_at, resolved_at FROM blockers WHERE task_id = $1 ORDER BY created_at', [
        taskId,
      ]),
      this.db.query('SELECT agent_id, status, progress, message, created_at FROM progress_reports WHERE task_id = $1 ORDER BY id DESC LIMIT 20', [
        taskId,
      ]),
    ]);
    return {
      success: true,
      task: toTaskView(task, deps.map((d) => d.id)),
      context: {
        dependencies: deps,
        decisions: decisions.rows,
        artifacts: artifacts.rows,
        blockers: blockers.rows,
        recent_progress: progress.rows,
        recovery_info: task.recovery_info,
      },
    };
  }

  async logDecision(who: AgentIdentity, input: DecisionInput) {
    return this.db.tx(async (c) => {
      const idem = await beginIdempotent<Record<string, unknown>>(c, { ...who, requestId: input.request_id, tool: 'log_decision' });
      if (idem.replay) return idem.response;
      await requireAgent(c, who.projectId, who.agentId);
      await this.requireTask(c, who.projectId, input.task_id);
      const id = randomUUID();
      await c.query('INSERT INTO decisions (id, project_id, task_id, agent_id, decision) VALUES ($1, $2, $3, $4, $5)', [
        id,
        who.projectId,
        input.task_id,
        who.agentId,
        input.decision,
      ]);
      await recordEvent(c, {
        type: 'decision.logged',
        projectId: who.projectId,
        aggregateId: input.task_id,
        payload: { decision_id: id, task_id: input.task_id, agent_id: who.agentId, decision: input.decision },
      });
      const answer = { success: true, decision_id: id, message: 'Decision logged' };
      await idem.finish(answer);
      return answer;
    });
  }

  async logArtifact(who: AgentIdentity, input: ArtifactInput) {
    return this.db.tx(async (c) => {
      const idem = await beginIdempotent<Record<string, unknown>>(c, { ...who, requestId: input.request_id, tool: 'log_artifact' });
      if (idem.replay) return idem.response;
      await requireAgent(c, who.projectId, who.agentId);
      await this.requireTask(c, who.projectId, input.task_id);
      const id = randomUUID();
      await c.query(
        'INSERT INTO artifacts (id, project_id, task_id, agent_id, filename, content, artifact_type, description) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [id, who.projectId, input.task_id, who.agentId, input.filename, input.content, input.artifact_type, input.description ?? null],
      );
      await recordEvent(c, {
        type: 'artifact.logged',
        projectId: who.projectId,
        aggregateId: input.task_id,
        payload: { artifact_id: id, task_id: input.task_id, agent_id: who.agentId, filename: input.filename, artifact_type: input.artifact_type },
      });
      const answer = { success: true, artifact_id: id, message: `Artifact ${input.filename} stored` };
      await idem.finish(answer);
      return answer;
    });
  }

  private async requireTask(q: Queryable, projectId: string, taskId: string) {
    const task = await findTask(q, projectId, taskId);
    if (!task) throw new AppError(TaskErrorCode.TASK_NOT_FOUND, `Task ${taskId} not found`);
    return task;
  }
}
