import type { MigrationInterface, QueryRunner } from 'typeorm';

// External boards: which board a project uses (settings and the names of the variables holding its
// secrets, never the secrets), the board's id for each task, the status last seen on the board (so
// an import can tell a human's move from our own write-back not yet applied), and the ordered
// per-project queue of write-backs waiting for the board.
export class Boards1764600000000 implements MigrationInterface {
  name = 'Boards1764600000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE project_boards (
        project_id uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        provider text NOT NULL CHECK (provider IN ('builtin', 'planka', 'github', 'linear')),
        config jsonb NOT NULL DEFAULT '{}',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE board_sync_state (
        project_id uuid PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
        requested_at timestamptz,
        last_started_at timestamptz,
        last_finished_at timestamptz,
        last_ok_at timestamptz,
        last_error text,
        last_created int NOT NULL DEFAULT 0,
        last_updated int NOT NULL DEFAULT 0,
        last_duration_ms int NOT NULL DEFAULT 0
      );

      ALTER TABLE tasks
        ADD COLUMN external_id text,
        ADD COLUMN external_ref text,
        ADD COLUMN external_status text CHECK (external_status IN ('todo', 'in_progress', 'done', 'blocked')),
        ADD COLUMN external_updated_at timestamptz;
      CREATE UNIQUE INDEX tasks_external_id ON tasks (project_id, external_id) WHERE external_id IS NOT NULL;

      CREATE TABLE board_writebacks (
        id bigserial PRIMARY KEY,
        project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        event_id bigint NOT NULL,
        op jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        attempts int NOT NULL DEFAULT 0,
        last_attempt_at timestamptz,
        last_error text,
        applied_at timestamptz,
        dead boolean NOT NULL DEFAULT false,
        UNIQUE (event_id, task_id)
      );
      CREATE INDEX board_writebacks_pending ON board_writebacks (project_id, id) WHERE applied_at IS NULL;
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE board_writebacks;
      DROP INDEX tasks_external_id;
      ALTER TABLE tasks DROP COLUMN external_updated_at, DROP COLUMN external_status, DROP COLUMN external_ref, DROP COLUMN external_id;
      DROP TABLE board_sync_state;
      DROP TABLE project_boards;
    `);
  }
}
