// A benchmark fleet: K real replicas (`node dist/main.js`, built first with `npm run build`) on a
// fresh Postgres database, the Redis Cluster and RabbitMQ (a key prefix and topology of their
// own), rate limits raised out of the way; a project seeded fast (tasks by bulk SQL); samplers of
// what the replicas and the machine do meanwhile (/metrics, CPU per process group, Postgres wait
// events); and a teardown that leaves nothing behind (processes, database, Redis keys, queues).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as amqpConnect } from 'amqplib';
import { Cluster } from 'ioredis';
import { Client } from 'pg';
import { clusterEnv, DEFAULT_REDIS_NODES, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { QUEUE_NAMES, topology } from '../../src/modules/events/topology';
import { ApiClient } from '../../test/support/client';
import { ROOT } from './result';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const env = {
  int: (name: string, dflt: number): number => {
    const v = process.env[name];
    if (v === undefined || v === '') return dflt;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${v}`);
    return n;
  },
  bool: (name: string, dflt = false): boolean => {
    const v = process.env[name];
    return v === undefined || v === '' ? dflt : ['1', 'true', 'yes'].includes(v.toLowerCase());
  },
};

const DATABASE_URL = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const REDIS_NODES = process.env.REDIS_CLUSTER_NODES ?? DEFAULT_REDIS_NODES;
const RABBITMQ_URL = process.env.RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672';

export interface FleetOptions {
  replicas: number;
  /** First replica port (default BENCH_BASE_PORT or 3501); management port = port + 1000. */
  basePort?: number;
  /** Extra replica environment (overrides the defaults below). */
  env?: Record<string, string>;
  /** Events through RabbitMQ (default true): the production setup. */
  rabbit?: boolean;
  /** Directory for the replicas' V8 CPU profiles (`<pid>.cpuprofile`, written when a replica exits). */
  cpuProfDir?: string;
  /** Replicas collect garbage (twice, all generations) on SIGUSR2: memory readings of the live set (gcReplicas). */
  gcOnSignal?: boolean;
}

export interface Fleet {
  replicas: Replica[];
  urls: string[];
  adminKey: string;
  databaseUrl: string;
  db: Client;
  api: ApiClient;
  replicaEnv: Record<string, string>;
  /** Stops replicas, drops the database, deletes the run's Redis keys and RabbitMQ topology. */
  stop(): Promise<void>;
}

const cleanups = new Set<() => Promise<void>>();
const children = new Set<Replica>();
let hooked = false;

/** On Ctrl-C or a kill of the harness, stop what it started; on exit, at least kill the replicas. */
function hookSignals(): void {
  if (hooked) return;
  hooked = true;
  const bail = (sig: NodeJS.Signals) => {
    console.error(`\n${sig}: stopping the fleet`);
    void Promise.allSettled([...cleanups].map((c) => c())).finally(() => process.exit(130));
  };
  process.once('SIGINT', bail);
  process.once('SIGTERM', bail);
  // A crash of the harness must not leave replicas, a database, keys and queues behind.
  process.once('uncaughtException', (err) => {
    console.error(err);
    void Promise.allSettled([...cleanups].map((c) => c())).finally(() => process.exit(1));
  });
  process.once('exit', () => {
    for (const r of children) if (r.proc.exitCode === null && r.proc.signalCode === null) r.proc.kill('SIGKILL');
  });
}

export async function startBenchFleet(opts: FleetOptions): Promise<Fleet> {
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js missing: run npm run build');
  if (!redisClusterUp()) ensureRedisCluster();
  hookSignals();
  const tag = randomBytes(5).toString('hex');
  const dbName = `pm_agent_bench_${tag}`;
  const admin = new Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${dbName}`);
  await admin.end();
  const u = new URL(DATABASE_URL);
  u.pathname = `/${dbName}`;
  const databaseUrl = u.toString();
  const adminKey = `pma_${randomBytes(24).toString('base64url')}`;
  const redisPrefix = `bench${tag}`;
  const rabbitPrefix = `pm-agent-bench-${tag}`;
  const rabbit = opts.rabbit ?? true;
  if (opts.cpuProfDir) mkdirSync(opts.cpuProfDir, { recursive: true });
  const replicaEnv = clusterEnv(
    { databaseUrl, redisNodes: REDIS_NODES, adminKey, jwtSecret: randomBytes(48).toString('base64url') },
    {
      REDIS_KEY_PREFIX: redisPrefix,
      // Thousands of agents from one address, hundreds of calls each: the limits are not measured here.
      RATE_LIMIT_AGENT_PER_MINUTE: '1000000',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000',
      // The raw bench sockets do not refresh tokens; a full run outlasts the default 15 minutes.
      JWT_TTL_SECONDS: '86400',
      // The hold scenario puts up to 10,000 sockets on a replica and counts them all.
      MAX_CONNECTIONS_PER_REPLICA: '20000',
      // Real lease lengths (no lease may expire during a run); a brisk sweeper for the failover.
      LEASE_SWEEP_INTERVAL_MS: '1000',
      RETRY_AFTER_SECONDS: '1',
      SHUTDOWN_GRACE_MS: '10000',
      DRAIN_NOTICE_MS: '200',
      DATABASE_POOL_MAX: process.env.BENCH_POOL_MAX ?? '10',
      ...(rabbit ? { RABBITMQ_URL, RABBITMQ_PREFIX: rabbitPrefix } : { RABBITMQ_URL: '' }),
      NODE_OPTIONS: [
        ...(opts.cpuProfDir ? [`--require ${writeProfiler(opts.cpuProfDir)}`] : []),
        ...(opts.gcOnSignal ? [`--require ${writeGcOnSignal()}`] : []),
      ].join(' '),
      ...opts.env,
    },
  );
  const basePort = opts.basePort ?? env.int('BENCH_BASE_PORT', 3501);
  const replicas: Replica[] = [];
  let db: Client | undefined;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    cleanups.delete(stop);
    await stopReplicas(replicas);
    await db?.end().catch(() => undefined);
    const c = new Client({ connectionString: DATABASE_URL });
    await c.connect();
    await c.query(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
    await c.end();
    await deleteRedisKeys(redisPrefix).catch((e: Error) => console.error(`redis cleanup: ${e.message}`));
    if (rabbit) await deleteTopology(rabbitPrefix).catch((e: Error) => console.error(`rabbitmq cleanup: ${e.message}`));
  };
  cleanups.add(stop);
  try {
    // One replica migrates the fresh database first; the others then start on a ready schema.
    replicas.push(await startBenchReplica(basePort, replicaEnv));
    const rest = await Promise.allSettled(Array.from({ length: opts.replicas - 1 }, (_, i) => startBenchReplica(basePort + 1 + i, replicaEnv)));
    for (const r of rest) if (r.status === 'fulfilled') replicas.push(r.value);
    const failed = rest.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    replicas.sort((a, b) => a.port - b.port);
    db = new Client({ connectionString: databaseUrl });
    // A restart of Postgres (someone's chaos run) must fail the scenario, not crash the harness.
    db.on('error', (e) => console.error(`bench database connection: ${e.message}`));
    await db.connect();
  } catch (err) {
    await stop();
    throw err;
  }
  return { replicas, urls: replicas.map((r) => r.url), adminKey, databaseUrl, db, api: new ApiClient(replicas[0].url, adminKey), replicaEnv, stop };
}

/**
 * A preload that profiles a replica's CPU from start to exit (V8 sampling profiler through the
 * inspector) and writes `<pid>.cpuprofile` into `dir`: `--cpu-prof` itself is not allowed in
 * NODE_OPTIONS, and the replicas are spawned as `node dist/main.js`.
 */
function writeProfiler(dir: string): string {
  const file = join(dir, 'cpu-profiler.cjs');
  writeFileSync(
    file,
    `const inspector = require('node:inspector');
const fs = require('node:fs');
const session = new inspector.Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: 1000 });
session.post('Profiler.start');
process.on('exit', () => {
  session.post('Profiler.stop', (err, res) => {
    if (!err) fs.writeFileSync(${JSON.stringify(dir)} + '/' + process.pid + '.cpuprofile', JSON.stringify(res.profile));
  });
});
`,
  );
  return file;
}

/**
 * A preload that makes a replica collect garbage on SIGUSR2 (benchmarks only: the service itself
 * never exposes gc). Memory read right after is the live set, as the bare Socket.IO baseline
 * reads its own after gc().
 */
function writeGcOnSignal(): string {
  const file = join(tmpdir(), 'pm-agent-bench-gc-on-signal.cjs');
  writeFileSync(
    file,
    `require('node:v8').setFlagsFromString('--expose-gc');
const gc = require('node:vm').runInNewContext('gc');
process.on('SIGUSR2', () => { gc(); gc(); });
`,
  );
  return file;
}

/** Asks every replica (started with gcOnSignal) to collect garbage, then gives them a moment. */
export async function gcReplicas(replicas: readonly Replica[]): Promise<void> {
  for (const r of replicas) r.proc.kill('SIGUSR2');
  await sleep(2000);
}

export async function startBenchReplica(port: number, replicaEnv: Record<string, string>): Promise<Replica> {
  const r = await startReplica({ port, env: replicaEnv, readyTimeoutMs: 90_000 });
  children.add(r);
  void r.exited.then(() => children.delete(r));
  return r;
}

async function stopReplicas(replicas: readonly Replica[]): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
      const t = setTimeout(() => r.proc.kill('SIGKILL'), 20_000);
      await stopReplica(r, 'SIGTERM');
      clearTimeout(t);
    }),
  );
}

