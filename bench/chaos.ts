// Chaos cases: a steady workload of simulated agents on 3 real replicas (node dist/main.js, shared
// Postgres, Redis Cluster and RabbitMQ), one fault injected per case, then the invariants of
// bench/lib/invariants.ts. Each case saves its own result, bench/results/chaos-<case>.json.
//
//   replica-kill       SIGKILL one of the 3 replicas mid-run (its agents move to the others)
//   redis-failover     SIGKILL the Redis Cluster master holding most of the run's keys; wait for
//                      the promotion of its replica; restart the killed node (it rejoins as a replica)
//   rabbitmq-restart   rabbitmqctl stop_app, BENCH_CHAOS_DOWN_S seconds, start_app
//   postgres-restart   pg_ctlcluster stop -m fast, BENCH_CHAOS_DOWN_S seconds, start
//   latency            the replicas reach Postgres and Redis through bench/lib/latency-proxy.ts;
//                      BENCH_LATENCY_MS (+ jitter) each way is switched on for BENCH_LATENCY_PHASE_S
//
// The workload: BENCH_AGENTS agents (test/support/sim-agent.ts: request → progress × 2 → complete,
// request_id on every call, reconnect elsewhere on failure), a feeder keeping a backlog of tasks,
// and BENCH_DEAD_AGENTS agents that take a task and vanish (their leases must come back through
// the sweeper). Leases are scaled (BENCH_LEASE_SCALE) so that a dead agent's task returns within
// the run. Cases that disturb shared services wait until no other test or benchmark is running.
//
//   npx tsx bench/chaos.ts                       # BENCH_CHAOS=all: every case, one after the other
//   BENCH_CHAOS=replica-kill BENCH_AGENTS=200 npx tsx bench/chaos.ts
//
// Environment (defaults):
//   BENCH_CHAOS=all               all | replica-kill | redis-failover | rabbitmq-restart | postgres-restart | latency (comma list allowed)
//   BENCH_AGENTS=100              simulated agents (spread round-robin over the 3 replicas; ~90 calls/s, which
//                                 already keeps this 2-core machine ~90 % busy: more measures queueing, not the fault)
//   BENCH_DEAD_AGENTS=6           agents that claim a task and vanish (half early, half just before the fault)
//   BENCH_WARMUP_S=20             steady run before the fault (the baseline)
//   BENCH_AFTER_S=20              steady run after the fault is over, before the feeder stops
//   BENCH_WORK_MS=1000            agent's pause between two calls about a task (simulated work)
//   BENCH_BACKLOG=2               todo tasks kept per agent by the feeder
//   BENCH_LEASE_SCALE=0.1         LEASE_TIMEOUT_SCALE of the replicas (0.1: 18 s + 6 s grace before the first report)
//   BENCH_SWEEP_MS=500            LEASE_SWEEP_INTERVAL_MS of the replicas
//   BENCH_CHAOS_DOWN_S=5          how long RabbitMQ / Postgres stay down
//   BENCH_LATENCY_MS=5            latency case: delay added per chunk, each way
//   BENCH_LATENCY_JITTER_MS=1     latency case: uniform jitter on top (order kept)
//   BENCH_LATENCY_PHASE_S=20      latency case: how long the delay stays on
//   BENCH_DRAIN_S=90              longest wait for the last tasks, events and consumers after the run
//   BENCH_CALL_TIMEOUT_MS=5000    agent's per-attempt call timeout (then it retries, same request_id)
//   BENCH_BASE_PORT=3560          replicas on BASE..BASE+2 (management +1000); latency proxies on BASE+10..BASE+16
//   BENCH_WAIT_QUIET=1            wait (30 s polls, 20 min at most) until no other vitest/bench/replica runs, before
//                                 every case; 0: only before the cases that restart shared services; never: not at all
//   BENCH_RESTART_CRASHED=1       start again a replica that dies on its own, as an orchestrator would (the crash
//                                 still fails the check "no replica process died"); 0 leaves it dead
//   RABBITMQ_URL / PM_AGENT_TEST_RABBITMQ_URL, PM_AGENT_TEST_DATABASE_URL, PM_AGENT_TEST_REDIS_CLUSTER: the services
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { Module } from 'node:module';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { promisify, stripVTControlCharacters } from 'node:util';
import { Pool } from 'pg';
import { ensureRedisCluster, redisClusterUp, startReplica, type Replica } from '../src/cli/local-cluster';
import { ApiClient } from '../test/support/client';
import { TEST_RABBITMQ_URL, TEST_REDIS_CLUSTER } from '../test/support/env';
import { createTestDatabase } from '../test/support/pg';
import type * as SimAgentModule from '../test/support/sim-agent';
import type { CallRecord, FleetEnv, SimAgent } from '../test/support/sim-agent';
import {
  checkAgents,
  checkEvents,
  checkTasks,
  deleteTopology,
  installDeliveryLog,
  InvariantSampler,
  samplerChecks,
  type Check,
  type Outage,
} from './lib/invariants';
import { ProxySet, redisClusterRewrites } from './lib/latency-proxy';
import { machine, percentile, report, ROOT, round, versions, type BenchResult, type Series } from './lib/result';

export const CASES = ['replica-kill', 'redis-failover', 'rabbitmq-restart', 'postgres-restart', 'latency'] as const;
export type ChaosCase = (typeof CASES)[number];

/** Cases that disturb services other people use: they wait for a quiet machine. */
const DISTURBING: ReadonlySet<ChaosCase> = new Set(['redis-failover', 'rabbitmq-restart', 'postgres-restart']);

export interface ChaosOptions {
  chaosCase: ChaosCase;
  agents: number;
  deadAgents: number;
  warmupS: number;
  afterS: number;
  workMs: number;
  backlog: number;
  leaseScale: number;
  sweepMs: number;
  downS: number;
  latencyMs: number;
  jitterMs: number;
  phaseS: number;
  drainS: number;
  callTimeoutMs: number;
  basePort: number;
  /** Wait for a machine free of other tests and benchmarks: before every case, only before those disturbing shared services, or never. */
  waitQuiet: 'all' | 'disturbing' | 'never';
  /** Start again a replica that exits on its own (its crash still fails a check). */
  restartCrashed: boolean;
  rabbitUrl: string;
  /** Allowed lateness of the sweeper beyond its interval (default 2000 ms). */
  sweepSlackMs?: number;
  log: (msg: string) => void;
}

const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
  return n;
};

export function optionsFromEnv(chaosCase: ChaosCase): ChaosOptions {
  return {
    chaosCase,
    agents: num('BENCH_AGENTS', 100),
    deadAgents: num('BENCH_DEAD_AGENTS', 6),
    warmupS: num('BENCH_WARMUP_S', 20),
    afterS: num('BENCH_AFTER_S', 20),
    workMs: num('BENCH_WORK_MS', 1000),
    backlog: num('BENCH_BACKLOG', 2),
    leaseScale: num('BENCH_LEASE_SCALE', 0.1),
    sweepMs: num('BENCH_SWEEP_MS', 500),
    downS: num('BENCH_CHAOS_DOWN_S', 5),
    latencyMs: num('BENCH_LATENCY_MS', 5),
    jitterMs: num('BENCH_LATENCY_JITTER_MS', 1),
    phaseS: num('BENCH_LATENCY_PHASE_S', 20),
    drainS: num('BENCH_DRAIN_S', 90),
    callTimeoutMs: num('BENCH_CALL_TIMEOUT_MS', 5000),
    basePort: num('BENCH_BASE_PORT', 3560),
    waitQuiet: process.env.BENCH_WAIT_QUIET === 'never' ? 'never' : process.env.BENCH_WAIT_QUIET === '0' ? 'disturbing' : 'all',
    restartCrashed: process.env.BENCH_RESTART_CRASHED !== '0',
    rabbitUrl: process.env.RABBITMQ_URL ?? TEST_RABBITMQ_URL,
    log: (msg) => console.error(`[chaos ${new Date().toISOString().slice(11, 23)}] ${msg}`),
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const run = promisify(execFile);

/**
 * test/support/sim-agent.ts imports vitest's afterAll/beforeAll (for its test fixture, unused
 * here), and vitest refuses to load under require(): outside vitest a stub stands in for it.
 */
async function loadSimAgent(): Promise<typeof SimAgentModule> {
  if (!process.env.VITEST && typeof require !== 'undefined') {
    const path = require.resolve('vitest');
    if (!require.cache[path]) {
      const stub = new Module(path);
      stub.filename = path;
      stub.loaded = true;
      stub.exports = { afterAll: () => undefined, beforeAll: () => undefined };
      require.cache[path] = stub;
    }
  }
  return import('../test/support/sim-agent');
}

async function waitFor(what: string, pred: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    try {
      if (await pred()) return Date.now();
    } catch {
      // not yet: the service being waited for may still be away
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

// ---- the shared services of this machine --------------------------------------------------------

const REDIS_PORTS = [7000, 7001, 7002, 7003, 7004, 7005];

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  slots: string[];
  link: string;
}

// Asynchronous: the agents share this process and a blocked event loop would fire their timeouts.
async function redisCli(port: number, ...args: string[]): Promise<string | null> {
  try {
    const { stdout } = await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000, maxBuffer: 64 * 1024 * 1024 });
    return stdout.startsWith('Could not connect') ? null : stdout.replace(/\r/g, '');
  } catch {
    return null;
  }
}

async function clusterNodes(port: number): Promise<NodeLine[] | null> {
  const out = await redisCli(port, 'cluster', 'nodes');
  if (!out || out.startsWith('ERR')) return null;
  return out
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([id, addr, flags, , , , , link, ...slots]) => ({ id, port: Number(addr.split('@')[0].split(':')[1]), flags: flags.split(','), link, slots }));
}

