import { randomUUID } from 'node:crypto';
import { Pool, type PoolClient } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EmbeddedPostgres } from '../../src/infra/database/embedded-postgres';
import { MIGRATIONS, runMigrations } from '../../src/infra/database/migrate';
import { claimSqlEligible, ineligibility, type EligibilityView, type TaskStatus } from '../../src/modules/tasks/eligibility';
import { rankTasks, type Priority } from '../../src/modules/tasks/scoring';
import { CLAIM_CLASS_LIMIT, claimNextTask } from '../../src/modules/tasks/task.queries';
import { createTestDatabase } from '../support/pg';

// One contract, two backends: whatever the app relies on from Postgres must hold on PGlite too.

const POOL_MAX = 10;
const MIGRATION_NAMES = MIGRATIONS.map((M) => new M().name);

/** Each backend's start() gives a fresh, empty database. */
type Backend = { name: string; start(): Promise<{ url: string; stop: () => Promise<void> }> };

const BACKENDS: Backend[] = [
  { name: 'pglite', start: async () => EmbeddedPostgres.start({ maxConnections: POOL_MAX + 6 }).then((e) => ({ url: e.url, stop: () => e.stop() })) },
  { name: 'postgres', start: async () => createTestDatabase().then((d) => ({ url: d.url, stop: d.drop })) },
];

type Q = Pool | PoolClient;
const refused = (p: Promise<unknown>, code: string) => expect(p).rejects.toMatchObject({ code });

async function addProject(q: Q, id = randomUUID()): Promise<string> {
  await q.query('INSERT INTO projects (id, name) VALUES ($1, $2)', [id, `p-${id.slice(0, 8)}`]);
  return id;
}

async function addAgent(q: Q, projectId: string, id: string): Promise<void> {
  await q.query('INSERT INTO agents (project_id, id, name, role) VALUES ($1, $2, $2, $3)', [projectId, id, 'dev']);
}

type NewTask = Partial<{ status: TaskStatus; priority: Priority; labels: string[]; parent: string | null; createdAt: Date }>;

async function addTask(q: Q, projectId: string, t: NewTask = {}): Promise<{ id: string; seq: number }> {
  const id = randomUUID();
  const r = await q.query<{ seq: string }>(
    `INSERT INTO tasks (id, project_id, name, status, priority, labels, parent_task_id, created_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq`,
    [id, projectId, `task ${id.slice(0, 8)}`, t.status ?? 'todo', t.priority ?? 'medium', t.labels ?? [], t.parent ?? null, t.createdAt ?? new Date()],
  );
  return { id, seq: Number(r.rows[0].seq) };
}

async function assign(q: Q, a: { projectId: string; taskId: string; agentId: string; slot?: number; state?: string; progress?: number }) {
  await q.query(
    `INSERT INTO assignments (project_id, task_id, agent_id, slot, state, progress, fencing_token, lease_expires_at, lease_grace_ms)
     VALUES ($1, $2, $3, $4, $5, $6, nextval('fencing_token_seq'), now() + interval '3 minutes', 60000)`,
    [a.projectId, a.taskId, a.agentId, a.slot ?? 0, a.state ?? 'active', a.progress ?? 0],
  );
}

/** BEGIN, fn, then COMMIT (or ROLLBACK when asked or on error) on one pooled connection, like Db.tx. */
async function inTx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>, end: 'COMMIT' | 'ROLLBACK' = 'COMMIT'): Promise<T> {
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    const result = await fn(c);
    await c.query(end);
    return result;
  } catch (err) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    c.release();
  }
}