async function deleteRedisKeys(prefix: string): Promise<void> {
  const [host, port] = REDIS_NODES.split(',')[0].split(':');
  const cluster = new Cluster([{ host, port: Number(port) }]);
  try {
    // The node list fills in once the cluster's slots are known.
    await new Promise<void>((resolve, reject) => {
      cluster.once('ready', () => resolve());
      cluster.once('error', reject);
    });
    for (const node of cluster.nodes('master')) {
      let cursor = '0';
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        // One key at a time through the cluster: keys of one SCAN page can live in different slots.
        for (const k of keys) await cluster.del(k);
      } while (cursor !== '0');
    }
  } finally {
    cluster.disconnect();
  }
}

async function deleteTopology(prefix: string): Promise<void> {
  const names = topology(prefix);
  const conn = await amqpConnect(RABBITMQ_URL);
  try {
    const ch = await conn.createChannel();
    for (const q of QUEUE_NAMES) for (const n of [names.queues[q].name, names.queues[q].retry, names.queues[q].deadLetter]) await ch.deleteQueue(n);
    await ch.deleteExchange(names.eventsExchange);
    await ch.deleteExchange(names.deadLetterExchange);
    await ch.close();
  } finally {
    await conn.close();
  }
}

// ---- seeding --------------------------------------------------------------------------------

