#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { need, parseCli, USAGE, UsageError, type Cli } from './args';
import { Api, ApiError } from './http';
import { formatOf, ImportParseError, parseImport } from './import-file';
import { progressReporter, runImport } from './import-run';
import { lines, table } from './table';

/** What a command hands back: the --json document, its human rendering, and whether it failed. */
interface Outcome {
  data: unknown;
  human: string;
  failed?: boolean;
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

async function run(cli: Cli): Promise<Outcome | null> {
  const api = new Api(cli.url);
  const [cmd, sub, ...rest] = cli.command;
  const key = cli.apiKey ?? cli.adminKey; // project-scoped calls accept either
  const project = () => encodeURIComponent(need(cli.project, '--project <id>'));
  switch (`${cmd ?? ''} ${sub ?? ''}`.trim()) {
    case 'serve':
      // Both entry points run themselves on load; requiring them reuses them as-is.
      await import('../main');
      return null;
    case 'migrate':
      await import('./migrate');
      return null;
    case 'project create': {
      const name = need(rest.join(' ') || undefined, '<name>');
      const p = await api.request<Json>('POST', '/api/v1/projects', cli.adminKey, { name });
      // The project key is shown this once only; the service stores a hash.
      return { data: p, human: lines([['id', p.id], ['name', p.name ?? name], ['api_key', p.api_key]]) };
    }
    case 'task add': {
      const name = need(rest.join(' ') || undefined, '<name>');
      const body: Json = { name };
      if (cli.priority !== undefined) body.priority = cli.priority;
      if (cli.description !== undefined) body.description = cli.description;
      if (cli.labels !== undefined) body.labels = cli.labels.split(',').map((l) => l.trim()).filter((l) => l !== '');
      const t = await api.request<Json>('POST', `/api/v1/projects/${project()}/tasks`, key, body);
      return { data: t, human: lines([['id', t.id], ['name', t.name], ['priority', t.priority], ['labels', (t.labels as string[]).join(',')], ['status', t.status]]) };
    }
    case 'task import': {
      const id = project();
      const file = need(rest[0], '<file>');
      const rows = await parseImport(readFileSync(file, 'utf8'), formatOf(file));
      const s = await runImport(api, key, decodeURIComponent(id), rows, progressReporter(process.stderr));
      const failures = s.failed.map((f) => `row ${f.row}: ${f.code} ${f.error}`);
      const human = [`${s.created}/${s.total} created, ${s.failed.length} failed`, ...failures].join('\n');
      return { data: s, human, failed: s.failed.length > 0 };
    }
    case 'agents list': {
      const r = await api.request<Json>('GET', `/api/v1/projects/${project()}/agents`, key);
      const rows = (r.agents as Json[]).map((a): unknown[] => [a.id, a.name, a.role, a.status, a.connected ? 'yes' : 'no', a.current_tasks, a.total_completed]);
      return { data: r, human: rows.length === 0 ? 'no agents registered' : table(['ID', 'NAME', 'ROLE', 'STATUS', 'CONNECTED', 'CURRENT', 'COMPLETED'], rows) };
    }
    case 'status': {
      const r = await api.request<Json>('GET', `/api/v1/projects/${project()}/status`, key);
      const p = r.project as Json;
      const w = r.workers as Json;
      return {
        data: r,
        human: lines([
          ['tasks', `${p.total_tasks} total, ${p.todo} todo, ${p.in_progress} in progress, ${p.blocked} blocked, ${p.completed} done (${p.completion_percentage}%)`],
          ['workers', `${w.total} total, ${w.connected} connected, ${w.active} active, ${w.available} available`],
          ['provider', r.provider],
        ]),
      };
    }
    case 'token issue': {
      const agentId = need(cli.agent, '--agent <agent_id>');
      need(cli.project, '--project <id>'); // the key decides the project; the flag guards against mix-ups
      const apiKey = need(cli.apiKey, '--api-key (or PM_AGENT_API_KEY)');
      const r = await api.request<Json>('POST', '/api/v1/agents/auth', undefined, { api_key: apiKey, agent_id: agentId });
      return { data: r, human: String(r.access_token) };
    }
    case 'mcp': {
      const apiKey = need(cli.apiKey, '--api-key (or PM_AGENT_API_KEY)');
      const agentId = need(cli.agentId ?? cli.agent, '--agent-id (or PM_AGENT_AGENT_ID)');
      // Loaded on demand: only this command needs the built SDK (packages/client/dist).
      const { runMcpStdio } = await import('./mcp-stdio');
      await runMcpStdio({ url: cli.url, apiKey, agentId });
      return null;
    }
    default:
      throw new UsageError(cmd ? `unknown command: ${cli.command.slice(0, 2).join(' ')}` : 'missing command');
  }
}

async function main(): Promise<number> {
  let cli: Cli | undefined;
  try {
    cli = parseCli(process.argv.slice(2), process.env);
    const out = await run(cli);
    if (out === null) return -1; // long-running or self-exiting command
    process.stdout.write(`${cli.json ? JSON.stringify(out.data) : out.human}\n`);
    return out.failed ? 1 : 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`pm-agent: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof ApiError) process.stderr.write(`pm-agent: ${err.code}: ${err.message}\n`);
    else if (err instanceof ImportParseError) process.stderr.write(`pm-agent: PARSE_ERROR: ${err.message}\n`);
    else process.stderr.write(`pm-agent: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

void main().then((code) => {
  if (code >= 0) process.exitCode = code;
});
