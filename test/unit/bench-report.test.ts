import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { barChart, lineChart, niceTicks, pngSize, svgToPng } from '../../bench/lib/chart';
import type { BenchResult, Series } from '../../bench/lib/result';
import { buildReport, chartTitle, evaluate, loadAll, whatLimits, writeReport, type Results } from '../../bench/report';

// Synthetic results, shaped like the scenarios' own: the report must read them without a run.
const machine = { cores: 2, memoryGiB: 23.4, cpuModel: 'Synthetic CPU', node: 'v20.19.0', kernel: '6.1.0-test' };
const versions = { 'socket.io': '4.8.3', pg: '8.23.1', postgres: '16.4' };

function result(name: string, metrics: Record<string, number>, extra: Partial<BenchResult> = {}): BenchResult {
  return { name, title: `${name} run`, startedAt: '2025-06-01T12:00:00.000Z', durationMs: 12_345, machine, versions, params: {}, metrics, ...extra };
}

const over = (label: string, xLabel: string, yLabel: string, ys: number[]): Series => ({ label, xLabel, yLabel, points: ys.map((y, x) => ({ x, y })) });

function fullResults(): Results {
  const rs: BenchResult[] = [
    result(
      'hold',
      { agents_connected_at_end: 7_600, agents_registered_after_ramp: 7_500, kib_per_connection: 24.5, connect_p99_ms: 180, connect_failures: 0 },
      {
        params: { agents: 7_500, replicas: 3 },
        series: { rss: { label: 'replica RSS', xLabel: 'connections', yLabel: 'MiB', points: [0, 2500, 5000, 7500].map((x) => ({ x, y: 80 + x * 0.024 })) } },
        notes: ['replica event loop saturated above 2,500 connections per replica'],
      },
    ),
    result(
      'claim-storm',
      { claims_per_s: 2_400, duplicates_postgres: 0, duplicates_clients: 0, claim_p99_ms: 41 },
      {
        series: {
          sweep: { label: 'claims/s', xLabel: 'replicas', yLabel: 'claims/s', points: [1, 2, 3].map((x) => ({ x, y: 900 * x })) },
        },
      },
    ),
    result(
      'steady',
      { request_p50_ms: 6, request_p95_ms: 19, request_p99_ms: 31.5, progress_p99_ms: 12 },
      {
        series: {
          p50: over('p50', 'elapsed (s)', 'latency (ms)', [5, 6, 6, 7]),
          p99: over('p99', 'elapsed (s)', 'latency (ms)', [28, 31, 33, 30]),
        },
        params: { agents: 1_000, replicas: 3 },
        notes: ['Postgres: 60 % of sessions waiting on LWLock:WALWrite'],
      },
    ),
    result('failover', { recovery_max_ms: 3_200, agents_not_served_again: 0, tasks_lost_at_agents: 0, tasks_doubled: 0 }),
    result('baseline-socketio', { acks_per_s: 40_000, p99_ms: 4.2, idle_rss_kib_per_connection: 9.8 }),
    result('baseline-pgboss', { jobs_per_s: 1_600, fetch_p99_ms: 22, duplicates: 0 }),
    result('baseline-bullmq', { jobs_per_s: 4_800, fetch_p99_ms: 3, duplicates: 0 }),
    result(
      'chaos-redis-failover',
      { served_again_max_ms: 2_100 },
      {
        checks: [
          { name: 'no task held twice', ok: true },
          { name: 'agents served again within 10 s', ok: false, detail: '3 agents waited 12 s' },
        ],
      },
    ),
  ];
  return Object.fromEntries(rs.map((r) => [r.name, r]));
}

const tableRow = (md: string, figure: string): string => {
  const line = md.split('\n').find((l) => l.startsWith(`| ${figure} |`));
  if (!line) throw new Error(`no table row for ${figure}`);
  return line;
};

