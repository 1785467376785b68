import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { io, type Socket } from 'socket.io-client';
import { afterAll, beforeAll } from 'vitest';
import { clusterEnv, ensureRedisCluster, redisClusterUp, startReplica, stopReplica, type Replica } from '../../src/cli/local-cluster';
import { ApiClient } from './client';
import { TEST_REDIS_CLUSTER } from './env';
import { createTestDatabase } from './pg';

// A simulated AI coding agent for the cluster failover tests, plus the small fleet helpers the
// failover files share (replica env, Postgres ownership checks, an ownership sampler, figures).

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** One attempt of one call, as the agent saw it. */
export interface CallRecord {
  agentId: string;
  event: string;
  requestId?: string;
  url: string;
  /** Socket generation the call went out on (a new socket after every reconnect). */
  gen: number;
  sentAt: number;
  endedAt?: number;
  outcome?: 'answered' | 'timeout' | 'disconnected';
  /** `code` of an error answer. */
  code?: string;
  burst?: boolean;
}

/** The agent lost its replica (disconnect or `server_draining`) and, later, was served again. */
export interface Interruption {
  from: string;
  reason: string;
  at: number;
  gen: number;
  /** Replica of the first call answered after the move. */
  to?: string;
  servedAt?: number;
}

export interface SimAgentOptions {
  agentId: string;
  token: string;
  /** Replica base URLs; the agent starts at `start` and moves to the next one when it must. */
  urls: readonly string[];
  start?: number;
  callTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** in_progress reports before the completion. */
  progressSteps?: number;
  /** Simulated work between two calls about a task. */
  workMs?: number;
  /** Pause after a "no task" answer. */
  idleMs?: number;
  /** Attempts of one logical call before the agent gives up (and its run fails). */
  maxAttempts?: number;
}

interface Held {
  taskId: string;
  leaseToken: string;
  step: number;
}

class Stopped extends Error {}

/**
 * An agent that loops request_next_task → N × report_task_progress(in_progress) → completed, with
 * a request_id on every mutating call and the lease token on every report. On a disconnect or a
 * `server_draining` push it moves to the next replica of its list, registers again, retries the
 * call it was making with the same request_id, and checks with request_next_task that it still
 * holds the same task under the same lease token.
 */
export class SimAgent {
  readonly agentId: string;
  readonly completed: string[] = [];
  readonly calls: CallRecord[] = [];
  readonly interruptions: Interruption[] = [];
  /** Things that must not happen: a resume that returned another task or token, a stale answer. */
  readonly anomalies: string[] = [];
  readonly errorCodes = new Map<string, number>();
  /** Tasks taken up again after a move (request_next_task handed back the same task and token). */
  readonly resumed: string[] = [];
  drainNotices = 0;
  connects = 0;
  /** URL of the replica holding the socket now (undefined while not connected). */
  url?: string;

  private readonly o: Required<Omit<SimAgentOptions, 'agentId' | 'token' | 'urls' | 'start'>>;
  private readonly urls: readonly string[];
  private next: number;
  private socket?: Socket;
  private gen = 0;
  private moveRequested = false;
  private resumeCheck = false;
  private held?: Held;
  private seq = 0;
  private stopped = false;
  private running?: Promise<void>;

  constructor(private readonly opts: SimAgentOptions) {
    this.agentId = opts.agentId;
    this.urls = opts.urls;
    this.next = (opts.start ?? 0) % opts.urls.length;
    this.o = {
      callTimeoutMs: opts.callTimeoutMs ?? 5000,
      connectTimeoutMs: opts.connectTimeoutMs ?? 3000,
      progressSteps: opts.progressSteps ?? 2,
      workMs: opts.workMs ?? 50,
      idleMs: opts.idleMs ?? 200,
      maxAttempts: opts.maxAttempts ?? 12,
    };
  }

  get holding(): string | undefined {
    return this.held?.taskId;
  }

