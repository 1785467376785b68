import type { DashboardSnapshot } from './dashboard.service';

/** What the read-only /dashboard namespace pushes to a viewer. */
export interface DashboardPushes {
  snapshot: DashboardSnapshot;
  projects: { projects: { id: string; name: string }[] };
  session_ended: { code: string; error: string };
}

/**
 * One line per payload field, for the generated protocol catalogue; the mapped type makes a new
 * push or top-level field a compile error here.
 */
export const DASHBOARD_EVENT_DOCS: {
  [E in keyof DashboardPushes]: { description: string; fields: { [K in keyof DashboardPushes[E]]-?: { type: string; description: string } } };
} = {
  snapshot: {
    description: 'The whole view of the project: on connect, then whenever it changes (checked every `DASHBOARD_REFRESH_MS`).',
    fields: {
      project: { type: '{id, name}', description: 'the project watched' },
      server_time: { type: 'string (ISO 8601 date-time)', description: 'server clock at the snapshot; lease countdowns run against it' },
      columns: { type: '[{status, count, cards}]', description: 'tasks by status (`todo`, `in_progress`, `blocked`, `done`), at most 500 cards each, `count` is the true total' },
      agents: { type: '{total, connected, list}', description: 'agents with status (`working`, `blocked`, `idle`, `offline`), connection, held tasks and lease expiry' },
      blockers: { type: '[{id, task_id, task_name, agent_id, severity, description, suggestions, analysis, created_at}]', description: 'open blockers with their analysis' },
      throughput: { type: '{last_hour, last_24h, per_hour, done_total, tasks_total}', description: 'tasks completed in the last hour, the last 24 h, per hour (24 buckets), and totals' },
    },
  },
  projects: {
    description: 'Sent instead of `snapshot` to the admin key without a `project_id`: the projects to pick from.',
    fields: { projects: { type: '[{id, name}]', description: 'every project' } },
  },
  session_ended: {
    description: "The key no longer grants the view (revoked); the server closes the socket next.",
    fields: {
      code: { type: 'string', description: '`UNAUTHORIZED`, `FORBIDDEN` or `PROJECT_NOT_FOUND`' },
      error: { type: 'string', description: 'why, in words' },
    },
  },
};
