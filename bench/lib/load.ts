// Spawns W load workers (bench/lib/load-worker.ts, one process each), spreads N agents over them
// and over the replicas (agent i starts on replica i mod K), drives them through the phases of a
// scenario (connect → start → stop → close) and aggregates the stats windows they send.
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { Behaviour, FromWorker, Interruption, ToWorker, WindowStats, WorkerSetup } from './load-worker';
import { percentile, ROOT, round } from './result';

export type { Behaviour, Interruption, WindowStats } from './load-worker';
/** Latency key of completions (report_task_progress with status completed). */
export const COMPLETE = 'report_task_progress:completed';

export interface LoadOptions {
  urls: string[];
  apiKey: string;
  agents: number;
  behaviour: Behaviour;
  /** Load processes; default one per 3,500 agents (a process holds at most ~19,900 sockets). */
  workers?: number;
  idPrefix?: string;
  /** Ramp over the whole fleet: connections opened per second (default 500) and in flight at once (default 200). */
  connectPerSecond?: number;
  connectConcurrency?: number;
  callTimeoutMs?: number;
  pingMs?: number;
  workMs?: number;
  progressSteps?: number;
  idleMs?: number;
  reconnectJitterMs?: number;
  trackTasks?: boolean;
  statsMs?: number;
  skills?: string[];
  /** Called with every stats window as it arrives. */
  onWindow?: (w: WindowStats) => void;
}

interface WorkerHandle {
  proc: ChildProcess;
  last?: WindowStats;
  exited: Promise<void>;
}

type Waiter = { type: FromWorker['type']; left: Set<number>; resolve: (msgs: FromWorker[]) => void; reject: (e: Error) => void; got: FromWorker[] };

/** Latency summary of a set of calls, ms. */
export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export function summarize(values: readonly number[]): LatencySummary {
  if (values.length === 0) return { n: 0, p50: NaN, p95: NaN, p99: NaN, max: NaN };
  const s = [...values].sort((a, b) => a - b);
  return { n: s.length, p50: round(percentile(s, 50)), p95: round(percentile(s, 95)), p99: round(percentile(s, 99)), max: round(s[s.length - 1]) };
}

export class Load {
  /** Every stats window received, in arrival order (claimed task ids kept apart in `taskClaims`). */
  readonly windows: WindowStats[] = [];
  readonly taskClaims = new Map<string, number>();
  readonly fatals: string[] = [];
  private readonly workers: WorkerHandle[] = [];
  private waiters: Waiter[] = [];

  private constructor(private readonly opts: LoadOptions) {}

  /** Forks the workers and hands each its agents; resolves when all are ready. */
  static async start(opts: LoadOptions): Promise<Load> {
    const load = new Load(opts);
    try {
      await load.spawn();
    } catch (err) {
      await load.close();
      throw err;
    }
    return load;
  }

  get workerPids(): number[] {
    return this.workers.flatMap((w) => (w.proc.pid ? [w.proc.pid] : []));
  }