  /** Starts the loop; the promise rejects if the agent could not go on (a failed test). */
  start(): Promise<void> {
    this.running ??= this.loop().finally(() => this.closeSocket());
    return this.running;
  }

  /** Asks the loop to end after the call in hand; resolves when it has. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.running?.catch(() => undefined);
    this.closeSocket();
  }

  /**
   * Emits `n` read-only calls on the current socket at once without waiting (calls in flight for
   * the drain test); resolves when every one has ended one way or another.
   */
  burst(n: number, event = 'get_project_status'): Promise<CallRecord[]> {
    const socket = this.socket;
    const url = this.url;
    if (!socket?.connected || !url) return Promise.resolve([]);
    return Promise.all(
      Array.from({ length: n }, async () => {
        const rec: CallRecord = { agentId: this.agentId, event, url, gen: this.gen, sentAt: Date.now(), burst: true };
        this.calls.push(rec);
        try {
          const answer = await emitWithAck(socket, event, {}, this.o.callTimeoutMs);
          rec.outcome = 'answered';
          rec.code = (answer as { code?: string }).code;
        } catch (err) {
          rec.outcome = (err as Error).message.includes('disconnected') ? 'disconnected' : 'timeout';
        }
        rec.endedAt = Date.now();
        return rec;
      }),
    );
  }

  // ---- the agent's loop ----------------------------------------------------------------------

  private async loop(): Promise<void> {
    try {
      while (!this.stopped) {
        if (this.held && this.resumeCheck) await this.checkResume(this.held);
        else if (!this.held) await this.askForTask();
        else await this.work(this.held);
      }
    } catch (err) {
      if (!(err instanceof Stopped)) throw err;
    }
  }

  private async askForTask(): Promise<void> {
    const r = await this.call('request_next_task', { agent_id: this.agentId }, true);
    if (r.success) {
      this.held = { taskId: r.task.id, leaseToken: String(r.task.lease.token), step: 0 };
      this.resumeCheck = false;
      await sleep(this.o.workMs);
    } else {
      if (r.code) this.anomalies.push(`${this.agentId}: request_next_task answered ${JSON.stringify(r).slice(0, 300)}`);
      await sleep(this.o.idleMs);
    }
  }

  /** After a move: request_next_task must hand back the task held, under the same lease token. */
  private async checkResume(held: Held): Promise<void> {
    const r = await this.call('request_next_task', { agent_id: this.agentId }, true);
    this.resumeCheck = false;
    if (r.success && r.task.id === held.taskId && String(r.task.lease.token) === held.leaseToken) {
      this.resumed.push(held.taskId);
    } else {
      this.anomalies.push(`${this.agentId}: resume of ${held.taskId}/${held.leaseToken} answered ${JSON.stringify(r).slice(0, 300)}`);
      this.held = r.success ? { taskId: r.task.id, leaseToken: String(r.task.lease.token), step: 0 } : undefined;
    }
  }

  private async work(held: Held): Promise<void> {
    const done = held.step >= this.o.progressSteps;
    const r = await this.call(
      'report_task_progress',
      {
        agent_id: this.agentId,
        task_id: held.taskId,
        status: done ? 'completed' : 'in_progress',
        progress: done ? 100 : Math.round(((held.step + 1) * 90) / (this.o.progressSteps + 1)),
        message: done ? 'done' : `step ${held.step + 1}`,
        lease_token: held.leaseToken,
      },
      true,
    );
    if (r.success) {
      if (done) {
        this.completed.push(held.taskId);
        this.held = undefined;
      } else {
        held.step++;
      }
    } else {
      // No lease is ever lost in these tests: a refusal here is a failure of the service.
      this.anomalies.push(`${this.agentId}: report on ${held.taskId} refused: ${JSON.stringify(r).slice(0, 300)}`);
      this.held = undefined;
    }
    await sleep(this.o.workMs);
  }

  // ---- calls ---------------------------------------------------------------------------------

