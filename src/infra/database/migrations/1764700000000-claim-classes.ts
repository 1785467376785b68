import type { MigrationInterface, QueryRunner } from 'typeorm';

// The claim lists a board's (priority, labels) classes with a skip scan of this index and takes
// the oldest task of the best class from it, instead of scoring every todo task (see claimNextTask).
export class ClaimClasses1764700000000 implements MigrationInterface {
  name = 'ClaimClasses1764700000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`CREATE INDEX tasks_todo_class ON tasks (project_id, priority, labels, created_at, seq) WHERE status = 'todo'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query('DROP INDEX tasks_todo_class');
  }
}
