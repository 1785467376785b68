// claim-storm: M todo tasks, N agents over K real replicas, all racing request_next_task and
// completing each task at once (report_task_progress completed). Measures claims/s end to end
// (first request_next_task sent to last completion answered, at the clients), claim and
// completion latency, errors; counts duplicates in Postgres (tasks with more than one
// assignment, which must be 0) and at the clients (a task id handed to two agents).
//
//   npx tsx bench/claim-storm.ts               (npm run build first: replicas run dist/main.js)
//
//   BENCH_TASKS=20000        tasks on the board (bulk-inserted)
//   BENCH_AGENTS=1000        agents racing
//   BENCH_REPLICAS=3         replicas (ports BENCH_BASE_PORT.., default 3501)
//   BENCH_REPLICA_SWEEP=0    1 = also run with 1, 2, ... BENCH_REPLICAS replicas (series claims/s vs replicas)
//   BENCH_SWEEP_TASKS=BENCH_TASKS  board size of the replica sweep (a smaller board keeps it short)
//   BENCH_TASKS_SWEEP=       e.g. 1000,5000: also run with these board sizes (series claims/s vs board size)
//   BENCH_WORKERS=ceil(N/3500), at least 2   load processes
//   BENCH_TIMEOUT_S=600      give up on a storm after this long
//   BENCH_POOL_MAX=10        DATABASE_POOL_MAX of each replica
//   BENCH_PROFILE=1          after the measured storms, one more (min(M, 5000) tasks) with V8 CPU profiles of the
//                            replicas and pg_stat_statements (if the server preloads it): where the time goes,
//                            summarised in the result's notes; kept apart so profiling does not slow the headline run
//   BENCH_CPU_PROF=dir       keep that storm's CPU profiles in dir (else a temporary directory)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMPLETE, Load, summarize, type LatencySummary } from './lib/load';
import {
  cpuBetween,
  cpuSnapshot,
  doneCount,
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
  type Ledger,
} from './lib/fleet';
import { summarizeCpuProfiles, StatementStats, type CpuSummary, type StatementSummary } from './lib/profile';
import { loadResult, machine, report, ROOT, round, versions, type BenchResult, type Series } from './lib/result';

export interface StormOptions {
  replicas: number;
  agents: number;
  tasks: number;
  workers?: number;
  basePort?: number;
  rampPerS?: number;
  timeoutS?: number;
  /** Pause of an agent after "no task" (the board is nearly empty) before it asks again. */
  idleMs?: number;
  /** Sample CPU per process group, Postgres waits and replica event-loop lag. */
  observe?: boolean;
  cpuProfDir?: string;
  /** Record pg_stat_statements over the storm (when the server loads the extension). */
  statements?: boolean;
}

export interface StormOutcome {
  replicas: number;
  agents: number;
  tasks: number;
  connected: number;
  connectFailed: number;
  timedOut: boolean;
  /** First request_next_task sent to last completion answered. */
  spanMs: number;
  claimsPerS: number;
  claim: LatencySummary;
  complete: LatencySummary;
  clientClaims: number;
  distinctTasksClaimed: number;
  /** Task ids handed to more than one agent, as the agents saw it. */
  clientDuplicates: number;
  ledger: Ledger;
  errors: Record<string, number>;
  errorCount: number;
  noTaskAnswers: number;
  anomalies: string[];
  completionsPerSecond: { t: number; n: number }[];
  claimTimeline: { t: number; n: number; p50: number; p95: number; p99: number }[];
  cpu?: Record<string, number>;
  pgWaits?: string;
  pgActiveAvg?: number;
  lagP99MaxMs?: number;
  assignmentsPerReplica: number[];
  statements?: StatementSummary;
}

