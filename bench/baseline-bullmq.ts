// Baseline: BullMQ on the same Redis as pm-agent. M jobs are added, then W concurrent fetchers
// (like W agents) each claim one job at a time with Worker.getNextJob (non-blocking) and finish
// it with job.moveToCompleted (no fetch-next), until nothing waits. The fetchers are spread over
// P load processes, each with its own Worker and connections, as pm-agent's claims are spread
// over its replicas. Measures jobs/s end to end (first fetch to last completion), fetch and
// complete latency, duplicates (a job handed to two fetchers) and refused completions (lock
// lost); Redis is asked afterwards how many jobs ended completed. Jobs carry the priority mix of
// pm-agent's benchmark tasks, so BullMQ serves them by priority as pm-agent does.
//
// Runs on the Redis Cluster (what pm-agent uses; BullMQ needs a {hash-tag} prefix there, which
// puts the whole queue on ONE shard), and on the standalone Redis, one after the other.
//
//   npx tsx bench/baseline-bullmq.ts
//
// Environment (defaults in brackets; names and defaults those of pm-agent's claim-storm):
//   BENCH_TASKS         jobs added, M                                     [20000]
//   BENCH_AGENTS        concurrent fetchers in all, W (one per agent)     [1000]
//   BENCH_REPLICAS      load processes the fetchers are spread on, one per pm-agent replica [3]
//   BENCH_REDIS         cluster | standalone | both                [both] (cluster first; the headline figures are the first run's)
//   REDIS_CLUSTER_NODES seeds of the Redis Cluster                 [127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002]
//   REDIS_URL           the standalone Redis                       [redis://127.0.0.1:6379]
//   BENCH_JOB_DATA      task | answer: job data is the task as pm-agent's benchmarks seed it (~90 B),
//                       or a whole request_next_task answer (~1.2 KB)                    [task]
//   BENCH_ANSWER_FILE   with BENCH_JOB_DATA=answer: a captured answer (JSON) instead of the built-in one
import { randomBytes } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { Queue, Worker, type Job } from 'bullmq';
import { Cluster, Redis } from 'ioredis';
import {
  envNum,
  envStr,
  forkRole,
  fromParent,
  jsonBytes,
  machineCpu,
  nextMessage,
  nowMs,
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
import { machine, report, round, versions, type BenchResult, type Series } from './lib/result';

const QUEUE = 'claims';
const JOBS = envNum('BENCH_TASKS', 20_000);
const WORKERS = envNum('BENCH_AGENTS', 1000);
const PROCS = Math.max(1, Math.min(envNum('BENCH_REPLICAS', 3), WORKERS));
const CLUSTER_NODES = envStr('REDIS_CLUSTER_NODES', '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002');
const REDIS_URL = envStr('REDIS_URL', 'redis://127.0.0.1:6379');

type Target = 'cluster' | 'standalone';

function targets(): Target[] {
  const t = envStr('BENCH_REDIS', 'both');
  switch (t) {
    case 'cluster':
    case 'standalone':
      return [t];
    case 'both':
      return ['cluster', 'standalone'];
    default:
      throw new Error(`BENCH_REDIS=${t}: expected cluster, standalone or both`);
  }
}

function connect(target: Target): Redis | Cluster {
  switch (target) {
    case 'cluster':
      return new Cluster(
        CLUSTER_NODES.split(',').map((hp) => {
          const [host, port] = hp.split(':');
          return { host, port: Number(port) };
        }),
        // Workers must not give up on a command while Redis reconnects (BullMQ requires null).
        { redisOptions: { maxRetriesPerRequest: null } },
      );
    case 'standalone':
      return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  }
}

/** pm-agent's priorities as BullMQ priorities (1 is the highest). */
const BULLMQ_PRIORITY: Record<Priority, number> = { urgent: 1, high: 2, medium: 3, low: 4 };

interface Go {
  go: true;
  startAt: number;
}

/** A load process: one Worker (no processor, no main loop) shared by `BENCH_CONCURRENCY` fetchers. */
async function worker(): Promise<void> {
  const target = envStr('BENCH_TARGET', 'cluster') as Target;
  const prefix = envStr('BENCH_PREFIX', '');
  const connection = connect(target);
  const w = new Worker(QUEUE, null, { connection, prefix, autorun: false });
  w.on('error', (err) => console.error(`bullmq worker (pid ${process.pid}): ${err.message}`));
  const queue = new Queue(QUEUE, { connection, prefix });
  await w.waitUntilReady();
  await queue.waitUntilReady();
  const held = new Map<string, Job>();
  const q: QueueAdapter = {
    fetch: async (token) => {
      const job = await w.getNextJob(token, { block: false });
      if (!job?.id) return null;
      held.set(job.id, job);
      return { id: job.id };
    },
    complete: async (id, token) => {
      const job = held.get(id)!;
      held.delete(id);
      try {
        await job.moveToCompleted('done', token, false);
        return true;
      } catch (err) {
        // The lock was gone: another fetcher holds the job, or it went back as stalled.
        if (/Missing lock|Lock mismatch|not in the active state/.test((err as Error).message)) return false;
        throw err;
      }
    },
    waiting: () => queue.count(),
  };
  await send({ ready: true });
  const go = await fromParent<Go>((m) => m?.go === true);
  await sleep(Math.max(0, go.startAt - nowMs()));
  const result = await runFetchers(q, envNum('BENCH_CONCURRENCY', 1), `p${process.pid}`);
  await send({ result });
  await fromParent((m) => m?.bye === true);
  await w.close(true);
  await queue.close();
  await connection.quit();
  process.exit(0);
}

/** used_cpu_sys + used_cpu_user (seconds) of each master the connection reaches. */
async function redisCpuSeconds(conn: Redis | Cluster): Promise<Map<string, number>> {
  const nodes = conn instanceof Cluster ? conn.nodes('master') : [conn];
  const out = new Map<string, number>();
  for (const n of nodes) {
    const info = await n.info('cpu');
    const get = (k: string) => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
    out.set(`${n.options.host ?? '?'}:${n.options.port ?? '?'}`, get('used_cpu_sys') + get('used_cpu_user'));
  }
  return out;
}

interface TargetRun {
  target: Target;
  metrics: Record<string, number>;
  series: Record<string, Series>;
  checks: NonNullable<BenchResult['checks']>;
  notes: string[];
  duplicates: number;
}

async function runTarget(target: Target, jobDataBytes: number): Promise<TargetRun> {
  // A hash tag keeps every key of the queue in one slot, as BullMQ requires on a cluster.
  const prefix = `{bench-bullmq-${randomBytes(4).toString('hex')}}`;
  const connection = connect(target);
  const queue = new Queue(QUEUE, { connection, prefix });
  const children: ChildProcess[] = [];
  try {
    await queue.waitUntilReady();
    const e0 = nowMs();
    for (let i = 0; i < JOBS; i += 1000) {
      await queue.addBulk(
        Array.from({ length: Math.min(1000, JOBS - i) }, (_, j) => ({
          name: 'claim',
          data: jobData(i + j),
          opts: { attempts: 1, removeOnComplete: false, removeOnFail: false, priority: BULLMQ_PRIORITY[benchTask(i + j).priority] },
        })),
      );
    }
    const enqueueS = (nowMs() - e0) / 1000;

    for (const n of shares(WORKERS, PROCS)) {
      children.push(forkRole(__filename, 'worker', { BENCH_TARGET: target, BENCH_PREFIX: prefix, BENCH_CONCURRENCY: String(n) }));
    }
    await Promise.all(children.map((c) => nextMessage(c, (m) => m?.ready === true, 60_000)));
    const cpu = machineCpu();
    const redis0 = await redisCpuSeconds(connection);
    const results = children.map((c) => nextMessage<{ result: FetcherReport }>(c, (m) => m?.result !== undefined));
    const startAt = nowMs() + 300;
    for (const c of children) c.send({ go: true, startAt } satisfies Go);
    const reports = (await Promise.all(results)).map((m) => m.result);
    const cpuPct = cpu.stop();
    const redis1 = await redisCpuSeconds(connection);
    for (const c of children) c.send({ bye: true });
    const drainS = Math.max(1e-3, (nowMs() - startAt) / 1000);
    // Percent of one core per Redis master over the drain: one near 100 % is a saturated shard.
    const redisPct = [...redis1].map(([node, sec]) => [node, (100 * (sec - (redis0.get(node) ?? sec))) / drainS] as const).sort((a, b) => b[1] - a[1]);

    const s = summarizeJobRun(reports, startAt, `${target}_`);
    const counts = await queue.getJobCounts('completed', 'active', 'wait', 'failed', 'prioritized', 'delayed');
    const completed = counts.completed ?? 0;
    return {
      target,
      metrics: {
        ...s.metrics,
        [`${target}_enqueue_jobs_per_s`]: round(JOBS / enqueueS, 1),
        [`${target}_completed_in_redis`]: completed,
        [`${target}_lost`]: JOBS - s.distinctCompleted,
        [`${target}_machine_cpu_pct`]: round(cpuPct, 1),
        [`${target}_redis_busiest_node_cpu_pct_of_one_core`]: round(redisPct[0]?.[1] ?? Number.NaN, 1),
        [`${target}_redis_cpu_pct_of_one_core`]: round(redisPct.reduce((sum, [, v]) => sum + v, 0), 1),
      },
      series: s.series,
      checks: [
        { name: `${target}: no job handed to two fetchers`, ok: s.duplicates === 0, detail: `${s.duplicates} duplicates` },
        { name: `${target}: every job completed exactly once`, ok: completed === JOBS && s.distinctCompleted === JOBS, detail: `redis: ${JSON.stringify(counts)}` },
      ],
      notes: [
        `${target}: while draining, machine CPU ${round(cpuPct, 0)} % of ${machine().cores} cores; load processes ${s.metrics[`${target}_load_procs_cpu_pct_of_one_core`]} % of one core; ` +
          `Redis masters ${redisPct.map(([node, v]) => `${node} ${round(v, 0)} %`).join(', ')} of one core; job data ${jobDataBytes} B.`,
        ...reports.flatMap((x) => x.firstErrors.map((e) => `${target}: error in pid ${x.pid}: ${e}`)),
      ],
      duplicates: s.duplicates,
    };
  } finally {
    await reap(children);
    // The benchmark's keys go: the Redis is shared with pm-agent and other runs.
    await queue.obliterate({ force: true }).catch((err: Error) => console.error(`obliterate ${prefix}: ${err.message}`));
    await queue.close();
    await connection.quit();
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = Date.now();
  const jobDataBytes = jsonBytes(jobData(0));
  const runs: TargetRun[] = [];
  for (const t of targets()) runs.push(await runTarget(t, jobDataBytes));
  const head = runs[0];
  const pick = (k: string) => head.metrics[`${head.target}_${k}`];
  const r: BenchResult = {
    name: 'baseline-bullmq',
    title: `BullMQ getNextJob + moveToCompleted, ${JOBS} jobs, ${WORKERS} concurrent fetchers over ${PROCS} processes, on ${runs.map((x) => x.target).join(' and ')} Redis`,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - t0,
    machine: machine(),
    versions: versions(['bullmq']),
    params: {
      jobs: JOBS,
      agents: WORKERS,
      load_procs: PROCS,
      batch_size: 1,
      job_data: envStr('BENCH_JOB_DATA', 'task'),
      job_data_bytes: jobDataBytes,
      priorities: 'urgent/high/medium/low as 1/2/3/4, in turn',
      redis: runs.map((x) => x.target).join(','),
      headline: head.target,
      cluster_nodes: CLUSTER_NODES,
      standalone_url: REDIS_URL,
    },
    metrics: {
      // The first target's figures, unprefixed, for side-by-side tables.
      jobs_per_s: pick('jobs_per_s'),
      fetch_p50_ms: pick('fetch_p50_ms'),
      fetch_p99_ms: pick('fetch_p99_ms'),
      duplicates: runs.reduce((s, x) => s + x.duplicates, 0),
      ...Object.assign({}, ...runs.map((x) => x.metrics)),
    },
    series: Object.assign({}, ...runs.map((x) => x.series)),
    checks: runs.flatMap((x) => x.checks),
    notes: [
      `headline figures (unprefixed) are the ${head.target} run's.`,
      'BullMQ fetchers talk to Redis directly (Lua scripts, no service hop, no auth): an upper bound for a Redis queue on this machine.',
      'On the cluster every key of a BullMQ queue shares one hash slot: one master serves the whole queue, the other shards stay idle.',
      ...runs.flatMap((x) => x.notes),
    ],
  };
  report(r);
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