/** mulberry32: a small seeded PRNG, so a failing board can be reproduced. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    let t = (s = (s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const LABELS = ['api', 'db', 'ui', 'ops', 'test', 'docs'];
const PRIORITIES: Priority[] = ['low', 'medium', 'high', 'urgent'];
const STATUSES: TaskStatus[] = ['todo', 'todo', 'todo', 'in_progress', 'done', 'done', 'blocked'];

describe.each(BACKENDS)('storage contract ($name)', (backend) => {
  let db: { url: string; stop: () => Promise<void> };
  let pool: Pool;
  let firstRun: string[];

  beforeAll(async () => {
    db = await backend.start();
    firstRun = await runMigrations(db.url);
    pool = new Pool({ connectionString: db.url, max: POOL_MAX });
  });
  afterAll(async () => {
    await pool?.end();
    await db?.stop();
  });

  it('applies the migrations once; a second run is a no-op', async () => {
    expect(firstRun).toEqual(MIGRATION_NAMES);
    expect(await runMigrations(db.url)).toEqual([]);
    const m = await pool.query<{ name: string }>('SELECT name FROM schema_migrations ORDER BY id');
    expect(m.rows.map((r) => r.name)).toEqual(MIGRATION_NAMES);
    const idx = await pool.query<{ indexname: string }>(`SELECT indexname FROM pg_indexes WHERE tablename = 'assignments' ORDER BY indexname`);
    expect(idx.rows.map((r) => r.indexname)).toEqual(expect.arrayContaining(['assignments_one_holder_per_task', 'assignments_one_task_per_slot']));
  });

  it('allows one active assignment per task; a new one once the first has expired', async () => {
    const projectId = await addProject(pool);
    await addAgent(pool, projectId, 'a1');
    await addAgent(pool, projectId, 'a2');
    const task = await addTask(pool, projectId);
    await assign(pool, { projectId, taskId: task.id, agentId: 'a1' });
    await refused(assign(pool, { projectId, taskId: task.id, agentId: 'a2' }), '23505');

    await pool.query(`UPDATE assignments SET state = 'expired' WHERE task_id = $1`, [task.id]);
    await assign(pool, { projectId, taskId: task.id, agentId: 'a2' });
    const r = await pool.query('SELECT agent_id, state, fencing_token FROM assignments WHERE task_id = $1 ORDER BY id', [task.id]);
    expect(r.rows.map((x) => `${x.agent_id}:${x.state}`)).toEqual(['a1:expired', 'a2:active']);
    expect(BigInt(r.rows[1].fencing_token)).toBeGreaterThan(BigInt(r.rows[0].fencing_token));
    // Re-activating the old one would make two holders again.
    await refused(pool.query(`UPDATE assignments SET state = 'active' WHERE task_id = $1 AND agent_id = 'a1'`, [task.id]), '23505');
  });

  it('allows one active task per agent slot', async () => {
    const projectId = await addProject(pool);
    await addAgent(pool, projectId, 'a1');
    const [t1, t2, t3] = [await addTask(pool, projectId), await addTask(pool, projectId), await addTask(pool, projectId)];
    await assign(pool, { projectId, taskId: t1.id, agentId: 'a1', slot: 0 });
    await refused(assign(pool, { projectId, taskId: t2.id, agentId: 'a1', slot: 0 }), '23505');
    await assign(pool, { projectId, taskId: t2.id, agentId: 'a1', slot: 1 });
    await assign(pool, { projectId, taskId: t3.id, agentId: 'a1', slot: 0, state: 'completed' });
    const other = await addProject(pool);
    await addAgent(pool, other, 'a1');
    const t4 = await addTask(pool, other);
    await assign(pool, { projectId: other, taskId: t4.id, agentId: 'a1', slot: 0 }); // same agent id, other project
  });

  it('refuses bad status, priority, progress, state and slot (CHECK constraints)', async () => {
    const projectId = await addProject(pool);
    await addAgent(pool, projectId, 'a1');
    await refused(addTask(pool, projectId, { status: 'doing' as TaskStatus }), '23514');
    await refused(addTask(pool, projectId, { priority: 'critical' as Priority }), '23514');
    const task = await addTask(pool, projectId);
    await refused(pool.query(`UPDATE tasks SET status = 'finished' WHERE id = $1`, [task.id]), '23514');
    for (const progress of [-1, 101]) await refused(assign(pool, { projectId, taskId: task.id, agentId: 'a1', progress }), '23514');
    await refused(assign(pool, { projectId, taskId: task.id, agentId: 'a1', state: 'paused' }), '23514');
    await refused(assign(pool, { projectId, taskId: task.id, agentId: 'a1', slot: -1 }), '23514');
    await refused(pool.query('INSERT INTO task_dependencies (task_id, depends_on) VALUES ($1, $1)', [task.id]), '23514');
    await assign(pool, { projectId, taskId: task.id, agentId: 'a1', progress: 100 });
    await refused(pool.query('UPDATE assignments SET progress = 150 WHERE task_id = $1', [task.id]), '23514');
  });

  it('gives exact score ties to the oldest task, in SQL as in rankTasks', async () => {
    const five = ['a', 'b', 'c', 'd', 'e'];
    const pairs: [string[], NewTask, NewTask][] = [
      [['a'], { labels: five, priority: 'medium' }, { labels: [], priority: 'high' }],
      [['a', 'b'], { labels: five, priority: 'low' }, { labels: [], priority: 'high' }],
      [['a', 'b', 'c'], { labels: ['a'], priority: 'low' }, { labels: ['a', 'b', 'c', 'x', 'y'], priority: 'high' }],
      [['a', 'b'], { labels: ['a', 'b', 'y', 'z', 'w'], priority: 'medium' }, { labels: ['a', 'x', 'y', 'z', 'w'], priority: 'high' }],
    ];
    for (const [skills, older, newer] of pairs) {
      const projectId = await addProject(pool);
      const o = { ...older, createdAt: new Date('2025-01-01T00:00:00Z') };
      const n = { ...newer, createdAt: new Date('2025-02-01T00:00:00Z') };
      const newRow = await addTask(pool, projectId, n); // inserted first: seq favours it, only age decides
      const oldRow = await addTask(pool, projectId, o);
      const ranked = rankTasks(skills, [
        { id: newRow.id, labels: n.labels!, priority: n.priority!, createdAt: n.createdAt, seq: newRow.seq },
        { id: oldRow.id, labels: o.labels!, priority: o.priority!, createdAt: o.createdAt, seq: oldRow.seq },
      ]);
      expect(ranked[0].id, `rankTasks, skills ${skills.join(',')}`).toBe(oldRow.id);
      expect((await claimNextTask(pool, projectId, skills))?.id, `claimNextTask, skills ${skills.join(',')}`).toBe(oldRow.id);
    }
  });

  it('claimSqlEligible / claimNextTask agree with isEligible / rankTasks on random boards', async () => {
    const rnd = prng(20250601);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
    const someOf = <T>(xs: readonly T[], max: number): T[] => [...xs].sort(() => rnd() - 0.5).slice(0, Math.floor(rnd() * (max + 1)));
    const randomCase = (s: string) => (rnd() < 0.3 ? s.toUpperCase() : s);
    const base = Date.parse('2025-01-01T00:00:00Z');
    const seen = new Map<string, number>(); // how often each (in)eligibility reason came up

    for (let board = 0; board < 30; board++) {
      const n = 20 + Math.floor(rnd() * 11);
      const tasks: (NewTask & { id: string; seq: number; deps: string[]; held: boolean })[] = [];
      let slot = 0;
      // One transaction per board: far fewer commits (fsyncs) than row by row.
      const projectId = randomUUID();
      await inTx(pool, async (w) => {
        await addProject(w, projectId);
        await addAgent(w, projectId, 'holder');
        for (let i = 0; i < n; i++) {
          const spec = {
            status: pick(STATUSES),
            priority: pick(PRIORITIES),
            labels: someOf(LABELS, 5).map(randomCase),
            parent: i > 2 && rnd() < 0.2 ? pick(tasks).id : null,
            // Few distinct instants, so ties on age (broken by seq) are common.
            createdAt: new Date(base + Math.floor(rnd() * 6) * 1000),
          };
          const row = await addTask(w, projectId, spec);
          tasks.push({ ...spec, ...row, deps: i > 0 && rnd() < 0.4 ? [...new Set(someOf(tasks, 3).map((t) => t.id))] : [], held: false });
        }
        for (const t of tasks) {
          for (const dep of t.deps) await w.query('INSERT INTO task_dependencies (task_id, depends_on) VALUES ($1, $2)', [t.id, dep]);
          if (rnd() < 0.15) await assign(w, { projectId, taskId: t.id, agentId: 'holder', slot: slot++, state: pick(['expired', 'completed']) });
          if (rnd() < (t.status === 'todo' ? 0.2 : 0.3)) {
            await assign(w, { projectId, taskId: t.id, agentId: 'holder', slot: slot++ });
            t.held = true;
          }
        }
      });

      const statusOf = new Map(tasks.map((t) => [t.id, t.status!]));
      const view = (t: (typeof tasks)[number]): EligibilityView => ({
        ...{ id: t.id, projectId, status: t.status!, held: t.held },
        dependencyStatuses: t.deps.map((d) => statusOf.get(d)!),
        subtaskStatuses: tasks.filter((c) => c.parent === t.id).map((c) => c.status!),
      });
      const reasons = tasks.map((t) => ineligibility(view(t), projectId) ?? 'eligible');
      for (const r of reasons) seen.set(r, (seen.get(r) ?? 0) + 1);
      const eligible = tasks.filter((_, i) => reasons[i] === 'eligible');
      const sql = await pool.query<{ id: string }>(`SELECT t.id FROM tasks t WHERE ${claimSqlEligible(1)}`, [projectId]);
      expect(sql.rows.map((r) => r.id).sort(), `board ${board}: eligible set`).toEqual(eligible.map((t) => t.id).sort());

      const rankable = eligible.map((t) => ({ id: t.id, labels: t.labels!, priority: t.priority!, createdAt: t.createdAt!, seq: t.seq }));
      const skillSets = [[], someOf(LABELS, 3).map(randomCase), someOf(LABELS, 6).map(randomCase)];
      for (const skills of skillSets) {
        const claimed = await claimNextTask(pool, projectId, skills);
        expect(claimed?.id ?? null, `board ${board}, skills ${skills.join(',')}`).toBe(rankTasks(skills, rankable)[0]?.id ?? null);
      }

      // The whole order: claim, hold, claim again, inside a transaction that is rolled back.
      const skills = skillSets[1];
      const order: string[] = [];
      const walk = async (c: PoolClient) => {
        for (let next = await claimNextTask(c, projectId, skills); next; next = await claimNextTask(c, projectId, skills)) {
          order.push(next.id);
          await assign(c, { projectId, taskId: next.id, agentId: 'holder', slot: slot++ });
        }
      };
      await inTx(pool, walk, 'ROLLBACK');
      expect(order, `board ${board}: claim order for ${skills.join(',')}`).toEqual(rankTasks(skills, rankable).map((t) => t.id));
    }
    // The boards exercised every rule (other_project is covered by every board sharing the database).
    for (const r of ['eligible', 'not_todo', 'held', 'dependencies_open', 'subtasks_open']) expect(seen.get(r) ?? 0, r).toBeGreaterThan(20);
  });

  it('a board with more (priority, labels) classes than the claim lists in one skip scan: the full-scan claim keeps the same order', async () => {
    const projectId = await addProject(pool);
    await addAgent(pool, projectId, 'holder');
    const base = Date.parse('2025-03-01T00:00:00Z');
    const rankable: Parameters<typeof rankTasks>[1][number][] = [];
    // Every task its own class: CLAIM_CLASS_LIMIT + 6 distinct label sets over two priorities.
    for (let i = 0; i < CLAIM_CLASS_LIMIT + 6; i++) {
      const spec = { priority: PRIORITIES[i % 2], labels: [`l${i}`, ...(i % 3 === 0 ? ['api'] : []), ...(i % 5 === 0 ? ['db'] : [])], createdAt: new Date(base + (i % 7) * 1000) };
      const row = await addTask(pool, projectId, spec);
      rankable.push({ id: row.id, labels: spec.labels, priority: spec.priority, createdAt: spec.createdAt, seq: row.seq });
    }
    for (const skills of [[], ['api'], ['DB', 'api', 'l4']]) {
      const order: string[] = [];
      await inTx(
        pool,
        async (c) => {
          for (let next = await claimNextTask(c, projectId, skills); next; next = await claimNextTask(c, projectId, skills)) {
            order.push(next.id);
            await assign(c, { projectId, taskId: next.id, agentId: 'holder', slot: order.length });
          }
        },
        'ROLLBACK',
      );
      expect(order, `skills ${skills.join(',')}`).toEqual(rankTasks(skills, rankable).map((t) => t.id));
    }
  });

  it('50 concurrent claims over 20 eligible tasks: 20 distinct winners, 30 find nothing', async () => {
    const projectId = await addProject(pool);
    const agents = Array.from({ length: 50 }, (_, i) => `agent-${i}`);
    for (const a of agents) await addAgent(pool, projectId, a);
    const free: string[] = [];
    for (let i = 0; i < 20; i++) free.push((await addTask(pool, projectId, { priority: PRIORITIES[i % 4], labels: ['api'] })).id);
    await addTask(pool, projectId, { status: 'done' });
    const gated = await addTask(pool, projectId, { priority: 'urgent' });
    await pool.query('INSERT INTO task_dependencies (task_id, depends_on) VALUES ($1, $2)', [gated.id, free[0]]);

    // What AssignmentService.claim does inside Db.tx, retried on a lost race like Db.tx.
    const claim = async (agentId: string): Promise<string | null> => {
      for (let attempt = 1; ; attempt++) {
        try {
          return await inTx(pool, async (c) => {
            const task = await claimNextTask(c, projectId, ['api']);
            if (!task) return null;
            await assign(c, { projectId, taskId: task.id, agentId });
            await c.query(`UPDATE tasks SET status = 'in_progress', assigned_to = $2, updated_at = now() WHERE id = $1`, [task.id, agentId]);
            return task.id;
          });
        } catch (err) {
          if (!['23505', '40001', '40P01'].includes((err as { code?: string }).code ?? '') || attempt >= 10) throw err;
        }
      }
    };

    const results = await Promise.all(agents.map(claim));
    const won = results.filter((r): r is string => r !== null);
    expect(won).toHaveLength(20);
    expect(new Set(won).size).toBe(20);
    expect([...won].sort()).toEqual([...free].sort());
    expect(results.filter((r) => r === null)).toHaveLength(30);
    // Every winner holds exactly the task it was told, and the task says so.
    const held = await pool.query(
      `SELECT a.task_id, a.agent_id, t.status, t.assigned_to FROM assignments a JOIN tasks t ON t.id = a.task_id
       WHERE a.project_id = $1 AND a.state = 'active'`,
      [projectId],
    );
    expect(held.rows).toHaveLength(20);
    const winnerOf = new Map(agents.map((agent, i) => [results[i], agent]));
    for (const r of held.rows) expect(r).toMatchObject({ status: 'in_progress', assigned_to: winnerOf.get(r.task_id), agent_id: winnerOf.get(r.task_id) });
    expect(await claimNextTask(pool, projectId, ['api'])).toBeNull();
  });
});

// The advisory lock serialises migrating replicas on a real server. (PGlite is one backend
// session behind its socket server, so the lock cannot exclude there; embedded mode migrates once.)
describe('runMigrations (real Postgres, concurrent)', () => {
  it('three concurrent runMigrations on a fresh database: no error, applied once', async () => {
    const fresh = await createTestDatabase();
    try {
      const settled = await Promise.allSettled([1, 2, 3].map(() => runMigrations(fresh.url)));
      expect(settled.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
      const runs = settled.map((r) => (r.status === 'fulfilled' ? r.value : null));
      expect(runs.filter((r) => r?.length)).toEqual([MIGRATION_NAMES]);
      expect(await runMigrations(fresh.url)).toEqual([]);
      const p = new Pool({ connectionString: fresh.url, max: 1 });
      const m = await p.query('SELECT name FROM schema_migrations').finally(() => p.end());
      expect(m.rows.map((r) => r.name)).toEqual(MIGRATION_NAMES);
    } finally {
      await fresh.drop();
    }
  });
});
