// Turns the latest result of every scenario, baseline and chaos case (bench/results/*.json) into
// docs/benchmarks.md and its charts (docs/bench/*.png): the method, the machine and versions, the
// targets with what was measured, how far a missed one is off and the ratio to its baseline, the
// chaos checks, and charts from each result's series. A result that is absent reads "not run".
//
//   npx tsx bench/report.ts
//   BENCH_RESULTS_DIR=bench/results  BENCH_DOCS_DIR=docs   (defaults)
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { barChart, lineChart, svgToPng, type ChartOptions } from './lib/chart';
import { RESULTS_DIR, ROOT, loadResult, type BenchResult, type Series } from './lib/result';

export type Results = Record<string, BenchResult>;

// ---------------------------------------------------------------------------------------------
// Where each figure lives. Result names and metric keys are looked up through short alias lists,
// so a scenario that spells a key slightly differently still lands in the table.

export const RESULT_NAMES = {
  hold: ['hold'],
  claimStorm: ['claim-storm', 'claims'],
  steady: ['steady'],
  failover: ['failover'],
  socketio: ['baseline-socketio', 'baseline-socket-io', 'baseline-socket.io'],
  pgboss: ['baseline-pgboss', 'baseline-pg-boss'],
  bullmq: ['baseline-bullmq'],
} as const;
type Role = keyof typeof RESULT_NAMES;

export function find(results: Results, role: Role): BenchResult | undefined {
  for (const n of RESULT_NAMES[role]) if (results[n]) return results[n];
  return undefined;
}