const clusterStateOk = async (port: number) => /^cluster_state:ok$/m.test((await redisCli(port, 'cluster', 'info')) ?? '');
const isMaster = (n: NodeLine) => n.flags.includes('master') && !n.flags.some((f) => f.startsWith('fail'));
const ownsSlot = (n: NodeLine, slot: number) =>
  n.slots.some((range) => {
    const [a, b = a] = range.split('-').map(Number);
    return slot >= a && slot <= b;
  });

/** Every node answers, sees cluster_state:ok and 6 connected nodes, none failing. */
async function clusterWhole(): Promise<boolean> {
  const views = await Promise.all(REDIS_PORTS.map(async (p) => ({ ok: await clusterStateOk(p), nodes: await clusterNodes(p) })));
  return views.every(
    ({ ok, nodes }) => ok && nodes !== null && nodes.length === REDIS_PORTS.length && nodes.every((n) => n.link === 'connected' && !n.flags.some((f) => f.startsWith('fail'))),
  );
}

/** Every node that answers says cluster_state:ok (a failover in progress has finished). */
async function answeringNodesOk(): Promise<boolean> {
  const states = await Promise.all(REDIS_PORTS.map(async (p) => ((await redisCli(p, 'ping')) === null ? null : await clusterStateOk(p))));
  return states.some((s) => s !== null) && states.every((s) => s !== false);
}

/** The redis-server process on `port`, checked against its process title. */
async function redisPid(port: number): Promise<number> {
  const pid = Number(/^process_id:(\d+)$/m.exec((await redisCli(port, 'info', 'server')) ?? '')?.[1]);
  if (!pid) throw new Error(`no process_id from redis ${port}`);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  if (!cmdline.includes('redis-server') || !cmdline.includes(`:${port}`)) throw new Error(`pid ${pid} is not redis ${port}: ${cmdline}`);
  return pid;
}

type RedisNodeConfig = Record<string, string>;
const RESTART_KEYS = ['bind', 'dir', 'cluster-config-file', 'cluster-node-timeout', 'save', 'appendonly', 'pidfile', 'logfile'];

/** What a node was started with (the process title hides its arguments), to start it again the same way. */
async function redisNodeConfig(port: number): Promise<RedisNodeConfig> {
  const cfg: RedisNodeConfig = {};
  for (const k of RESTART_KEYS) {
    const out = (await redisCli(port, 'config', 'get', k)) ?? '';
    const [, value = ''] = out.split('\n');
    cfg[k] = value;
  }
  if (!cfg.dir || !cfg['cluster-config-file']) throw new Error(`redis ${port}: no dir / cluster-config-file in ${JSON.stringify(cfg)}`);
  return cfg;
}

async function startRedisNode(port: number, cfg: RedisNodeConfig): Promise<void> {
  const args = ['--port', String(port), '--daemonize', 'yes', '--cluster-enabled', 'yes'];
  for (const k of RESTART_KEYS) {
    if (cfg[k] === '' && k !== 'save') continue;
    args.push(`--${k}`, ...(k === 'bind' ? cfg[k].split(' ') : [cfg[k]]));
  }
  await run('redis-server', args, { timeout: 10_000 });
}

/**
 * Brings a killed node back (it rejoins as a replica) and waits for a whole cluster. Waits for the
 * failover to finish first. Only if the node does not rejoin, falls back on scripts/services.sh.
 */
async function restoreRedisNode(port: number, cfg: RedisNodeConfig, log: (m: string) => void): Promise<void> {
  await waitFor('the surviving Redis nodes to report cluster_state:ok', answeringNodesOk, 60_000, 250).catch(() => undefined);
  if ((await redisCli(port, 'ping')) === null) {
    log(`restarting redis ${port}`);
    await startRedisNode(port, cfg);
  }
  try {
    await waitFor('a whole Redis Cluster', clusterWhole, 60_000, 250);
  } catch {
    log('the cluster is not whole after the restart: scripts/services.sh');
    await run('bash', [join(ROOT, 'scripts', 'services.sh')], {
      env: { ...process.env, WITH_POSTGRES: '0', WITH_RABBITMQ: '0', WITH_REDIS_STANDALONE: '0', WITH_REDIS_CLUSTER: '1' },
      timeout: 180_000,
    });
    await waitFor('a whole Redis Cluster', clusterWhole, 60_000, 250);
  }
}

const rabbitmqctl = (...args: string[]) => run('rabbitmqctl', args, { timeout: 120_000 });

async function rabbitUp(): Promise<boolean> {
  try {
    await rabbitmqctl('-q', 'await_startup', '--timeout', '30');
    return true;
  } catch {
    return false;
  }
}

async function ensureRabbitUp(): Promise<void> {
  if (await rabbitUp()) return;
  await rabbitmqctl('start_app');
  await rabbitmqctl('await_startup', '--timeout', '60');
}

async function pgCluster(): Promise<{ version: string; name: string }> {
  const { stdout } = await run('pg_lsclusters', ['-h'], { encoding: 'utf8' });
  const line = stdout
    .trim()
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .find((f) => f[2] === '5432');
  if (!line) throw new Error(`no Postgres cluster on 5432 in pg_lsclusters:\n${stdout}`);
  return { version: line[0], name: line[1] };
}

const pgctl = (c: { version: string; name: string }, ...args: string[]) =>
  run('pg_ctlcluster', ['--skip-systemctl-redirect', ...args.slice(1), c.version, c.name, args[0]], { timeout: 120_000 });

async function pgReady(): Promise<boolean> {
  try {
    await run('pg_isready', ['-q', '-h', '127.0.0.1', '-p', '5432'], { timeout: 5000 });
    return true;
  } catch {
    return false;
  }
}

async function ensurePostgresUp(): Promise<void> {
  if (await pgReady()) return;
  const c = await pgCluster();
  await pgctl(c, 'start').catch(() => undefined); // exit 2: already running
  await waitFor('Postgres accepting connections', pgReady, 60_000, 200);
}

/** The state the machine's services must be left in. */
async function servicesHealthy(): Promise<Check> {
  const [redis, rabbit, pg] = await Promise.all([clusterWhole(), rabbitUp(), pgReady()]);
  return {
    name: 'shared services healthy afterwards (Redis Cluster whole, RabbitMQ and Postgres up)',
    ok: redis && rabbit && pg,
    detail: `redis cluster ${redis ? 'ok, 6 nodes' : 'NOT whole'}, rabbitmq ${rabbit ? 'up' : 'DOWN'}, postgres ${pg ? 'up' : 'DOWN'}`,
  };
}

// ---- others on the machine ------------------------------------------------------------------------

function parentOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/** This process, its ancestors (npx, tsx, the shell) and its descendants (replicas). */
function ownPids(): Set<number> {
  const mine = new Set<number>();
  for (let p = process.pid; p > 1; p = parentOf(p)) mine.add(p);
  const children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!pid) continue;
    const pp = parentOf(pid);
    children.set(pp, [...(children.get(pp) ?? []), pid]);
  }
  const stack = [process.pid];
  while (stack.length) {
    for (const c of children.get(stack.pop()!) ?? []) {
      if (mine.has(c)) continue;
      mine.add(c);
      stack.push(c);
    }
  }
  return mine;
}

