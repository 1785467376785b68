// Baseline: pg-boss on the same Postgres as pm-agent. M jobs are enqueued, then W concurrent
// fetchers (like W agents) each claim one job at a time with boss.fetch (batch size 1) and mark
// it done with boss.complete, until the queue is empty. The fetchers are spread over P load
// processes, each with its own pg-boss instance and connection pool, as pm-agent's claims are
// spread over its replicas. Measures jobs/s end to end (first fetch to last completion), fetch
// and complete latency, and counts duplicates (a job handed to two fetchers) and refused
// completions; Postgres is asked afterwards how many jobs ended completed. Jobs carry the priority
// mix of pm-agent's benchmark tasks, so pg-boss orders by priority as pm-agent does.
//
//   npx tsx bench/baseline-pgboss.ts
//
// Environment (defaults in brackets; names and defaults those of pm-agent's claim-storm):
//   BENCH_TASKS         jobs enqueued, M                                  [20000]
//   BENCH_AGENTS        concurrent fetchers in all, W (one per agent)     [1000]
//   BENCH_REPLICAS      load processes the fetchers are spread on, one per pm-agent replica [3]
//   BENCH_POOL_MAX      pg-boss pool size per load process (pm-agent: DATABASE_POOL_MAX)    [10]
//   BENCH_JOB_DATA      task | answer: job data is the task as pm-agent's benchmarks seed it (~90 B),
//                       or a whole request_next_task answer (~1.2 KB)                   [task]
//   BENCH_ANSWER_FILE   with BENCH_JOB_DATA=answer: a captured answer (JSON) instead of the built-in one
//   DATABASE_URL        server to create the fresh database on    [postgres://postgres@127.0.0.1:5432/test]
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { Client } from 'pg';
import PgBoss from 'pg-boss';
import {
  envNum,
  envStr,
  forkRole,
  fromParent,
  jsonBytes,
  machineCpu,
  nextMessage,
  nowMs,
  processCpu,
  reap,
  runFetchers,
  benchTask,
  jobData,
  send,
  shares,
  sleep,
  summarizeJobRun,
  type FetcherReport,
  type Priority,
  type QueueAdapter,
} from './lib/baseline-jobs';
import { machine, report, round, versions, type BenchResult } from './lib/result';
import type { ChildProcess } from 'node:child_process';

const QUEUE = 'bench-claims';
const JOBS = envNum('BENCH_TASKS', 20_000);
const WORKERS = envNum('BENCH_AGENTS', 1000);
const PROCS = Math.max(1, Math.min(envNum('BENCH_REPLICAS', 3), WORKERS));
const POOL = envNum('BENCH_POOL_MAX', 10);
const ADMIN_URL = envStr('DATABASE_URL', 'postgres://postgres@127.0.0.1:5432/test');

interface Go {
  go: true;
  startAt: number;
}

function bossOptions(url: string, migrate: boolean): PgBoss.ConstructorOptions {
  // Maintenance and cron off: the run measures fetch + complete, not background sweeps.
  return { connectionString: url, max: POOL, supervise: false, schedule: false, migrate, application_name: 'bench-pgboss' };
}

/** A load process: its own pg-boss and pool, `BENCH_CONCURRENCY` fetchers. */
async function worker(): Promise<void> {
  const url = envStr('BENCH_DB_URL', '');
  const boss = new PgBoss(bossOptions(url, false));
  boss.on('error', (err: Error) => console.error(`pg-boss (pid ${process.pid}): ${err.message}`));
  await boss.start();
  const q: QueueAdapter = {
    fetch: async () => {
      const jobs = await boss.fetch<Record<string, unknown>>(QUEUE, { batchSize: 1 });
      return jobs[0] ?? null;
    },
    complete: async (id) => {
      // affected 0: the job was no longer active under this fetcher (completed by someone else).
      const r = (await boss.complete(QUEUE, id)) as unknown as { affected: number };
      return r.affected === 1;
    },
    waiting: () => boss.getQueueSize(QUEUE),
  };
  await send({ ready: true });
  const go = await fromParent<Go>((m) => m?.go === true);
  await sleep(Math.max(0, go.startAt - nowMs()));
  const result = await runFetchers(q, envNum('BENCH_CONCURRENCY', 1), `p${process.pid}`);
  await send({ result });
  // The pool stays until every process is done: Postgres CPU is read off its live backends.
  await fromParent((m) => m?.bye === true);
  await boss.stop({ graceful: false, wait: true, close: true });
  process.exit(0);
}