/** The first of `keys` the result has as a finite number. */
export function metric(r: BenchResult | undefined, keys: readonly string[]): number | undefined {
  if (!r) return undefined;
  for (const k of keys) {
    const v = r.metrics[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

function param(r: BenchResult | undefined, keys: readonly string[]): number | string | boolean | undefined {
  if (!r) return undefined;
  for (const k of keys) if (r.params[k] !== undefined) return r.params[k];
  return undefined;
}

const K = {
  agentsConnected: ['agents_connected', 'agents_connected_at_end', 'agents_connected_after_ramp'],
  registered: ['agents_registered', 'agents_registered_after_ramp'],
  drops: ['drops_during_hold'],
  replicas: ['replicas'],
  kibPerConn: ['kib_per_connection', 'kib_per_idle_connection', 'idle_rss_kib_per_connection'],
  connectP99: ['connect_p99_ms'],
  failures: ['failures', 'connect_failures'],
  claimsPerS: ['claims_per_s', 'claims_per_sec'],
  duplicates: ['duplicates', 'duplicates_postgres', 'duplicate_claims'],
  clientDuplicates: ['duplicates_clients'],
  claimP99: ['claim_p99_ms'],
  rntP50: ['request_next_task_p50_ms', 'request_p50_ms'],
  rntP95: ['request_next_task_p95_ms', 'request_p95_ms'],
  rntP99: ['request_next_task_p99_ms', 'request_p99_ms'],
  progressP99: ['progress_p99_ms', 'report_task_progress_p99_ms'],
  steadyAgents: ['agents'],
  servedAgainMax: ['served_again_max_ms', 'recovery_max_ms'],
  servedAgainP50: ['served_again_p50_ms', 'recovery_p50_ms'],
  servedAgainP99: ['served_again_p99_ms', 'recovery_p99_ms'],
  notServedAgain: ['agents_not_served_again'],
  onKilled: ['agents_on_killed_replica'],
  tasksStuck: ['tasks_stuck'],
  tasksLost: ['tasks_lost', 'tasks_lost_at_agents'],
  tasksDoubled: ['tasks_doubled'],
  acksPerS: ['acks_per_s'],
  ackP99: ['ack_p99_ms', 'p99_ms'],
  jobsPerS: ['jobs_per_s'],
  fetchP99: ['fetch_p99_ms'],
} as const;

// ---------------------------------------------------------------------------------------------
// Targets

export type Op = '>=' | '<' | '=';

export interface Comparison {
  /** e.g. "pg-boss jobs/s" */
  label: string;
  value: number | undefined;
  unit: string;
  /** `ratio`: measured ÷ baseline; `value`: the baseline's own figure, where a ratio means nothing (0 duplicates). */
  kind: 'ratio' | 'value';
}

export interface Evaluated {
  figure: string;
  /** Result it comes from (first alias when absent). */
  result: string;
  ran: boolean;
  value: number | undefined;
  /** Which metric key was read (or expected). */
  key: string;
  op: Op;
  target: number;
  unit: string;
  met: boolean | undefined;
  status: string;
  conditions: string;
  comparisons: Comparison[];
  /** Limits recorded by the run (its notes) for a missed target. */
  limits: string[];
}

interface TargetDef {
  figure: string;
  role: Role;
  keys: readonly string[];
  op: Op;
  target: number;
  unit: string;
  /** A figure computed from several results instead of one metric. */
  derive?: (results: Results) => number | undefined;
  conditions?: (r: BenchResult | undefined, results: Results) => string;
  comparisons?: (results: Results, value: number | undefined) => Comparison[];
  /** Charts of this target's result that show it as a dashed line: the series label and the axis it is on. */
  chart?: { label?: RegExp; axis: 'x' | 'y'; unit: RegExp };
}

const ratioTo = (label: string, r: BenchResult | undefined, keys: readonly string[], unit: string): Comparison => ({
  label,
  value: metric(r, keys),
  unit,
  kind: 'ratio',
});

const describeRun = (r: BenchResult | undefined, pick: readonly [string, string][]): string => {
  if (!r) return '';
  const parts: string[] = [];
  for (const [key, what] of pick) {
    const v = metric(r, [key]) ?? param(r, [key]);
    if (v !== undefined) parts.push(`${typeof v === 'number' ? fmt(v) : String(v)} ${what}`);
  }
  return parts.join(', ');
};

export const TARGETS: readonly TargetDef[] = [
  {
    figure: 'Concurrent agents (connected and registered)',
    role: 'hold',
    keys: K.agentsConnected,
    op: '>=',
    target: 10_000,
    unit: 'agents',
    // An agent counts once it is both connected and registered: the smaller of the two counts.
    derive: (rs) => {
      const r = find(rs, 'hold');
      const counts = [metric(r, K.agentsConnected), metric(r, K.registered)].filter((v): v is number => v !== undefined);
      return counts.length ? Math.min(...counts) : undefined;
    },
    conditions: (r) => {
      const replicas = metric(r, K.replicas) ?? param(r, K.replicas);
      const failures = metric(r, K.failures);
      const parts = [replicas !== undefined ? `over ${String(replicas)} replicas${Number(replicas) === 3 ? '' : ' (the target is over 3)'}` : ''];
      const connected = metric(r, K.agentsConnected);
      const registered = metric(r, K.registered);
      if (connected !== undefined && registered !== undefined) parts.push(`${fmt(connected)} connected, ${fmt(registered)} registered`);
      if (failures !== undefined) parts.push(`${fmt(failures)} connect failures`);
      const drops = metric(r, K.drops);
      if (drops !== undefined) parts.push(`${fmt(drops)} dropped while held`);
      const p99 = metric(r, K.connectP99);
      if (p99 !== undefined) parts.push(`connect p99 ${fmt(p99)} ms`);
      return parts.filter(Boolean).join(', ');
    },
    chart: { axis: 'x', unit: /^(agents|connections|connected)/i },
  },
  {
    figure: 'Memory per idle connection',
    role: 'hold',
    keys: K.kibPerConn,
    op: '<',
    target: 30,
    unit: 'KiB',
    conditions: (r) => describeRun(r, [['agents_connected', 'agents'], ['replicas', 'replicas']]),
    comparisons: (rs) => [ratioTo('bare Socket.IO', find(rs, 'socketio'), K.kibPerConn, 'KiB')],
    chart: { axis: 'y', unit: /KiB per/i },
  },
  {
    figure: 'Claims per second, end to end',
    role: 'claimStorm',
    keys: K.claimsPerS,
    op: '>=',
    target: 2_000,
    unit: 'claims/s',
    conditions: (r) => describeRun(r, [['replicas', 'replicas'], ['agents', 'agents'], ['tasks', 'tasks'], ['claim_p99_ms', 'ms claim p99']]),
    comparisons: (rs) => [ratioTo('pg-boss', find(rs, 'pgboss'), K.jobsPerS, 'jobs/s'), ratioTo('BullMQ', find(rs, 'bullmq'), K.jobsPerS, 'jobs/s')],
    chart: { axis: 'y', unit: /^(claims|completions)\/s/i },
  },
  {
    figure: 'Duplicate claims',
    role: 'claimStorm',
    keys: K.duplicates,
    op: '=',
    target: 0,
    unit: '',
    // Counted twice, in Postgres and at the agents: the worse of the two is the figure.
    derive: (rs) => {
      const r = find(rs, 'claimStorm');
      const counts = [metric(r, K.duplicates), metric(r, K.clientDuplicates)].filter((v): v is number => v !== undefined);
      return counts.length ? Math.max(...counts) : undefined;
    },
    conditions: (r) => describeRun(r, [['duplicates_postgres', 'in Postgres'], ['duplicates_clients', 'at the agents']]),
    comparisons: (rs) => [
      { label: 'pg-boss duplicates', value: metric(find(rs, 'pgboss'), K.duplicates), unit: '', kind: 'value' },
      { label: 'BullMQ duplicates', value: metric(find(rs, 'bullmq'), K.duplicates), unit: '', kind: 'value' },
    ],
  },
  {
    figure: 'Claims/s ÷ pg-boss jobs/s (same Postgres)',
    role: 'claimStorm',
    keys: ['claims_per_s ÷ jobs_per_s'],
    op: '>=',
    target: 1,
    unit: '×',
    derive: (rs) => {
      const c = metric(find(rs, 'claimStorm'), K.claimsPerS);
      const j = metric(find(rs, 'pgboss'), K.jobsPerS);
      return c !== undefined && j !== undefined && j > 0 ? c / j : undefined;
    },
    conditions: (_r, rs) => (find(rs, 'pgboss') ? '' : 'baseline-pgboss not run'),
  },
  {
    figure: 'request_next_task p99, steady load',
    role: 'steady',
    keys: K.rntP99,
    op: '<',
    target: 25,
    unit: 'ms',
    conditions: (r) => {
      const parts = [describeRun(r, [['agents', 'steady agents'], ['replicas', 'replicas']])];
      const agents = Number(param(r, ['agents']) ?? metric(r, ['agents', 'agents_connected']));
      if (Number.isFinite(agents) && agents !== 1000) parts.push('the target is at 1,000 steady agents');
      const p50 = metric(r, K.rntP50);
      const p95 = metric(r, K.rntP95);
      if (p50 !== undefined && p95 !== undefined) parts.push(`p50 ${fmt(p50)} ms, p95 ${fmt(p95)} ms`);
      return parts.filter(Boolean).join('; ');
    },
    comparisons: (rs) => [ratioTo('bare Socket.IO ack p99', find(rs, 'socketio'), K.ackP99, 'ms')],
    chart: { label: /request_next_task/, axis: 'y', unit: /^ms$|latency/i },
  },
  {
    figure: "A killed replica's agents served again (slowest agent)",
    role: 'failover',
    keys: K.servedAgainMax,
    op: '<',
    target: 5_000,
    unit: 'ms',
    conditions: (r) => {
      const parts = [describeRun(r, [['agents', 'agents'], ['replicas', 'replicas']])];
      const onKilled = metric(r, K.onKilled);
      if (onKilled !== undefined) parts.push(`${fmt(onKilled)} agents on the killed replica`);
      const p50 = metric(r, K.servedAgainP50);
      const p99 = metric(r, K.servedAgainP99);
      if (p50 !== undefined && p99 !== undefined) parts.push(`p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms`);
      return parts.filter(Boolean).join('; ');
    },
    chart: { axis: 'x', unit: /since kill/i },
  },
  {
    figure: "Agents of the killed replica never served again",
    role: 'failover',
    keys: K.notServedAgain,
    op: '=',
    target: 0,
    unit: '',
  },
  {
    figure: 'Tasks lost in failover',
    role: 'failover',
    keys: K.tasksLost,
    op: '=',
    target: 0,
    unit: '',
    conditions: (r) => describeRun(r, [['tasks_stuck', 'tasks left stuck'], ['leases_expired', 'leases expired']]),
  },
  {
    figure: 'Tasks held twice in failover',
    role: 'failover',
    keys: K.tasksDoubled,
    op: '=',
    target: 0,
    unit: '',
  },
];

/** Thousands separators, at most two decimals. */
export function fmt(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const digits = Math.abs(n) >= 100 ? 0 : Math.abs(n) >= 10 ? 1 : 2;
  return n.toLocaleString('en-US', { maximumFractionDigits: digits });
}

const withUnit = (v: number, unit: string): string => (unit === '×' ? `${fmt(v)}×` : unit ? `${fmt(v)} ${unit}` : fmt(v));

export function opText(op: Op, target: number, unit: string): string {
  const sym = op === '>=' ? '≥' : op;
  return `${sym} ${withUnit(target, unit)}`;
}

function judge(op: Op, v: number, t: number, unit: string): { met: boolean; status: string } {
  switch (op) {
    case '>=': {
      if (v >= t) return { met: true, status: t > 0 && v > t ? `met (${fmt(((v - t) / t) * 100)} % above)` : 'met' };
      const pct = t !== 0 ? fmt(((t - v) / t) * 100) : '';
      // A ratio short of its target reads as a share, and as the factor still needed.
      if (unit === '×') return { met: false, status: `**missed** by ${pct} % (${v > 0 ? `${fmt(t / v)}× as much needed` : 'nothing measured'})` };
      return { met: false, status: `**missed** by ${withUnit(t - v, unit)}${pct ? ` (${pct} % short)` : ''}` };
    }
    case '<': {
      if (v < t) return { met: true, status: `met (${fmt(((t - v) / t) * 100)} % under)` };
      return { met: false, status: `**missed** by ${withUnit(v - t, unit)} (${fmt(v / t)}× the limit)` };
    }
    case '=':
      return v === t ? { met: true, status: 'met' } : { met: false, status: `**missed**: ${withUnit(v, unit)}, must be ${withUnit(t, unit)}` };
  }
}

// What a run measured about where its time and memory went (CPU per process group, event-loop
// lag, Postgres waits): shown next to a missed target as the evidence of what limits it.
const RESOURCE_KEY = /^(cpu_|hold_cpu_|machine_cpu|event_loop|pg_active|server_cpu|server_event_loop|load_procs_cpu)/;

export function limitsOf(r: BenchResult): string[] {
  const resources = Object.entries(r.metrics)
    .filter(([k, v]) => RESOURCE_KEY.test(k) && typeof v === 'number' && Number.isFinite(v))
    .map(([k, v]) => `\`${k}\` ${fmt(v)}`);
  return [...(resources.length ? [`measured: ${resources.join(', ')}`] : []), ...(r.notes ?? [])];
}

/**
 * A reading of what limits a run that missed its target, from its own figures (and the claim
 * storm's profile, which says where a replica's time goes): undefined when the figures are missing.
 */
export function whatLimits(name: string, results: Results): string | undefined {
  const r = results[name];
  if (!r) return undefined;
  const m = (k: string) => metric(r, [k]);
  const storm = find(results, 'claimStorm');
  const sm = (k: string) => metric(storm, [k]);
  const writes = sm('profile_replica_socket_writes_pct');
  const perClaim = sm('profile_statements_per_claim');
  const execMs = sm('profile_pg_exec_ms_per_claim');
  const profile =
    writes !== undefined && perClaim !== undefined && execMs !== undefined
      ? `${fmt(writes)} % of a replica's CPU goes into writing to sockets (mostly to Postgres), and Postgres runs ${fmt(perClaim)} statements ` +
        `per claim and completion (relay and consumers included) for only ${fmt(execMs)} ms of execution: the cost is the number of round ` +
        'trips (each a loopback write, a wake-up of a backend and of the replica), not the SQL. '
      : '';
  if (r.name === storm?.name) {
    const busy = m('cpu_machine_busy_pct');
    const k = [1, 2, 3].map((n) => metric(r, [`claims_per_s_k${n}_tasks${r.params.sweep_tasks}`])).filter((v): v is number => v !== undefined);
    return (
      (busy !== undefined ? `the machine was ${fmt(busy)} % busy (replicas ${fmt(m('cpu_replicas_cores') ?? NaN)} cores, Postgres ${fmt(m('cpu_postgres_cores') ?? NaN)}, load ${fmt(m('cpu_load_workers_cores') ?? NaN)}): the two cores are the limit. ` : '') +
      (k.length > 1 ? `More replicas do not help on two cores (${k.map(fmt).join(' / ')} claims/s with 1 / 2 / 3 replicas). ` : '') +
      profile +
      'Fewer round trips per call (a claim is now 7, a completion 5; one stored procedure per tool would make each 1) and more cores are what would raise it.'
    );
  }
  if (r.name === find(results, 'steady')?.name) {
    const bare = metric(find(results, 'socketio'), ['ack_p99_ms']);
    return (
      `the machine was ${fmt(m('cpu_machine_busy_pct') ?? NaN)} % busy for ${fmt(m('calls_per_s') ?? NaN)} calls/s (replicas ${fmt(m('cpu_replicas_cores') ?? NaN)} cores, ` +
      `Postgres ${fmt(m('cpu_postgres_cores') ?? NaN)}), p50 ${fmt(m('request_p50_ms') ?? NaN)} ms against p99 ${fmt(m('request_p99_ms') ?? NaN)} ms: the tail points to waiting for a core ` +
      'between the sequential round trips of a claim (replica, Postgres backend, consumers and relay of the events ' +
      `all compete for two cores)${bare !== undefined ? `, where bare Socket.IO at the same pace answers in ${fmt(bare)} ms at p99` : ''}. ` +
      profile
    ).trim();
  }
  return undefined;
}

export function evaluate(results: Results): Evaluated[] {
  return TARGETS.map((t) => {
    const r = find(results, t.role);
    const value = t.derive ? t.derive(results) : metric(r, t.keys);
    const base = {
      figure: t.figure,
      result: r?.name ?? RESULT_NAMES[t.role][0],
      ran: r !== undefined,
      value,
      key: t.keys[0],
      op: t.op,
      target: t.target,
      unit: t.unit,
      conditions: r ? (t.conditions?.(r, results) ?? '') : '',
      comparisons: t.comparisons?.(results, value) ?? [],
    };
    if (!r) return { ...base, met: undefined, status: 'not run', limits: [] };
    if (value === undefined) {
      const why = `not measured (no \`${t.keys[0]}\` in \`${r.name}\`${t.role === 'claimStorm' && t.target === 1 ? ' or no pg-boss baseline' : ''})`;
      return { ...base, met: undefined, status: why, limits: [] };
    }
    const j = judge(t.op, value, t.target, t.unit);
    return { ...base, met: j.met, status: j.status, limits: j.met ? [] : limitsOf(r) };
  });
}

function comparisonText(c: Comparison, value: number | undefined): string {
  if (c.value === undefined) return `${c.label}: not run`;
  if (c.kind === 'value') return `${c.label}: ${withUnit(c.value, c.unit)}`;
  if (value === undefined || c.value === 0) return `${c.label}: ${withUnit(c.value, c.unit)}`;
  return `**${fmt(value / c.value)}×** ${c.label} (${withUnit(c.value, c.unit)})`;
}

// ---------------------------------------------------------------------------------------------
// How each scenario runs (the part of the method a result cannot carry itself).

export const METHOD: { role: Role | 'chaos'; heading: string; text: string }[] = [
  {
    role: 'hold',
    heading: 'hold — idle connections and memory (`bench/hold.ts`)',
    text:
      'K real replicas (`node dist/main.js`, 3 by default) on a fresh Postgres database, the Redis Cluster and RabbitMQ. Load ' +
      'processes (one per 3,500 agents; a process holds at most ~19,900 sockets) fetch each agent\u2019s token over HTTP, open its ' +
      'Socket.IO connection on replica i mod K at a fixed ramp rate and `register_agent`, then hold every agent idle (Engine.IO ' +
      'heartbeats plus a `ping` call every few seconds, like an idle agent). Timed: connect and register per agent, `ping` ' +
      'during the hold. Memory: each replica\u2019s RSS and heap from its `/metrics` (management port), read once the idle ' +
      'replicas settle and again after the hold, each time right after a full garbage collection (a bench-only preload runs ' +
      '`gc()` on SIGUSR2), as the bare Socket.IO baseline reads its own; KiB per connection = RSS growth summed over replicas ÷ ' +
      'connections they hold (the figures sampled while running, without a collection, are kept next to it). ' +
      'CPU per process group (replicas, load processes, Postgres, Redis, RabbitMQ) during the hold.',
  },
  {
    role: 'claimStorm',
    heading: 'claim-storm — claims per second, end to end (`bench/claim-storm.ts`)',
    text:
      'M todo tasks are bulk-inserted into a fresh database; N agents spread over K replicas (from load processes) race ' +
      '`request_next_task` and complete each task at once (`report_task_progress` completed) until the board is empty. ' +
      'claims/s = tasks done ÷ (last completion answered − first request sent), timed at the agents, so each claim is a full ' +
      'claim + complete round trip through Socket.IO, the replica and Postgres. Duplicates are counted twice: in Postgres (a ' +
      'task with more than one assignment) and at the agents (a task id handed to two). Postgres wait events and CPU per ' +
      'process group are sampled meanwhile. With `BENCH_REPLICA_SWEEP=1` the storm runs with 1, 2, … K replicas (the ' +
      'claims/s vs replicas chart). A last, smaller storm runs profiled (V8 CPU profiles of the replicas; pg_stat_statements ' +
      'when the server preloads it): its notes say where the time goes, kept apart so the profiler does not slow the headline ' +
      'figure. A claim is one transaction of 7 round trips to Postgres, BEGIN and COMMIT included (the best task is found by a ' +
      'skip scan over the board\u2019s (priority, labels) classes, then the oldest eligible task of the best class is taken ' +
      '`FOR UPDATE SKIP LOCKED`, in one statement); a completion is one of 5.',
  },
  {
    role: 'steady',
    heading: 'steady — request latency under steady load (`bench/steady.ts`)',
    text:
      'N agents (1,000 by default) over K replicas work a large board for a fixed time: each asks for a task, reports ' +
      'progress a few times a fixed work time apart, completes it and asks again, so claims arrive at a steady, known rate. ' +
      'Timed at the agents: each `request_next_task`, progress and completion call from emit to acknowledgement, as ' +
      'percentiles over the measured window (after a warm-up) and per window (the latency-over-time charts); checked in ' +
      'Postgres: no task completed twice, none left held. Postgres wait events, event-loop lag and CPU per process group are ' +
      'sampled meanwhile.',
  },
  {
    role: 'failover',
    heading: 'failover — a killed replica (`bench/failover.ts`)',
    text:
      'Steady load as in `steady` on K replicas, then `kill -9` of one replica. Its agents see their socket drop, move to a ' +
      'surviving replica, register again and take up their task with the same lease. Timed at the agents: from the kill to ' +
      'the first answered call of each agent that was on the killed replica ("served again", reconnect jitter included), and ' +
      'latency before and after; checked in Postgres that no task was doubled or left stuck, and at the agents that none was ' +
      'lost (the same task and lease token after the move).',
  },
  {
    role: 'socketio',
    heading: 'baseline — bare Socket.IO (`bench/baseline-socketio.ts`)',
    text:
      'A Socket.IO server with pm-agent\u2019s package, options and namespace, two rooms per socket, whose `request_next_task` ' +
      'handler acks at once with an answer of pm-agent\u2019s size and shape: no database, no Redis, no auth. Two phases, each ' +
      'against a fresh server process: idle connections opened in steps, the server\u2019s memory after GC at each step (the ' +
      'per-connection floor of Socket.IO itself, measured like `hold`: growth ÷ connections); then clients in load processes ' +
      'calling in a closed loop after a warm-up (the most acks/s the machine gives); then the same clients paced like the ' +
      '`steady` agents (one call every few seconds each): the ack latency to set next to pm-agent\u2019s steady p99.',
  },
  {
    role: 'pgboss',
    heading: 'baseline — pg-boss (`bench/baseline-pgboss.ts`)',
    text:
      'pg-boss on the same Postgres (a fresh database): M jobs carrying the task as pm-agent\u2019s benchmarks seed it (same ' +
      'priority mix, pg-boss ordering by priority as pm-agent does) are enqueued, then W ' +
      'concurrent fetchers spread over P load processes (each with its own pg-boss instance and pool, as pm-agent\u2019s claims ' +
      'are spread over its replicas) fetch one job at a time and complete it, until the queue is empty. jobs/s = completions ÷ ' +
      '(last completion − first fetch); fetch and complete latency; duplicates; Postgres wait events. The fetchers talk to ' +
      'Postgres directly (no service hop, no auth, no lease bookkeeping).',
  },
  {
    role: 'bullmq',
    heading: 'baseline — BullMQ (`bench/baseline-bullmq.ts`)',
    text:
      'The same fetch-and-complete loop with BullMQ (`Worker.getNextJob` + `moveToCompleted`) on the Redis Cluster (a {hash-tag} ' +
      'prefix puts the whole queue on one shard) and on the standalone Redis; the headline figures are the first run\u2019s.',
  },
  {
    role: 'chaos',
    heading: 'chaos — faults under load (`bench/chaos.ts`)',
    text:
      'A steady workload of simulated agents (request → progress × 2 → complete, a `request_id` on every call, reconnecting ' +
      'elsewhere on failure) on 3 real replicas, a feeder keeping a backlog of tasks, and a few agents that take a task and ' +
      'vanish (their leases must come back through the sweeper). One fault per case: SIGKILL of a replica; SIGKILL of the Redis ' +
      'master holding most keys (then its replica is promoted); RabbitMQ `stop_app`/`start_app`; Postgres stopped and started; ' +
      'added latency to Postgres and Redis through a proxy. Each case checks invariants afterwards (no task held twice, none ' +
      'lost, agents served again, events delivered once) and saves `bench/results/chaos-<case>.json`.',
  },
];

// ---------------------------------------------------------------------------------------------
// Charts

export interface ChartFile {
  file: string;
  title: string;
  /** Result the chart belongs to, or `compare` for the baseline comparisons. */
  result: string;
  svg: string;
  width: number;
  height: number;
}

const slug = (s: string): string =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60) || 'series';

/**
 * The series' own label; for several, what their labels share with the parts that differ in
 * between: "request_next_task p50/p95/p99 per 5 s", "CPU used by … (cores of 2)".
 */
export function chartTitle(series: readonly Series[]): string {
  if (series.length === 1) return series[0].label;
  const words = series.map((s) => s.label.split(' '));
  const shortest = Math.min(...words.map((w) => w.length));
  let pre = 0;
  while (pre < shortest && words.every((w) => w[pre] === words[0][pre])) pre++;
  let post = 0;
  while (post < shortest - pre && words.every((w) => w[w.length - 1 - post] === words[0][words[0].length - 1 - post])) post++;
  const middles = [...new Set(words.map((w) => w.slice(pre, w.length - post).join(' ')))].filter(Boolean);
  const middle = middles.join('/').length <= 48 ? middles.join('/') : '…';
  const { xLabel, yLabel } = series[0];
  if (pre === 0 && post === 0 && middle === '…') return `${yLabel} vs ${xLabel}`;
  const title = [...words[0].slice(0, pre), middle, ...words[0].slice(words[0].length - post)].filter(Boolean).join(' ');
  return yLabel.length <= 12 && !title.includes(yLabel) ? `${title} (${yLabel})` : title;
}

/** Items grouped by key, groups and items in their first-seen order. */
function groupBy<T>(items: readonly T[], key: (t: T) => string): T[][] {
  const m = new Map<string, T[]>();
  for (const it of items) m.set(key(it), [...(m.get(key(it)) ?? []), it]);
  return [...m.values()];
}

/** `(kill at 13.8 s)`, `(fault at 8.2 s, over at 14 s)` in a series label: what happened when. */
export function moments(label: string): { x: number; label: string }[] {
  const inside = /\(([^)]*\bat [\d.]+ s\b[^)]*)\)/.exec(label)?.[1];
  if (!inside) return [];
  return inside.split(',').flatMap((part) => {
    const m = /^\s*(.+?) at ([\d.]+) s\s*$/.exec(part);
    return m ? [{ x: Number(m[2]), label: m[1] }] : [];
  });
}

