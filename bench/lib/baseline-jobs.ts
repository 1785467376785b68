// Shared pieces of the baseline benchmarks (bare Socket.IO, pg-boss, BullMQ): parameters from the
// environment, a payload shaped like pm-agent's request_next_task answer, load processes forked
// from the benchmark's own file, CPU sampling, and the fetch + complete loop of the job-queue
// baselines with its summary (jobs/s, latency percentiles, duplicates).
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fallbackInstructions } from '../../src/modules/ai/fallback-instructions';
import { percentile, round, type Series } from './result';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Wall-clock milliseconds with sub-millisecond resolution, comparable between processes of this machine. */
export const nowMs = (): number => performance.timeOrigin + performance.now();

export function envNum(name: string, dflt: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return dflt;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name}=${raw} is not a number`);
  return n;
}

export function envStr(name: string, dflt: string): string {
  const raw = process.env[name];
  return raw === undefined || raw === '' ? dflt : raw;
}

/** Splits `total` into `parts` near-equal shares (the first ones get the remainder). */
export function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

// ---- the payload -------------------------------------------------------------------------------

/**
 * A request_next_task answer as pm-agent builds it for a freshly claimed task without an LLM
 * (AssignmentService.taskAnswer with the deterministic instructions), for a task like the ones the
 * pm-agent benchmarks seed. BENCH_ANSWER_FILE replaces it with an answer captured from a replica.
 */
export function sampleNextTaskAnswer(i = 0): Record<string, unknown> {
  const file = process.env.BENCH_ANSWER_FILE;
  if (file) return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  const t = benchTask(i);
  const task = { name: t.name, description: t.description, priority: t.priority, estimated_hours: null, labels: t.labels, acceptance_criteria: [] as string[] };
  const agentName = `sim-${String(i % 1000).padStart(3, '0')}`;
  return {
    success: true,
    task: {
      id: randomUUID(),
      ...task,
      instructions: fallbackInstructions({ agentName, task, dependencies: [], recovery: null }),
      dependencies: [],
      recovery_info: null,
      implementation_context: { dependencies: [], decisions: [], recovery_info: null, previous_progress: 0 },
      lease: { expires_at: new Date(Date.now() + 240_000).toISOString(), token: String(100_000 + i) },
    },
  };
}

export const jsonBytes = (x: unknown): number => Buffer.byteLength(JSON.stringify(x));

export const PRIORITIES = ['urgent', 'high', 'medium', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** Task i as the pm-agent benchmarks seed it (bench/lib/fleet.ts seedTasks): the same priorities in the same mix. */
export function benchTask(i: number): { name: string; description: string; priority: Priority; labels: string[] } {
  return { name: `task ${i}`, description: `benchmark task ${i}`, priority: PRIORITIES[i % 4], labels: ['backend'] };
}

/**
 * Data of job i for the job-queue baselines. `task` (default): the task row pm-agent claims from
 * (its instructions are written at claim time, not stored with the task); `answer`: the whole
 * request_next_task answer, to see what a payload of that size costs the queue.
 */
export function jobData(i: number): Record<string, unknown> {
  const kind = envStr('BENCH_JOB_DATA', 'task');
  switch (kind) {
    case 'task':
      return benchTask(i);
    case 'answer':
      return (sampleNextTaskAnswer(i) as { task: Record<string, unknown> }).task;
    default:
      throw new Error(`BENCH_JOB_DATA=${kind}: expected task or answer`);
  }
}

// ---- load processes ----------------------------------------------------------------------------

/**
 * Forks the calling benchmark file again in another role (BENCH_ROLE), with the tsx loader the
 * parent runs under. Each child is a separate Node process: its own event loop and socket budget.
 */
export function forkRole(file: string, role: string, env: Record<string, string>, execArgv: string[] = []): ChildProcess {
  return fork(file, [], {
    env: { ...process.env, ...env, BENCH_ROLE: role },
    execArgv: [...process.execArgv, ...execArgv],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

/** Resolves with the next IPC message of the child that satisfies `pick`; rejects if the child exits first. */
export function nextMessage<T>(child: ChildProcess, pick: (m: any) => boolean, timeoutMs = 600_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`no answer from pid ${child.pid} within ${timeoutMs} ms`)), timeoutMs);
    const onMsg = (m: unknown) => {
      if (pick(m)) done(undefined, m as T);
    };
    const onExit = (code: number | null, signal: string | null) => done(new Error(`pid ${child.pid} exited (${code ?? signal}) before answering`));
    function done(err?: Error, m?: T) {
      clearTimeout(timer);
      child.off('message', onMsg);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m as T);
    }
    child.on('message', onMsg);
    child.once('exit', onExit);
  });
}

/** Kills the children still running and waits (bounded) for them to go. */
export async function reap(children: readonly ChildProcess[], graceMs = 5000): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return;
      const gone = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), graceMs);
      await gone;
      clearTimeout(t);
    }),
  );
}

/** In a child: sends a message and resolves once it has left (large results must not be cut by exit). */
export function send(msg: unknown): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!process.send) return reject(new Error('not a forked child'));
    process.send(msg, undefined, {}, (err) => (err ? reject(err) : resolve()));
  });
}

/** In a child: resolves with the next message from the parent that satisfies `pick`. */
export function fromParent<T>(pick: (m: any) => boolean): Promise<T> {
  return new Promise((resolve) => {
    const onMsg = (m: unknown) => {
      if (!pick(m)) return;
      process.off('message', onMsg);
      resolve(m as T);
    };
    process.on('message', onMsg);
  });
}

// ---- CPU -----------------------------------------------------------------------------------------

function procStatBusy(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0];
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((s, x) => s + x, 0);
  return { busy: total - idle, total };
}

/** Whole-machine CPU use between start() and stop(), in percent of all cores (100 = every core busy). */
export function machineCpu(): { stop: () => number } {
  const a = procStatBusy();
  return {
    stop: () => {
      const b = procStatBusy();
      return b.total > a.total ? (100 * (b.busy - a.busy)) / (b.total - a.total) : 0;
    },
  };
}

function ticksOf(comm: string): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== comm) continue;
      const f = stat.slice(close + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime + stime (fields 14 and 15)
    } catch {
      // the process ended between readdir and read
    }
  }
  return ticks;
}

/**
 * CPU used by every process named `comm` (e.g. postgres) between start and stop(), in percent of
 * one core. Processes that start or end in between count only for the part seen.
 */
export function processCpu(comm: string): { stop: () => number } {
  const t0 = nowMs();
  const a = ticksOf(comm);
  return { stop: () => (100 * ((ticksOf(comm) - a) / CLOCK_TICKS) * 1000) / Math.max(1, nowMs() - t0) };
}

/** USER_HZ: the unit of /proc/<pid>/stat times; 100 on every Linux this runs on. */
const CLOCK_TICKS = 100;

// ---- the fetch + complete loop of the job-queue baselines -------------------------------------------

export interface QueueAdapter {
  /** Claims at most one job; null when none was handed out. */
  fetch(token: string): Promise<{ id: string } | null>;
  /** Marks the job done; false when the queue refused (the job was no longer this fetcher's). */
  complete(id: string, token: string): Promise<boolean>;
  /** Jobs still waiting to be claimed (not active, not done). */
  waiting(): Promise<number>;
}

/** What one load process did: flat arrays, one entry per job it completed (or tried to). */
export interface FetcherReport {
  pid: number;
  ids: string[];
  /** Wall-clock ms when the fetch that returned the job was sent. */
  fetchAt: number[];
  fetchMs: number[];
  completeMs: number[];
  /** When the completion was answered (wall-clock ms). */
  doneAt: number[];
  refused: number;
  emptyFetches: number;
  errors: number;
  firstErrors: string[];
  cpuMs: number;
}

/**
 * Runs `concurrency` fetchers, each claiming one job at a time and completing it at once, until
 * the queue has nothing left waiting. A fetch that comes back empty while jobs still wait (they
 * were locked by concurrent fetches) is retried after a short pause.
 */
export async function runFetchers(q: QueueAdapter, concurrency: number, tokenPrefix: string): Promise<FetcherReport> {
  const r: FetcherReport = { pid: process.pid, ids: [], fetchAt: [], fetchMs: [], completeMs: [], doneAt: [], refused: 0, emptyFetches: 0, errors: 0, firstErrors: [], cpuMs: 0 };
  const cpu0 = process.cpuUsage();
  const fail = (err: unknown) => {
    r.errors++;
    if (r.firstErrors.length < 5) r.firstErrors.push(String((err as Error)?.message ?? err).slice(0, 300));
  };
  const fetcher = async (k: number) => {
    const token = `${tokenPrefix}-${k}`;
    let emptyInARow = 0;
    for (;;) {
      const t0 = nowMs();
      let job: { id: string } | null;
      try {
        job = await q.fetch(token);
      } catch (err) {
        fail(err);
        await sleep(20);
        continue;
      }
      const t1 = nowMs();
      if (!job) {
        r.emptyFetches++;
        // Nothing waiting any more: this fetcher is done (jobs in other fetchers' hands are theirs).
        if ((await q.waiting().catch(() => 1)) === 0 && ++emptyInARow >= 2) return;
        await sleep(5);
        continue;
      }
      emptyInARow = 0;
      let ok = false;
      try {
        ok = await q.complete(job.id, token);
      } catch (err) {
        fail(err);
      }
      const t2 = nowMs();
      if (!ok) r.refused++;
      r.ids.push(job.id);
      r.fetchAt.push(t0);
      r.fetchMs.push(t1 - t0);
      r.completeMs.push(t2 - t1);
      r.doneAt.push(t2);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => fetcher(k)));
  const cpu = process.cpuUsage(cpu0);
  r.cpuMs = (cpu.user + cpu.system) / 1000;
  return r;
}

export interface JobRunSummary {
  metrics: Record<string, number>;
  series: Record<string, Series>;
  duplicates: number;
  distinctCompleted: number;
}

/** Throughput, latency percentiles, duplicates and per-second series over the load processes' reports. */
export function summarizeJobRun(reports: readonly FetcherReport[], startAt: number, prefix = ''): JobRunSummary {
  const ids = reports.flatMap((x) => x.ids);
  const fetchMs = reports.flatMap((x) => x.fetchMs);
  const completeMs = reports.flatMap((x) => x.completeMs);
  const fetchAt = reports.flatMap((x) => x.fetchAt);
  const doneAt = reports.flatMap((x) => x.doneAt);
  const cycleMs = fetchMs.map((f, i) => f + completeMs[i]);
  const seen = new Map<string, number>();
  for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
  const duplicates = [...seen.values()].filter((n) => n > 1).length;
  const refused = reports.reduce((s, x) => s + x.refused, 0);
  const distinctCompleted = seen.size;
  const lastDone = doneAt.length ? doneAt.reduce((a, b) => (b > a ? b : a), -Infinity) : startAt;
  const seconds = Math.max(1e-3, (lastDone - startAt) / 1000);
  const completedOk = ids.length - refused;

  // Per second since the start: jobs completed in that second, p50/p99 of fetches sent in it.
  const nSec = Math.max(1, Math.ceil(seconds));
  const perSec = Array.from({ length: nSec }, () => ({ done: 0, fetch: [] as number[] }));
  for (const t of doneAt) perSec[Math.min(nSec - 1, Math.max(0, Math.floor((t - startAt) / 1000)))].done++;
  fetchAt.forEach((t, i) => perSec[Math.min(nSec - 1, Math.max(0, Math.floor((t - startAt) / 1000)))].fetch.push(fetchMs[i]));

  const p = (k: string) => `${prefix}${k}`;
  const metrics: Record<string, number> = {
    [p('jobs_completed')]: completedOk,
    [p('jobs_per_s')]: round(completedOk / seconds, 1),
    [p('drain_s')]: round(seconds, 2),
    [p('fetch_p50_ms')]: round(percentile(fetchMs, 50)),
    [p('fetch_p95_ms')]: round(percentile(fetchMs, 95)),
    [p('fetch_p99_ms')]: round(percentile(fetchMs, 99)),
    [p('fetch_max_ms')]: round(fetchMs.length ? fetchMs.reduce((a, b) => (b > a ? b : a), -Infinity) : Number.NaN),
    [p('complete_p50_ms')]: round(percentile(completeMs, 50)),
    [p('complete_p99_ms')]: round(percentile(completeMs, 99)),
    [p('cycle_p50_ms')]: round(percentile(cycleMs, 50)),
    [p('cycle_p99_ms')]: round(percentile(cycleMs, 99)),
    [p('duplicates')]: duplicates,
    [p('completions_refused')]: refused,
    [p('empty_fetches')]: reports.reduce((s, x) => s + x.emptyFetches, 0),
    [p('errors')]: reports.reduce((s, x) => s + x.errors, 0),
    [p('load_procs_cpu_pct_of_one_core')]: round((100 * reports.reduce((s, x) => s + x.cpuMs, 0)) / (seconds * 1000), 1),
  };
  const series: Record<string, Series> = {
    [p('throughput')]: { label: `${prefix}jobs completed per second`, xLabel: 's', yLabel: 'jobs/s', points: perSec.map((b, i) => ({ x: i + 1, y: b.done })) },
    [p('fetch_latency_p50')]: {
      label: `${prefix}fetch latency p50`,
      xLabel: 's',
      yLabel: 'ms',
      points: perSec.flatMap((b, i) => (b.fetch.length ? [{ x: i + 1, y: round(percentile(b.fetch, 50)) }] : [])),
    },
    [p('fetch_latency_p99')]: {
      label: `${prefix}fetch latency p99`,
      xLabel: 's',
      yLabel: 'ms',
      points: perSec.flatMap((b, i) => (b.fetch.length ? [{ x: i + 1, y: round(percentile(b.fetch, 99)) }] : [])),
    },
  };
  return { metrics, series, duplicates, distinctCompleted };
}