export interface Seeded {
  projectId: string;
  apiKey: string;
}

/** A project (through the HTTP API, which makes its API key) and `tasks` independent todo tasks (bulk SQL). */
export async function seedProject(fleet: Fleet, tasks: number, name = 'bench'): Promise<Seeded> {
  const project = await fleet.api.createProject(name);
  await seedTasks(fleet.db, project.id, tasks);
  return { projectId: project.id, apiKey: project.api_key };
}

/**
 * Inserts tasks straight into `tasks` (the columns TasksService.create fills; the rest keep their
 * defaults). Without outbox rows: no `task.created` event, so no card comment and no push for
 * them, which a board seeded this way does not need (agents ask for work).
 */
export async function seedTasks(db: Client, projectId: string, n: number): Promise<void> {
  for (let from = 1; from <= n; from += 50_000) {
    await db.query(
      `INSERT INTO tasks (id, project_id, name, description, priority, labels)
       SELECT gen_random_uuid(), $1, 'task ' || g, 'benchmark task ' || g, (ARRAY['urgent','high','medium','low'])[1 + g % 4], ARRAY['backend']
         FROM generate_series($2::int, $3::int) g`,
      [projectId, from, Math.min(n, from + 49_999)],
    );
  }
  await db.query('ANALYZE tasks');
}