  private async spawn(): Promise<void> {
    const o = this.opts;
    const w = Math.max(1, Math.min(o.agents, o.workers ?? Math.ceil(o.agents / 3500)));
    const prefix = o.idPrefix ?? 'agent';
    const width = String(o.agents - 1).length;
    const ready = this.expect('ready', w);
    for (let k = 0; k < w; k++) {
      const proc = fork(join(__dirname, 'load-worker.ts'), [], {
        cwd: ROOT,
        // tsx runs the TypeScript directly, whether the parent is tsx or vitest.
        execArgv: ['--import', 'tsx', '--max-old-space-size=4096'],
        serialization: 'advanced',
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      const handle: WorkerHandle = { proc, exited: new Promise<void>((r) => proc.once('exit', () => r())) };
      proc.on('message', (m: FromWorker) => this.onMessage(handle, m));
      proc.once('exit', (code, signal) => {
        if (code !== 0 && code !== null) this.fail(`load worker ${k} exited with ${code ?? signal}`);
      });
      this.workers.push(handle);
      // Contiguous slices per worker; agent i starts on replica i mod K whichever worker holds it.
      const from = Math.floor((k * o.agents) / w);
      const to = Math.floor(((k + 1) * o.agents) / w);
      const setup: WorkerSetup = {
        worker: k,
        urls: o.urls,
        apiKey: o.apiKey,
        agents: Array.from({ length: to - from }, (_, j) => ({ id: `${prefix}-${String(from + j).padStart(width, '0')}`, start: (from + j) % o.urls.length })),
        behaviour: o.behaviour,
        connectPerSecond: (o.connectPerSecond ?? 500) / w,
        connectConcurrency: Math.max(1, Math.ceil((o.connectConcurrency ?? 200) / w)),
        callTimeoutMs: o.callTimeoutMs ?? 10_000,
        pingMs: o.pingMs ?? 20_000,
        workMs: o.workMs ?? 1000,
        progressSteps: o.progressSteps ?? 3,
        idleMs: o.idleMs ?? 1000,
        reconnectJitterMs: o.reconnectJitterMs ?? 250,
        trackTasks: o.trackTasks ?? false,
        statsMs: o.statsMs ?? 1000,
        skills: o.skills ?? ['backend'],
      };
      this.send(handle, { type: 'setup', setup });
    }
    await ready;
  }

  private send(w: WorkerHandle, msg: ToWorker): void {
    if (w.proc.connected) w.proc.send(msg);
  }

  private onMessage(w: WorkerHandle, m: FromWorker): void {
    switch (m.type) {
      case 'stats': {
        const { tasks, ...rest } = m.stats;
        for (const id of tasks ?? []) this.taskClaims.set(id, (this.taskClaims.get(id) ?? 0) + 1);
        w.last = rest;
        this.windows.push(rest);
        this.opts.onWindow?.(rest);
        break;
      }
      case 'fatal':
        this.fail(`load worker ${m.worker}: ${m.message}`);
        return;
      case 'ready':
      case 'authed':
      case 'connected':
      case 'stopped':
        break;
    }
    const worker = 'worker' in m ? m.worker : m.stats.worker;
    for (const waiter of this.waiters) {
      if (waiter.type === m.type && waiter.left.delete(worker)) {
        waiter.got.push(m);
        if (waiter.left.size === 0) waiter.resolve(waiter.got);
      }
    }
    this.waiters = this.waiters.filter((x) => x.left.size > 0);
  }

  private fail(message: string): void {
    this.fatals.push(message);
    for (const w of this.waiters) w.reject(new Error(message));
    this.waiters = [];
  }

  private expect(type: FromWorker['type'], count = this.workers.length, timeoutMs = 600_000): Promise<FromWorker[]> {
    return new Promise<FromWorker[]>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`load workers: no '${type}' from all within ${timeoutMs} ms`)), timeoutMs);
      this.waiters.push({
        type,
        left: new Set(Array.from({ length: count }, (_, i) => i)),
        got: [],
        resolve: (msgs) => (clearTimeout(t), resolve(msgs)),
        reject: (e) => (clearTimeout(t), reject(e)),
      });
    });
  }

  /** Every agent gets its token (POST /api/v1/agents/auth); `connect` does it too if not done. Resolves with the time taken, ms. */
  async authenticate(timeoutMs = 600_000): Promise<number> {
    const done = this.expect('authed', this.workers.length, timeoutMs);
    for (const w of this.workers) this.send(w, { type: 'auth' });
    const msgs = await done;
    return Math.max(...msgs.map((m) => (m.type === 'authed' ? m.ms : 0)));
  }

  /** The ramp: every agent connects and registers. Resolves with the counts. */
  async connect(timeoutMs = 600_000): Promise<{ ok: number; failed: number; tokensMs: number; rampStartedAt: number; rampEndedAt: number }> {
    const done = this.expect('connected', this.workers.length, timeoutMs);
    for (const w of this.workers) this.send(w, { type: 'connect' });
    const msgs = await done;
    const out = { ok: 0, failed: 0, tokensMs: 0, rampStartedAt: Infinity, rampEndedAt: 0 };
    for (const m of msgs) {
      if (m.type !== 'connected') continue;
      out.ok += m.ok;
      out.failed += m.failed;
      out.tokensMs = Math.max(out.tokensMs, m.tokensMs);
      out.rampStartedAt = Math.min(out.rampStartedAt, m.rampStartedAt);
      out.rampEndedAt = Math.max(out.rampEndedAt, m.rampEndedAt);
    }
    return out;
  }

  /** Agents begin their behaviour. */
  begin(): void {
    for (const w of this.workers) this.send(w, { type: 'start' });
  }

  /** Ends the behaviour; with `finish`, holders complete their task first. Resolves with tasks still held. */
  async stop(finish: boolean, timeoutMs = 300_000): Promise<{ holding: number }> {
    const done = this.expect('stopped', this.workers.length, timeoutMs);
    for (const w of this.workers) this.send(w, { type: 'stop', finish });
    const msgs = await done;
    // The final stats window travels just before 'stopped' on the same channel: it is in.
    return { holding: msgs.reduce((s, m) => s + (m.type === 'stopped' ? m.holding : 0), 0) };
  }

  /** Closes every socket and ends the workers (killed if they do not leave in time). */
  async close(): Promise<void> {
    for (const w of this.workers) this.send(w, { type: 'close' });
    await Promise.all(
      this.workers.map(async (w) => {
        const t = setTimeout(() => w.proc.kill('SIGKILL'), 10_000);
        await w.exited;
        clearTimeout(t);
      }),
    );
  }

  /** Agents connected / registered right now (latest window of each worker). */
  gauges(): { connected: number; registered: number; workerRssBytes: number } {
    let connected = 0;
    let registered = 0;
    let rss = 0;
    for (const w of this.workers) {
      connected += w.last?.connected ?? 0;
      registered += w.last?.registered ?? 0;
      rss += w.last?.rssBytes ?? 0;
    }
    return { connected, registered, workerRssBytes: rss };
  }

  /** Latencies of `event` answered in windows that closed in (from, to] (epoch ms; all if omitted). */
  latencies(event: string, from = -Infinity, to = Infinity): number[] {
    const out: number[] = [];
    for (const w of this.windows) if (w.at > from && w.at <= to) for (const v of w.lat[event] ?? []) out.push(v);
    return out;
  }

  /** Sum of a counter over windows in (from, to]. */
  count(field: 'calls' | 'claims' | 'completions' | 'noTask' | 'cpuMs', from = -Infinity, to = Infinity): number {
    let n = 0;
    for (const w of this.windows) if (w.at > from && w.at <= to) n += w[field];
    return n;
  }

  errors(from = -Infinity, to = Infinity): Record<string, number> {
    const out: Record<string, number> = {};
    for (const w of this.windows) if (w.at > from && w.at <= to) for (const [k, v] of Object.entries(w.errors)) out[k] = (out[k] ?? 0) + v;
    return out;
  }

  connectLatencies(): { connect: number[]; register: number[] } {
    return { connect: this.windows.flatMap((w) => w.connect), register: this.windows.flatMap((w) => w.register) };
  }

  interruptions(): Interruption[] {
    return this.windows.flatMap((w) => w.interruptions);
  }

  anomalies(): string[] {
    return [...this.windows.flatMap((w) => w.anomalies), ...this.fatals];
  }

  /** Earliest first request_next_task and latest completion over all workers (epoch ms). */
  span(): { firstRequestAt?: number; lastCompletedAt?: number } {
    let first: number | undefined;
    let last: number | undefined;
    for (const w of this.windows) {
      if (w.firstRequestAt !== undefined && (first === undefined || w.firstRequestAt < first)) first = w.firstRequestAt;
      if (w.lastCompletedAt !== undefined && (last === undefined || w.lastCompletedAt > last)) last = w.lastCompletedAt;
    }
    return { firstRequestAt: first, lastCompletedAt: last };
  }

  /**
   * Percentiles of `events` per window of `bucketMs` from `t0` (windows by the time the stats
   * window closed, so a point can lag by up to one stats period).
   */
  timeline(events: readonly string[], t0: number, bucketMs: number): { t: number; n: number; p50: number; p95: number; p99: number }[] {
    const buckets = new Map<number, number[]>();
    for (const w of this.windows) {
      const b = Math.floor((w.at - t0) / bucketMs);
      if (b < 0) continue;
      const list = buckets.get(b) ?? [];
      for (const e of events) for (const v of w.lat[e] ?? []) list.push(v);
      buckets.set(b, list);
    }
    return [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .filter(([, l]) => l.length > 0)
      .map(([b, l]) => {
        const s = summarize(l);
        return { t: round(((b + 1) * bucketMs) / 1000, 1), n: s.n, p50: s.p50, p95: s.p95, p99: s.p99 };
      });
  }
}