/** One chart per (x label, y label) pair of a result's series: several series on one chart. */
export function resultCharts(r: BenchResult): ChartFile[] {
  const groups: { key: string; series: Series[] }[] = [];
  for (const axes of groupBy(Object.entries(r.series ?? {}), ([, s]) => `${s.xLabel}\u0000${s.yLabel}`)) {
    // Series on the same axes share a chart, unless they are percentile families of different
    // things (request p50/p99, progress p50/p99): one chart per family then.
    const families = groupBy(axes, ([, s]) => s.label.replace(/\bp\d+(\.\d+)?\b/g, ''));
    const split = families.length > 1 && families.every((f) => f.length > 1);
    for (const g of split ? families : [axes]) groups.push({ key: g[0][0], series: g.map(([, s]) => s) });
  }
  const used = new Set<string>();
  const charts: ChartFile[] = [];
  for (const { key, series } of groups) {
    const { xLabel, yLabel } = series[0];
    const title = `${r.name}: ${chartTitle(series)}`;
    const shown = TARGETS.filter((t) => {
      const c = t.chart;
      if (!c || !RESULT_NAMES[t.role].some((n) => n === r.name) || t.target <= 0) return false;
      return c.unit.test(c.axis === 'x' ? xLabel : yLabel) && (!c.label || series.some((s) => c.label?.test(s.label)));
    });
    const line = (t: TargetDef) => ({ label: `target ${opText(t.op, t.target, t.unit)}` });
    const refLines = shown.filter((t) => t.chart?.axis === 'y').map((t) => ({ y: t.target, ...line(t) }));
    const xRefLines = shown.filter((t) => t.chart?.axis === 'x').map((t) => ({ x: t.target, ...line(t) }));
    // Moments a run names in a label ("(kill at 13.8 s)", "(fault at 8 s, over at 14 s)") are marked where they happened.
    if (/\bs\b/.test(xLabel)) {
      const marks = new Map<number, string[]>();
      for (const m of series.flatMap((s) => moments(s.label))) if (!marks.get(m.x)?.includes(m.label)) marks.set(m.x, [...(marks.get(m.x) ?? []), m.label]);
      for (const [x, labels] of marks) xRefLines.push({ x, label: labels.join(' / ') });
    }
    const opts: ChartOptions = { title, refLines, xRefLines };
    // A sweep over replica counts reads as bars; everything over time or load as lines.
    const bars = /replica/i.test(xLabel) || series.every((s) => s.points.length <= 1);
    const svg = bars ? barChart(series, opts) : lineChart(series, opts);
    let file = `${slug(r.name)}-${slug(series.length === 1 ? key : chartTitle(series).replace(/ \([^)]*\)$/, ''))}.png`;
    for (let i = 2; used.has(file); i++) file = file.replace(/(-\d+)?\.png$/, `-${i}.png`);
    used.add(file);
    charts.push({ file, title, result: r.name, svg, width: opts.width ?? 800, height: opts.height ?? 420 });
  }
  return charts;
}

