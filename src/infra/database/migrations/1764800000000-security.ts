import type { MigrationInterface, QueryRunner } from 'typeorm';

// Named, revocable API keys and an append-only trail of admin actions. Audit rows carry no
// foreign key: they must outlive whatever they describe.
export class Security1764800000000 implements MigrationInterface {
  name = 'Security1764800000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`
      ALTER TABLE api_keys ADD COLUMN label text NOT NULL DEFAULT '';
      CREATE INDEX api_keys_revoked ON api_keys (revoked_at) WHERE revoked_at IS NOT NULL;

      CREATE TABLE audit_log (
        id bigserial PRIMARY KEY,
        at timestamptz NOT NULL DEFAULT now(),
        actor text NOT NULL,
        action text NOT NULL,
        project_id uuid,
        target text,
        details jsonb NOT NULL DEFAULT '{}',
        source_ip text
      );
      CREATE INDEX audit_log_project ON audit_log (project_id, at);
      CREATE INDEX audit_log_at ON audit_log (at);
    `);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`
      DROP TABLE audit_log;
      DROP INDEX api_keys_revoked;
      ALTER TABLE api_keys DROP COLUMN label;
    `);
  }
}