export async function runClaimStorm(o: StormOptions): Promise<StormOutcome> {
  let fleet: Fleet | undefined;
  let load: Load | undefined;
  let stats: StatementStats | undefined;
  try {
    fleet = await startBenchFleet({ replicas: o.replicas, basePort: o.basePort, cpuProfDir: o.cpuProfDir });
    const { projectId, apiKey } = await seedProject(fleet, o.tasks, 'claim-storm');
    load = await Load.start({
      urls: fleet.urls,
      apiKey,
      agents: o.agents,
      behaviour: 'storm',
      workers: o.workers ?? Math.max(2, Math.ceil(o.agents / 3500)),
      connectPerSecond: o.rampPerS ?? 500,
      idleMs: o.idleMs ?? 250,
      trackTasks: true,
      callTimeoutMs: 30_000,
    });
    const conn = await load.connect();
    const sampler = o.observe ? new MetricsSampler(fleet.replicas, 1000).start() : undefined;
    const waits = o.observe ? await new PgWaitSampler(fleet.databaseUrl, 100).start() : undefined;
    const pids = () => ({ replicas: fleet!.replicas.map((r) => r.proc.pid!), workers: load!.workerPids });
    const cpu0 = o.observe ? cpuSnapshot(pids()) : undefined;
    stats = o.statements ? await StatementStats.open(fleet.databaseUrl) : undefined;
    await stats?.reset();
    const t0 = Date.now();
    load.begin();
    const deadline = t0 + (o.timeoutS ?? 600) * 1000;
    let done = 0;
    while (Date.now() < deadline && load.fatals.length === 0) {
      await sleep(200);
      done = await doneCount(fleet.db, projectId);
      if (done >= o.tasks) break;
    }
    const cpu1 = o.observe ? cpuSnapshot(pids()) : undefined;
    const statements = await stats?.read();
    await waits?.stop();
    await sampler?.stop();
    await load.stop(true);
    const book = await ledger(fleet.db, projectId);
    const perReplica = await Promise.all(
      fleet.replicas.map(async (r) => {
        const res = await fetch(`http://127.0.0.1:${r.port + 1000}/metrics`);
        const line = (await res.text()).split('\n').find((l) => l.startsWith('pm_agent_task_assignments '));
        return line ? Number(line.split(' ')[1]) : NaN;
      }),
    );

    const { firstRequestAt, lastCompletedAt } = load.span();
    const spanMs = firstRequestAt !== undefined && lastCompletedAt !== undefined ? lastCompletedAt - firstRequestAt : NaN;
    const errors = load.errors();
    const perSecond = new Map<number, number>();
    for (const w of load.windows) {
      const s = Math.floor((w.at - t0) / 1000);
      if (s >= 0) perSecond.set(s, (perSecond.get(s) ?? 0) + w.completions);
    }
    const lag = sampler?.maxOf(MEM.lagP99, t0).filter((x) => !Number.isNaN(x)) ?? [];
    return {
      replicas: o.replicas,
      agents: o.agents,
      tasks: o.tasks,
      connected: conn.ok,
      connectFailed: conn.failed,
      timedOut: done < o.tasks,
      spanMs,
      claimsPerS: round(book.done / (spanMs / 1000), 1),
      claim: summarize(load.latencies('request_next_task')),
      complete: summarize(load.latencies(COMPLETE)),
      clientClaims: load.count('claims'),
      distinctTasksClaimed: load.taskClaims.size,
      clientDuplicates: [...load.taskClaims.values()].filter((n) => n > 1).length,
      ledger: book,
      errors,
      errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
      noTaskAnswers: load.count('noTask'),
      anomalies: load.anomalies(),
      completionsPerSecond: [...perSecond.entries()].sort((a, b) => a[0] - b[0]).map(([t, n]) => ({ t: t + 1, n })),
      claimTimeline: load.timeline(['request_next_task'], t0, 1000),
      cpu: cpu0 && cpu1 ? cpuBetween(cpu0, cpu1) : undefined,
      pgWaits: waits?.summary(),
      pgActiveAvg: waits?.activeAvg(),
      lagP99MaxMs: lag.length ? round(Math.max(...lag) * 1000, 1) : undefined,
      assignmentsPerReplica: perReplica,
      statements,
    };
  } finally {
    await stats?.close().catch(() => undefined);
    await load?.close();
    await fleet?.stop();
  }
}