/** Bars of pm-agent next to its baselines, one chart per compared figure (only what was measured). */
export function comparisonCharts(results: Results): ChartFile[] {
  const defs: { file: string; title: string; yLabel: string; bars: [string, number | undefined][]; ref?: { y: number; label: string } }[] = [
    {
      file: 'compare-throughput.png',
      title: 'Claims per second: pm-agent vs job queues',
      yLabel: 'per second',
      bars: [
        ['pm-agent claims/s', metric(find(results, 'claimStorm'), K.claimsPerS)],
        ['pg-boss jobs/s', metric(find(results, 'pgboss'), K.jobsPerS)],
        ['BullMQ jobs/s', metric(find(results, 'bullmq'), K.jobsPerS)],
      ],
      ref: { y: 2000, label: 'target ≥ 2,000 claims/s' },
    },
    {
      file: 'compare-latency-p99.png',
      title: 'p99 latency: request_next_task vs bare Socket.IO ack',
      yLabel: 'p99 (ms)',
      bars: [
        ['pm-agent request_next_task', metric(find(results, 'steady'), K.rntP99)],
        ['bare Socket.IO ack', metric(find(results, 'socketio'), K.ackP99)],
        ['pg-boss fetch', metric(find(results, 'pgboss'), K.fetchP99)],
        ['BullMQ fetch', metric(find(results, 'bullmq'), K.fetchP99)],
      ],
      ref: { y: 25, label: 'target < 25 ms' },
    },
    {
      file: 'compare-memory.png',
      title: 'Memory per idle connection',
      yLabel: 'KiB per connection',
      bars: [
        ['pm-agent', metric(find(results, 'hold'), K.kibPerConn)],
        ['bare Socket.IO', metric(find(results, 'socketio'), K.kibPerConn)],
      ],
      ref: { y: 30, label: 'target < 30 KiB' },
    },
  ];
  const charts: ChartFile[] = [];
  for (const d of defs) {
    const present = d.bars.filter((b): b is [string, number] => b[1] !== undefined);
    // A comparison needs pm-agent's own figure and at least one other.
    if (present.length < 2 || d.bars[0][1] === undefined) continue;
    const labels = present.map(([l]) => l);
    const series: Series[] = present.map(([label, y], i) => ({ label, xLabel: '', yLabel: d.yLabel, points: [{ x: i, y }] }));
    const opts: ChartOptions = { title: d.title, refLines: d.ref ? [d.ref] : [], categoryLabel: (x) => labels[x] ?? '' };
    charts.push({ file: d.file, title: d.title, result: 'compare', svg: barChart(series, opts), width: 800, height: 420 });
  }
  return charts;
}

