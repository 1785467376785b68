import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

// A local multi-replica setup: a 6-node Redis Cluster (3 masters + 3 replicas on 7000-7005,
// started only if not running) and K replicas of the service on consecutive ports, against the
// machine's Postgres. Used by the cluster tests and by `npm run cluster -- up|down|status`.

const ROOT = resolve(__dirname, '..', '..');
const STATE_DIR = join(ROOT, '.local-cluster');
const STATE_FILE = join(STATE_DIR, 'state.json');
export const DEFAULT_REDIS_NODES = '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002';
const CLUSTER_NODES = ['redis-7000', 'redis-7001', 'redis-7002', 'redis-7003', 'redis-7004', 'redis-7005'];
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/test';

export interface Replica {
  id: string;
  port: number;
  url: string;
  proc: ChildProcess;
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  log: () => string;
}

/** True when the first seed node answers as a healthy cluster member. */
export function redisClusterUp(port = 7000): boolean {
  const r = spawnSync('redis-cli', ['-p', String(port), 'cluster', 'info'], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.includes('cluster_state:ok');
}

/** Starts the Redis Cluster with the repo's services script when it is not answering. */
export function ensureRedisCluster(): void {
  const r = spawnSync('bash', [join(ROOT, 'scripts', 'services.sh')], {
    env: { ...process.env, WITH_POSTGRES: '0', WITH_RABBITMQ: '0', WITH_REDIS_STANDALONE: '0', WITH_REDIS_CLUSTER: '1' },
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`services.sh failed:\n${r.stdout}\n${r.stderr}`);
}

export interface ReplicaOptions {
  port: number;
  id?: string;
  env?: Record<string, string>;
  readyTimeoutMs?: number;
  /** Send output to this file instead of keeping it in memory (for detached replicas). */
  logFile?: string;
}

/** Spawns `node dist/main.js` and waits until /health/ready answers 200. */
export async function startReplica(opts: ReplicaOptions): Promise<Replica> {
  const id = opts.id ?? `replica-${opts.port}`;
  let output = '';
  const out = opts.logFile ? openSync(opts.logFile, 'a') : 'pipe';
  const proc = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
    env: { ...process.env, PORT: String(opts.port), MANAGEMENT_PORT: String(opts.port + 1000), HOST: '127.0.0.1', REPLICA_ID: id, ...opts.env },
    stdio: ['ignore', out, out],
  });
  const keep = (b: Buffer) => {
    output += b.toString();
    if (output.length > 200_000) output = output.slice(-100_000);
  };
  proc.stdout?.on('data', keep);
  proc.stderr?.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    proc.once('exit', (code, signal) => res({ code, signal })),
  );
  const url = `http://127.0.0.1:${opts.port}`;
  const deadline = Date.now() + (opts.readyTimeoutMs ?? 30_000);
  let gone = false;
  void exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`replica ${id} exited during start:\n${output}`);
    try {
      // Bounded: a port held by something that accepts but never answers must not hang the loop.
      const r = await fetch(`${url}/health/ready`, { signal: AbortSignal.timeout(2000) });
      if (r.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`replica ${id} not ready in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { id, port: opts.port, url, proc, exited, log: () => output };
}

export interface ClusterEnv {
  databaseUrl: string;
  redisNodes: string;
  adminKey: string;
  jwtSecret: string;
}

export function clusterEnv(e: ClusterEnv, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL: e.databaseUrl,
    REDIS_CLUSTER_NODES: e.redisNodes,
    PM_AGENT_ADMIN_KEY: e.adminKey,
    PM_AGENT_JWT_SECRET: e.jwtSecret,
    LOG_LEVEL: 'warn',
    ...extra,
  };
}

export async function startReplicas(k: number, basePort: number, env: Record<string, string>, logDir?: string): Promise<Replica[]> {
  const settled = await Promise.allSettled(
    Array.from({ length: k }, (_, i) => startReplica({ port: basePort + i, env, logFile: logDir ? join(logDir, `replica-${basePort + i}.log`) : undefined })),
  );
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    // The caller gets no handle on the replicas that did start: stop them rather than leak them.
    await Promise.all(settled.flatMap((s) => (s.status === 'fulfilled' ? [stopReplica(s.value, 'SIGKILL')] : [])));
    throw failed.reason;
  }
  return settled.map((s) => (s as PromiseFulfilledResult<Replica>).value);
}

export async function stopReplica(r: Replica, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
  r.proc.kill(signal);
  await r.exited;
}

// ---- CLI -------------------------------------------------------------------------------------

interface State {
  /** Whether `up` started the Redis Cluster (then `down` stops it). */
  startedRedis: boolean;
  pids: number[];
  ports: number[];
  adminKey: string;
}

async function up(k: number, basePort: number): Promise<void> {
  if (existsSync(STATE_FILE)) throw new Error(`already running (see ${STATE_FILE}); run 'down' first`);
  if (!existsSync(join(ROOT, 'dist', 'main.js'))) throw new Error('dist/main.js missing: run npm run build');
  const startedRedis = !redisClusterUp();
  if (startedRedis) ensureRedisCluster();
  mkdirSync(STATE_DIR, { recursive: true, mode: 0o700 });
  const env: ClusterEnv = {
    databaseUrl: process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
    redisNodes: process.env.REDIS_CLUSTER_NODES ?? DEFAULT_REDIS_NODES,
    adminKey: process.env.PM_AGENT_ADMIN_KEY ?? `pma_${randomBytes(24).toString('base64url')}`,
    jwtSecret: process.env.PM_AGENT_JWT_SECRET ?? randomBytes(48).toString('base64url'),
  };
  const replicas = await startReplicas(k, basePort, clusterEnv(env, { LOG_LEVEL: 'log' }), STATE_DIR);
  for (const r of replicas) r.proc.unref();
  const state: State = { startedRedis, pids: replicas.map((r) => r.proc.pid!), ports: replicas.map((r) => r.port), adminKey: env.adminKey };
  writeFileSync(STATE_FILE, JSON.stringify(state, null, 2), { mode: 0o600 });
  writeFileSync(join(STATE_DIR, 'admin.key'), `${env.adminKey}\n`, { mode: 0o600 });
  console.log(`${k} replicas ready: ${replicas.map((r) => r.url).join(' ')}`);
  console.log(`logs in ${STATE_DIR}/replica-<port>.log`);
  console.log(`admin key in ${join(STATE_DIR, 'admin.key')}; stop with: npm run cluster -- down`);
  process.exit(0);
}

function down(): void {
  if (!existsSync(STATE_FILE)) return console.log('not running');
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as State;
  {
    for (const pid of state.pids) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    console.log(`stopped replicas ${state.pids.join(', ')}`);
    rmSync(STATE_DIR, { recursive: true, force: true });
  }
  // The Redis Cluster goes only if `up` started it (services-stop.sh stops only what it started).
  if (state.startedRedis) spawnSync('bash', [join(ROOT, 'scripts', 'services-stop.sh'), ...CLUSTER_NODES], { stdio: 'inherit' });
}

function status(): void {
  if (!existsSync(STATE_FILE)) return console.log('not running');
  const state = JSON.parse(readFileSync(STATE_FILE, 'utf8')) as State;
  state.pids.forEach((pid, i) => {
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch {
      alive = false;
    }
    console.log(`replica pid ${pid} port ${state.ports[i]}: ${alive ? 'running' : 'gone'}`);
  });
}

if (require.main === module) {
  const [cmd = 'up', ...rest] = process.argv.slice(2);
  const arg = (name: string, dflt: number) => {
    const i = rest.indexOf(`--${name}`);
    return i >= 0 ? Number(rest[i + 1]) : dflt;
  };
  const run = async () => {
    if (cmd === 'up') await up(arg('replicas', 3), arg('port', 3101));
    else if (cmd === 'down') down();
    else if (cmd === 'status') status();
    else throw new Error(`unknown command ${cmd} (up [--replicas K] [--port P] | down | status)`);
  };
  run().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}
