import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import type { PublishedEvent } from '../events/event-bus';
import { processOnce } from '../events/processed-events';
import { boardEffect } from './board-effects';
import { BoardRegistry } from './board-registry';
import { writebackOp } from './writeback/writeback-op';

/**
 * Takes task events off the kanban queue, off the agent's path. The built-in board keeps cards in
 * Postgres: the column is the task's status (set in the transaction that changed it), so a comment
 * is the whole write-back. For an external board the event becomes a row of the project's ordered
 * write-back queue, which the leader drains through the board's breaker (BoardWritebackService):
 * a board that is down holds up nothing but its own queue. Either way the write and the
 * processed-event record commit together, so a redelivered event adds nothing.
 */
@Injectable()
export class KanbanWritebackConsumer {
  constructor(
    private readonly db: Db,
    private readonly boards: BoardRegistry,
  ) {}

  async handle(event: PublishedEvent): Promise<void> {
    const settings = await this.boards.settings(event.project_id);
    if (settings.provider === 'builtin') {
      const effect = boardEffect(event);
      await processOnce(this.db, 'kanban', event, async (c) => {
        if (!effect) return; // recorded all the same: every event on the queue is handled once
        await c.query('INSERT INTO board_comments (project_id, task_id, body) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $2)', [
          event.project_id,
          effect.taskId,
          effect.comment,
        ]);
      });
      return;
    }
    const op = writebackOp(event, settings);
    await processOnce(this.db, 'kanban', event, async (c) => {
      if (!op) return;
      // A task imported from the board is already there: its task.created is not echoed back.
      await c.query(
        `INSERT INTO board_writebacks (project_id, task_id, event_id, op)
         SELECT t.project_id, t.id, $3, $4 FROM tasks t
         WHERE t.id = $2 AND t.project_id = $1 AND NOT ($5 AND t.external_id IS NOT NULL)
         ON CONFLICT (event_id, task_id) DO NOTHING`,
        [event.project_id, event.aggregate_id, event.id, JSON.stringify(op), op.kind === 'create'],
      );
    });
  }
}
