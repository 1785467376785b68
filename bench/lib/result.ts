// One result format for every benchmark scenario, baseline and chaos run: printed as JSON plus a
// human summary, and saved as bench/results/<name>.json (the latest run of each, which
// `npm run bench:report` turns into docs/benchmarks.md and its charts).
import { execSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, release } from 'node:os';
import { join } from 'node:path';

export const ROOT = join(__dirname, '..', '..');
export const RESULTS_DIR = join(ROOT, 'bench', 'results');

/** A series for a chart: points in order of x. */
export interface Series {
  label: string;
  xLabel: string;
  yLabel: string;
  points: { x: number; y: number }[];
}

export interface BenchResult {
  /** File name and key: `hold`, `claim-storm`, `steady`, `failover`, `baseline-pg-boss`, `chaos-redis-failover`, ... */
  name: string;
  /** One line saying what was measured. */
  title: string;
  startedAt: string;
  durationMs: number;
  machine: { cores: number; memoryGiB: number; cpuModel: string; node: string; kernel: string };
  versions: Record<string, string>;
  /** What the run was asked to do (agents, replicas, tasks, seconds...). */
  params: Record<string, number | string | boolean>;
  /** The figures, flat, with units in the name: `claims_per_s`, `p99_ms`, `duplicates`, `kib_per_connection`... */
  metrics: Record<string, number>;
  /** Named series for charts (latency over time, memory vs connections, ...). */
  series?: Record<string, Series>;
  /** Invariant checks and their outcome (chaos, correctness). */
  checks?: { name: string; ok: boolean; detail?: string }[];
  notes?: string[];
}

export function machine(): BenchResult['machine'] {
  return {
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    node: process.version,
    kernel: release(),
  };
}

const pkg = (name: string): string => {
  try {
    return (JSON.parse(readFileSync(join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'not installed';
  }
};

const cmd = (c: string): string => {
  try {
    return execSync(c, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
  } catch {
    return 'unknown';
  }
};

/** Versions of what a run depends on: the packages given and the services of this machine. */
export function versions(packages: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of ['socket.io', 'socket.io-client', 'pg', 'ioredis', 'amqplib', ...packages]) out[p] = pkg(p);
  out.postgres = cmd(`psql -h 127.0.0.1 -U postgres -d test -tAc 'SHOW server_version'`);
  out.redis = cmd('redis-server --version');
  out.rabbitmq = cmd(`rabbitmqctl version 2>/dev/null`);
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}

export const round = (x: number, digits = 2): number => Math.round(x * 10 ** digits) / 10 ** digits;

/** Prints the result (JSON, then a summary) and saves it as bench/results/<name>.json. */
export function report(r: BenchResult): void {
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, `${r.name}.json`), `${JSON.stringify(r, null, 2)}\n`);
  console.log(JSON.stringify(r));
  console.log(`\n== ${r.name}: ${r.title} (${round(r.durationMs / 1000, 1)} s)`);
  for (const [k, v] of Object.entries(r.metrics)) console.log(`   ${k.padEnd(36)} ${v}`);
  for (const c of r.checks ?? []) console.log(`   ${c.ok ? 'ok  ' : 'FAIL'} ${c.name}${c.detail ? ` — ${c.detail}` : ''}`);
  for (const n of r.notes ?? []) console.log(`   note: ${n}`);
}

export function loadResult(name: string): BenchResult | null {
  try {
    return JSON.parse(readFileSync(join(RESULTS_DIR, `${name}.json`), 'utf8')) as BenchResult;
  } catch {
    return null;
  }
}
