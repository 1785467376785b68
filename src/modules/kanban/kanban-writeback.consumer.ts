import { Injectable } from '@nestjs/common';
import { Db } from '../../infra/database/db';
import type { PublishedEvent } from '../events/event-bus';
import { processOnce } from '../events/processed-events';
import { boardEffect } from './board-effects';

/**
 * Writes assignment, progress, blocker and recovery comments to the board, off the agent's path.
 * The built-in board keeps cards in Postgres: the card's column is the task's status (already set
 * in the transaction that changed it), so a comment is the whole write-back. The comment and the
 * processed-event record commit together, so a redelivered event adds nothing.
 */
@Injectable()
export class KanbanWritebackConsumer {
  constructor(private readonly db: Db) {}

  async handle(event: PublishedEvent): Promise<void> {
    const effect = boardEffect(event);
    if (!effect) return;
    await processOnce(this.db, 'kanban', event, async (c) => {
      await c.query('INSERT INTO board_comments (project_id, task_id, body) SELECT $1, $2, $3 WHERE EXISTS (SELECT 1 FROM tasks WHERE id = $2)', [
        event.project_id,
        effect.taskId,
        effect.comment,
      ]);
    });
  }
}
