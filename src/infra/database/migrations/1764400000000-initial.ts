import type { MigrationInterface, QueryRunner } from 'typeorm';

// The whole schema. Ownership rules live in the partial unique indexes at the bottom, so a bug
// in the code cannot give one task two holders.
export class Initial1764400000000 implements MigrationInterface {
  name = 'Initial1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      CREATE TABLE projects (
        id uuid PRIMARY KEY,
        name text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        key_prefix text NOT NULL UNIQUE,
        key_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz
      );

      CREATE TABLE agents (
        project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        id text NOT NULL,
        name text NOT NULL,
        role text NOT NULL,
        skills text[] NOT NULL DEFAULT '{}',
        capacity int NOT NULL DEFAULT 1 CHECK (capacity BETWEEN 1 AND 32),
        total_completed int NOT NULL DEFAULT 0,
        performance_score double precision NOT NULL DEFAULT 1.0,
        waiting_since timestamptz,
        registered_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project_id, id)
      );
      CREATE INDEX agents_waiting ON agents (project_id) WHERE waiting_since IS NOT NULL;

      CREATE TABLE tasks (
        id uuid PRIMARY KEY,
        seq bigserial NOT NULL UNIQUE,
        project_id uuid NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name text NOT NULL,
        description text NOT NULL DEFAULT '',
        status text NOT NULL DEFAULT 'todo' CHECK (status IN ('todo', 'in_progress', 'done', 'blocked')),
        priority text NOT NULL DEFAULT 'medium' CHECK (priority IN ('low', 'medium', 'high', 'urgent')),
        labels text[] NOT NULL DEFAULT '{}',
        assigned_to text,
        estimated_hours double precision,
        actual_hours double precision,
        due_date timestamptz,
        parent_task_id uuid REFERENCES tasks(id) ON DELETE SET NULL,
        acceptance_criteria text[] NOT NULL DEFAULT '{}',
        checklist jsonb NOT NULL DEFAULT '[]',
        recovery_info jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        completed_at timestamptz
      );
      CREATE INDEX tasks_project_status ON tasks (project_id, status);
      CREATE INDEX tasks_parent ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;

      CREATE TABLE task_dependencies (
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        depends_on uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        PRIMARY KEY (task_id, depends_on),
        CHECK (task_id <> depends_on)
      );
      CREATE INDEX task_dependencies_depends_on ON task_dependencies (depends_on);

      CREATE SEQUENCE fencing_token_seq;

      CREATE TABLE assignments (
        id bigserial PRIMARY KEY,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id text NOT NULL,
        slot int NOT NULL DEFAULT 0 CHECK (slot >= 0),
        fencing_token bigint NOT NULL,
        state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'completed', 'expired')),
        instructions text NOT NULL DEFAULT '',
        assigned_at timestamptz NOT NULL DEFAULT now(),
        lease_expires_at timestamptz NOT NULL,
        lease_grace_ms int NOT NULL,
        progress int NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
        report_count int NOT NULL DEFAULT 0,
        last_report_at timestamptz,
        last_message text,
        ended_at timestamptz,
        end_reason text,
        FOREIGN KEY (project_id, agent_id) REFERENCES agents(project_id, id) ON DELETE CASCADE
      );
      -- The ownership guarantees: one active holder per task; per agent, one active task per slot
      -- (slots run 0..capacity-1, so with the default capacity of 1 an agent holds one task).
      CREATE UNIQUE INDEX assignments_one_holder_per_task ON assignments (task_id) WHERE state = 'active';
      CREATE UNIQUE INDEX assignments_one_task_per_slot ON assignments (project_id, agent_id, slot) WHERE state = 'active';
      CREATE INDEX assignments_active_by_expiry ON assignments (lease_expires_at) WHERE state = 'active';
      CREATE INDEX assignments_by_task ON assignments (task_id);

      CREATE TABLE progress_reports (
        id bigserial PRIMARY KEY,
        assignment_id bigint NOT NULL REFERENCES assignments(id) ON DELETE CASCADE,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL,
        agent_id text NOT NULL,
        status text NOT NULL,
        progress int NOT NULL,
        message text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX progress_reports_task ON progress_reports (task_id, id);

      CREATE TABLE blockers (
        id uuid PRIMARY KEY,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id text NOT NULL,
        description text NOT NULL,
        severity text NOT NULL CHECK (severity IN ('low', 'medium', 'high', 'critical')),
        suggestions jsonb NOT NULL DEFAULT '[]',
        analysis jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        resolved_at timestamptz
      );
      CREATE INDEX blockers_task ON blockers (task_id);

      CREATE TABLE decisions (
        id uuid PRIMARY KEY,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id text NOT NULL,
        decision text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX decisions_task ON decisions (task_id);

      CREATE TABLE artifacts (
        id uuid PRIMARY KEY,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        agent_id text,
        filename text NOT NULL,
        content text NOT NULL,
        artifact_type text NOT NULL,
        description text,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX artifacts_task ON artifacts (task_id);

      CREATE TABLE board_comments (
        id bigserial PRIMARY KEY,
        project_id uuid NOT NULL,
        task_id uuid NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        body text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE INDEX board_comments_task ON board_comments (task_id, id);

      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        project_id uuid NOT NULL,
        aggregate_id text NOT NULL,
        event_type text NOT NULL,
        payload jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
      );
      CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

      CREATE TABLE idempotency_keys (
        project_id uuid NOT NULL,
        agent_id text NOT NULL,
        request_id text NOT NULL,
        tool text NOT NULL,
        response jsonb,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (project_id, agent_id, request_id)
      );
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE IF EXISTS idempotency_keys, outbox, board_comments, artifacts, decisions, blockers,
        progress_reports, assignments, task_dependencies, tasks, agents, api_keys, projects CASCADE;
      DROP SEQUENCE IF EXISTS fencing_token_seq;
    `);
  }
}