// ---- the scenario ---------------------------------------------------------------------------

const TASKS = env.int('BENCH_TASKS', 20_000);
const AGENTS = env.int('BENCH_AGENTS', 1000);
const REPLICAS = env.int('BENCH_REPLICAS', 3);
const SWEEP = env.bool('BENCH_REPLICA_SWEEP');
const TIMEOUT_S = env.int('BENCH_TIMEOUT_S', 600);
const SWEEP_TASKS = env.int('BENCH_SWEEP_TASKS', TASKS);
const PROFILE = env.bool('BENCH_PROFILE', true);
const TASKS_SWEEP = (process.env.BENCH_TASKS_SWEEP ?? '').split(',').filter(Boolean).map(Number).filter((n) => n > 0);

async function main(): Promise<void> {
  const startedAt = new Date();
  const watch = new ForeignWatch().start();
  const workers = process.env.BENCH_WORKERS ? env.int('BENCH_WORKERS', 2) : undefined;
  // Side runs first (other replica counts, other board sizes), the main run last.
  const plan: { k: number; tasks: number }[] = [];
  const add = (k: number, tasks: number) => {
    if (!plan.some((p) => p.k === k && p.tasks === tasks) && !(k === REPLICAS && tasks === TASKS)) plan.push({ k, tasks });
  };
  if (SWEEP) for (let k = 1; k <= REPLICAS; k++) add(k, SWEEP_TASKS);
  for (const t of TASKS_SWEEP) add(REPLICAS, t);
  plan.push({ k: REPLICAS, tasks: TASKS });
  const runs: StormOutcome[] = [];
  for (const p of plan) {
    const r = await runClaimStorm({ replicas: p.k, agents: AGENTS, tasks: p.tasks, workers, timeoutS: TIMEOUT_S, observe: true });
    console.error(`claim-storm K=${p.k} M=${p.tasks}: ${r.claimsPerS} claims/s, ${r.ledger.done}/${p.tasks} done, duplicates ${r.ledger.tasksAssignedMoreThanOnce}, errors ${r.errorCount}`);
    runs.push(r);
  }
  const main = runs[runs.length - 1];
  const profiled = PROFILE ? await profiledStorm(workers) : undefined;
  const byReplicas = runs.filter((r) => r.tasks === SWEEP_TASKS).sort((a, b) => a.replicas - b.replicas);
  const byTasks = runs.filter((r) => r.replicas === REPLICAS).sort((a, b) => a.tasks - b.tasks);
  const duplicates = main.ledger.tasksAssignedMoreThanOnce;
  const metrics: Record<string, number> = {
    claims_per_s: main.claimsPerS,
    span_s: round(main.spanMs / 1000, 2),
    tasks_done: main.ledger.done,
    claim_p50_ms: main.claim.p50,
    claim_p95_ms: main.claim.p95,
    claim_p99_ms: main.claim.p99,
    claim_max_ms: main.claim.max,
    complete_p50_ms: main.complete.p50,
    complete_p99_ms: main.complete.p99,
    duplicates_postgres: duplicates,
    tasks_completed_twice: main.ledger.tasksCompletedMoreThanOnce,
    duplicates_clients: main.clientDuplicates,
    client_claims: main.clientClaims,
    errors: main.errorCount,
    no_task_answers: main.noTaskAnswers,
    agents_connected: main.connected,
    pg_active_backends_avg: main.pgActiveAvg ?? NaN,
    event_loop_lag_p99_max_ms: main.lagP99MaxMs ?? NaN,
  };
  main.assignmentsPerReplica.forEach((n, i) => (metrics[`r${i + 1}_assignments`] = n));
  for (const [k, v] of Object.entries(main.cpu ?? {})) metrics[`cpu_${k}`] = v;
  for (const r of runs) if (r !== main) metrics[`claims_per_s_k${r.replicas}_tasks${r.tasks}`] = r.claimsPerS;
  if (profiled) Object.assign(metrics, profileMetrics(profiled));

  const series: Record<string, Series> = {
    completions_per_s: {
      label: `Completions per second (K=${main.replicas})`,
      xLabel: 's since start',
      yLabel: 'completions/s',
      points: main.completionsPerSecond.map((p) => ({ x: p.t, y: p.n })),
    },
    claim_p50_ms: { label: 'request_next_task p50 per second', xLabel: 's since start', yLabel: 'ms', points: main.claimTimeline.map((p) => ({ x: p.t, y: p.p50 })) },
    claim_p99_ms: { label: 'request_next_task p99 per second', xLabel: 's since start', yLabel: 'ms', points: main.claimTimeline.map((p) => ({ x: p.t, y: p.p99 })) },
  };
  if (byReplicas.length > 1) {
    series.claims_per_s_vs_replicas = {
      label: `Claims/s end to end vs replicas (${SWEEP_TASKS} tasks, ${AGENTS} agents)`,
      xLabel: 'replicas',
      yLabel: 'claims/s',
      points: byReplicas.map((r) => ({ x: r.replicas, y: r.claimsPerS })),
    };
  }
  if (byTasks.length > 1) {
    series.claims_per_s_vs_tasks = {
      label: `Claims/s end to end vs board size (${REPLICAS} replicas, ${AGENTS} agents)`,
      xLabel: 'tasks on the board',
      yLabel: 'claims/s',
      points: byTasks.map((r) => ({ x: r.tasks, y: r.claimsPerS })),
    };
  }

  const pgBoss = loadResult('baseline-pgboss') ?? loadResult('baseline-pg-boss');
  const bossRate = pgBoss?.metrics.jobs_per_s;
  if (bossRate) metrics.vs_pg_boss = round(main.claimsPerS / bossRate, 2);

  const others = watch.stop();
  const result: BenchResult = {
    name: 'claim-storm',
    title: `${AGENTS.toLocaleString('en')} agents race for ${TASKS.toLocaleString('en')} tasks over ${REPLICAS} replicas`,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - startedAt.getTime(),
    machine: machine(),
    versions: versions(),
    params: {
      tasks: TASKS,
      agents: AGENTS,
      replicas: REPLICAS,
      replica_sweep: SWEEP,
      sweep_tasks: SWEEP_TASKS,
      tasks_sweep: TASKS_SWEEP.join(','),
      timeout_s: TIMEOUT_S,
      pool_max: Number(process.env.BENCH_POOL_MAX ?? 10),
    },
    metrics,
    series,
    checks: [
      { name: 'the machine to ourselves (no other benchmark, test or replica seen)', ok: others.length === 0, detail: `${others.length} other program(s)` },
      { name: 'every task done', ok: main.ledger.done === TASKS && !main.timedOut, detail: `${main.ledger.done}/${TASKS}` },
      { name: '0 duplicates in Postgres (tasks with more than one assignment)', ok: duplicates === 0, detail: String(duplicates) },
      { name: '0 duplicates at the clients', ok: main.clientDuplicates === 0 && main.distinctTasksClaimed === TASKS, detail: `${main.distinctTasksClaimed} distinct of ${main.clientClaims} claims` },
      { name: 'no errors', ok: main.errorCount === 0, detail: JSON.stringify(main.errors) },
      ...runs.slice(0, -1).map((r) => ({
        name: `K=${r.replicas} M=${r.tasks}: every task once`,
        ok: r.ledger.done === r.tasks && r.ledger.tasksAssignedMoreThanOnce === 0 && r.clientDuplicates === 0,
        detail: `${r.ledger.done} done, ${r.ledger.tasksAssignedMoreThanOnce} duplicates, ${r.errorCount} errors`,
      })),
    ],
    notes: [
      'claims/s = tasks done / (last completion answered - first request_next_task sent), measured at the agents; each claim is followed at once by its completion, so a claim here is a full claim + complete round',
      `Postgres active backends by wait (average per 100 ms sample): ${main.pgWaits ?? 'n/a'}`,
      ...(bossRate && pgBoss
        ? [`vs_pg_boss = claims_per_s / jobs_per_s of bench/results/baseline-pgboss.json (${pgBoss.startedAt}: ${bossRate} jobs/s, ${pgBoss.title})`]
        : ['no pg-boss baseline result found (bench/results/baseline-pgboss.json)']),
      ...(profiled ? profileNotes(profiled) : []),
      ...(others.length > 0 ? [`NOT ALONE: other programs seen on the machine during the run: ${others.join(' | ')}`] : []),
      ...main.anomalies.slice(0, 10),
    ],
  };
  report(result);
}