// ---- correctness in Postgres -----------------------------------------------------------------

export interface Ledger {
  tasks: number;
  done: number;
  todo: number;
  inProgress: number;
  assignments: number;
  activeAssignments: number;
  expiredAssignments: number;
  /** Tasks with more than one assignment (a claim handed out twice, or a lease recovered). */
  tasksAssignedMoreThanOnce: number;
  /** Tasks completed by more than one assignment. */
  tasksCompletedMoreThanOnce: number;
  /** Done tasks without exactly one completed assignment. */
  doneWithoutOneCompletion: number;
  /** Tasks with two active assignments at once (the unique index forbids it). */
  tasksWithTwoActive: number;
}

export async function ledger(db: Client, projectId: string): Promise<Ledger> {
  const r = await db.query<Record<string, number>>(
    `WITH per AS (
       SELECT t.id, t.status,
              count(a.id)::int AS total,
              count(a.id) FILTER (WHERE a.state = 'completed')::int AS completed,
              count(a.id) FILTER (WHERE a.state = 'active')::int AS active,
              count(a.id) FILTER (WHERE a.state = 'expired')::int AS expired
         FROM tasks t LEFT JOIN assignments a ON a.task_id = t.id
        WHERE t.project_id = $1 GROUP BY t.id, t.status)
     SELECT count(*)::int AS tasks,
            count(*) FILTER (WHERE status = 'done')::int AS done,
            count(*) FILTER (WHERE status = 'todo')::int AS todo,
            count(*) FILTER (WHERE status = 'in_progress')::int AS in_progress,
            coalesce(sum(total), 0)::int AS assignments,
            coalesce(sum(active), 0)::int AS active,
            coalesce(sum(expired), 0)::int AS expired,
            count(*) FILTER (WHERE total > 1)::int AS assigned_more_than_once,
            count(*) FILTER (WHERE completed > 1)::int AS completed_more_than_once,
            count(*) FILTER (WHERE status = 'done' AND completed <> 1)::int AS done_without_one,
            count(*) FILTER (WHERE active > 1)::int AS two_active
       FROM per`,
    [projectId],
  );
  const x = r.rows[0];
  return {
    tasks: x.tasks,
    done: x.done,
    todo: x.todo,
    inProgress: x.in_progress,
    assignments: x.assignments,
    activeAssignments: x.active,
    expiredAssignments: x.expired,
    tasksAssignedMoreThanOnce: x.assigned_more_than_once,
    tasksCompletedMoreThanOnce: x.completed_more_than_once,
    doneWithoutOneCompletion: x.done_without_one,
    tasksWithTwoActive: x.two_active,
  };
}

export async function doneCount(db: Client, projectId: string): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE project_id = $1 AND status = 'done'`, [projectId]);
  return r.rows[0].n;
}

// ---- what the replicas say (/metrics on the management port) --------------------------------

/** Unlabelled samples of a replica's /metrics, by name. */
export async function scrape(r: Replica, timeoutMs = 15_000): Promise<Record<string, number>> {
  // Generous: a saturated replica answers its management port late too.
  const res = await fetch(`http://127.0.0.1:${r.port + 1000}/metrics`, { signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.includes('{')) continue;
    const sp = line.lastIndexOf(' ');
    if (sp > 0) out[line.slice(0, sp)] = Number(line.slice(sp + 1));
  }
  return out;
}

export const MEM = {
  rss: 'pm_agent_process_resident_memory_bytes',
  heap: 'pm_agent_nodejs_heap_size_used_bytes',
  conns: 'pm_agent_connections',
  cpu: 'pm_agent_process_cpu_seconds_total',
  lagP99: 'pm_agent_nodejs_eventloop_lag_p99_seconds',
  lagMax: 'pm_agent_nodejs_eventloop_lag_max_seconds',
} as const;

export interface MetricsSample {
  at: number;
  /** Per replica (same order as the fleet's), undefined when a scrape failed (a dead replica). */
  replicas: (Record<string, number> | undefined)[];
}

