import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient, type AgentSocket } from '../support/client';
import { startTestApp, type TestApp } from '../support/app';

// Assumes dist/ is built (`npm test` builds first).
const CLI = resolve(__dirname, '../../dist/cli/pm-agent.js');
const PRIORITIES = ['low', 'medium', 'high', 'urgent'];

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Async on purpose: the service lives in this process, so a sync spawn would starve it. */
function cli(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done) => {
    execFile(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      done({ code, stdout, stderr });
    });
  });
}

describe('pm-agent CLI against the real service', () => {
  let t: TestApp;
  let api: ApiClient;
  let dir: string;
  const sockets: AgentSocket[] = [];

  beforeAll(async () => {
    t = await startTestApp('postgres');
    api = new ApiClient(t.url, t.adminKey);
    dir = mkdtempSync(join(tmpdir(), 'pm-agent-cli-'));
  });
  afterAll(async () => {
    for (const s of sockets) s.close();
    rmSync(dir, { recursive: true, force: true });
    await t?.close();
  });

  const admin = () => ['--url', t.url, '--admin-key', t.adminKey];

  it('project create --json prints exactly one JSON document with id and api_key', async () => {
    const r = await cli(['project', 'create', 'cli project', '--json', ...admin()]);
    expect(r).toMatchObject({ code: 0 });
    const p = JSON.parse(r.stdout);
    expect(p.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof p.api_key).toBe('string');
    expect(await api.listTasks(p.id, p.api_key)).toEqual([]);
    // Human output too, and keys come from the environment.
    const h = await cli(['project', 'create', 'other'], { PM_AGENT_URL: t.url, PM_AGENT_ADMIN_KEY: t.adminKey });
    expect(h.code).toBe(0);
    expect(h.stdout).toMatch(/^id: +\S+\nname: +other\napi_key: +\S+\n$/);
  });

  it.each(['csv', 'json', 'yaml'])('task import of 500 tasks from %s round-trips', async (kind) => {
    const p = await api.createProject(`import ${kind}`);
    const tasks = Array.from({ length: 500 }, (_, i) => ({
      name: `task ${kind} ${i}, "quoted"`,
      priority: PRIORITIES[i % 4],
      labels: i % 3 === 0 ? [] : [`l${i % 5}`, 'shared'],
      description: `row ${i}`,
    }));
    const file = join(dir, `tasks.${kind}`);
    const q = (s: string) => `"${s.replaceAll('"', '""')}"`;
    writeFileSync(
      file,
      kind === 'json'
        ? JSON.stringify(tasks)
        : kind === 'yaml'
          ? toYaml(tasks)
          : ['name,description,priority,labels', ...tasks.map((x) => [q(x.name), x.description, x.priority, x.labels.join(';')].join(','))].join('\n'),
    );
    const r = await cli(['task', 'import', '--project', p.id, file, '--url', t.url, '--api-key', p.api_key, '--json']);
    expect(r.stderr).toContain('imported 500/500');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ total: 500, created: 500, failed: [] });
    const listed = await api.listTasks(p.id);
    const got = listed.map((x) => ({ name: x.name, priority: x.priority, labels: x.labels })).sort((a, b) => a.name.localeCompare(b.name));
    const want = tasks.map((x) => ({ name: x.name, priority: x.priority, labels: x.labels })).sort((a, b) => a.name.localeCompare(b.name));
    expect(got).toEqual(want);
  });

  it('task import reports failed rows with the server code, keeps going and exits 1', async () => {
    const p = await api.createProject('import errors');
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'name,priority\nok one,low\nbad,extreme\nok two,high\n');
    const r = await cli(['task', 'import', '--project', p.id, file, '--url', t.url, '--api-key', p.api_key]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('2/3 created, 1 failed');
    expect(r.stdout).toContain('row 2: VALIDATION_FAILED');
    expect((await api.listTasks(p.id)).map((x) => x.name).sort()).toEqual(['ok one', 'ok two']);
  });

  it('task add, agents list and status match what the service holds', async () => {
    const p = await api.createProject('views');
    const key = ['--url', t.url, '--api-key', p.api_key];
    const empty = await cli(['agents', 'list', '--project', p.id, '--json', ...key]);
    expect(JSON.parse(empty.stdout)).toEqual({ success: true, agents: [], total: 0 });

    const add = await cli(['task', 'add', '--project', p.id, 'Build it', '--priority', 'high', '--labels', 'a,b', '--json', ...key]);
    expect(add.code).toBe(0);
    expect(JSON.parse(add.stdout)).toMatchObject({ name: 'Build it', priority: 'high', labels: ['a', 'b'], status: 'todo' });

    const tok = await cli(['token', 'issue', '--project', p.id, '--agent', 'agent-cli', ...key]);
    expect(tok.code).toBe(0);
    const sock = await api.connect(tok.stdout.trim());
    sockets.push(sock);
    expect(await sock.call('register_agent', { agent_id: 'agent-cli', name: 'Cli', role: 'developer', skills: ['ts'] })).toMatchObject({ success: true });

    const agents = await cli(['agents', 'list', '--project', p.id, '--json', ...key]);
    expect(agents.code).toBe(0);
    const a = JSON.parse(agents.stdout);
    expect(a).toEqual(await sock.call('list_registered_agents', {}));
    expect(a).toMatchObject({ total: 1, agents: [{ id: 'agent-cli', name: 'Cli', connected: true }] });

    const st = await cli(['status', '--project', p.id, '--json', '--admin-key', t.adminKey, '--url', t.url]);
    expect(st.code).toBe(0);
    const s = JSON.parse(st.stdout);
    expect(s).toEqual(await sock.call('get_project_status', {}));
    expect(s.project).toMatchObject({ total_tasks: 1, todo: 1 });
    expect(s.workers).toMatchObject({ total: 1, connected: 1 });

    const human = await cli(['agents', 'list', '--project', p.id, ...key]);
    expect(human.stdout.split('\n')[0]).toMatch(/^ID +NAME +ROLE +STATUS +CONNECTED +CURRENT +COMPLETED$/);
  });

  it('the new endpoints refuse another project\'s key exactly like the tasks endpoint', async () => {
    const p = await api.createProject('mine');
    const other = await api.createProject('theirs');
    const tasks = await api.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, other.api_key);
    for (const view of ['agents', 'status']) {
      const r = await api.request('GET', `/api/v1/projects/${p.id}/${view}`, undefined, other.api_key);
      expect(r).toEqual(tasks);
      expect(r.status).toBe(403);
      expect((await api.request('GET', `/api/v1/projects/${p.id}/${view}`)).status).toBe(401);
    }
  });

  it('a wrong key exits 1 with the server code on stderr and nothing on stdout', async () => {
    const p = await api.createProject('wrong key');
    const other = await api.createProject('other key');
    const r = await cli(['status', '--project', p.id, '--json', '--url', t.url, '--api-key', other.api_key]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/FORBIDDEN/);
    expect(r.stderr).not.toContain(other.api_key);
    const bad = await cli(['agents', 'list', '--project', p.id, '--url', t.url, '--api-key', 'nope-nope-nope']);
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toMatch(/UNAUTHORIZED/);
  });

  it('usage errors exit 2 with a usage line', async () => {
    for (const args of [[], ['frobnicate'], ['status'], ['task', 'add', '--bogus']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('usage: pm-agent');
    }
  });
});