// ---------------------------------------------------------------------------------------------
// The document

const clip = (s: string, n: number): string => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

/** A run that saw other benchmarks or tests on the machine says so in a note. */
export const busyNote = (r: BenchResult | undefined): string | undefined => r?.notes?.find((n) => /other load on the machine/i.test(n));

const esc = (s: string): string => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function machineSection(results: Results): string[] {
  const all = Object.values(results);
  if (all.length === 0) return ['No results yet.'];
  const out: string[] = [];
  const key = (r: BenchResult) => JSON.stringify(r.machine);
  const distinct = [...new Set(all.map(key))];
  const m = all[0].machine;
  out.push(
    '| cores | memory | CPU | kernel | Node |',
    '|---|---|---|---|---|',
    ...distinct.map((d) => {
      const mm = JSON.parse(d) as BenchResult['machine'];
      return `| ${mm.cores} | ${mm.memoryGiB} GiB | ${esc(mm.cpuModel)} | ${esc(mm.kernel)} | ${esc(mm.node)} |`;
    }),
  );
  if (distinct.length > 1) {
    out.push('', '**The results come from different machines:**', '');
    for (const r of all) out.push(`- \`${r.name}\`: ${r.machine.cores} cores, ${r.machine.memoryGiB} GiB, ${r.machine.cpuModel}, Node ${r.machine.node}`);
  } else {
    out.push('', `All ${all.length} results were measured on this one machine (${m.cores} cores).`);
  }
  const versions = new Map<string, Map<string, string[]>>();
  for (const r of all) {
    for (const [p, v] of Object.entries(r.versions)) {
      if (!versions.has(p)) versions.set(p, new Map());
      const byV = versions.get(p);
      byV?.set(v, [...(byV.get(v) ?? []), r.name]);
    }
  }
  out.push('', '| component | version |', '|---|---|');
  for (const [p, byV] of [...versions.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const text = byV.size === 1 ? [...byV.keys()][0] : [...byV.entries()].map(([v, names]) => `${v} (${names.join(', ')})`).join('; ');
    out.push(`| ${esc(p)} | ${esc(text)} |`);
  }
  return out;
}

function paramsText(r: BenchResult): string {
  const entries = Object.entries(r.params);
  return entries.length ? entries.map(([k, v]) => `\`${k}\`=${typeof v === 'number' ? fmt(v) : String(v)}`).join(', ') : 'none recorded';
}

function resultBlock(r: BenchResult, charts: readonly ChartFile[], imageDir: string): string[] {
  const out = [
    `*${esc(r.title)}* — started ${r.startedAt}, took ${fmt(r.durationMs / 1000)} s.`,
    '',
    `Parameters: ${paramsText(r)}.`,
    '',
    // Folded: a run records dozens of figures; the targets table above carries the headline ones.
    `<details><summary>All ${Object.keys(r.metrics).length} figures of this run</summary>`,
    '',
    '| metric | value |',
    '|---|---|',
    ...Object.entries(r.metrics).map(([k, v]) => `| \`${esc(k)}\` | ${typeof v === 'number' ? fmt(v) : '—'} |`),
    '',
    '</details>',
  ];
  if (r.checks?.length) {
    out.push('', '| check | outcome | detail |', '|---|---|---|');
    for (const c of r.checks) out.push(`| ${esc(c.name)} | ${c.ok ? 'ok' : '**FAILED**'} | ${esc(c.detail ?? '')} |`);
  }
  if (r.notes?.length) out.push('', ...r.notes.map((n) => `- ${esc(n)}`));
  for (const c of charts) out.push('', `![${c.title}](${imageDir}/${c.file})`);
  return out;
}

export interface Report {
  markdown: string;
  charts: ChartFile[];
  rows: Evaluated[];
}

/** The whole report from results in memory; `imageDir` is the charts' path relative to the markdown. */
export function buildReport(results: Results, imageDir = 'bench'): Report {
  const rows = evaluate(results);
  const chaos = Object.values(results)
    .filter((r) => r.name.startsWith('chaos'))
    .sort((a, b) => a.name.localeCompare(b.name));
  const known = new Set<string>(Object.values(RESULT_NAMES).flat());
  const others = Object.values(results)
    .filter((r) => !known.has(r.name) && !r.name.startsWith('chaos'))
    .sort((a, b) => a.name.localeCompare(b.name));
  const chartsOf = new Map<string, ChartFile[]>();
  for (const r of Object.values(results)) chartsOf.set(r.name, resultCharts(r));
  const compare = comparisonCharts(results);

  const starts = Object.values(results)
    .map((r) => r.startedAt)
    .sort();
  const md: string[] = [
    '# Benchmarks',
    '',
    'Generated by `npm run bench:report` (`bench/report.ts`) from the latest result of each scenario in `bench/results/`; ' +
      '`npm run bench` (`bench/run-all.ts`) runs every scenario, baseline and chaos case and regenerates this page. ' +
      'Every figure below is measured by those runs; none is typed in.',
    '',
    starts.length ? `Runs from ${starts[0]} to ${starts[starts.length - 1]}.` : 'No result has been recorded yet: every figure reads "not run".',
    '',
    '## Targets',
    '',
    '| figure | target | measured | status | vs baseline | run |',
    '|---|---|---|---|---|---|',
  ];
  for (const e of rows) {
    const measured = e.value === undefined ? '—' : withUnit(e.value, e.unit);
    const cmp = e.comparisons.length ? e.comparisons.map((c) => comparisonText(c, e.value)).join('<br>') : '—';
    const busy = busyNote(results[e.result]) ? ' — *measured while other processes loaded the machine*' : '';
    md.push(`| ${esc(e.figure)} | ${opText(e.op, e.target, e.unit)} | ${measured} | ${e.status} | ${cmp} | ${e.ran ? `\`${e.result}\`` : `\`${e.result}\` not run`}${e.conditions ? `: ${esc(e.conditions)}` : ''}${busy} |`);
  }
  md.push(
    '',
    'Ratios: claims/s ÷ the baseline\u2019s jobs/s (above 1× is faster); request_next_task p99 ÷ a bare Socket.IO ack p99 and ' +
      'KiB per connection ÷ a bare Socket.IO connection\u2019s (the cost pm-agent adds over the transport; 1× is none).',
  );

  md.push('', '### Chaos cases', '');
  if (chaos.length === 0) md.push('Not run.');
  else {
    md.push('| case | checks | outcome |', '|---|---|---|');
    for (const r of chaos) {
      const checks = r.checks ?? [];
      const failed = checks.filter((c) => !c.ok);
      const outcome = checks.length === 0 ? 'no checks recorded' : failed.length ? `**${failed.length} failed**: ${failed.map((c) => esc(c.name)).join('; ')}` : 'all passed';
      md.push(`| \`${r.name}\` (${esc(r.title)}) | ${checks.length} | ${outcome} |`);
    }
  }

  const missed = rows.filter((e) => e.met === false);
  md.push('', '## Missed targets', '');
  if (missed.length === 0) md.push(rows.some((e) => e.met === undefined) ? 'None of the measured targets is missed (some were not run).' : 'None.');
  // One block per run: its missed figures, then once what it measured about where the time went.
  for (const name of [...new Set(missed.map((e) => e.result))]) {
    const mine = missed.filter((e) => e.result === name);
    md.push(`**\`${name}\`**`, '');
    for (const e of mine) md.push(`- ${esc(e.figure)}: ${withUnit(e.value ?? Number.NaN, e.unit)} against ${opText(e.op, e.target, e.unit)}, ${e.status.replace(/\*\*/g, '')}.`);
    const limits = mine[0].limits;
    md.push('', limits.length ? 'What the run recorded about its limits:' : `\`${name}\` recorded nothing about what limits it.`, '');
    for (const l of limits) md.push(`- ${esc(clip(l, l.startsWith('profile') ? 1600 : 400))}`);
    const reading = whatLimits(name, results);
    if (reading) md.push('', `In short: ${reading}`);
    md.push('');
  }

  md.push('', '## Machine and versions', '', ...machineSection(results));

  md.push('', '## Scenarios', '');
  for (const m of METHOD) {
    md.push(`### ${m.heading}`, '', m.text, '');
    if (m.role === 'chaos') {
      if (chaos.length === 0) md.push('Not run.', '');
      for (const r of chaos) {
        const failed = (r.checks ?? []).filter((c) => !c.ok).length;
        const verdict = r.checks?.length ? (failed ? `**${failed} of ${r.checks.length} checks failed**` : `all ${r.checks.length} checks passed`) : 'no checks recorded';
        md.push(`#### ${r.name} — ${verdict}`, '', ...resultBlock(r, chartsOf.get(r.name) ?? [], imageDir), '');
      }
      continue;
    }
    const r = find(results, m.role);
    if (!r) md.push(`Not run (no \`bench/results/${RESULT_NAMES[m.role][0]}.json\`).`, '');
    else md.push(...resultBlock(r, chartsOf.get(r.name) ?? [], imageDir), '');
  }
  for (const r of others) md.push(`### ${r.name}`, '', ...resultBlock(r, chartsOf.get(r.name) ?? [], imageDir), '');

  md.push('## pm-agent next to its baselines', '');
  if (compare.length === 0) md.push('Not enough results for a comparison yet.');
  for (const c of compare) md.push(`![${c.title}](${imageDir}/${c.file})`, '');

  const charts = [...[...chartsOf.values()].flat(), ...compare];
  return { markdown: `${md.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd()}\n`, charts, rows };
}

