// failover: steady load on K real replicas (agents working tasks as in bench/steady.ts), then
// kill -9 of one replica. Its agents see their socket drop, move to a surviving replica (random
// other first), register again and take up their task with the same lease. Measures the time
// from the kill until each of them is answered again (p50, p99, max), agents never served
// again, latency before and after; checks in Postgres that no task was doubled or left stuck
// and at the agents that no task was lost (resume gave the same task and lease token).
//
//   npx tsx bench/failover.ts                  (npm run build first: replicas run dist/main.js)
//
//   BENCH_AGENTS=1000        agents
//   BENCH_REPLICAS=3         replicas (ports BENCH_BASE_PORT.., default 3501)
//   BENCH_KILL=1             index of the replica killed (0 = the first, which won the leader election)
//   BENCH_BEFORE_S=30        steady load before the kill (the first BENCH_WARMUP_S=10 left out of "before")
//   BENCH_AFTER_S=30         load after every moved agent was served again (+5 s)
//   BENCH_RECOVERY_LIMIT_S=180  longest wait for the moved agents to be served again
//   BENCH_WORK_MS=5000       simulated work before each report (an agent reports every few seconds)
//   BENCH_PROGRESS=3         in_progress reports per task before the completion
//   BENCH_RECONNECT_JITTER_MS=250  a moving agent waits a random 0..this first
//   BENCH_TASKS=auto         board size: what the agents could finish at full pace, +25 %
//   BENCH_WORKERS=ceil(N/3500), at least 2   load processes
import { COMPLETE, Load, summarize } from './lib/load';
import { cpuBetween, cpuSnapshot, env, ForeignWatch, ledger, MEM, MetricsSampler, scrape, seedProject, sleep, startBenchFleet, type Fleet } from './lib/fleet';
import { machine, percentile, report, round, versions, type BenchResult, type Series } from './lib/result';

const AGENTS = env.int('BENCH_AGENTS', 1000);
const REPLICAS = env.int('BENCH_REPLICAS', 3);
const KILL = env.int('BENCH_KILL', 1);
const BEFORE_S = env.int('BENCH_BEFORE_S', 30);
const WARMUP_S = env.int('BENCH_WARMUP_S', 10);
const AFTER_S = env.int('BENCH_AFTER_S', 30);
const WORK_MS = env.int('BENCH_WORK_MS', 5000);
const PROGRESS = env.int('BENCH_PROGRESS', 3);
const JITTER_MS = env.int('BENCH_RECONNECT_JITTER_MS', 250);
const RECOVERY_LIMIT_S = env.int('BENCH_RECOVERY_LIMIT_S', 180);
const WORKERS = env.int('BENCH_WORKERS', Math.max(2, Math.ceil(AGENTS / 3500)));
const CYCLE_S = ((PROGRESS + 1) * WORK_MS) / 1000;
const TASKS = env.int('BENCH_TASKS', Math.max(1000, Math.ceil((AGENTS * ((BEFORE_S + AFTER_S + 20) / CYCLE_S) * 1.25) / 1000) * 1000));