/** Scrapes every replica every `everyMs` in the background. */
export class MetricsSampler {
  readonly samples: MetricsSample[] = [];
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly replicas: readonly Replica[],
    private readonly everyMs = 1000,
  ) {}

  start(): this {
    this.running = (async () => {
      while (!this.stopped) {
        const t = Date.now();
        this.samples.push({ at: t, replicas: await Promise.all(this.replicas.map((r) => scrape(r).catch(() => undefined))) });
        await sleep(Math.max(0, this.everyMs - (Date.now() - t)));
      }
    })();
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  /** Highest value of a metric over the samples in [from, to] for each replica. */
  maxOf(name: string, from = -Infinity, to = Infinity): number[] {
    return this.replicas.map((_, i) => {
      let m = NaN;
      for (const s of this.samples) {
        const v = s.replicas[i]?.[name];
        if (s.at >= from && s.at <= to && v !== undefined && !(v <= m)) m = v;
      }
      return m;
    });
  }
}

// ---- where the machine's CPU goes -------------------------------------------------------------

const CLK_TCK = 100;

function procTicks(pid: number): { comm: string; ticks: number } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    // Fields 14 and 15 (utime, stime), counted from 1 with pid and comm as 1 and 2.
    return { comm, ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** Machine-wide ticks from /proc/stat: busy (without steal), kernel softirq (loopback TCP runs there), steal, total. */
function machineTicks(): { busy: number; softirq: number; steal: number; total: number } {
  // user nice system idle iowait irq softirq steal ...
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
  const steal = cpu[7] ?? 0;
  return { busy: total - cpu[3] - (cpu[4] ?? 0) - steal, softirq: cpu[6] ?? 0, steal, total };
}

export interface CpuSnapshot {
  at: number;
  machine: { busy: number; softirq: number; steal: number; total: number };
  groups: Record<string, number>;
}

/**
 * CPU ticks per process group: the replicas and load workers by pid, the services by name,
 * this harness. Two snapshots give CPU seconds per group over a phase.
 */
export function cpuSnapshot(pids: { replicas: readonly number[]; workers: readonly number[] }): CpuSnapshot {
  const groups: Record<string, number> = { replicas: 0, load_workers: 0, postgres: 0, redis: 0, rabbitmq: 0, harness: 0 };
  const replicaSet = new Set(pids.replicas);
  const workerSet = new Set(pids.workers);
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!Number.isInteger(pid)) continue;
    const p = procTicks(pid);
    if (!p) continue;
    if (replicaSet.has(pid)) groups.replicas += p.ticks;
    else if (workerSet.has(pid)) groups.load_workers += p.ticks;
    else if (pid === process.pid) groups.harness += p.ticks;
    else if (p.comm === 'postgres') groups.postgres += p.ticks;
    else if (p.comm.startsWith('redis-server')) groups.redis += p.ticks;
    else if (p.comm === 'beam.smp' || p.comm === 'erl_child_setup') groups.rabbitmq += p.ticks;
  }
  return { at: Date.now(), machine: machineTicks(), groups };
}

/**
 * CPU between two snapshots: the machine's busy share (steal excluded, shown apart: the VM's host
 * took it), per-group cores used (1 = one full core), softirq (network stack, not billed to a
 * process), and what no group accounts for (other programs).
 */
export function cpuBetween(a: CpuSnapshot, b: CpuSnapshot): Record<string, number> {
  const secs = (b.at - a.at) / 1000;
  const ticks = Math.max(1, b.machine.total - a.machine.total);
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const out: Record<string, number> = {
    machine_busy_pct: Math.round(((b.machine.busy - a.machine.busy) / ticks) * 1000) / 10,
    steal_pct: Math.round(((b.machine.steal - a.machine.steal) / ticks) * 1000) / 10,
  };
  let known = 0;
  for (const k of Object.keys(b.groups)) {
    const cores = (b.groups[k] - (a.groups[k] ?? 0)) / CLK_TCK / secs;
    known += cores;
    out[`${k}_cores`] = r2(cores);
  }
  const softirq = (b.machine.softirq - a.machine.softirq) / CLK_TCK / secs;
  out.softirq_cores = r2(softirq);
  const busyCores = (b.machine.busy - a.machine.busy) / CLK_TCK / secs;
  out.other_cores = r2(Math.max(0, busyCores - known - softirq));
  return out;
}