/** Writes `<docsDir>/benchmarks.md` and `<docsDir>/bench/*.png` (stale PNGs there are removed). */
export function writeReport(results: Results, docsDir: string): { markdownFile: string; pngFiles: string[]; report: Report } {
  const imageDir = join(docsDir, 'bench');
  const report = buildReport(results, 'bench');
  mkdirSync(imageDir, { recursive: true });
  const keep = new Set(report.charts.map((c) => c.file));
  for (const f of readdirSync(imageDir)) if (f.endsWith('.png') && !keep.has(f)) rmSync(join(imageDir, f));
  const pngFiles = report.charts.map((c) => {
    const file = join(imageDir, c.file);
    writeFileSync(file, svgToPng(c.svg));
    return file;
  });
  const markdownFile = join(docsDir, 'benchmarks.md');
  writeFileSync(markdownFile, report.markdown);
  return { markdownFile, pngFiles, report };
}

/** Every `<dir>/*.json`, read through `loadResult` when it is the standard directory. */
export function loadAll(dir = RESULTS_DIR): Results {
  const out: Results = {};
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return out;
  }
  for (const f of files.sort()) {
    const name = basename(f, '.json');
    const r = dir === RESULTS_DIR ? loadResult(name) : loadFrom(dir, name);
    if (r && typeof r === 'object' && r.metrics) out[r.name || name] = r;
  }
  return out;
}

function loadFrom(dir: string, name: string): BenchResult | null {
  try {
    return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as BenchResult;
  } catch {
    return null;
  }
}

function main(): void {
  const resultsDir = process.env.BENCH_RESULTS_DIR ? resolve(process.env.BENCH_RESULTS_DIR) : RESULTS_DIR;
  const docsDir = process.env.BENCH_DOCS_DIR ? resolve(process.env.BENCH_DOCS_DIR) : join(ROOT, 'docs');
  const results = loadAll(resultsDir);
  const { markdownFile, pngFiles, report } = writeReport(results, docsDir);
  console.log(`${Object.keys(results).length} results → ${relative(process.cwd(), markdownFile)} and ${pngFiles.length} charts`);
  for (const e of report.rows) console.log(`   ${e.figure.padEnd(56)} ${e.value === undefined ? '—' : withUnit(e.value, e.unit)}  ${e.status.replace(/\*\*/g, '')}`);
}

if (typeof require !== 'undefined' && require.main === module) main();