interface Profiled {
  storm: StormOutcome;
  cpu?: CpuSummary;
}

/** One more storm, profiled: CPU profiles of the replicas (written as they exit) and pg_stat_statements. */
async function profiledStorm(workers: number | undefined): Promise<Profiled> {
  const dir = process.env.BENCH_CPU_PROF ? join(ROOT, process.env.BENCH_CPU_PROF) : mkdtempSync(join(tmpdir(), 'pm-agent-prof-'));
  const tasks = Math.min(TASKS, 5000);
  const storm = await runClaimStorm({ replicas: REPLICAS, agents: AGENTS, tasks, workers, timeoutS: TIMEOUT_S, observe: true, cpuProfDir: dir, statements: true });
  console.error(`claim-storm (profiled) K=${REPLICAS} M=${tasks}: ${storm.claimsPerS} claims/s`);
  const cpu = summarizeCpuProfiles(dir);
  if (!process.env.BENCH_CPU_PROF) rmSync(dir, { recursive: true, force: true });
  return { storm, cpu };
}

function profileMetrics(p: Profiled): Record<string, number> {
  const m: Record<string, number> = { profile_claims_per_s: p.storm.claimsPerS };
  const st = p.storm.statements;
  const claims = p.storm.ledger.done;
  if (st && claims > 0) {
    m.profile_statements_per_claim = round(st.calls / claims, 1);
    m.profile_pg_exec_ms_per_claim = round(st.execMs / claims, 3);
    m.profile_pg_plan_ms_per_claim = round(st.planMs / claims, 3);
  }
  if (p.cpu) m.profile_replica_socket_writes_pct = p.cpu.socketWritesPct;
  return m;
}