// ---- where Postgres waits -------------------------------------------------------------------

/**
 * Samples pg_stat_activity of the run's database: what its active backends wait on (or CPU), and
 * how many sit `idle in transaction` (waiting for their replica to send the next statement: the
 * replica, not Postgres, is then the slow side).
 */
export class PgWaitSampler {
  readonly counts = new Map<string, number>();
  samples = 0;
  private stopped = false;
  private running?: Promise<void>;
  private client?: Client;

  constructor(
    private readonly databaseUrl: string,
    private readonly everyMs = 100,
  ) {}

  async start(): Promise<this> {
    this.client = new Client({ connectionString: this.databaseUrl });
    this.client.on('error', () => undefined);
    await this.client.connect();
    const dbName = new URL(this.databaseUrl).pathname.slice(1);
    this.running = (async () => {
      while (!this.stopped) {
        const r = await this.client!.query<{ w: string; n: number }>(
          `SELECT CASE WHEN state = 'active' THEN coalesce(wait_event_type || ':' || wait_event, 'CPU') ELSE state END AS w, count(*)::int AS n
             FROM pg_stat_activity WHERE datname = $1 AND state IN ('active', 'idle in transaction') AND pid <> pg_backend_pid() GROUP BY 1`,
          [dbName],
        );
        this.samples++;
        for (const row of r.rows) this.counts.set(row.w, (this.counts.get(row.w) ?? 0) + row.n);
        await sleep(this.everyMs);
      }
    })().catch(() => undefined);
    return this;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.client?.end().catch(() => undefined);
  }

  /** Average backends per sample, by wait, largest first: `CPU 3.1, idle in transaction 1.2, Lock:tuple 0.4, ...`. */
  summary(top = 6): string {
    return [...this.counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([w, n]) => `${w} ${(n / Math.max(1, this.samples)).toFixed(2)}`)
      .join(', ');
  }

  /** Average number of active backends of the database per sample. */
  activeAvg(): number {
    let n = 0;
    for (const [k, v] of this.counts) if (k !== 'idle in transaction') n += v;
    return Math.round((n / Math.max(1, this.samples)) * 100) / 100;
  }
}

// ---- the machine must be ours for a figure worth reporting ------------------------------------

/** Other benchmarks, tests or replicas running on this machine now (not ours). */
export function foreignLoad(own: readonly number[] = []): string[] {
  let out: string;
  try {
    out = execFileSync('pgrep', ['-af', 'bench/|vitest|dist/main.js'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  const mine = new Set([...ancestors(process.pid), ...own]);
  return out
    .split('\n')
    .filter(Boolean)
    .filter((l) => {
      const pid = Number(l.split(' ')[0]);
      // Ours: this process, its parents (npx, tsx name the scenario too), and its descendants (replicas, load workers).
      return !mine.has(pid) && !ancestors(pid).includes(process.pid) && !l.includes('pgrep');
    });
}

/** A process and its parents, up to init. */
function ancestors(start: number): number[] {
  const out: number[] = [];
  for (let pid = start; pid > 1 && out.length < 30; ) {
    out.push(pid);
    try {
      const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(s.slice(s.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}

/** Watches for other load while a scenario runs (every `everyMs`), so a result can say it was not alone. */
export class ForeignWatch {
  readonly seen = new Set<string>();
  private timer?: NodeJS.Timeout;

  start(everyMs = 5000): this {
    const look = () => {
      // The command without its pid: one line per program, however often it was seen.
      for (const l of foreignLoad()) this.seen.add(l.slice(l.indexOf(' ') + 1).slice(0, 160));
    };
    look();
    this.timer = setInterval(look, everyMs);
    this.timer.unref();
    return this;
  }

  stop(): string[] {
    if (this.timer) clearInterval(this.timer);
    return [...this.seen];
  }
}