/** pm-agent's priorities as pg-boss priorities (higher first). */
const PG_BOSS_PRIORITY: Record<Priority, number> = { urgent: 3, high: 2, medium: 1, low: 0 };

interface PlanNode {
  'Node Type': string;
  'Actual Rows'?: number;
  Plans?: PlanNode[];
}

/**
 * Runs pg-boss's own fetch statement (batch size 1) once under EXPLAIN ANALYZE and rolls it back:
 * its time and plan shape with the whole queue waiting show what every fetch costs Postgres.
 */
async function explainFetch(db: Client): Promise<{ ms: number; shape: string }> {
  // pg-boss 10's statement text (not part of its typed API; the version is pinned).
  const plans = createRequire(__filename)('pg-boss/src/plans') as { fetchNextJob: (schema: string) => (o: object) => string };
  const sql = plans.fetchNextJob('pgboss')({});
  await db.query('BEGIN');
  try {
    const r = await db.query<{ 'QUERY PLAN': [{ Plan: PlanNode; 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, FORMAT JSON) ${sql}`, [QUEUE, 1]);
    const top = r.rows[0]['QUERY PLAN'][0];
    const shape: string[] = [];
    const walk = (n: PlanNode, depth: number) => {
      if (depth > 12) return;
      if (/Scan|Sort|LockRows|Limit/.test(n['Node Type'])) shape.push(`${n['Node Type']}${n['Actual Rows'] !== undefined ? ` (${n['Actual Rows']} rows)` : ''}`);
      for (const c of n.Plans ?? []) walk(c, depth + 1);
    };
    walk(top.Plan, 0);
    return { ms: top['Execution Time'], shape: shape.join(' > ') };
  } finally {
    await db.query('ROLLBACK');
  }
}

/** Samples what the bench database's backends are doing (pg_stat_activity) while the run goes on. */
function waitEventSampler(db: Client, dbName: string) {
  const counts = new Map<string, number>();
  let samples = 0;
  let stopped = false;
  const running = (async () => {
    while (!stopped) {
      const r = await db.query<{ what: string; n: number }>(
        `SELECT coalesce(wait_event_type || ':' || wait_event, 'CPU') AS what, count(*)::int AS n
           FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND pid <> pg_backend_pid() GROUP BY 1`,
        [dbName],
      );
      samples++;
      for (const row of r.rows) counts.set(row.what, (counts.get(row.what) ?? 0) + row.n);
      await sleep(100);
    }
  })();
  return {
    stop: async () => {
      stopped = true;
      await running;
      return { samples, counts: [...counts].sort((a, b) => b[1] - a[1]) };
    },
  };
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = Date.now();
  const dbName = `pm_agent_bench_pgboss_${randomBytes(5).toString('hex')}`;
  const admin = new Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  const url = new URL(ADMIN_URL);
  url.pathname = `/${dbName}`;
  const dbUrl = url.toString();

  const children: ChildProcess[] = [];
  let boss: PgBoss | undefined;
  let db: Client | undefined;
  try {
    boss = new PgBoss(bossOptions(dbUrl, true));
    boss.on('error', (err: Error) => console.error(`pg-boss: ${err.message}`));
    await boss.start();
    await boss.createQueue(QUEUE, { name: QUEUE, policy: 'standard', retryLimit: 0, expireInSeconds: 900 });

    const jobDataBytes = jsonBytes(jobData(0));
    const e0 = nowMs();
    for (let i = 0; i < JOBS; i += 1000) {
      await boss.insert(
        Array.from({ length: Math.min(1000, JOBS - i) }, (_, j) => ({ name: QUEUE, data: jobData(i + j), priority: PG_BOSS_PRIORITY[benchTask(i + j).priority] })),
      );
    }
    const enqueueS = (nowMs() - e0) / 1000;

    db = new Client({ connectionString: dbUrl });
    await db.connect();
    // Statistics as pm-agent's claim storm has them for its tasks (it ANALYZEs after seeding).
    await db.query('ANALYZE pgboss.job');
    const plan = await explainFetch(db);

    const perProc = shares(WORKERS, PROCS);
    for (const n of perProc) {
      children.push(forkRole(__filename, 'worker', { BENCH_DB_URL: dbUrl, BENCH_CONCURRENCY: String(n), BENCH_POOL_MAX: String(POOL) }));
    }
    await Promise.all(children.map((c) => nextMessage(c, (m) => m?.ready === true, 60_000)));

    const waits = waitEventSampler(db, dbName);
    const cpu = machineCpu();
    const pgCpu = processCpu('postgres');
    const results = children.map((c) => nextMessage<{ result: FetcherReport }>(c, (m) => m?.result !== undefined));
    const startAt = nowMs() + 300;
    for (const c of children) c.send({ go: true, startAt } satisfies Go);
    const reports = (await Promise.all(results)).map((m) => m.result);
    const cpuPct = cpu.stop();
    const pgCpuPct = pgCpu.stop();
    for (const c of children) c.send({ bye: true });
    const w = await waits.stop();

    const s = summarizeJobRun(reports, startAt);
    const states = await db.query<{ state: string; n: number }>(`SELECT state::text, count(*)::int AS n FROM pgboss.job WHERE name = $1 GROUP BY state`, [QUEUE]);
    const byState = Object.fromEntries(states.rows.map((r) => [r.state, r.n]));
    const completedInDb = byState.completed ?? 0;
    const waitTotal = w.counts.reduce((sum, [, n]) => sum + n, 0);

    const r: BenchResult = {
      name: 'baseline-pgboss',
      title: `pg-boss fetch + complete, ${JOBS} jobs, ${WORKERS} concurrent fetchers over ${PROCS} processes, same Postgres`,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - t0,
      machine: machine(),
      versions: versions(['pg-boss']),
      params: {
        jobs: JOBS,
        agents: WORKERS,
        load_procs: PROCS,
        pool_per_proc: POOL,
        connections_total: POOL * PROCS,
        batch_size: 1,
        job_data: envStr('BENCH_JOB_DATA', 'task'),
        job_data_bytes: jobDataBytes,
        priorities: 'urgent/high/medium/low as 3/2/1/0, in turn',
        queue_policy: 'standard',
        database: 'fresh database on the shared Postgres',
      },
      metrics: {
        ...s.metrics,
        enqueue_jobs_per_s: round(JOBS / enqueueS, 1),
        completed_in_db: completedInDb,
        lost: JOBS - s.distinctCompleted,
        machine_cpu_pct: round(cpuPct, 1),
        postgres_cpu_pct_of_one_core: round(pgCpuPct, 1),
        pg_active_backends_avg: round(waitTotal / Math.max(1, w.samples), 1),
        fetch_query_ms_at_full_queue: round(plan.ms),
      },
      series: s.series,
      checks: [
        { name: 'no job handed to two fetchers', ok: s.duplicates === 0, detail: `${s.duplicates} duplicates` },
        { name: 'every job completed exactly once', ok: completedInDb === JOBS && s.distinctCompleted === JOBS, detail: `db: ${JSON.stringify(byState)}` },
      ],
      notes: [
        'pg-boss fetchers talk to Postgres directly (no service hop, no auth, no lease bookkeeping): an upper bound for a Postgres queue on this machine.',
        `jobs/s = completions / (last completion - first fetch). While draining: machine CPU ${round(cpuPct, 0)} % of ${machine().cores} cores; ` +
          `Postgres ${round(pgCpuPct, 0)} % and the load processes ${s.metrics.load_procs_cpu_pct_of_one_core} % of one core.`,
        `pg-boss's fetch statement alone with ${JOBS} jobs waiting (EXPLAIN ANALYZE just before the run): ${round(plan.ms)} ms, plan ${plan.shape}; ` +
          'its ORDER BY priority, created_on has no index to follow, so each fetch reads and sorts every waiting job.',
        `what Postgres backends were doing (share of active samples): ${w.counts
          .slice(0, 6)
          .map(([k, n]) => `${k} ${round((100 * n) / Math.max(1, waitTotal), 0)}%`)
          .join(', ')}`,
        ...reports.flatMap((x) => x.firstErrors.map((e) => `error in pid ${x.pid}: ${e}`)),
      ],
    };
    report(r);
  } finally {
    await reap(children);
    await db?.end().catch(() => undefined);
    await boss?.stop({ graceful: false, wait: true, close: true }).catch(() => undefined);
    await admin.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch((err: Error) => console.error(`drop ${dbName}: ${err.message}`));
    await admin.end();
  }
}

const role = process.env.BENCH_ROLE ?? 'main';
// A load process goes with its parent: no strays when the benchmark is stopped.
if (role === 'worker') process.on('disconnect', () => process.exit(0));
(role === 'worker' ? worker() : main()).then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
