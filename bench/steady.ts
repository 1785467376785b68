// steady: N agents work a large board over K real replicas for BENCH_DURATION_S: each asks for a
// task, reports progress BENCH_PROGRESS times BENCH_WORK_MS apart, completes it, asks again.
// Measures request_next_task, progress and completion latency (p50/p95/p99) over the run and per
// BENCH_WINDOW_S window (series: latency percentiles over time), throughput, errors; checks in
// Postgres that no task was completed twice and none is left held.
//
//   npx tsx bench/steady.ts                    (npm run build first: replicas run dist/main.js)
//
//   BENCH_AGENTS=1000        agents
//   BENCH_REPLICAS=3         replicas (ports BENCH_BASE_PORT.., default 3501)
//   BENCH_DURATION_S=120     measured run, after the warm-up
//   BENCH_WARMUP_S=10        first seconds left out of the overall figures (still in the series)
//   BENCH_WORK_MS=5000       simulated work before each report (an agent reports every few seconds)
//   BENCH_PROGRESS=3         in_progress reports per task before the completion
//   BENCH_WINDOW_S=5         window of the latency series
//   BENCH_TASKS=10000        board size; more if the agents could finish more at full pace (+25 %)
//   BENCH_WORKERS=ceil(N/3500), at least 2   load processes
//   BENCH_CPU_PROF=dir       write V8 CPU profiles of the replicas to dir (on their clean exit)
import { join } from 'node:path';
import { COMPLETE, Load, summarize } from './lib/load';
import {
  cpuBetween,
  cpuSnapshot,
  env,
  ForeignWatch,
  ledger,
  MEM,
  MetricsSampler,
  PgWaitSampler,
  seedProject,
  sleep,
  startBenchFleet,
  type Fleet,
} from './lib/fleet';
import { machine, report, ROOT, round, versions, type BenchResult, type Series } from './lib/result';

const AGENTS = env.int('BENCH_AGENTS', 1000);
const REPLICAS = env.int('BENCH_REPLICAS', 3);
const DURATION_S = env.int('BENCH_DURATION_S', 120);
const WARMUP_S = env.int('BENCH_WARMUP_S', 10);
const WORK_MS = env.int('BENCH_WORK_MS', 5000);
const PROGRESS = env.int('BENCH_PROGRESS', 3);
const WINDOW_S = env.int('BENCH_WINDOW_S', 5);
const WORKERS = env.int('BENCH_WORKERS', Math.max(2, Math.ceil(AGENTS / 3500)));
const CYCLE_S = ((PROGRESS + 1) * WORK_MS) / 1000;
const TASKS = env.int('BENCH_TASKS', Math.max(10_000, Math.ceil((AGENTS * ((WARMUP_S + DURATION_S) / CYCLE_S) * 1.25) / 1000) * 1000));