describe('bench report', () => {
  it('puts every figure in the table with its target, status and ratio to the baseline', () => {
    const { markdown, rows } = buildReport(fullResults());
    expect(rows.map((r) => r.figure)).toEqual([
      'Concurrent agents (connected and registered)',
      'Memory per idle connection',
      'Claims per second, end to end',
      'Duplicate claims',
      'Claims/s ÷ pg-boss jobs/s (same Postgres)',
      'request_next_task p99, steady load',
      "A killed replica's agents served again (slowest agent)",
      'Agents of the killed replica never served again',
      'Tasks lost in failover',
      'Tasks held twice in failover',
    ]);
    for (const r of rows) expect(markdown).toContain(`| ${r.figure} |`);

    // claims/s ÷ pg-boss = 2400 / 1600, ÷ BullMQ = 2400 / 4800
    const claims = tableRow(markdown, 'Claims per second, end to end');
    expect(claims).toContain('2,400 claims/s');
    expect(claims).toContain('**1.5×** pg-boss (1,600 jobs/s)');
    expect(claims).toContain('**0.5×** BullMQ (4,800 jobs/s)');
    expect(claims).toContain('met (20 % above)');
    expect(tableRow(markdown, 'Claims/s ÷ pg-boss jobs/s (same Postgres)')).toContain('| 1.5× | met');

    // p99 ÷ bare Socket.IO ack p99 = 31.5 / 4.2; KiB ÷ bare Socket.IO KiB = 24.5 / 9.8
    expect(tableRow(markdown, 'request_next_task p99, steady load')).toContain('**7.5×** bare Socket.IO ack p99 (4.2 ms)');
    expect(tableRow(markdown, 'Memory per idle connection')).toContain('**2.5×** bare Socket.IO (9.8 KiB)');
    expect(tableRow(markdown, 'Memory per idle connection')).toContain('met (18.3 % under)');
    expect(tableRow(markdown, 'Duplicate claims')).toContain('pg-boss duplicates: 0');
    expect(tableRow(markdown, "A killed replica's agents served again (slowest agent)")).toContain('| 3,200 ms | met (36 % under)');
    expect(tableRow(markdown, 'Tasks lost in failover')).toContain('| 0 | met');

    // the keys the brief first named read the same
    const named = evaluate({
      hold: result('hold', { agents_connected: 10_000, replicas: 3, kib_per_connection: 20 }),
      steady: result('steady', { request_next_task_p99_ms: 12 }),
      failover: result('failover', { served_again_max_ms: 4_000, tasks_lost: 1 }),
      'baseline-socketio': result('baseline-socketio', { ack_p99_ms: 3, kib_per_connection: 10 }),
    });
    const status = (f: string) => named.find((r) => r.figure === f)?.status;
    expect(status('Concurrent agents (connected and registered)')).toBe('met');
    expect(status('request_next_task p99, steady load')).toBe('met (52 % under)');
    expect(status('Tasks lost in failover')).toBe('**missed**: 1, must be 0');
  });

  it('says by how much a missed target is missed, and what the run recorded as its limit', () => {
    const { markdown, rows } = buildReport(fullResults());
    const agents = rows.find((r) => r.figure === 'Concurrent agents (connected and registered)');
    expect(agents?.met).toBe(false);
    expect(tableRow(markdown, 'Concurrent agents (connected and registered)')).toContain('**missed** by 2,500 agents (25 % short)');
    // an upper bound: 31.5 ms against < 25 ms
    expect(tableRow(markdown, 'request_next_task p99, steady load')).toContain('**missed** by 6.5 ms (1.26× the limit)');

    const missed = markdown.slice(markdown.indexOf('## Missed targets'), markdown.indexOf('## Machine'));
    expect(missed).toContain('Concurrent agents (connected and registered)');
    expect(missed).toContain('replica event loop saturated above 2,500 connections per replica');
    expect(missed).toContain('LWLock:WALWrite');
    expect(missed).not.toContain('Claims per second');

    const doubled = evaluate({ failover: result('failover', { served_again_max_ms: 900, tasks_lost: 0, tasks_doubled: 2 }) });
    expect(doubled.find((r) => r.figure === 'Tasks held twice in failover')?.status).toBe('**missed**: 2, must be 0');
  });

  it('reads "not run" for whatever has no result, and still renders', () => {
    const { markdown, rows, charts } = buildReport({});
    expect(rows.every((r) => r.status === 'not run' && r.met === undefined)).toBe(true);
    expect(tableRow(markdown, 'Claims per second, end to end')).toContain('pg-boss: not run');
    expect(markdown).toContain('Not run (no `bench/results/hold.json`).');
    expect(charts).toEqual([]);

    const partial = buildReport({ 'claim-storm': result('claim-storm', { claims_per_s: 1_000 }) });
    expect(tableRow(partial.markdown, 'Claims per second, end to end')).toContain('**missed** by 1,000 claims/s (50 % short)');
    expect(tableRow(partial.markdown, 'Duplicate claims')).toContain('not measured (no `duplicates` in `claim-storm`)');
    expect(tableRow(partial.markdown, 'Claims/s ÷ pg-boss jobs/s (same Postgres)')).toContain('not measured');
  });

  it('lists the chaos checks, the machine and the versions', () => {
    const { markdown } = buildReport(fullResults());
    expect(markdown).toContain('| `chaos-redis-failover` (chaos-redis-failover run) | 2 | **1 failed**: agents served again within 10 s |');
    expect(markdown).toContain('#### chaos-redis-failover — **1 of 2 checks failed**');
    expect(markdown).toContain('| agents served again within 10 s | **FAILED** | 3 agents waited 12 s |');
    expect(markdown).toContain('| 2 | 23.4 GiB | Synthetic CPU | 6.1.0-test | v20.19.0 |');
    expect(markdown).toContain('| postgres | 16.4 |');
  });

  const dir = mkdtempSync(join(tmpdir(), 'bench-report-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes the markdown and valid PNG charts of the chart size, and drops stale charts', () => {
    const resultsDir = join(dir, 'results');
    const docs = join(dir, 'docs');
    mkdirSync(join(docs, 'bench'), { recursive: true });
    mkdirSync(resultsDir);
    writeFileSync(join(docs, 'bench', 'stale.png'), 'old');
    for (const r of Object.values(fullResults())) writeFileSync(join(resultsDir, `${r.name}.json`), JSON.stringify(r));

    const loaded = loadAll(resultsDir);
    expect(Object.keys(loaded).sort()).toEqual(Object.keys(fullResults()).sort());
    const { markdownFile, pngFiles, report } = writeReport(loaded, docs);

    const md = readFileSync(markdownFile, 'utf8');
    const names = pngFiles.map((f) => f.slice(f.lastIndexOf('/') + 1));
    // steady latency over time, hold memory vs connections, claims/s per replica count, the comparisons
    expect(names).toEqual(expect.arrayContaining(['hold-rss.png', 'claim-storm-sweep.png', 'compare-throughput.png', 'compare-latency-p99.png', 'compare-memory.png']));
    expect(names.some((n) => n.startsWith('steady-'))).toBe(true);
    for (const c of report.charts) {
      expect(md).toContain(`](bench/${c.file})`);
      const png = readFileSync(join(docs, 'bench', c.file));
      expect(pngSize(png)).toEqual({ width: c.width, height: c.height });
    }
    expect(() => readFileSync(join(docs, 'bench', 'stale.png'))).toThrow();
  });
});

describe('charts', () => {
  const s = (label: string, pts: [number, number][]): Series => ({ label, xLabel: 'elapsed (s)', yLabel: 'ms', points: pts.map(([x, y]) => ({ x, y })) });

  it('draws axes, ticks, labels, a legend per series and reference lines', () => {
    const svg = lineChart(
      [
        s('p50', [
          [0, 2],
          [10, 3],
        ]),
        s('p99 <all>', [
          [0, 20],
          [10, 27],
        ]),
      ],
      { title: 'latency & time', refLines: [{ y: 25, label: 'target' }] },
    );
    expect(svg).toContain('latency &amp; time');
    expect(svg).toContain('p99 &lt;all&gt;');
    expect(svg.match(/<polyline/g)).toHaveLength(2);
    expect(svg).toContain('stroke-dasharray');
    expect(svg).toContain('>elapsed (s)<');
    expect(svg).toContain('>30<'); // the y axis runs past the largest value to a round tick
  });

  it('draws one bar per series and category', () => {
    const svg = barChart(
      [
        { label: 'a', xLabel: 'replicas', yLabel: 'claims/s', points: [1, 2, 3].map((x) => ({ x, y: x * 100 })) },
        { label: 'b', xLabel: 'replicas', yLabel: 'claims/s', points: [1, 3].map((x) => ({ x, y: x * 50 })) },
      ],
      { title: 'sweep' },
    );
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(5);
  });

  it('renders an empty chart as "no data" rather than failing', () => {
    expect(lineChart([], { title: 'nothing' })).toContain('no data');
    expect(barChart([{ label: 'x', xLabel: 'a', yLabel: 'b', points: [{ x: 1, y: Number.NaN }] }], { title: 'nothing' })).toContain('no data');
  });

  it('titles a chart of several series by what their labels share and how they differ', () => {
    const two = (a: string, b: string, y = 'ms') => chartTitle([over(a, 's', y, [1]), over(b, 's', y, [2])]);
    expect(two('fetch latency p50', 'fetch latency p99')).toBe('fetch latency p50/p99 (ms)');
    expect(two('request_next_task p50 per 5 s', 'request_next_task p99 per 5 s')).toBe('request_next_task p50/p99 per 5 s (ms)');
    expect(two('CPU used by the whole machine and then some more (cores of 2)', 'CPU used by replicas of pm-agent under a heavy load (cores of 2)', 'cores')).toBe(
      'CPU used by … (cores of 2)',
    );
    expect(two('alpha', 'beta')).toBe('alpha/beta (ms)');
  });

  it('picks round ticks that cover the range', () => {
    expect(niceTicks(0, 10, 5)).toEqual([0, 2, 4, 6, 8, 10]);
    expect(niceTicks(0, 2_340, 5)).toEqual([0, 500, 1000, 1500, 2000, 2500]);
    expect(niceTicks(5, 5).length).toBeGreaterThan(1);
  });

  it('rasterises to a PNG of the requested size', () => {
    const png = svgToPng(lineChart([s('a', [[0, 1]])], { title: 't', width: 640, height: 300 }));
    expect([...png.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    expect(png.subarray(12, 16).toString('ascii')).toBe('IHDR');
    expect(pngSize(png)).toEqual({ width: 640, height: 300 });
    expect(pngSize(Buffer.from('not a png at all, not at all'))).toBeNull();
  });
});

describe('whatLimits', () => {
  it('reads what limits a missed claim storm from its own figures and its profile', () => {
    const storm = result(
      'claim-storm',
      {
        claims_per_s: 400,
        cpu_machine_busy_pct: 99,
        cpu_replicas_cores: 0.7,
        cpu_postgres_cores: 0.9,
        cpu_load_workers_cores: 0.1,
        claims_per_s_k1_tasks500: 380,
        claims_per_s_k2_tasks500: 390,
        claims_per_s_k3_tasks500: 370,
        profile_replica_socket_writes_pct: 45,
        profile_statements_per_claim: 16.2,
        profile_pg_exec_ms_per_claim: 1.26,
      },
      { params: { sweep_tasks: 500 } },
    );
    const text = whatLimits('claim-storm', { 'claim-storm': storm })!;
    expect(text).toContain('99 % busy');
    expect(text).toContain('380 / 390 / 370 claims/s with 1 / 2 / 3 replicas');
    expect(text).toContain('16.2 statements per claim');
    expect(whatLimits('claim-storm', {})).toBeUndefined();
  });

  it('sets a missed steady p99 next to bare Socket.IO at the same pace', () => {
    const steady = result('steady', { cpu_machine_busy_pct: 60, calls_per_s: 250, request_p50_ms: 10, request_p99_ms: 60, cpu_replicas_cores: 0.5, cpu_postgres_cores: 0.4 });
    const bare = result('baseline-socketio', { ack_p99_ms: 2.5 });
    const text = whatLimits('steady', { steady, 'baseline-socketio': bare })!;
    expect(text).toContain('60 % busy for 250 calls/s');
    expect(text).toContain('p50 10 ms against p99 60 ms');
    expect(text).toContain('answers in 2.5 ms at p99');
  });
});