  /** One logical call: retried with the same request_id after a timeout, a disconnect or a transient error. */
  private async call(event: string, payload: Record<string, unknown>, mutating: boolean): Promise<any> {
    const requestId = mutating ? `${this.agentId}-${++this.seq}` : undefined;
    const body = requestId ? { ...payload, request_id: requestId } : payload;
    let timeoutsHere = 0;
    for (let attempt = 1; ; attempt++) {
      if (attempt > this.o.maxAttempts) throw new Error(`${this.agentId}: ${event} ${requestId ?? ''} failed ${this.o.maxAttempts} times`);
      if (this.stopped && attempt > 1) throw new Stopped();
      const socket = await this.ensureConnected();
      const rec: CallRecord = { agentId: this.agentId, event, requestId, url: this.url!, gen: this.gen, sentAt: Date.now() };
      this.calls.push(rec);
      let answer: any;
      try {
        answer = await emitWithAck(socket, event, body, this.o.callTimeoutMs);
      } catch (err) {
        rec.endedAt = Date.now();
        if ((err as Error).message.includes('disconnected')) {
          rec.outcome = 'disconnected';
        } else {
          rec.outcome = 'timeout';
          // Two timeouts in a row on one replica: try another one.
          if (++timeoutsHere >= 2) {
            this.noteInterruption(this.url!, 'call timeouts');
            this.moveRequested = true;
            timeoutsHere = 0;
          }
        }
        continue;
      }
      rec.endedAt = Date.now();
      rec.outcome = 'answered';
      const code = (answer as { code?: string } | null)?.code;
      if (code) {
        rec.code = code;
        this.errorCodes.set(code, (this.errorCodes.get(code) ?? 0) + 1);
        if (code === 'RATE_LIMITED' || code === 'INTERNAL' || code === 'UNAVAILABLE') {
          await sleep(Math.min(1000, 100 * attempt));
          continue;
        }
      }
      this.served(rec);
      return answer;
    }
  }

  /** The first answered call on a socket opened after an interruption closes that interruption. */
  private served(rec: CallRecord): void {
    for (const i of this.interruptions) {
      if (i.servedAt === undefined && rec.gen > i.gen) {
        i.servedAt = rec.endedAt;
        i.to = rec.url;
      }
    }
  }

  private noteInterruption(from: string, reason: string): void {
    // One open interruption per socket: a drain notice followed by the server's disconnect is one move.
    if (this.interruptions.some((i) => i.gen === this.gen && i.servedAt === undefined)) return;
    this.interruptions.push({ from, reason, at: Date.now(), gen: this.gen });
  }

  // ---- connection ----------------------------------------------------------------------------

  private async ensureConnected(): Promise<Socket> {
    if (this.socket?.connected && !this.moveRequested) return this.socket;
    if (this.socket) {
      // Leaving a replica (draining, dead or silent): the next one in the list.
      this.closeSocket();
    }
    this.moveRequested = false;
    let lastError: unknown;
    for (let tries = 0; tries < this.urls.length * 4; tries++) {
      if (this.stopped && tries > 0) throw new Stopped();
      const url = this.urls[this.next];
      this.next = (this.next + 1) % this.urls.length;
      try {
        const socket = await this.open(url);
        const gen = ++this.gen;
        this.socket = socket;
        this.url = url;
        this.connects++;
        socket.on('server_draining', () => {
          this.drainNotices++;
          if (this.socket === socket) {
            this.noteInterruption(url, 'server_draining');
            this.moveRequested = true;
          }
        });
        socket.on('disconnect', (reason) => {
          if (this.socket !== socket) return;
          this.noteInterruption(url, `disconnect: ${reason}`);
          this.url = undefined;
        });
        await this.register(socket, url, gen);
        if (this.held) this.resumeCheck = true;
        return socket;
      } catch (err) {
        lastError = err;
        this.closeSocket();
        await sleep(50 * (tries + 1));
      }
    }
    throw new Error(`${this.agentId}: no replica would take the connection: ${(lastError as Error)?.message}`);
  }