async function main(): Promise<void> {
  const startedAt = new Date();
  const watch = new ForeignWatch().start();
  let fleet: Fleet | undefined;
  let load: Load | undefined;
  try {
    fleet = await startBenchFleet({ replicas: REPLICAS, cpuProfDir: process.env.BENCH_CPU_PROF ? join(ROOT, process.env.BENCH_CPU_PROF) : undefined });
    const { projectId, apiKey } = await seedProject(fleet, TASKS, 'steady');
    load = await Load.start({
      urls: fleet.urls,
      apiKey,
      agents: AGENTS,
      behaviour: 'work',
      workers: WORKERS,
      workMs: WORK_MS,
      progressSteps: PROGRESS,
      callTimeoutMs: 30_000,
    });
    const conn = await load.connect();
    const sampler = new MetricsSampler(fleet.replicas, 1000).start();
    const t0 = Date.now();
    load.begin();
    await sleep(WARMUP_S * 1000);
    const from = Date.now();
    const pids = () => ({ replicas: fleet!.replicas.map((r) => r.proc.pid!), workers: load!.workerPids });
    const cpu0 = cpuSnapshot(pids());
    const waits = await new PgWaitSampler(fleet.databaseUrl, 100).start();
    await sleep(DURATION_S * 1000);
    const to = Date.now();
    const cpu1 = cpuSnapshot(pids());
    await waits.stop();
    await sampler.stop();
    const { holding } = await load.stop(true);
    const book = await ledger(fleet.db, projectId);

    // Windows close every second; a window closing in (from, to] holds calls answered in it.
    const req = summarize(load.latencies('request_next_task', from, to));
    const prog = summarize(load.latencies('report_task_progress', from, to));
    const done = summarize(load.latencies(COMPLETE, from, to));
    const secs = (to - from) / 1000;
    const errors = load.errors(from, to);
    const errorsAll = load.errors();
    const lag = sampler.maxOf(MEM.lagP99, from, to).filter((x) => !Number.isNaN(x));
    const metrics: Record<string, number> = {
      request_p50_ms: req.p50,
      request_p95_ms: req.p95,
      request_p99_ms: req.p99,
      request_max_ms: req.max,
      progress_p50_ms: prog.p50,
      progress_p95_ms: prog.p95,
      progress_p99_ms: prog.p99,
      progress_max_ms: prog.max,
      complete_p50_ms: done.p50,
      complete_p95_ms: done.p95,
      complete_p99_ms: done.p99,
      calls_per_s: round(load.count('calls', from, to) / secs, 1),
      claims_per_s: round(load.count('claims', from, to) / secs, 1),
      completions_per_s: round(load.count('completions', from, to) / secs, 1),
      claims_per_s_demanded: round(AGENTS / CYCLE_S, 1),
      no_task_answers: load.count('noTask', from, to),
      errors: Object.values(errors).reduce((a, b) => a + b, 0),
      errors_whole_run: Object.values(errorsAll).reduce((a, b) => a + b, 0),
      agents_connected: conn.ok,
      tasks_done: book.done,
      tasks_completed_twice: book.tasksCompletedMoreThanOnce,
      tasks_assigned_twice: book.tasksAssignedMoreThanOnce,
      held_after_stop: book.activeAssignments,
      pg_active_backends_avg: waits.activeAvg(),
      event_loop_lag_p99_max_ms: lag.length ? round(Math.max(...lag) * 1000, 1) : NaN,
    };
    for (const [k, v] of Object.entries(cpuBetween(cpu0, cpu1))) metrics[`cpu_${k}`] = v;

    const series: Record<string, Series> = {};
    const line = (key: string, events: string[], label: string) => {
      const tl = load!.timeline(events, t0, WINDOW_S * 1000);
      for (const p of ['p50', 'p95', 'p99'] as const) {
        series[`${key}_${p}_ms`] = { label: `${label} ${p} per ${WINDOW_S} s`, xLabel: 's since start', yLabel: 'ms', points: tl.map((w) => ({ x: w.t, y: w[p] })) };
      }
    };
    line('request', ['request_next_task'], 'request_next_task');
    line('progress', ['report_task_progress'], 'report_task_progress (in_progress)');
    line('complete', [COMPLETE], 'report_task_progress (completed)');
    const perWindow = new Map<number, number>();
    for (const w of load.windows) {
      const b = Math.floor((w.at - t0) / (WINDOW_S * 1000));
      if (b >= 0) perWindow.set(b, (perWindow.get(b) ?? 0) + w.calls);
    }
    series.calls_per_s = {
      label: `calls per second, per ${WINDOW_S} s`,
      xLabel: 's since start',
      yLabel: 'calls/s',
      points: [...perWindow.entries()].sort((a, b) => a[0] - b[0]).map(([b, n]) => ({ x: (b + 1) * WINDOW_S, y: round(n / WINDOW_S, 1) })),
    };

    const others = watch.stop();
    const result: BenchResult = {
      name: 'steady',
      title: `${AGENTS.toLocaleString('en')} agents working a ${TASKS.toLocaleString('en')}-task board over ${REPLICAS} replicas for ${DURATION_S} s`,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      machine: machine(),
      versions: versions(),
      params: { agents: AGENTS, replicas: REPLICAS, duration_s: DURATION_S, warmup_s: WARMUP_S, work_ms: WORK_MS, progress_reports: PROGRESS, tasks: TASKS, window_s: WINDOW_S, load_workers: WORKERS },
      metrics,
      series,
      checks: [
        { name: 'the machine to ourselves (no other benchmark, test or replica seen)', ok: others.length === 0, detail: `${others.length} other program(s)` },
        { name: 'request_next_task p99 < 25 ms', ok: req.p99 < 25, detail: `${req.p99} ms` },
        { name: 'no errors', ok: metrics.errors === 0, detail: JSON.stringify(errors) },
        { name: 'no task completed twice', ok: book.tasksCompletedMoreThanOnce === 0, detail: String(book.tasksCompletedMoreThanOnce) },
        { name: 'no task left held after the agents finished', ok: book.activeAssignments === 0 && holding === 0, detail: `${book.activeAssignments} active assignments` },
        { name: 'the board did not run dry', ok: metrics.no_task_answers === 0, detail: `${metrics.no_task_answers} "no task" answers` },
      ],
      notes: [
        `overall figures: calls answered between ${WARMUP_S} s and ${WARMUP_S + DURATION_S} s; the series covers the warm-up too`,
        `demand: each agent asks for a task every ${CYCLE_S} s at most (${PROGRESS} reports + completion, ${WORK_MS} ms apart) = ${metrics.claims_per_s_demanded} claims/s if served at once`,
        `Postgres backends by wait (average per 100 ms sample): ${waits.summary()}`,
        ...(others.length > 0 ? [`NOT ALONE: other programs seen on the machine during the run: ${others.join(' | ')}`] : []),
        ...load.anomalies().slice(0, 10),
      ],
    };
    report(result);
  } finally {
    await load?.close();
    await fleet?.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  },
);
