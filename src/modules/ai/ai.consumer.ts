import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import type { PublishedEvent } from '../events/event-bus';
import { processOnce } from '../events/processed-events';
import { PushService } from '../events/push.service';
import { dependencySummaries } from '../tasks/task.queries';
import type { TaskRow } from '../tasks/task.types';
import type { Severity } from './fallback-blocker';
import { AiService } from './ai.service';

/**
 * LLM work off the agent's path: blocker analysis (stored, written to the board, pushed to the
 * agent as `blocker_analysis`) and instructions prepared while a task waits, so
 * request_next_task never waits for a model.
 */
@Injectable()
export class AiConsumer {
  constructor(
    private readonly db: Db,
    private readonly ai: AiService,
    private readonly push: PushService,
  ) {}

  async handle(event: PublishedEvent): Promise<void> {
    if (await this.alreadyDone(event)) return;
    switch (event.type) {
      case 'task.blocked':
        return this.analyzeBlocker(event);
      case 'task.created':
      case 'lease.recovered':
        return this.prepareInstructions(event);
      case 'agent.registered':
      case 'task.assigned':
      case 'task.progress':
      case 'task.completed':
      case 'decision.logged':
      case 'artifact.logged':
        return;
    }
  }

  // The model call is slow and outside any transaction; skip it for an event already handled.
  private async alreadyDone(event: PublishedEvent): Promise<boolean> {
    const r = await this.db.query("SELECT 1 FROM processed_events WHERE consumer = 'ai' AND event_id = $1", [event.id]);
    return r.rows.length > 0;
  }

  private async analyzeBlocker(event: PublishedEvent): Promise<void> {
    const p = event.payload;
    const task = await this.task(event.project_id, event.aggregate_id);
    if (!task) return;
    const { analysis, source } = await this.ai.analyzeBlocker({
      taskName: task.name,
      taskDescription: task.description,
      description: typeof p.description === 'string' ? p.description : '',
      severity: (p.severity as Severity) ?? 'medium',
      agentName: typeof p.agent_name === 'string' ? p.agent_name : String(p.agent_id),
    });
    const blockerId = String(p.blocker_id);
    const first = await processOnce(this.db, 'ai', event, async (c) => {
      await c.query('UPDATE blockers SET analysis = $2, suggestions = $3 WHERE id = $1', [
        blockerId,
        JSON.stringify({ ...analysis, source }),
        JSON.stringify(analysis.resolution_steps),
      ]);
      if (source === 'llm') {
        const body = ['🤖 AI blocker analysis', '', `Root cause: ${analysis.root_cause}`, '', ...analysis.resolution_steps.map((s, i) => `${i + 1}. ${s}`)].join('\n');
        await c.query('INSERT INTO board_comments (project_id, task_id, body) VALUES ($1, $2, $3)', [event.project_id, task.id, body]);
      }
    });
    if (first) {
      this.push.toAgents(event.project_id, [String(p.agent_id)], 'blocker_analysis', {
        task_id: task.id,
        blocker_id: blockerId,
        analysis,
        source,
        at: new Date().toISOString(),
      });
    }
  }

  private async prepareInstructions(event: PublishedEvent): Promise<void> {
    const task = await this.task(event.project_id, event.aggregate_id);
    // Nothing to prepare (no model, task gone or done) is still a handled event: recorded once.
    const text =
      this.ai.enabled && task && task.status !== 'done'
        ? await this.ai.prepareInstructions({ ...task, dependencies: await dependencySummaries(this.db, task.id) })
        : null;
    await processOnce(this.db, 'ai', event, async (c) => {
      if (text && task) await c.query('UPDATE tasks SET prepared_instructions = $2 WHERE id = $1', [task.id, text]);
    });
  }

  private async task(projectId: string, taskId: string): Promise<TaskRow | null> {
    const r = await this.db.query<TaskRow>('SELECT * FROM tasks WHERE id = $1 AND project_id = $2', [taskId, projectId]);
    return r.rows[0] ?? null;
  }
}