  private async register(socket: Socket, url: string, gen: number): Promise<void> {
    const requestId = `${this.agentId}-${++this.seq}`;
    const rec: CallRecord = { agentId: this.agentId, event: 'register_agent', requestId, url, gen, sentAt: Date.now() };
    this.calls.push(rec);
    try {
      const r = await emitWithAck(
        socket,
        'register_agent',
        { agent_id: this.agentId, name: this.agentId, role: 'developer', skills: ['backend'], request_id: requestId },
        this.o.callTimeoutMs,
      );
      rec.endedAt = Date.now();
      rec.outcome = 'answered';
      if (!r.success) {
        rec.code = r.code;
        throw new Error(`register_agent: ${JSON.stringify(r)}`);
      }
      this.served(rec);
    } catch (err) {
      rec.endedAt ??= Date.now();
      rec.outcome ??= (err as Error).message.includes('disconnected') ? 'disconnected' : 'timeout';
      throw err;
    }
  }

  private open(url: string): Promise<Socket> {
    const socket = io(`${url}/agents`, {
      auth: { token: this.opts.token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: this.o.connectTimeoutMs,
    });
    return new Promise((resolve, reject) => {
      socket.once('connect', () => resolve(socket));
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
  }

  /**
   * Leaves the current socket. Calls still waiting on it (a burst sent just before a drain notice)
   * keep it open until they are answered or the server closes it: leaving must not lose them.
   */
  private closeSocket(): void {
    const s = this.socket;
    this.socket = undefined;
    this.url = undefined;
    if (!s) return;
    s.removeAllListeners('server_draining');
    s.removeAllListeners('disconnect');
    if ((pending.get(s) ?? 0) === 0 || !s.connected) s.disconnect();
    else idleWaiters.set(s, () => s.disconnect());
  }
}

/** Calls waiting for their answer, per socket; and what to do once a socket has none left. */
const pending = new WeakMap<Socket, number>();
const idleWaiters = new WeakMap<Socket, () => void>();

function emitWithAck(socket: Socket, event: string, payload: unknown, timeoutMs: number): Promise<any> {
  pending.set(socket, (pending.get(socket) ?? 0) + 1);
  return new Promise((resolve, reject) => {
    socket.timeout(timeoutMs).emit(event, payload, (err: Error | null, answer: unknown) => {
      const left = (pending.get(socket) ?? 1) - 1;
      pending.set(socket, left);
      if (left === 0) idleWaiters.get(socket)?.();
      if (err) reject(err);
      else resolve(answer);
    });
  });
}

// ---- fleet helpers ---------------------------------------------------------------------------

export interface FleetEnv {
  adminKey: string;
  jwtSecret: string;
  env: Record<string, string>;
}

/** Environment for the replicas of one test: its own database, key prefix and secrets; limits out of the way. */
export function fleetEnv(databaseUrl: string, extra: Record<string, string> = {}): FleetEnv {
  const adminKey = `pma_${randomBytes(18).toString('base64url')}`;
  const jwtSecret = randomBytes(48).toString('base64url');
  const env = clusterEnv(
    { databaseUrl, redisNodes: TEST_REDIS_CLUSTER, adminKey, jwtSecret },
    {
      // Keys of this test only: other suites (and developers) share the Redis Cluster.
      REDIS_KEY_PREFIX: `fo${randomBytes(4).toString('hex')}`,
      RATE_LIMIT_AGENT_PER_MINUTE: '1000000',
      RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000',
      LEASE_SWEEP_INTERVAL_MS: '200',
      RETRY_AFTER_SECONDS: '1',
      PRESENCE_HEARTBEAT_MS: '1000',
      DATABASE_POOL_MAX: '10',
      ...extra,
    },
  );
  return { adminKey, jwtSecret, env };
}

/** A project with `n` independent tasks; returns their ids. */
export async function seedProject(api: ApiClient, n: number, name = 'failover'): Promise<{ projectId: string; apiKey: string; taskIds: string[] }> {
  const project = await api.createProject(name);
  const priorities = ['urgent', 'high', 'medium', 'low'];
  const taskIds: string[] = [];
  for (let i = 0; i < n; i += 10) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(10, n - i) }, (_, j) =>
        api.addTask(project.id, { name: `task ${i + j}`, description: `failover task ${i + j}`, priority: priorities[(i + j) % 4], labels: ['backend'] }),
      ),
    );
    taskIds.push(...batch.map((t: { id: string }) => t.id));
  }
  return { projectId: project.id, apiKey: project.api_key, taskIds };
}

