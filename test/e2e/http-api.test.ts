import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ApiClient } from '../support/client';
import { readSecretFile, STORAGE_MODES, startTestApp, type TestApp } from '../support/app';

// The public HTTP API of issue 2 §3, checked from outside: status codes, bodies, error shapes.

const UNKNOWN_UUID = '00000000-0000-4000-8000-000000000000';

/** Every error body is exactly `{error: string, code: string}`. */
function expectError(res: { status: number; body: any }, status: number, code: string | RegExp): void {
  expect({ status: res.status, body: res.body }).toMatchObject({ status, body: { code: typeof code === 'string' ? code : expect.stringMatching(code) } });
  expect(Object.keys(res.body as object).sort()).toEqual(['code', 'error']);
  expect(typeof res.body.error).toBe('string');
  expect(res.body.error.length).toBeGreaterThan(0);
  expect(typeof res.body.code).toBe('string');
}

const TASK_FIELDS = [
  'id',
  'project_id',
  'name',
  'description',
  'status',
  'priority',
  'labels',
  'dependencies',
  'assigned_to',
  'estimated_hours',
  'actual_hours',
  'due_date',
  'parent_task_id',
  'acceptance_criteria',
  'recovery_info',
  'created_at',
  'updated_at',
];

describe.each(STORAGE_MODES)('HTTP API (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;

  const count = async (table: 'projects' | 'tasks' | 'api_keys' | 'task_dependencies'): Promise<number> =>
    (await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n;

  beforeAll(async () => {
    t = await startTestApp(mode);
    api = new ApiClient(t.url, t.adminKey);
  });
  afterAll(async () => t?.close());

  describe('health', () => {
    it('GET /health/live and /health/ready answer 200', async () => {
      const live = await api.request('GET', '/health/live');
      expect(live.status).toBe(200);
      expect(live.body).toMatchObject({ status: 'ok' });
      const ready = await api.request('GET', '/health/ready');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ status: 'ok' });
    });

    it('an unknown route is a 404 with the error shape', async () => {
      expectError(await api.request('GET', '/api/v1/nothing-here'), 404, 'NOT_FOUND');
    });
  });

  describe('POST /api/v1/projects', () => {
    it('creates a project with the admin key: 201 {id, name, api_key}', async () => {
      const before = await count('projects');
      const r = await api.request('POST', '/api/v1/projects', { name: '  Website  ' }, t.adminKey);
      expect(r.status).toBe(201);
      expect(Object.keys(r.body as object).sort()).toEqual(['api_key', 'api_key_id', 'id', 'name']);
      expect(r.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      expect(r.body.name).toBe('Website');
      expect(typeof r.body.api_key).toBe('string');
      expect(r.body.api_key.length).toBeGreaterThanOrEqual(32);
      expect(await count('projects')).toBe(before + 1);
      // The key is stored hashed: the database never holds it.
      const keys = await t.db.query<{ key_hash: string }>('SELECT key_hash FROM api_keys WHERE project_id = $1', [r.body.id]);
      expect(keys.rows).toHaveLength(1);
      expect(keys.rows[0].key_hash).not.toContain(r.body.api_key);
      // Two projects get two different keys.
      const other = await api.createProject('second');
      expect(other.api_key).not.toBe(r.body.api_key);
      expect(other.id).not.toBe(r.body.id);
    });

    it('without a key → 401 UNAUTHORIZED; a wrong or non-Bearer key → 401', async () => {
      const before = await count('projects');
      expectError(await api.request('POST', '/api/v1/projects', { name: 'x' }), 401, 'UNAUTHORIZED');
      expectError(await api.request('POST', '/api/v1/projects', { name: 'x' }, 'not-the-admin-key-at-all'), 401, 'UNAUTHORIZED');
      const basic = await fetch(`${t.url}/api/v1/projects`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${t.adminKey}` },
        body: JSON.stringify({ name: 'x' }),
      });
      expectError({ status: basic.status, body: await basic.json() }, 401, 'UNAUTHORIZED');
      expect(await count('projects')).toBe(before);
    });

    it("with a project's api key → 403 FORBIDDEN", async () => {
      const p = await api.createProject('owner');
      const before = await count('projects');
      expectError(await api.request('POST', '/api/v1/projects', { name: 'sneaky' }, p.api_key), 403, 'FORBIDDEN');
      expect(await count('projects')).toBe(before);
    });

    it.each([
      ['missing name', {}],
      ['name of the wrong type', { name: 42 }],
      ['name null', { name: null }],
      ['blank name', { name: '   ' }],
      ['name over 200 characters', { name: 'n'.repeat(201) }],
      ['an array body', [{ name: 'x' }]],
    ])('a bad body (%s) → 400 VALIDATION_FAILED and nothing created', async (_label, body) => {
      const before = await count('projects');
      expectError(await api.request('POST', '/api/v1/projects', body, t.adminKey), 400, 'VALIDATION_FAILED');
      expect(await count('projects')).toBe(before);
    });

    it.each([
      ['truncated JSON', '{"name": "x"'],
      ['not JSON at all', 'name=x'],
      ['a bare JSON null', 'null'],
      ['a bare JSON string', '"x"'],
    ])('malformed JSON text (%s) → 400 VALIDATION_FAILED and nothing created', async (_label, text) => {
      const before = await count('projects');
      expectError(await api.request('POST', '/api/v1/projects', text, t.adminKey), 400, 'VALIDATION_FAILED');
      expect(await count('projects')).toBe(before);
    });

    it('a body that is not JSON (text/plain) → 400 VALIDATION_FAILED', async () => {
      const before = await count('projects');
      const res = await fetch(`${t.url}/api/v1/projects`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain', authorization: `Bearer ${t.adminKey}` },
        body: 'name: x',
      });
      expectError({ status: res.status, body: await res.json() }, 400, 'VALIDATION_FAILED');
      expect(await count('projects')).toBe(before);
    });

    it('a body over the size limit → 413 PAYLOAD_TOO_LARGE and nothing created', async () => {
      const before = await count('projects');
      // The default MAX_MESSAGE_BYTES is 1 MiB.
      const huge = { name: 'big', padding: 'x'.repeat(1_200_000) };
      expectError(await api.request('POST', '/api/v1/projects', huge, t.adminKey), 413, 'PAYLOAD_TOO_LARGE');
      expect(await count('projects')).toBe(before);
      // The server is still serving.
      expect((await api.request('GET', '/health/live')).status).toBe(200);
    });
  });

  describe('POST /api/v1/projects/{id}/tasks', () => {
    let project: { id: string; api_key: string };
    let other: { id: string; api_key: string };

    beforeAll(async () => {
      project = await api.createProject('tasks');
      other = await api.createProject('other');
    });

    it('with the admin key → 201, status todo and every field of a task', async () => {
      const r = await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'Minimal' }, t.adminKey);
      expect(r.status).toBe(201);
      for (const f of TASK_FIELDS) expect(r.body, `field ${f}`).toHaveProperty(f);
      expect(r.body).toMatchObject({
        project_id: project.id,
        name: 'Minimal',
        description: '',
        status: 'todo',
        priority: 'medium',
        labels: [],
        dependencies: [],
        assigned_to: null,
        estimated_hours: null,
        parent_task_id: null,
        recovery_info: null,
      });
      expect(r.body.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(Date.parse(r.body.created_at)).not.toBeNaN();
      expect(Date.parse(r.body.updated_at)).not.toBeNaN();
    });

    it("with the project's own api key → 201, all given fields kept", async () => {
      const dep = await api.addTask(project.id, { name: 'Schema' }, project.api_key);
      const parent = await api.addTask(project.id, { name: 'Epic' }, project.api_key);
      const r = await api.request(
        'POST',
        `/api/v1/projects/${project.id}/tasks`,
        {
          name: 'API',
          description: 'REST endpoints',
          priority: 'urgent',
          labels: ['backend', 'api'],
          dependencies: [dep.id],
          estimated_hours: 2.5,
          parent_task_id: parent.id,
        },
        project.api_key,
      );
      expect(r.status).toBe(201);
      for (const f of TASK_FIELDS) expect(r.body, `field ${f}`).toHaveProperty(f);
      expect(r.body).toMatchObject({
        project_id: project.id,
        name: 'API',
        description: 'REST endpoints',
        status: 'todo',
        priority: 'urgent',
        labels: ['backend', 'api'],
        dependencies: [dep.id],
        estimated_hours: 2.5,
        parent_task_id: parent.id,
        assigned_to: null,
      });
    });

    it("with another project's key → 403 FORBIDDEN and nothing created", async () => {
      const before = await count('tasks');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'x' }, other.api_key), 403, 'FORBIDDEN');
      // Even for a project that does not exist, another project's key learns nothing but 403.
      expectError(await api.request('POST', `/api/v1/projects/${UNKNOWN_UUID}/tasks`, { name: 'x' }, other.api_key), 403, 'FORBIDDEN');
      expect(await count('tasks')).toBe(before);
    });

    it('without a key → 401 UNAUTHORIZED', async () => {
      const before = await count('tasks');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'x' }), 401, 'UNAUTHORIZED');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'x' }, 'pmk_bogus'), 401, 'UNAUTHORIZED');
      expect(await count('tasks')).toBe(before);
    });

    it('an unknown project with the admin key → 404', async () => {
      const before = await count('tasks');
      expectError(await api.request('POST', `/api/v1/projects/${UNKNOWN_UUID}/tasks`, { name: 'x' }, t.adminKey), 404, /NOT_FOUND$/);
      expectError(await api.request('POST', '/api/v1/projects/not-a-uuid/tasks', { name: 'x' }, t.adminKey), 404, /NOT_FOUND$/);
      expectError(await api.request('GET', `/api/v1/projects/${UNKNOWN_UUID}/tasks`, undefined, t.adminKey), 404, /NOT_FOUND$/);
      expect(await count('tasks')).toBe(before);
    });

    it.each([
      ['missing name', { priority: 'high' }],
      ['name of the wrong type', { name: 7 }],
      ["priority 'super'", { name: 'x', priority: 'super' }],
      ['labels not an array', { name: 'x', labels: 'backend' }],
      ['labels with a non-string', { name: 'x', labels: ['ok', 3] }],
      ['estimated_hours -1', { name: 'x', estimated_hours: -1 }],
      ['estimated_hours a string', { name: 'x', estimated_hours: 'two' }],
      ['dependencies with a non-uuid', { name: 'x', dependencies: ['not-a-uuid'] }],
      ['dependencies not an array', { name: 'x', dependencies: UNKNOWN_UUID }],
      ['parent_task_id not a uuid', { name: 'x', parent_task_id: 'parent' }],
      ['description of the wrong type', { name: 'x', description: { text: 'x' } }],
      ['name over the limit', { name: 'n'.repeat(501) }],
    ])('invalid fields (%s) → 400 VALIDATION_FAILED and nothing created', async (_label, body) => {
      const before = await count('tasks');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, body, t.adminKey), 400, 'VALIDATION_FAILED');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, body, project.api_key), 400, 'VALIDATION_FAILED');
      expect(await count('tasks')).toBe(before);
    });

    it('malformed JSON text → 400 VALIDATION_FAILED', async () => {
      const before = await count('tasks');
      expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, '{"name":', t.adminKey), 400, 'VALIDATION_FAILED');
      expect(await count('tasks')).toBe(before);
    });

    it('a dependency on a task unknown to this project → 400 and nothing created', async () => {
      const foreign = await api.addTask(other.id, { name: 'theirs' });
      const before = await count('tasks');
      const deps = await count('task_dependencies');
      for (const dependencies of [[UNKNOWN_UUID], [foreign.id]]) {
        expectError(await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'x', dependencies }, t.adminKey), 400, 'INVALID_DEPENDENCY');
      }
      expectError(
        await api.request('POST', `/api/v1/projects/${project.id}/tasks`, { name: 'x', parent_task_id: foreign.id }, t.adminKey),
        400,
        'INVALID_DEPENDENCY',
      );
      expect(await count('tasks')).toBe(before);
      expect(await count('task_dependencies')).toBe(deps);
    });
  });

  describe('GET /api/v1/projects/{id}/tasks', () => {
    it('lists the tasks of that project only, in creation order, with their fields', async () => {
      const p = await api.createProject('listing');
      const q = await api.createProject('elsewhere');
      const a = await api.addTask(p.id, { name: 'A', priority: 'low', labels: ['docs'] });
      const b = await api.addTask(p.id, { name: 'B', dependencies: [a.id] }, p.api_key);
      await api.addTask(q.id, { name: 'not mine' });

      for (const key of [t.adminKey, p.api_key]) {
        const r = await api.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, key);
        expect(r.status).toBe(200);
        expect(Object.keys(r.body as object)).toEqual(['tasks']);
        expect(r.body.tasks).toHaveLength(2);
        expect(r.body.tasks[0]).toMatchObject({
          id: a.id,
          name: 'A',
          status: 'todo',
          priority: 'low',
          labels: ['docs'],
          dependencies: [],
          assigned_to: null,
        });
        expect(r.body.tasks[1]).toMatchObject({ id: b.id, name: 'B', status: 'todo', priority: 'medium', labels: [], dependencies: [a.id], assigned_to: null });
        for (const task of r.body.tasks) for (const f of TASK_FIELDS) expect(task, `field ${f}`).toHaveProperty(f);
      }
      const empty = await api.createProject('empty');
      expect(await api.listTasks(empty.id)).toEqual([]);
    });

    it("another project's key → 403, no key → 401", async () => {
      const p = await api.createProject('private');
      const q = await api.createProject('nosy');
      await api.addTask(p.id, { name: 'secret' });
      expectError(await api.request('GET', `/api/v1/projects/${p.id}/tasks`, undefined, q.api_key), 403, 'FORBIDDEN');
      expectError(await api.request('GET', `/api/v1/projects/${p.id}/tasks`), 401, 'UNAUTHORIZED');
    });
  });

  describe('POST /api/v1/agents/auth', () => {
    let project: { id: string; api_key: string };
    beforeAll(async () => {
      project = await api.createProject('auth');
    });

    it('exchanges a project key for a bearer token bound to the agent: 200 {access_token, token_type, expires_in}', async () => {
      const r = await api.request('POST', '/api/v1/agents/auth', { api_key: project.api_key, agent_id: 'agent-7' });
      expect(r.status).toBe(200);
      expect(Object.keys(r.body as object).sort()).toEqual(['access_token', 'expires_in', 'token_type']);
      expect(r.body.token_type).toBe('Bearer');
      expect(typeof r.body.access_token).toBe('string');
      expect(r.body.access_token.split('.')).toHaveLength(3);
      expect(Number.isInteger(r.body.expires_in)).toBe(true);
      expect(r.body.expires_in).toBeGreaterThan(0);
      const claims = JSON.parse(Buffer.from(r.body.access_token.split('.')[1], 'base64url').toString('utf8'));
      expect(claims.sub).toBe('agent-7');
      expect(JSON.stringify(claims)).toContain(project.id);
      // The token opens a socket acting as that agent of that project.
      const s = await api.connect(r.body.access_token);
      const reg = await s.call('register_agent', { agent_id: 'agent-7', name: 'Seven', role: 'dev' });
      expect(reg).toMatchObject({ success: true, agent_id: 'agent-7' });
      const row = await t.db.query('SELECT 1 FROM agents WHERE project_id = $1 AND id = $2', [project.id, 'agent-7']);
      expect(row.rows).toHaveLength(1);
      s.close();
    });

    it.each([
      ['a well-formed but unknown key', 'pmk_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'],
      ['a garbage key', 'garbage'],
      ['the admin key', 'ADMIN'],
    ])('a wrong key (%s) → 401 INVALID_API_KEY', async (_label, key) => {
      const apiKey = key === 'ADMIN' ? t.adminKey : key;
      expectError(await api.request('POST', '/api/v1/agents/auth', { api_key: apiKey, agent_id: 'agent-1' }), 401, 'INVALID_API_KEY');
    });

    it('a right prefix with a wrong secret → 401 INVALID_API_KEY', async () => {
      const tampered = project.api_key.slice(0, -4) + (project.api_key.endsWith('AAAA') ? 'BBBB' : 'AAAA');
      expectError(await api.request('POST', '/api/v1/agents/auth', { api_key: tampered, agent_id: 'agent-1' }), 401, 'INVALID_API_KEY');
    });

    it.each<[string, Record<string, unknown> | string]>([
      ['missing agent_id', { api_key: 'K' }],
      ['empty agent_id', { api_key: 'K', agent_id: '' }],
      ['agent_id with spaces', { api_key: 'K', agent_id: 'bad agent' }],
      ['agent_id of the wrong type', { api_key: 'K', agent_id: 12 }],
      ['agent_id over 128 characters', { api_key: 'K', agent_id: 'a'.repeat(129) }],
      ['missing api_key', { agent_id: 'agent-1' }],
      ['api_key of the wrong type', { api_key: 5, agent_id: 'agent-1' }],
      ['a bare JSON string', JSON.stringify('agent-1')],
    ])('a bad body (%s) → 400 VALIDATION_FAILED', async (_label, body) => {
      const filled = typeof body === 'object' && body.api_key === 'K' ? { ...body, api_key: project.api_key } : body;
      expectError(await api.request('POST', '/api/v1/agents/auth', filled), 400, 'VALIDATION_FAILED');
    });

    it('malformed JSON text → 400 VALIDATION_FAILED', async () => {
      expectError(await api.request('POST', '/api/v1/agents/auth', `{"api_key": "${project.api_key}", `), 400, 'VALIDATION_FAILED');
    });
  });
});

describe('admin key generated on first start (embedded storage)', () => {
  let t: TestApp | undefined;
  let dataDir: string;
  let logged = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'pm-agent-keygen-'));
    const capture = (chunk: unknown): boolean => {
      logged += typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk);
      return true;
    };
    const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture);
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture);
    try {
      t = await startTestApp('embedded', { PM_AGENT_ADMIN_KEY: '', PM_AGENT_DATA_DIR: dataDir, LOG_LEVEL: 'verbose' });
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
  afterAll(async () => {
    await t?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('stores the key in the data dir with mode 0600, logs where (not what), and accepts it as the admin key', async () => {
    const path = join(dataDir, 'admin.key');
    const mode = statSync(path).mode & 0o777;
    expect(mode.toString(8)).toBe('600');
    const key = readSecretFile(dataDir, 'admin.key');
    expect(key.length).toBeGreaterThanOrEqual(16);

    // The log was captured and says where the key is, never the key itself.
    expect(logged).toContain('listening on');
    expect(logged).toContain(path);
    expect(logged).not.toContain(key);

    const api = new ApiClient(t!.url, key);
    const created = await api.request('POST', '/api/v1/projects', { name: 'with generated key' }, key);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ name: 'with generated key' });
    // The key startTestApp would have used is not an admin key here.
    expectError(await api.request('POST', '/api/v1/projects', { name: 'x' }, t!.adminKey), 401, 'UNAUTHORIZED');
  });
});
