import { z } from 'zod';
import { BOARD_SECRET_ENV } from '../../config/config.schema';
import { agentIdSchema } from '../../common/schemas';
import { TASK_STATUSES } from '../tasks/eligibility';

// A project's board settings, stored in project_boards.config. Secrets are never stored: the
// settings name the environment variables (PM_AGENT_BOARD_*, e.g. from a Kubernetes Secret) that
// hold them, and only those variables can be read.

const envName = z.string().regex(BOARD_SECRET_ENV, 'the name of an environment variable starting with PM_AGENT_BOARD_');
const name = (max = 200) => z.string().trim().min(1).max(max);

const common = {
  /** Column/state name → status, for boards whose names the defaults do not understand. */
  status_map: z.record(name(100), z.enum(TASK_STATUSES)).optional(),
  /** pm-agent agent id → board user (login, username or email) to assign the card to. */
  assignees: z.record(agentIdSchema, name()).optional(),
  sync_interval_seconds: z.number().int().min(5).max(86_400).optional(),
};

export const boardSettingsSchema = z.discriminatedUnion('provider', [
  z.object({ provider: z.literal('builtin') }).strict(),
  z
    .object({
      provider: z.literal('planka'),
      url: z.url({ protocol: /^https?$/ }),
      board_id: z.string().regex(/^\d{1,30}$/, 'a Planka board id'),
      token_env: envName.optional(),
      username_env: envName.optional(),
      password_env: envName.optional(),
      ...common,
    })
    .strict()
    .refine((c) => c.token_env !== undefined || (c.username_env !== undefined && c.password_env !== undefined), {
      message: 'set token_env, or username_env and password_env',
    }),
  z
    .object({
      provider: z.literal('github'),
      api_url: z.url({ protocol: /^https?$/ }).default('https://api.github.com'),
      owner: z.string().regex(/^[A-Za-z0-9-]{1,39}$/),
      repo: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/),
      project_number: z.number().int().min(1),
      owner_type: z.enum(['organization', 'user']).default('organization'),
      status_field: name(100).default('Status'),
      token_env: envName,
      webhook_secret_env: envName.optional(),
      ...common,
    })
    .strict(),
  z
    .object({
      provider: z.literal('linear'),
      api_url: z.url({ protocol: /^https?$/ }).default('https://api.linear.app'),
      team_id: name(100),
      api_key_env: envName,
      webhook_secret_env: envName.optional(),
      ...common,
    })
    .strict(),
]);

export type BoardSettings = z.infer<typeof boardSettingsSchema>;
export type ExternalBoardSettings = Exclude<BoardSettings, { provider: 'builtin' }>;

export const BUILTIN_BOARD: BoardSettings = { provider: 'builtin' };