/** `count` agents spread round-robin over `urls` (agent i starts on replica i mod k). */
export async function makeAgents(api: ApiClient, apiKey: string, urls: readonly string[], count: number, opts: Partial<SimAgentOptions> = {}): Promise<SimAgent[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const agentId = `sim-${String(i).padStart(3, '0')}`;
      return new SimAgent({ ...opts, agentId, token: await api.token(apiKey, agentId), urls, start: i % urls.length });
    }),
  );
}

export interface Ownership {
  tasks: number;
  done: number;
  assignments: number;
  completedAssignments: number;
  active: number;
  expired: number;
  /** Tasks with a number of completed assignments other than one. */
  notCompletedOnce: { id: string; status: string; completed: number }[];
}

/** What Postgres says about who held and finished which task. */
export async function ownership(db: Client, projectId: string): Promise<Ownership> {
  const r = await db.query<{ id: string; status: string; completed: number; active: number; expired: number; total: number }>(
    `SELECT t.id, t.status,
            count(a.id) FILTER (WHERE a.state = 'completed')::int AS completed,
            count(a.id) FILTER (WHERE a.state = 'active')::int AS active,
            count(a.id) FILTER (WHERE a.state = 'expired')::int AS expired,
            count(a.id)::int AS total
       FROM tasks t LEFT JOIN assignments a ON a.task_id = t.id
      WHERE t.project_id = $1 GROUP BY t.id, t.status`,
    [projectId],
  );
  const rows = r.rows;
  const sum = (f: (x: (typeof rows)[number]) => number) => rows.reduce((s, x) => s + f(x), 0);
  return {
    tasks: rows.length,
    done: rows.filter((x) => x.status === 'done').length,
    assignments: sum((x) => x.total),
    completedAssignments: sum((x) => x.completed),
    active: sum((x) => x.active),
    expired: sum((x) => x.expired),
    notCompletedOnce: rows.filter((x) => x.completed !== 1).map((x) => ({ id: x.id, status: x.status, completed: x.completed })),
  };
}