async function main(): Promise<void> {
  if (KILL < 0 || KILL >= REPLICAS || REPLICAS < 2) throw new Error('need BENCH_REPLICAS >= 2 and 0 <= BENCH_KILL < BENCH_REPLICAS');
  const startedAt = new Date();
  const watch = new ForeignWatch().start();
  let fleet: Fleet | undefined;
  let load: Load | undefined;
  try {
    fleet = await startBenchFleet({ replicas: REPLICAS });
    const { projectId, apiKey } = await seedProject(fleet, TASKS, 'failover');
    load = await Load.start({
      urls: fleet.urls,
      apiKey,
      agents: AGENTS,
      behaviour: 'work',
      workers: WORKERS,
      workMs: WORK_MS,
      progressSteps: PROGRESS,
      reconnectJitterMs: JITTER_MS,
      callTimeoutMs: 30_000,
    });
    const conn = await load.connect();
    const sampler = new MetricsSampler(fleet.replicas, 1000).start();
    const t0 = Date.now();
    load.begin();
    await sleep(BEFORE_S * 1000);

    const victim = fleet.replicas[KILL];
    const onVictim = (await scrape(victim, 30_000))[MEM.conns];
    // The survivors only: the dead replica's CPU time leaves /proc with it.
    const pids = () => ({ replicas: fleet!.replicas.filter((r) => r !== victim).map((r) => r.proc.pid!), workers: load!.workerPids });
    const cpu0 = cpuSnapshot(pids());
    const tKill = Date.now();
    victim.proc.kill('SIGKILL');
    await victim.exited;

    // Until every agent of the dead replica has been answered again (or BENCH_RECOVERY_LIMIT_S), then the "after" period.
    const servedFromVictim = () => load!.interruptions().filter((i) => i.from === KILL).length;
    while (servedFromVictim() < onVictim && Date.now() - tKill < RECOVERY_LIMIT_S * 1000) await sleep(250);
    const tAllServed = Date.now();
    await sleep(5000 + AFTER_S * 1000);
    const tEnd = Date.now();
    const cpu1 = cpuSnapshot(pids());
    await sampler.stop();
    const { holding } = await load.stop(true);
    const book = await ledger(fleet.db, projectId);

    // ---- figures ----
    const moved = load.interruptions().filter((i) => i.from === KILL);
    const elsewhere = load.interruptions().filter((i) => i.from !== KILL);
    const sinceKill = moved.map((i) => i.servedAt - tKill);
    const sinceLoss = moved.map((i) => i.servedAt - i.lostAt);
    const recoveredAt = moved.length ? Math.max(...moved.map((i) => i.servedAt)) : tAllServed;
    const before = { from: t0 + WARMUP_S * 1000, to: tKill };
    // "After": once everyone is back, plus a few seconds for the survivors' queues to drain.
    const after = { from: recoveredAt + 5000, to: tEnd };
    const lat = (event: string, w: { from: number; to: number }) => summarize(load!.latencies(event, w.from, w.to));
    const rb = lat('request_next_task', before);
    const ra = lat('request_next_task', after);
    const pb = lat('report_task_progress', before);
    const pa = lat('report_task_progress', after);
    const errorsAround = load.errors(tKill - 1000, recoveredAt + 5000);
    const anomalies = load.anomalies();
    const survivors = fleet.replicas.filter((_, i) => i !== KILL);
    const lag = sampler.maxOf(MEM.lagP99, tKill, tEnd).filter((x, i) => i !== KILL && !Number.isNaN(x));

    const metrics: Record<string, number> = {
      agents: AGENTS,
      agents_on_killed_replica: onVictim,
      agents_moved_and_served: moved.length,
      agents_not_served_again: Math.max(0, onVictim - moved.length),
      recovery_p50_ms: round(percentile(sinceKill, 50)),
      recovery_p99_ms: round(percentile(sinceKill, 99)),
      recovery_max_ms: moved.length ? round(Math.max(...sinceKill)) : NaN,
      loss_to_served_p50_ms: round(percentile(sinceLoss, 50)),
      loss_to_served_max_ms: moved.length ? round(Math.max(...sinceLoss)) : NaN,
      interrupted_elsewhere: elsewhere.length,
      tasks_doubled: book.tasksCompletedMoreThanOnce + book.tasksWithTwoActive,
      tasks_reassigned: book.tasksAssignedMoreThanOnce,
      tasks_stuck: book.activeAssignments + book.inProgress,
      tasks_lost_at_agents: anomalies.length,
      leases_expired: book.expiredAssignments,
      calls_cut_by_the_kill: (errorsAround.disconnected ?? 0) + (errorsAround.timeout ?? 0),
      errors_around_kill: Object.entries(errorsAround)
        .filter(([k]) => !['socket_lost', 'disconnected', 'connect_failed'].includes(k))
        .reduce((a, [, v]) => a + v, 0),
      request_p50_ms_before: rb.p50,
      request_p99_ms_before: rb.p99,
      request_p50_ms_after: ra.p50,
      request_p99_ms_after: ra.p99,
      progress_p50_ms_before: pb.p50,
      progress_p99_ms_before: pb.p99,
      progress_p50_ms_after: pa.p50,
      progress_p99_ms_after: pa.p99,
      complete_p99_ms_before: lat(COMPLETE, before).p99,
      complete_p99_ms_after: lat(COMPLETE, after).p99,
      calls_per_s_before: round(load.count('calls', before.from, before.to) / ((before.to - before.from) / 1000), 1),
      calls_per_s_after: round(load.count('calls', after.from, after.to) / Math.max(1, (after.to - after.from) / 1000), 1),
      survivor_event_loop_lag_p99_max_ms: lag.length ? round(Math.max(...lag) * 1000, 1) : NaN,
      agents_connected: conn.ok,
    };
    for (const [k, v] of Object.entries(cpuBetween(cpu0, cpu1))) metrics[`after_kill_cpu_${k}`] = v;
    survivors.forEach((r) => {
      const last = sampler.samples[sampler.samples.length - 1]?.replicas[fleet!.replicas.indexOf(r)];
      if (last) metrics[`r${fleet!.replicas.indexOf(r) + 1}_connections_after`] = last[MEM.conns];
    });

    const tl = (events: string[]) => load!.timeline(events, t0, 1000);
    const killAt = round((tKill - t0) / 1000, 1);
    const sorted = [...sinceKill].sort((a, b) => a - b);
    const series: Record<string, Series> = {
      request_p99_ms: { label: `request_next_task p99 per second (kill at ${killAt} s)`, xLabel: 's since start', yLabel: 'ms', points: tl(['request_next_task']).map((w) => ({ x: w.t, y: w.p99 })) },
      progress_p99_ms: { label: `report_task_progress p99 per second (kill at ${killAt} s)`, xLabel: 's since start', yLabel: 'ms', points: tl(['report_task_progress', COMPLETE]).map((w) => ({ x: w.t, y: w.p99 })) },
      served_again: {
        label: 'agents of the killed replica answered again, cumulative',
        xLabel: 'ms since kill -9',
        yLabel: 'agents',
        points: sorted.map((ms, i) => ({ x: round(ms, 1), y: i + 1 })),
      },
    };

    const others = watch.stop();
    const result: BenchResult = {
      name: 'failover',
      title: `kill -9 of 1 of ${REPLICAS} replicas under ${AGENTS.toLocaleString('en')} working agents`,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      machine: machine(),
      versions: versions(),
      params: { agents: AGENTS, replicas: REPLICAS, killed_index: KILL, before_s: BEFORE_S, after_s: AFTER_S, work_ms: WORK_MS, progress_reports: PROGRESS, reconnect_jitter_ms: JITTER_MS, tasks: TASKS, load_workers: WORKERS },
      metrics,
      series,
      checks: [
        { name: 'the machine to ourselves (no other benchmark, test or replica seen)', ok: others.length === 0, detail: `${others.length} other program(s)` },
        { name: 'every agent of the killed replica served again', ok: moved.length >= onVictim, detail: `${moved.length}/${onVictim}` },
        { name: 'all served again within 5 s of the kill', ok: metrics.recovery_max_ms < 5000, detail: `max ${metrics.recovery_max_ms} ms` },
        { name: '0 tasks doubled', ok: metrics.tasks_doubled === 0 && book.tasksAssignedMoreThanOnce === 0, detail: `${metrics.tasks_doubled} doubled, ${book.tasksAssignedMoreThanOnce} assigned more than once` },
        { name: '0 tasks stuck', ok: metrics.tasks_stuck === 0 && holding === 0, detail: `${book.activeAssignments} active assignments, ${book.inProgress} in_progress after the agents finished` },
        { name: '0 tasks lost at the agents (same task and lease after the move)', ok: anomalies.length === 0, detail: anomalies.slice(0, 3).join('; ') },
      ],
      notes: [
        'recovery = time from kill -9 to the first answered call (not register_agent) of each agent that was on the killed replica, measured at the agents; it includes the reconnect jitter',
        `before = ${WARMUP_S} s after start until the kill; after = 5 s after the last agent was served again, for ${AFTER_S} s`,
        `errors around the kill: ${JSON.stringify(errorsAround)}`,
        ...(others.length > 0 ? [`NOT ALONE: other programs seen on the machine during the run: ${others.join(' | ')}`] : []),
        ...anomalies.slice(0, 10),
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
