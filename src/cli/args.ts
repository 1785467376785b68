import { parseArgs } from 'node:util';

/** Thrown for bad command lines; the entry point prints the usage line and exits 2. */
export class UsageError extends Error {}

export const USAGE = `usage: pm-agent <command> [options]
  serve | migrate
  project create <name>
  task add --project <id> <name> [--priority p] [--labels a,b] [--description d]
  task import --project <id> <file.json|file.yaml|file.csv>
  agents list --project <id>
  status --project <id>
  token issue --project <id> --agent <agent_id>
  mcp --api-key <key> --agent-id <agent_id>   (MCP server on stdio for one agent)
common: --url <url> --admin-key <key> --api-key <key> --json
env: PM_AGENT_URL PM_AGENT_ADMIN_KEY PM_AGENT_API_KEY PM_AGENT_AGENT_ID`;

export interface Cli {
  command: string[];
  url: string;
  adminKey?: string;
  apiKey?: string;
  json: boolean;
  project?: string;
  agent?: string;
  /** `mcp`: the agent the bridge acts for (--agent-id or PM_AGENT_AGENT_ID). */
  agentId?: string;
  priority?: string;
  labels?: string;
  description?: string;
}

export function parseCli(argv: string[], env: NodeJS.ProcessEnv): Cli {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        'admin-key': { type: 'string' },
        'api-key': { type: 'string' },
        json: { type: 'boolean', default: false },
        project: { type: 'string' },
        agent: { type: 'string' },
        'agent-id': { type: 'string' },
        priority: { type: 'string' },
        labels: { type: 'string' },
        description: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  return {
    command: parsed.positionals,
    url: (v.url ?? env.PM_AGENT_URL ?? 'http://127.0.0.1:3100').replace(/\/+$/, ''),
    adminKey: v['admin-key'] ?? env.PM_AGENT_ADMIN_KEY,
    apiKey: v['api-key'] ?? env.PM_AGENT_API_KEY,
    json: v.json ?? false,
    project: v.project,
    agent: v.agent,
    agentId: v['agent-id'] ?? env.PM_AGENT_AGENT_ID,
    priority: v.priority,
    labels: v.labels,
    description: v.description,
  };
}

export function need<T>(value: T | undefined, what: string): T {
  if (value === undefined || value === '') throw new UsageError(`missing ${what}`);
  return value;
}