function profileNotes(p: Profiled): string[] {
  const notes = [`profile: a separate storm of ${p.storm.tasks} tasks (same agents and replicas), ${p.storm.claimsPerS} claims/s while profiled`];
  if (p.cpu) {
    notes.push(
      `profile, replica CPU (${p.cpu.profiles} V8 profiles, ${p.cpu.sampledS} s sampled, start-up included) by owner of the running frame: ` +
        p.cpu.byOwner.map(([k, v]) => `${k} ${v}%`).join(', '),
      `profile: socket writes (the syscall, which on loopback also runs the receiver's TCP path) are ${p.cpu.socketWritesPct}% of replica CPU; made by: ` +
        p.cpu.socketWritesBy.map(([k, v]) => `${k} ${v}%`).join(', '),
    );
  } else notes.push('profile: no CPU profile was written');
  const st = p.storm.statements;
  if (st) {
    const claims = Math.max(1, p.storm.ledger.done);
    notes.push(
      `profile, pg_stat_statements over the storm: ${st.calls} statements (${round(st.calls / claims, 1)} per claim + completion, relay and consumers included), ` +
        `execution ${st.execMs} ms, planning ${st.planMs} ms in all; heaviest: ` +
        st.top.map((t) => `${t.calls}× ${t.ms} ms "${t.query}"`).join('; '),
    );
  } else notes.push('profile: pg_stat_statements is not loaded by this server (shared_preload_libraries), so statement counts were not recorded');
  return notes;
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.stack ?? err.message);
      process.exit(1);
    },
  );
}