async function foreignRuns(): Promise<string[]> {
  let out: string;
  try {
    out = (await run('pgrep', ['-af', 'bench/|vitest|dist/main.js'], { encoding: 'utf8' })).stdout;
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  const mine = ownPids();
  return out
    .trim()
    .split('\n')
    .filter((l) => l && !mine.has(Number(l.split(' ')[0])));
}

/** Cases that restart shared services start only when nobody else's test or benchmark runs. */
async function waitForQuiet(log: (m: string) => void): Promise<void> {
  const deadline = Date.now() + 20 * 60_000;
  for (;;) {
    const others = await foreignRuns();
    if (others.length === 0) return;
    if (Date.now() > deadline) throw new Error(`the machine did not become quiet in 20 minutes: ${others.join(' | ')}`);
    log(`waiting for others to finish: ${others.map((l) => l.slice(0, 100)).join(' | ')}`);
    await sleep(30_000);
  }
}

// ---- the workload ---------------------------------------------------------------------------------

/** Keeps `target` tasks waiting, through the HTTP API of whichever replica answers. */
class Feeder {
  added = 0;
  failures = 0;
  private stopped = false;
  private running?: Promise<void>;
  private next = 0;

  constructor(
    private readonly db: Pool,
    private readonly apis: readonly ApiClient[],
    private readonly projectId: string,
    private readonly target: number,
  ) {}

  async fill(maxAdd = Infinity): Promise<void> {
    const r = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE project_id = $1 AND status = 'todo'`, [this.projectId]);
    const need = Math.min(maxAdd, this.target - r.rows[0].n);
    for (let i = 0; i < need && !this.stopped; i += 20) await Promise.all(Array.from({ length: Math.min(20, need - i) }, () => this.addOne()));
  }

  start(): void {
    this.running = (async () => {
      while (!this.stopped) {
        try {
          await this.fill(this.target);
        } catch {
          this.failures++;
        }
        await sleep(250);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }

  private async addOne(): Promise<void> {
    const priorities = ['urgent', 'high', 'medium', 'low'];
    for (let tries = 0; tries < this.apis.length; tries++) {
      const api = this.apis[this.next++ % this.apis.length];
      const n = this.added + this.failures;
      try {
        await api.addTask(this.projectId, { name: `chaos task ${n}`, description: `steady workload task ${n}`, priority: priorities[n % 4], labels: ['backend'] });
        this.added++;
        return;
      } catch {
        this.failures++;
      }
    }
  }
}

/** /health/ready of every replica, every 250 ms. */
class ReadinessMonitor {
  readonly probes: { at: number; url: string; status: number }[] = [];
  private stopped = false;
  private running?: Promise<void>;

  start(urls: readonly string[]): void {
    this.running = (async () => {
      while (!this.stopped) {
        await Promise.all(
          urls.map(async (url) => {
            const at = Date.now();
            let status = 0;
            try {
              const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
              await r.body?.cancel();
              status = r.status;
            } catch {
              // refused or timed out: 0
            }
            this.probes.push({ at, url, status });
          }),
        );
        await sleep(250);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

interface Crash {
  id: string;
  port: number;
  at: number;
  exit: string;
  log: string;
  restartedAt?: number;
}

/**
 * Runs the replicas and, like an orchestrator's restart policy, starts again one that exits on its
 * own: the crash is a failed check, never hidden, and the other invariants are then checked
 * through it. A replica killed on purpose stays dead.
 */
class Supervisor {
  /** The instance running on each port now, in port order. */
  readonly replicas: Replica[] = [];
  readonly crashes: Crash[] = [];
  private readonly intentional = new Set<Replica>();
  private readonly restarting: Promise<void>[] = [];
  private stopping = false;

  constructor(
    private readonly env: Record<string, string>,
    private readonly restart: boolean,
    private readonly log: (m: string) => void,
  ) {}

  async start(ports: readonly number[], startFleet: typeof SimAgentModule.startFleet): Promise<void> {
    const into: Replica[] = [];
    try {
      await startFleet(ports, this.env, into);
    } finally {
      this.replicas.push(...into.sort((a, b) => a.port - b.port));
      for (const r of this.replicas) this.watch(r);
    }
  }

  get urls(): string[] {
    return this.replicas.map((r) => r.url);
  }

  alive(): Replica[] {
    return this.replicas.filter(replicaAlive);
  }

  kill(r: Replica): void {
    this.intentional.add(r);
    r.proc.kill('SIGKILL');
  }

  async stop(stopAll: typeof SimAgentModule.stopAll): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.restarting);
    await stopAll(this.replicas, 10_000);
  }

  killAll(): void {
    this.stopping = true;
    for (const r of this.replicas) if (replicaAlive(r)) r.proc.kill('SIGKILL');
  }

  private watch(r: Replica): void {
    void r.exited.then(({ code, signal }) => {
      if (this.stopping || this.intentional.has(r)) return;
      const crash: Crash = { id: r.id, port: r.port, at: Date.now(), exit: signal ?? `code ${code}`, log: r.log().slice(-6000) };
      this.crashes.push(crash);
      this.log(`replica ${r.id} exited on its own (${crash.exit})${this.restart ? ': starting it again' : ''}`);
      if (this.restart) this.restarting.push(this.restartOn(r.port, crash));
    });
  }

  private async restartOn(port: number, crash: Crash): Promise<void> {
    await sleep(500);
    while (!this.stopping) {
      try {
        const n = await startReplica({ port, env: this.env, readyTimeoutMs: 90_000 });
        if (this.stopping) {
          n.proc.kill('SIGKILL');
          return;
        }
        this.replicas[this.replicas.findIndex((x) => x.port === port)] = n;
        crash.restartedAt = Date.now();
        this.watch(n);
        return;
      } catch {
        await sleep(1000); // Postgres may still be away: the replica cannot start without it
      }
    }
  }
}

/**
 * The simulated agents. One that gives up (its calls failed too many times, or no replica took its
 * connection) is counted and started again as a new process of the same agent would be: same id,
 * a fresh token, nothing remembered (request_next_task hands back the task it held).
 */
class Crew {
  readonly retired: SimAgent[] = [];
  readonly failures: { agentId: string; at: number; error: string }[] = [];
  private readonly loops: Promise<void>[] = [];
  private stopping = false;

  constructor(
    readonly current: SimAgent[],
    private readonly remake: (old: SimAgent, index: number) => Promise<SimAgent>,
  ) {}

  start(): void {
    for (let i = 0; i < this.current.length; i++) this.loops.push(this.keep(i));
  }

  all(): SimAgent[] {
    return [...this.retired, ...this.current];
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.allSettled(this.current.map((a) => a.stop()));
    await Promise.allSettled(this.loops);
  }

  private async keep(i: number): Promise<void> {
    while (!this.stopping) {
      const a = this.current[i];
      try {
        await a.start();
        return;
      } catch (err) {
        this.failures.push({ agentId: a.agentId, at: Date.now(), error: (err as Error).message });
      }
      for (;;) {
        if (this.stopping) return;
        await sleep(1000);
        try {
          const n = await this.remake(a, i);
          this.retired.push(a);
          this.current[i] = n;
          break;
        } catch {
          // no replica to get a token from yet
        }
      }
    }
  }
}

/** CPU use per second of the machine and of the processes that matter (from /proc). */
class CpuSampler {
  readonly points: { at: number; shares: Record<string, number> }[] = [];
  /** Ticks of the processes outside the run, by command name (who else used the machine). */
  readonly others = new Map<string, number>();
  private timer?: NodeJS.Timeout;
  private last?: { at: number; total: number; idle: number; ticks: Map<number, number> };
  private readonly hz = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Mean CPU use (in cores) of each group between two times. */
  mean(from: number, to: number): Record<string, number> {
    const pts = this.points.filter((p) => p.at > from && p.at <= to);
    const out: Record<string, number> = {};
    for (const p of pts) for (const [k, v] of Object.entries(p.shares)) out[k] = (out[k] ?? 0) + v / pts.length;
    return out;
  }

  /** The processes outside the run that used the most CPU, in CPU seconds. */
  topOthers(n = 5): string {
    return [...this.others]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([c, t]) => `${c} ${round(t / this.hz, 1)} s`)
      .join(', ');
  }

  /** The script a node process runs (what tells one engineer's tool from another's). */
  private script(pid: number): string {
    try {
      const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(1);
      const file = args.find((a) => !a.startsWith('-') && /[./]/.test(a) && !a.includes('preflight') && !a.includes('loader')) ?? '';
      return file.split('/').slice(-2).join('/');
    } catch {
      return '?';
    }
  }

  private readonly ancestors = (() => {
    const a = new Set<number>();
    for (let p = parentOf(process.pid); p > 1; p = parentOf(p)) a.add(p);
    return a;
  })();

  private group(pid: number, ppid: number, comm: string): string {
    // This process and the ones that started it (npx, tsx: they pass its output on).
    if (pid === process.pid || this.ancestors.has(pid)) return 'load';
    // Replicas are this process's children (also one still starting after a crash).
    if (ppid === process.pid && comm === 'node') return 'replicas';
    if (comm === 'postgres') return 'postgres';
    if (comm === 'beam.smp' || comm === 'erl_child_setup') return 'rabbitmq';
    if (comm.startsWith('redis-server')) return 'redis';
    return 'other';
  }

  private sample(): void {
    try {
      const at = Date.now();
      const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
      const idle = cpu[3] + (cpu[4] ?? 0);
      const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
      const ticks = new Map<number, number>();
      const byGroup = new Map<string, number>();
      const prev = this.last;
      for (const d of readdirSync('/proc')) {
        const pid = Number(d);
        if (!pid) continue;
        let stat: string;
        try {
          stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        } catch {
          continue; // ended meanwhile
        }
        const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        const t = Number(f[11]) + Number(f[12]);
        ticks.set(pid, t);
        // Per process: a process started since the last sample spent all its ticks in between.
        const delta = t - (prev?.ticks.get(pid) ?? 0);
        const g = this.group(pid, Number(f[1]), comm);
        byGroup.set(g, (byGroup.get(g) ?? 0) + delta);
        if (g === 'other' && prev && delta > 0) {
          const name = comm === 'node' ? `node ${this.script(pid)}` : comm;
          this.others.set(name, (this.others.get(name) ?? 0) + delta);
        }
      }
      this.last = { at, total, idle, ticks };
      if (!prev) return;
      const dt = ((at - prev.at) / 1000) * this.hz;
      const shares: Record<string, number> = { machine_busy: round((total - idle - (prev.total - prev.idle)) / dt, 2) };
      for (const [g, t] of byGroup) shares[g] = round(t / dt, 2);
      this.points.push({ at, shares });
    } catch {
      // /proc unreadable for a moment: one sample less
    }
  }
}

interface DeadLease {
  agentId: string;
  taskId: string;
  at: number;
}

/** An agent that takes a task and is never heard of again (its process died). */
async function deadAgent(apis: readonly ApiClient[], first: number, apiKey: string, agentId: string): Promise<DeadLease | undefined> {
  // Through whichever replica answers (one may be down by now).
  for (let k = 0; k < apis.length * 3; k++) {
    const api = apis[(first + k) % apis.length];
    let s: Awaited<ReturnType<ApiClient['connect']>> | undefined;
    try {
      s = await api.connect(await api.token(apiKey, agentId));
      const reg = await s.call('register_agent', { agent_id: agentId, name: agentId, role: 'developer', skills: ['backend'] }, 10_000);
      if (!reg.success) throw new Error(`${agentId}: register_agent ${JSON.stringify(reg)}`);
      for (let i = 0; i < 50; i++) {
        const r = await s.call('request_next_task', { agent_id: agentId, request_id: `${agentId}-${k}-${i}` }, 10_000);
        if (r.success) return { agentId, taskId: String(r.task.id), at: Date.now() };
        await sleep(200);
      }
      return undefined;
    } catch {
      await sleep(500);
    } finally {
      s?.close(); // vanishes: never reports again
    }
  }
  return undefined;
}

// ---- a run ------------------------------------------------------------------------------------------

interface Run {
  o: ChaosOptions;
  fleet: FleetEnv;
  db: Pool;
  databaseUrl: string;
  sup: Supervisor;
  urls: string[];
  apis: ApiClient[];
  projectId: string;
  crew: Crew;
  sampler: InvariantSampler;
  readiness: ReadinessMonitor;
  proxies?: ProxySet;
  runStart: number;
  /** Registered before a fault: brings the service back whatever happens. */
  restorers: (() => Promise<void>)[];
}

interface FaultOutcome {
  injectAt: number;
  /** The fault is over (service back, failover done, delay off); = injectAt for a replica kill. */
  restoredAt: number;
  /** Dependency down (for the sweeper allowance). */
  outage?: Outage;
  metrics: Record<string, number>;
  checks: Check[];
  notes: string[];
  series?: Record<string, Series>;
  /** Checked and measured after the run, when the agents have finished. */
  after?: (endAt: number) => { checks?: Check[]; metrics?: Record<string, number>; notes?: string[] };
}

const replicaAlive = (r: Replica) => r.proc.exitCode === null && r.proc.signalCode === null;

/** The lines of a crash's output that say what happened (an unhandled error and its origin). */
function crashSummary(log: string): string {
  const lines = stripVTControlCharacters(log)
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /Unhandled|^(\w*Error|error):|^Emitted 'error' event on|^code: '|^severity:|^at .*\(\/.*\/src\//.test(l));
  return [...new Set(lines)].slice(0, 8).join(' | ') || log.slice(-300);
}

function replicasSurvived(r: Run): Check {
  const c = r.sup.crashes;
  return {
    name: 'no replica process died',
    ok: c.length === 0,
    detail: c.length
      ? `${c.length} crash(es), ${c.filter((x) => x.restartedAt).length} started again: ` +
        c.map((x) => `${x.id} at +${round((x.at - r.runStart) / 1000, 1)} s (${x.exit}): ${crashSummary(x.log)}`).join('; ')
      : undefined,
  };
}

async function allReady(urls: readonly string[]): Promise<boolean> {
  const s = await Promise.all(urls.map((u) => fetch(`${u}/health/ready`, { signal: AbortSignal.timeout(2000) }).then((x) => (void x.body?.cancel(), x.status), () => 0)));
  return s.every((x) => x === 200);
}

const injectors: Record<ChaosCase, (r: Run) => Promise<FaultOutcome>> = {
  'replica-kill': async (r) => {
    const victim = r.sup.replicas[1];
    const agents = r.crew.current;
    // Catch leases in hand, not only claims: wait (a little) for agents on the victim to hold tasks.
    await waitFor('agents holding tasks on the victim', () => agents.filter((a) => a.url === victim.url && a.holding).length >= Math.min(6, agents.length / 6), 10_000, 20).catch(
      () => undefined,
    );
    const onVictim = agents.filter((a) => a.url === victim.url);
    const held = onVictim.filter((a) => a.holding !== undefined).map((a) => ({ agent: a, taskId: a.holding! }));
    const injectAt = Date.now();
    r.sup.kill(victim);
    await victim.exited;
    const moved = () => onVictim.map((a) => a.interruptions.find((i) => i.from === victim.url && i.at >= injectAt));
    await waitFor("the killed replica's agents served again", () => moved().every((m) => m?.servedAt !== undefined), 60_000, 50).catch(() => undefined);
    const moves = moved();
    const servedAfterKill = moves.flatMap((m) => (m?.servedAt !== undefined ? [m.servedAt - injectAt] : []));
    const noticed = moves.flatMap((m) => (m ? [m.at - injectAt] : []));
    const others = agents.filter((a) => !onVictim.includes(a) && a.interruptions.some((i) => i.at >= injectAt));
    return {
      injectAt,
      restoredAt: injectAt,
      metrics: {
        agents_on_killed_replica: onVictim.length,
        tasks_held_at_kill: held.length,
        served_again_p50_ms: percentile(servedAfterKill, 50),
        served_again_p99_ms: percentile(servedAfterKill, 99),
        served_again_max_ms: servedAfterKill.length ? Math.max(...servedAfterKill) : NaN,
        disconnect_noticed_max_ms: noticed.length ? Math.max(...noticed) : NaN,
        agents_not_served_again: moves.filter((m) => m?.servedAt === undefined).length,
        other_agents_interrupted: others.length,
      },
      checks: [
        {
          name: "every agent of the killed replica served again by another replica",
          ok: onVictim.length > 0 && moves.every((m) => m?.servedAt !== undefined && m.to !== victim.url),
          detail: `${servedAfterKill.length}/${onVictim.length} served again, kill → first answer elsewhere p50 ${percentile(servedAfterKill, 50)} ms, max ${Math.max(0, ...servedAfterKill)} ms`,
        },
      ],
      notes: [`killed ${victim.id} (pid ${victim.proc.pid}) with ${onVictim.length} agents on it, ${held.length} of them holding a task`],
      after: () => {
        const lost = held.filter((h) => !h.agent.completed.includes(h.taskId));
        return {
          checks: [
            {
              name: 'tasks held through the killed replica finished by the agents holding them',
              ok: lost.length === 0,
              detail: `${held.length - lost.length}/${held.length}${lost.length ? `; not: ${lost.map((h) => `${h.agent.agentId} ${h.taskId}`).join(', ')}` : ''}`,
            },
          ],
        };
      },
    };
  },

  'redis-failover': async (r) => {
    await waitFor('a whole Redis Cluster before the kill', clusterWhole, 60_000, 250);
    const prefix = r.fleet.env.REDIS_KEY_PREFIX;
    const masters = (await clusterNodes(7000))!.filter(isMaster);
    const keys = await Promise.all(
      masters.map(async (m) => ((await redisCli(m.port, '--scan', '--pattern', `${prefix}:*`)) ?? '').split('\n').filter(Boolean).length),
    );
    const vi = keys.indexOf(Math.max(...keys));
    const victim = masters[vi];
    const firstSlot = Number(victim.slots[0].split('-')[0]);
    const cfg = await redisNodeConfig(victim.port);
    const pid = await redisPid(victim.port);
    let killed = false;
    r.restorers.push(async () => {
      if (killed) await restoreRedisNode(victim.port, cfg, r.o.log);
    });
    const survivor = REDIS_PORTS.find((p) => p !== victim.port)!;
    r.o.log(`killing redis master ${victim.port} (pid ${pid}): ${keys[vi]} of ${keys.reduce((a, b) => a + b, 0)} keys of the run`);
    const injectAt = Date.now();
    killed = true;
    process.kill(pid, 'SIGKILL');
    let promoted: NodeLine | undefined;
    const failoverAt = await waitFor(
      'the Redis Cluster to promote a replica',
      async () => {
        const nodes = await clusterNodes(survivor);
        promoted = nodes?.find((n) => isMaster(n) && ownsSlot(n, firstSlot) && n.id !== victim.id);
        return promoted !== undefined && (await clusterStateOk(survivor));
      },
      60_000,
      50,
    );
    // The machine's cluster must be whole again: restart the killed node now (it rejoins as a replica).
    const restartAt = Date.now();
    await restoreRedisNode(victim.port, cfg, r.o.log);
    const wholeAt = Date.now();
    killed = false;
    const role = (await clusterNodes(victim.port))?.find((n) => n.id === victim.id);
    const notReady = r.readiness.probes.filter((p) => p.at >= injectAt && p.at <= failoverAt && p.status !== 200).length;
    return {
      injectAt,
      restoredAt: failoverAt,
      outage: { from: injectAt, to: failoverAt },
      metrics: {
        killed_master_port: victim.port,
        keys_on_killed_master: keys[vi],
        keys_of_run: keys.reduce((a, b) => a + b, 0),
        failover_ms: failoverAt - injectAt,
        node_restart_to_whole_cluster_ms: wholeAt - restartAt,
        readiness_non_200_during_failover: notReady,
      },
      checks: [
        {
          name: 'Redis Cluster whole again, the killed node back as a replica',
          ok: (await clusterWhole()) && role !== undefined && role.flags.includes('slave'),
          detail: `127.0.0.1:${victim.port} is now ${role?.flags.join(',') ?? 'missing'}; 127.0.0.1:${promoted?.port} took over its slots`,
        },
      ],
      notes: [
        `killed master 127.0.0.1:${victim.port} (keys of the run per master: ${masters.map((m, i) => `${m.port}=${keys[i]}`).join(', ')}); 127.0.0.1:${promoted?.port} promoted after ${failoverAt - injectAt} ms`,
      ],
    };
  },

  'rabbitmq-restart': async (r) => {
    let stopped = false;
    r.restorers.push(async () => {
      if (stopped) await ensureRabbitUp();
    });
    const injectAt = Date.now();
    stopped = true;
    await rabbitmqctl('stop_app');
    const stoppedAt = Date.now();
    await sleep(r.o.downS * 1000);
    const startAt = Date.now();
    await rabbitmqctl('start_app');
    await rabbitmqctl('await_startup', '--timeout', '60');
    const restoredAt = Date.now();
    stopped = false;
    return {
      injectAt,
      restoredAt,
      outage: { from: injectAt, to: restoredAt },
      metrics: { stop_app_ms: stoppedAt - injectAt, broker_down_ms: restoredAt - stoppedAt, start_app_ms: restoredAt - startAt },
      checks: [],
      notes: [`rabbitmqctl stop_app took ${stoppedAt - injectAt} ms; broker away ${restoredAt - injectAt} ms in all`],
    };
  },

  'postgres-restart': async (r) => {
    const cluster = await pgCluster();
    let stopped = false;
    r.restorers.push(async () => {
      if (stopped) await ensurePostgresUp();
    });
    const injectAt = Date.now();
    stopped = true;
    await pgctl(cluster, 'stop', '-m', 'fast');
    const stoppedAt = Date.now();
    await sleep(r.o.downS * 1000);
    const startAt = Date.now();
    await pgctl(cluster, 'start');
    const pgUpAt = await waitFor('Postgres accepting connections', pgReady, 60_000, 50);
    stopped = false;
    // Every replica of the run, also one started again after a crash.
    const readyAt = await waitFor('every replica ready again', () => allReady(r.urls), 90_000, 100).catch(() => NaN);
    return {
      injectAt,
      restoredAt: Number.isNaN(readyAt) ? pgUpAt : readyAt,
      outage: { from: injectAt, to: pgUpAt },
      metrics: {
        pg_stop_ms: stoppedAt - injectAt,
        pg_start_ms: pgUpAt - startAt,
        pg_down_ms: pgUpAt - injectAt,
        replicas_ready_after_pg_ms: readyAt - pgUpAt,
      },
      checks: [
        {
          name: 'every replica ready again after Postgres came back',
          ok: !Number.isNaN(readyAt),
          detail: Number.isNaN(readyAt) ? 'not ready within 90 s' : `${readyAt - pgUpAt} ms after Postgres accepted connections`,
        },
      ],
      notes: [`pg_ctlcluster ${cluster.version} ${cluster.name} stop -m fast (${stoppedAt - injectAt} ms), down ${r.o.downS} s, start (${pgUpAt - startAt} ms)`],
    };
  },

  latency: async (r) => {
    const proxies = r.proxies!;
    const injectAt = Date.now();
    proxies.setDelay(r.o.latencyMs, r.o.jitterMs);
    await sleep(r.o.phaseS * 1000);
    proxies.setDelay(0, 0);
    const restoredAt = Date.now();
    // Three windows: before the delay, with it (its first 2 s left out), after it (a check on drift).
    const windows = {
      base: { from: Math.max(r.runStart + 5000, injectAt - r.o.phaseS * 1000), to: injectAt },
      delayed: { from: injectAt + 2000, to: restoredAt },
      after: { from: restoredAt + 2000, to: restoredAt + 2000 + r.o.phaseS * 1000 },
    };
    const measure = (endAt: number) => {
      const metrics: Record<string, number> = { added_delay_ms_each_way: r.o.latencyMs, jitter_ms: r.o.jitterMs };
      const notes: string[] = [];
      const calls = r.crew.all().flatMap((a) => a.calls);
      for (const event of ['request_next_task', 'report_task_progress']) {
        const lat = (w: { from: number; to: number }) =>
          calls.filter((c) => c.event === event && isOk(c) && c.sentAt >= w.from && c.sentAt < Math.min(w.to, endAt)).map((c) => c.endedAt! - c.sentAt);
        const l = { base: lat(windows.base), delayed: lat(windows.delayed), after: lat(windows.after) };
        for (const p of [50, 95, 99]) for (const w of ['base', 'delayed', 'after'] as const) metrics[`${event}_p${p}_ms_${w}`] = percentile(l[w], p);
        const added = percentile(l.delayed, 50) - percentile(l.base, 50);
        metrics[`${event}_p50_added_ms`] = added;
        // Each sequential round trip to Postgres or Redis pays the delay twice (plus half the jitter on average).
        metrics[`${event}_sequential_round_trips_est`] = round(added / (2 * (r.o.latencyMs + r.o.jitterMs / 2)), 1);
        notes.push(
          `${event}: p50 ${percentile(l.base, 50)} → ${percentile(l.delayed, 50)} → ${percentile(l.after, 50)} ms, ` +
            `p99 ${percentile(l.base, 99)} → ${percentile(l.delayed, 99)} → ${percentile(l.after, 99)} ms (before → delayed → after; n=${l.base.length}/${l.delayed.length}/${l.after.length})`,
        );
      }
      return { metrics, notes };
    };
    return { injectAt, restoredAt, metrics: {}, checks: [], notes: [], after: measure };
  },
};

/** Established TCP connections of these processes to these ports (`ss`). */
async function connectionsTo(pids: readonly number[], ports: readonly number[]): Promise<number> {
  const { stdout } = await run('ss', ['-Htnp', 'state', 'established'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return stdout.split('\n').filter((l) => {
    const f = l.trim().split(/\s+/);
    const peer = Number(f[3]?.split(':').pop());
    return ports.includes(peer) && pids.some((p) => l.includes(`pid=${p},`));
  }).length;
}

// ---- figures --------------------------------------------------------------------------------------

/** Index of the first element ≥ x in a sorted array. */
function lowerBound(xs: readonly number[], x: number): number {
  let lo = 0;
  let hi = xs.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const isOk = (c: CallRecord) => c.outcome === 'answered' && c.code === undefined;

/**
 * Throughput around the fault: answered calls per second before it (the baseline), the lowest
 * 1-s rate after it, and the time from the fault to the end of the last second below half the
 * baseline (within 30 s of the fault being over).
 */
function recovery(okEnds: readonly number[], runStart: number, f: FaultOutcome, horizon: number) {
  const rate = (from: number, to: number) => ((lowerBound(okEnds, to) - lowerBound(okEnds, from)) * 1000) / (to - from);
  const baseFrom = Math.max(runStart + 3000, f.injectAt - 10_000);
  const baseline = rate(baseFrom, f.injectAt);
  const end = Math.min(horizon, f.restoredAt + 30_000);
  let lastBelow: number | undefined;
  let minRate = Infinity;
  for (let t = f.injectAt; t + 1000 <= end; t += 250) {
    const x = rate(t, t + 1000);
    minRate = Math.min(minRate, x);
    if (x < baseline / 2) lastBelow = t;
  }
  const inWindow = okEnds.slice(lowerBound(okEnds, f.injectAt), lowerBound(okEnds, end));
  let gap = inWindow.length ? inWindow[0] - f.injectAt : end - f.injectAt;
  for (let i = 1; i < inWindow.length; i++) gap = Math.max(gap, inWindow[i] - inWindow[i - 1]);
  return {
    baseline_ok_calls_per_s: round(baseline, 1),
    min_ok_calls_per_s_after_fault: Number.isFinite(minRate) ? round(minRate, 1) : NaN,
    time_to_recover_ms: lastBelow === undefined ? 0 : lastBelow + 1000 - f.injectAt,
    longest_gap_without_answer_ms: gap,
  };
}

function callFigures(agents: readonly SimAgent[], f: FaultOutcome) {
  const calls = agents.flatMap((a) => a.calls);
  const attempts = new Map<string, number>();
  for (const c of calls) if (c.requestId) attempts.set(`${c.agentId}|${c.requestId}`, (attempts.get(`${c.agentId}|${c.requestId}`) ?? 0) + 1);
  const inFlight = calls.filter((c) => c.sentAt < f.injectAt && (c.endedAt === undefined || c.endedAt >= f.injectAt));
  const during = calls.filter((c) => c.sentAt >= f.injectAt && c.sentAt <= Math.max(f.restoredAt, f.injectAt + 1000));
  const codes: Record<string, number> = {};
  for (const c of calls) if (c.code) codes[c.code] = (codes[c.code] ?? 0) + 1;
  const lat = (event: string) => calls.filter((c) => c.event === event && isOk(c)).map((c) => c.endedAt! - c.sentAt);
  const rnt = lat('request_next_task');
  const rtp = lat('report_task_progress');
  return {
    figures: {
      call_attempts: calls.length,
      calls_answered_ok: calls.filter(isOk).length,
      call_timeouts: calls.filter((c) => c.outcome === 'timeout').length,
      // When the timed-out calls were sent: before the fault, while it lasted, or after it was over.
      call_timeouts_sent_before_fault: calls.filter((c) => c.outcome === 'timeout' && c.sentAt < f.injectAt).length,
      call_timeouts_sent_during_fault: calls.filter((c) => c.outcome === 'timeout' && c.sentAt >= f.injectAt && c.sentAt <= f.restoredAt).length,
      call_timeouts_sent_after_fault: calls.filter((c) => c.outcome === 'timeout' && c.sentAt > f.restoredAt).length,
      calls_cut_by_disconnect: calls.filter((c) => c.outcome === 'disconnected').length,
      error_answers: calls.filter((c) => c.code !== undefined).length,
      logical_calls_retried: [...attempts.values()].filter((n) => n > 1).length,
      calls_in_flight_at_fault: inFlight.length,
      calls_in_flight_at_fault_not_answered: inFlight.filter((c) => c.outcome !== 'answered').length,
      calls_sent_during_fault: during.length,
      calls_failed_during_fault: during.filter((c) => !isOk(c)).length,
      request_next_task_p50_ms: percentile(rnt, 50),
      request_next_task_p99_ms: percentile(rnt, 99),
      report_task_progress_p50_ms: percentile(rtp, 50),
      report_task_progress_p99_ms: percentile(rtp, 99),
      reconnects: agents.reduce((s, a) => s + Math.max(0, a.connects - 1), 0),
    },
    codes,
  };
}

function seriesOf(r: Run, f: FaultOutcome, end: number, cpu: CpuSampler): Record<string, Series> {
  const calls = r.crew.all().flatMap((a) => a.calls);
  const sec = (t: number) => Math.floor((t - r.runStart) / 1000);
  const last = sec(end);
  const ok = new Array<number>(last + 1).fill(0);
  const lat: number[][] = Array.from({ length: last + 1 }, () => []);
  for (const c of calls) {
    if (!isOk(c) || c.endedAt === undefined) continue;
    const s = sec(c.endedAt);
    if (s >= 0 && s <= last) ok[s]++;
    const s2 = sec(c.sentAt);
    if (s2 >= 0 && s2 <= last) lat[s2].push(c.endedAt - c.sentAt);
  }
  const pending = new Map<number, number>();
  for (const p of r.sampler.pending) pending.set(sec(p.at), Math.max(pending.get(sec(p.at)) ?? 0, p.n));
  const ready = new Map<number, Map<string, boolean>>();
  for (const p of r.readiness.probes) {
    const m = ready.get(sec(p.at)) ?? new Map<string, boolean>();
    // A replica counts as ready in a second only if every probe of it in that second said 200.
    m.set(p.url, (m.get(p.url) ?? true) && p.status === 200);
    ready.set(sec(p.at), m);
  }
  const fault = `fault at ${round((f.injectAt - r.runStart) / 1000, 1)} s, over at ${round((f.restoredAt - r.runStart) / 1000, 1)} s`;
  return {
    ok_calls_per_s: { label: `answered calls per second (${fault})`, xLabel: 's', yLabel: 'calls/s', points: ok.map((y, x) => ({ x, y })) },
    p99_ms: {
      label: `p99 answer time of calls sent in each second (${fault})`,
      xLabel: 's',
      yLabel: 'ms',
      points: lat.flatMap((l, x) => (l.length ? [{ x, y: percentile(l, 99) }] : [])),
    },
    outbox_pending: { label: 'unpublished outbox rows (max per second)', xLabel: 's', yLabel: 'rows', points: [...pending].map(([x, y]) => ({ x, y })) },
    replicas_ready: {
      label: 'replicas answering /health/ready 200',
      xLabel: 's',
      yLabel: 'replicas',
      points: [...ready].map(([x, m]) => ({ x, y: [...m.values()].filter(Boolean).length })),
    },
    ...Object.fromEntries(
      ['machine_busy', 'replicas', 'postgres', 'rabbitmq', 'redis', 'load', 'other'].map((g) => [
        `cpu_${g}`,
        {
          label: `CPU used by ${g === 'machine_busy' ? 'the whole machine' : g === 'load' ? 'the load process (agents)' : g === 'other' ? 'other processes' : g} (cores of 2)`,
          xLabel: 's',
          yLabel: 'cores',
          points: cpu.points.filter((p) => p.at <= end).map((p) => ({ x: round((p.at - r.runStart) / 1000, 1), y: p.shares[g] ?? 0 })),
        },
      ]),
    ),
  };
}

function eventFigures(r: Run, f: FaultOutcome) {
  const p = r.sampler.pending;
  const at = p.filter((x) => x.at <= f.injectAt).at(-1)?.n ?? NaN;
  const window = p.filter((x) => x.at >= f.injectAt && x.at <= f.restoredAt + 30_000);
  const max = window.length ? Math.max(...window.map((x) => x.n)) : NaN;
  // Back to normal: the first sample after the fault at or below the usual backlog before it.
  const before = p.filter((x) => x.at < f.injectAt && x.at >= f.injectAt - 10_000).map((x) => x.n);
  const usual = Math.max(10, percentile(before, 95) || 0);
  const back = p.find((x) => x.at >= f.restoredAt && x.n <= usual);
  return {
    outbox_pending_at_fault: at,
    outbox_pending_max_after_fault: max,
    outbox_back_to_normal_after_fault_over_ms: back ? back.at - f.restoredAt : NaN,
  };
}

// ---- one case -------------------------------------------------------------------------------------

export async function runChaosCase(o: ChaosOptions): Promise<BenchResult> {
  const startedAt = new Date();
  const t0 = Date.now();
  const log = o.log;
  const { fleetEnv, makeAgents, startFleet, stopAll, SimAgent } = await loadSimAgent();
  const restorers: (() => Promise<void>)[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  let sup: Supervisor | undefined;
  let stopLoad = async () => undefined as unknown;
  emergency = async () => {
    sup?.killAll();
    await Promise.allSettled(restorers.map((f) => f()));
    // The run's database and broker topology go too: nothing of an interrupted run is left behind.
    for (const c of [...cleanups].reverse()) await c().catch(() => undefined);
  };
  killReplicasNow = () => sup?.killAll();
  try {
    if (!redisClusterUp()) ensureRedisCluster();
    if (o.waitQuiet === 'all' || (o.waitQuiet === 'disturbing' && DISTURBING.has(o.chaosCase))) await waitForQuiet(log);
    const pre = await servicesHealthy();
    if (!pre.ok) throw new Error(`services not healthy before the run: ${pre.detail}`);

    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    const db = new Pool({ connectionString: database.url, max: 4, connectionTimeoutMillis: 5000 });
    db.on('error', () => undefined); // a Postgres restart kills idle clients; the pool opens new ones
    cleanups.push(() => db.end());
    const prefix = `pm-agent-chaos-${randomBytes(4).toString('hex')}`;
    cleanups.push(() => deleteTopology(o.rabbitUrl, prefix));

    let databaseUrl = database.url;
    let redisNodes = TEST_REDIS_CLUSTER;
    let proxies: ProxySet | undefined;
    if (o.chaosCase === 'latency') {
      // Proxy ports keep the digit count of the real ones: the cluster's announcements are rewritten in place.
      const redisPort = (i: number) => o.basePort + 10 + i;
      const map = Object.fromEntries(REDIS_PORTS.map((p, i) => [p, redisPort(i)]));
      const pgPort = o.basePort + 16;
      const set = await ProxySet.start([
        ...REDIS_PORTS.map((p, i) => ({ name: `redis-${p}`, listenPort: redisPort(i), targetHost: '127.0.0.1', targetPort: p, rewrite: redisClusterRewrites('127.0.0.1', map) })),
        { name: 'postgres', listenPort: pgPort, targetHost: '127.0.0.1', targetPort: 5432 },
      ]);
      proxies = set;
      cleanups.push(() => set.close());
      const u = new URL(database.url);
      u.port = String(pgPort);
      databaseUrl = u.toString();
      redisNodes = REDIS_PORTS.slice(0, 3).map((_, i) => `127.0.0.1:${redisPort(i)}`).join(',');
    }

    const fleet = fleetEnv(databaseUrl, {
      REDIS_CLUSTER_NODES: redisNodes,
      RABBITMQ_URL: o.rabbitUrl,
      RABBITMQ_PREFIX: prefix,
      LEASE_TIMEOUT_SCALE: String(o.leaseScale),
      LEASE_SWEEP_INTERVAL_MS: String(o.sweepMs),
      CONSUMER_RETRY_BASE_MS: '200',
      SHUTDOWN_GRACE_MS: '5000',
    });
    const supervisor = (sup = new Supervisor(fleet.env, o.restartCrashed, log));
    cleanups.push(() => supervisor.stop(stopAll));
    const ports = [0, 1, 2].map((i) => o.basePort + i);
    log(`${o.chaosCase}: starting 3 replicas on ${ports.join(', ')}`);
    await supervisor.start(ports, startFleet);
    const urls = supervisor.urls;
    const apis = urls.map((u) => new ApiClient(u, fleet.adminKey));
    const project = await apis[0].createProject(`chaos ${o.chaosCase}`);
    await installDeliveryLog(db);

    const feeder = new Feeder(db, apis, project.id, Math.max(20, Math.round(o.agents * o.backlog)));
    await feeder.fill();
    feeder.start();
    // The API key is verified once (scrypt) and cached: one token first, then the rest in parallel.
    await apis[0].token(project.api_key, 'warm-up');
    const agentOpts = { workMs: o.workMs, idleMs: 1000, callTimeoutMs: o.callTimeoutMs, maxAttempts: 40 };
    const generations = new Map<string, number>();
    const crew = new Crew(await makeAgents(apis[0], project.api_key, urls, o.agents, agentOpts), async (old, i) => {
      for (const api of apis) {
        let token: string;
        try {
          token = await api.token(project.api_key, old.agentId);
        } catch {
          continue; // that replica is away: the next one
        }
        const n = new SimAgent({ ...agentOpts, agentId: old.agentId, token, urls, start: i % urls.length });
        // SimAgent numbers its request_ids `<agent>-<seq>` from 1: a new process of the same agent
        // would replay its predecessor's stored answers. Its numbering starts further on instead.
        const gen = (generations.get(old.agentId) ?? 0) + 1;
        generations.set(old.agentId, gen);
        (n as unknown as { seq: number }).seq = gen * 1_000_000;
        return n;
      }
      throw new Error('no replica answered for a token');
    });
    // The sampler reads Postgres directly, never through a proxy.
    const sampler = new InvariantSampler(database.url, project.id, 100);
    const readiness = new ReadinessMonitor();
    const cpu = new CpuSampler();
    const lag = monitorEventLoopDelay({ resolution: 10 });
    const r: Run = { o, fleet, db, databaseUrl, sup: supervisor, urls, apis, projectId: project.id, crew, sampler, readiness, proxies, runStart: Date.now(), restorers };
    stopLoad = async () => {
      await feeder.stop();
      await crew.stop();
      await sampler.stop();
      await readiness.stop();
      cpu.stop();
    };
    sampler.start();
    readiness.start(urls);
    cpu.start();
    lag.enable();
    log(`${o.chaosCase}: ${o.agents} agents working (${feeder.added} tasks so far); fault in ${o.warmupS} s`);
    crew.start();

    // Agents that take a task and die: half early, half just before the fault.
    const deadIds = Array.from({ length: o.deadAgents }, (_, i) => `dead-${String(i).padStart(2, '0')}`);
    const half = Math.ceil(deadIds.length / 2);
    const spawnDead = (ids: string[]) => Promise.all(ids.map((id, i) => deadAgent(apis, i, project.api_key, id).catch(() => undefined)));
    const dead1 = sleep(2000).then(() => spawnDead(deadIds.slice(0, half)));
    const dead2 = sleep(Math.max(2500, o.warmupS * 1000 - 2000)).then(() => spawnDead(deadIds.slice(half)));
    await sleep(o.warmupS * 1000);
    const deadLeases = [...(await dead1), ...(await dead2)].filter((d): d is DeadLease => d !== undefined);

    log(`${o.chaosCase}: injecting the fault`);
    const fault = await injectors[o.chaosCase](r);
    log(`${o.chaosCase}: fault over after ${fault.restoredAt - fault.injectAt} ms; steady run for ${o.afterS} s more`);
    await sleep(o.afterS * 1000);
    const feedStopAt = Date.now();
    await feeder.stop();
    // Every task finishes: dead agents' tasks come back after their lease and grace.
    const notDone = async () =>
      (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE project_id = $1 AND status <> 'done'`, [project.id])).rows[0].n;
    log(`${o.chaosCase}: feeder stopped (${feeder.added} tasks); waiting for the last tasks`);
    await waitFor('every task done', async () => (await notDone()) === 0 || (supervisor.alive().length === 0 && !o.restartCrashed), o.drainS * 1000, 250).catch((err: Error) => log(err.message));
    const endAt = Date.now();
    await stopLoad();
    lag.disable();

    log(`${o.chaosCase}: checking invariants`);
    const agents = crew.all();
    const later = fault.after?.(feedStopAt) ?? {};
    const tasksCheck = await checkTasks(db, project.id, {
      deadAgents: deadLeases.map((d) => d.agentId),
      sweepIntervalMs: o.sweepMs,
      slackMs: o.sweepSlackMs ?? 2000,
      outages: fault.outage ? [fault.outage] : [],
    });
    const done = new Set(
      (await db.query<{ id: string }>(`SELECT id::text AS id FROM tasks WHERE project_id = $1 AND status = 'done'`, [project.id])).rows.map((x) => x.id),
    );
    const deadTasks = new Set(deadLeases.map((d) => d.taskId));
    // Nothing can move without a replica: do not wait for it.
    const events = await checkEvents(db, project.id, { timeoutMs: supervisor.alive().length || o.restartCrashed ? o.drainS * 1000 : 3000, rabbit: { url: o.rabbitUrl, prefix } });
    const agentChecks = checkAgents(agents, crew.failures.map((f) => new Error(`${f.agentId} at +${round((f.at - r.runStart) / 1000, 1)} s: ${f.error}`)), done);
    const checks: Check[] = [...tasksCheck.checks, ...samplerChecks(sampler), ...agentChecks, ...events.checks, ...fault.checks, ...(later.checks ?? [])];
    checks.push(replicasSurvived(r)); // a replica killed on purpose is not a crash
    if (proxies) {
      const live = supervisor.alive().map((x) => x.proc.pid!);
      const direct = await connectionsTo(live, [...REDIS_PORTS, 5432]);
      const t = proxies.totals();
      checks.push({
        name: 'the replicas reached Postgres and Redis only through the latency proxies',
        ok: direct === 0 && t.bytesUp > 0 && t.rewrites > 0,
        detail: `${direct} direct connections; through the proxies: ${t.connections} connections, ${round(t.bytesUp / 2 ** 20, 1)} MiB up, ${round(t.bytesDown / 2 ** 20, 1)} MiB down, ${t.rewrites} cluster addresses rewritten`,
      });
    }

    const calls = callFigures(agents, fault);
    const okEnds = agents
      .flatMap((a) => a.calls)
      .filter(isOk)
      .map((c) => c.endedAt!)
      .sort((a, b) => a - b);
    const cpuBefore = cpu.mean(fault.injectAt - 10_000, fault.injectAt);
    const cpuDuring = cpu.mean(fault.injectAt, Math.max(fault.restoredAt, fault.injectAt + 5000));
    const metrics: Record<string, number> = {
      ...recovery(okEnds, r.runStart, fault, feedStopAt),
      ...fault.metrics,
      ...(later.metrics ?? {}),
      ...calls.figures,
      ...eventFigures(r, fault),
      ...events.figures,
      ...tasksCheck.figures,
      dead_agents: deadLeases.length,
      dead_tasks_done: [...deadTasks].filter((t) => done.has(t)).length,
      agent_restarts: crew.failures.length,
      replica_crashes: supervisor.crashes.length,
      feeder_tasks_added: feeder.added,
      feeder_failed_adds: feeder.failures,
      ownership_samples: sampler.samples,
      ownership_sample_errors: sampler.errors,
      lease_overdue_max_sampled_ms: Math.round(sampler.maxOverdueMs),
      load_event_loop_lag_p99_ms: round(lag.percentile(99) / 1e6, 1),
      load_event_loop_lag_max_ms: round(lag.max / 1e6, 1),
      ...Object.fromEntries(Object.entries(cpuBefore).map(([g, v]) => [`cpu_${g}_cores_before_fault`, round(v, 2)])),
      ...Object.fromEntries(Object.entries(cpuDuring).map(([g, v]) => [`cpu_${g}_cores_during_fault`, round(v, 2)])),
      run_s: round((endAt - r.runStart) / 1000, 1),
    };
    const series = { ...seriesOf(r, fault, endAt, cpu), ...(fault.series ?? {}) };
    const foreign = cpu.mean(r.runStart, endAt).other ?? 0;
    metrics.cpu_other_cores_whole_run = round(foreign, 2);
    const notes = [
      ...fault.notes,
      ...(later.notes ?? []),
      `error answers by code: ${JSON.stringify(calls.codes)}`,
      `time_to_recover_ms: from the fault to the end of the last 1-s window whose answered calls were below half the ${metrics.baseline_ok_calls_per_s}/s before it`,
      ...(foreign > 0.2 ? [`the machine was not quiet: processes outside this run used ${round(foreign, 2)} cores on average (${cpu.topOthers(3)}); timings are pessimistic`] : []),
      `cpu_*_cores: mean cores used in the 10 s before the fault and from the fault until it was over (at least 5 s); "other" is processes outside this run, most: ${cpu.topOthers()}`,
    ];

    // Services back as they were, before the result is written.
    await Promise.allSettled(restorers.splice(0).map((f) => f()));
    checks.push(await servicesHealthy());

    return {
      name: `chaos-${o.chaosCase}`,
      title: `${o.chaosCase} under a steady workload of ${o.agents} agents on 3 replicas: invariants, recovery, failed calls`,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - t0,
      machine: machine(),
      versions: versions(['amqp-connection-manager']),
      params: {
        case: o.chaosCase,
        replicas: 3,
        agents: o.agents,
        dead_agents: o.deadAgents,
        warmup_s: o.warmupS,
        after_s: o.afterS,
        work_ms: o.workMs,
        backlog_per_agent: o.backlog,
        lease_scale: o.leaseScale,
        sweep_ms: o.sweepMs,
        call_timeout_ms: o.callTimeoutMs,
        restart_crashed_replicas: o.restartCrashed,
        ...(o.chaosCase === 'rabbitmq-restart' || o.chaosCase === 'postgres-restart' ? { down_s: o.downS } : {}),
        ...(o.chaosCase === 'latency' ? { latency_ms: o.latencyMs, jitter_ms: o.jitterMs, phase_s: o.phaseS } : {}),
      },
      metrics,
      series,
      checks,
      notes,
    };
  } finally {
    emergency = async () => undefined;
    killReplicasNow = () => undefined;
    await stopLoad().catch(() => undefined);
    await Promise.allSettled(restorers.map((f) => f()));
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (err) {
        log(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** Set while a case runs: on SIGINT/SIGTERM, replicas are killed and services brought back. */
let emergency: () => Promise<void> = async () => undefined;
/** Set while a case runs: whatever ends this process, its replicas do not outlive it. */
let killReplicasNow: () => void = () => undefined;

async function main(): Promise<void> {
  const which = (process.env.BENCH_CHAOS ?? 'all').split(',').map((s) => s.trim());
  const cases = which.includes('all') ? [...CASES] : which;
  for (const c of cases) if (!(CASES as readonly string[]).includes(c)) throw new Error(`BENCH_CHAOS=${c}: one of all, ${CASES.join(', ')}`);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`${sig}: stopping replicas and restoring services`);
      void emergency().finally(() => process.exit(130));
    });
  }
  // A bug of this script must not leave replicas running or a service stopped.
  const fatal = (err: unknown) => {
    console.error(`chaos: unexpected error, stopping replicas and restoring services: ${(err as Error)?.stack ?? String(err)}`);
    void emergency().finally(() => process.exit(1));
  };
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
  process.on('exit', () => killReplicasNow());
  let failed = 0;
  for (const c of cases as ChaosCase[]) {
    try {
      const result = await runChaosCase(optionsFromEnv(c));
      report(result);
      if (result.checks?.some((x) => !x.ok)) failed++;
    } catch (err) {
      failed++;
      console.error(`chaos-${c} could not run: ${(err as Error).stack ?? String(err)}`);
    }
  }
  process.exit(failed ? 1 : 0);
}

if (typeof require !== 'undefined' && typeof module !== 'undefined' && require.main === module) void main();

// For the chaos test of the cluster suite and for a hand-run repair after an interrupted run.
export { ensurePostgresUp, ensureRabbitUp, restoreRedisNode, servicesHealthy };