export async function doneCount(db: Client, projectId: string): Promise<number> {
  const r = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM tasks WHERE project_id = $1 AND status = 'done'`, [projectId]);
  return r.rows[0].n;
}

/**
 * Samples Postgres while the run goes on: any task with two active assignments, or any agent with
 * two active tasks (capacity is 1), is recorded. The partial unique indexes should make both impossible.
 */
export class OwnershipSampler {
  samples = 0;
  readonly violations: string[] = [];
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly db: Client,
    private readonly projectId: string,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.running = (async () => {
      while (!this.stopped) {
        const r = await this.db.query<{ kind: string; id: string; n: number }>(
          `SELECT 'task' AS kind, task_id::text AS id, count(*)::int AS n FROM assignments
            WHERE project_id = $1 AND state = 'active' GROUP BY task_id HAVING count(*) > 1
           UNION ALL
           SELECT 'agent', agent_id, count(*)::int FROM assignments
            WHERE project_id = $1 AND state = 'active' GROUP BY agent_id HAVING count(*) > 1`,
          [this.projectId],
        );
        this.samples++;
        for (const v of r.rows) this.violations.push(`${v.kind} ${v.id} has ${v.n} active assignments`);
        await sleep(this.everyMs);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

/** Polls `pred` until it holds or `timeoutMs` passes; throws naming `what` on timeout. */
export async function waitUntil(what: string, pred: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await pred()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/**
 * Starts replicas on `ports`, pushing each into `into` as soon as it is up, so that afterAll stops
 * the ones that started even when another failed.
 */
export async function startFleet(ports: readonly number[], env: Record<string, string>, into: Replica[]): Promise<Replica[]> {
  const results = await Promise.allSettled(
    ports.map(async (port) => {
      const r = await startReplica({ port, env, readyTimeoutMs: 90_000 });
      into.push(r);
      return r;
    }),
  );
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  // In port order, whatever order they became ready in.
  return ports.map((p) => into.find((r) => r.port === p)!);
}

/** Stops replicas still running: SIGTERM, then SIGKILL if one has not left after `graceMs`. */
export async function stopAll(replicas: readonly Replica[], graceMs = 15_000): Promise<void> {
  await Promise.all(
    replicas.map(async (r) => {
      if (r.proc.exitCode !== null || r.proc.signalCode !== null) return;
      const t = setTimeout(() => r.proc.kill('SIGKILL'), graceMs);
      try {
        await stopReplica(r, 'SIGTERM');
      } finally {
        clearTimeout(t);
      }
    }),
  );
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

/** Totals over a fleet's call records. */
export function callTotals(agents: readonly SimAgent[]) {
  const calls = agents.flatMap((a) => a.calls);
  return {
    attempts: calls.length,
    answered: calls.filter((c) => c.outcome === 'answered').length,
    timeouts: calls.filter((c) => c.outcome === 'timeout').length,
    disconnected: calls.filter((c) => c.outcome === 'disconnected').length,
    pending: calls.filter((c) => c.outcome === undefined).length,
    errorAnswers: calls.filter((c) => c.code !== undefined).length,
  };
}

/** Answer latency per event (p50 / p95 / max ms over answered attempts). */
export function latencies(agents: readonly SimAgent[]): Record<string, string> {
  const by = new Map<string, number[]>();
  for (const c of agents.flatMap((a) => a.calls)) {
    if (c.outcome !== 'answered' || c.endedAt === undefined) continue;
    const l = by.get(c.event) ?? [];
    l.push(c.endedAt - c.sentAt);
    by.set(c.event, l);
  }
  return Object.fromEntries([...by].map(([e, l]) => [e, `n=${l.length} p50=${percentile(l, 50)} p95=${percentile(l, 95)} max=${Math.max(...l)}`]));
}

// ---- the fixture of a failover test -------------------------------------------------------------

/** What a failover test holds: its own database, replicas, agents and ownership sampler. */
export interface FleetFixture {
  database?: Awaited<ReturnType<typeof createTestDatabase>>;
  db?: Client;
  replicas: Replica[];
  agents: SimAgent[];
  sampler?: OwnershipSampler;
}

/**
 * Registers the setup and teardown every failover test shares: a fresh database before, and after
 * (even on failure) agents, sampler and replicas stopped and the database dropped. `before` runs
 * first (default: make sure the Redis Cluster is up); `after` runs last, whatever happened.
 */
export function useFleetFixture(opts: { before?: () => Promise<void>; after?: () => Promise<void> } = {}): FleetFixture {
  const f: FleetFixture = { replicas: [], agents: [] };
  beforeAll(async () => {
    if (opts.before) await opts.before();
    else if (!redisClusterUp()) ensureRedisCluster();
    f.database = await createTestDatabase();
    f.db = new Client({ connectionString: f.database.url });
    await f.db.connect();
  });
  afterAll(async () => {
    try {
      await Promise.allSettled(f.agents.map((a) => a.stop()));
      await f.sampler?.stop().catch(() => undefined);
      await stopAll(f.replicas);
      await f.db?.end().catch(() => undefined);
      await f.database?.drop();
    } finally {
      await opts.after?.();
    }
  });
  return f;
}
