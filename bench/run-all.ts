// Runs every scenario, baseline and chaos case one after the other, each as its own child process
// (`npx tsx bench/<name>.ts`, which saves bench/results/<name>.json), then regenerates
// docs/benchmarks.md and its charts: the whole benchmark page from one command.
//
//   npx tsx bench/run-all.ts
//
// Environment (defaults in brackets); everything else is passed to the scenarios unchanged
// (e.g. BENCH_AGENTS, BENCH_DURATION_S: see each scenario's header):
//   BENCH_ONLY            comma list of scenarios to run, in this order        [all of SCENARIOS below]
//   BENCH_SKIP            comma list of scenarios to leave out                 []
//   BENCH_WAIT_IDLE_S     before each scenario, wait up to this long for other benchmarks, tests
//                         and replicas on the machine to finish (0: don't wait) [1200]
//   BENCH_POLL_S          how often to look while waiting                      [30]
//   BENCH_TIMEOUT_S       a scenario running longer is stopped (SIGTERM, then SIGKILL) [3600]
//   BENCH_REPORT          0 skips the report at the end                        [1]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadAll, writeReport } from './report';
import { RESULTS_DIR, ROOT } from './lib/result';

export const SCENARIOS = ['hold', 'claim-storm', 'steady', 'failover', 'baseline-socketio', 'baseline-pgboss', 'baseline-bullmq', 'chaos'] as const;

const list = (v: string | undefined): string[] =>
  (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
const num = (name: string, dflt: number): number => {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${v}`);
  return n;
};

const WAIT_IDLE_S = num('BENCH_WAIT_IDLE_S', 1200);
const POLL_S = Math.max(1, num('BENCH_POLL_S', 30));
const TIMEOUT_S = num('BENCH_TIMEOUT_S', 3600);
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface Outcome {
  scenario: string;
  status: 'ok' | 'failed' | 'missing' | 'timed out' | 'interrupted' | 'machine busy';
  seconds: number;
  exitCode: number | null;
  /** Result files this run wrote (a scenario may write several, e.g. chaos-*). */
  results: string[];
}

/** Our own process and its ancestors (npx, the shell): they match the pattern but are us. */
function ancestors(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid = process.pid;
  for (let i = 0; i < 32 && pid > 1; i++) {
    try {
      // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after ')'
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      pid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      out.add(pid);
    } catch {
      break;
    }
  }
  return out;
}

/** Benchmarks, tests and replicas running on this machine that are not this run. */
function othersRunning(): string[] {
  let lines: string[];
  try {
    lines = execFileSync('pgrep', ['-af', 'bench/|vitest|dist/main.js'], { encoding: 'utf8' }).trim().split('\n');
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  const mine = ancestors();
  return lines.filter((l) => l && !mine.has(Number(l.split(' ')[0])));
}

/** Figures measured while others load the machine are not the figures to report: wait for quiet. */
async function waitForQuiet(scenario: string): Promise<boolean> {
  if (WAIT_IDLE_S === 0) return true;
  const deadline = Date.now() + WAIT_IDLE_S * 1000;
  for (;;) {
    const others = othersRunning();
    if (others.length === 0) return true;
    if (Date.now() >= deadline) {
      console.error(`run-all: the machine is still busy after ${WAIT_IDLE_S} s; not running ${scenario}:\n  ${others.join('\n  ')}`);
      return false;
    }
    console.error(`run-all: waiting for ${others.length} other process(es) before ${scenario}, e.g. ${others[0].slice(0, 140)}`);
    await sleep(POLL_S * 1000);
  }
}

function resultFiles(): Map<string, number> {
  const out = new Map<string, number>();
  if (!existsSync(RESULTS_DIR)) return out;
  for (const f of readdirSync(RESULTS_DIR)) if (f.endsWith('.json')) out.set(f.slice(0, -'.json'.length), statSync(join(RESULTS_DIR, f)).mtimeMs);
  return out;
}

let current: ChildProcess | undefined;
let interrupted = false;

function killGroup(pgid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // no process left in the group
  }
}
const groupAlive = (pgid: number): boolean => killGroup(pgid, 0);

/** Stops the scenario's whole process group (its replicas and load processes too). */
function stopGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid !== undefined) killGroup(child.pid, signal);
}

async function runScenario(scenario: string): Promise<Outcome> {
  const file = join(ROOT, 'bench', `${scenario}.ts`);
  if (!existsSync(file)) return { scenario, status: 'missing', seconds: 0, exitCode: null, results: [] };
  const before = resultFiles();
  const t0 = Date.now();
  console.error(`\nrun-all: ── ${scenario} ── npx tsx bench/${scenario}.ts`);
  // A group of its own, so a stop reaches the replicas and load workers it started.
  const child = spawn('npx', ['tsx', `bench/${scenario}.ts`], { cwd: ROOT, env: process.env, stdio: 'inherit', detached: true });
  current = child;
  let timedOut = false;
  const timer =
    TIMEOUT_S > 0
      ? setTimeout(() => {
          timedOut = true;
          console.error(`run-all: ${scenario} ran past ${TIMEOUT_S} s; stopping it`);
          stopGroup(child, 'SIGTERM');
          setTimeout(() => stopGroup(child, 'SIGKILL'), 30_000).unref();
        }, TIMEOUT_S * 1000)
      : undefined;
  const exitCode = await new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (err) => {
      console.error(`run-all: ${scenario} did not start: ${err.message}`);
      resolve(null);
    });
  });
  clearTimeout(timer);
  current = undefined;
  // Whatever of its group outlived it (a replica, a load worker) is a stray: it would skew the next scenario.
  if (child.pid !== undefined && groupAlive(child.pid)) {
    console.error(`run-all: ${scenario} left processes behind; stopping them`);
    killGroup(child.pid, 'SIGTERM');
    for (let i = 0; i < 100 && groupAlive(child.pid); i++) await sleep(100);
    killGroup(child.pid, 'SIGKILL');
  }
  const after = resultFiles();
  const results = [...after.entries()].filter(([n, m]) => (before.get(n) ?? 0) < m).map(([n]) => n);
  const status: Outcome['status'] = interrupted ? 'interrupted' : timedOut ? 'timed out' : exitCode === 0 ? 'ok' : 'failed';
  return { scenario, status, seconds: Math.round((Date.now() - t0) / 100) / 10, exitCode, results };
}

async function main(): Promise<void> {
  const only = list(process.env.BENCH_ONLY);
  const skip = new Set(list(process.env.BENCH_SKIP));
  const order = (only.length ? only : [...SCENARIOS]).filter((s) => !skip.has(s));
  const unknown = order.filter((s) => !(SCENARIOS as readonly string[]).includes(s));
  if (unknown.length) console.error(`run-all: not among the known scenarios (run anyway if the file exists): ${unknown.join(', ')}`);

  const stop = (signal: NodeJS.Signals) => {
    interrupted = true;
    console.error(`run-all: ${signal}; stopping the running scenario`);
    if (current) {
      stopGroup(current, 'SIGTERM');
      const c = current;
      setTimeout(() => stopGroup(c, 'SIGKILL'), 30_000).unref();
    }
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  const outcomes: Outcome[] = [];
  for (const scenario of order) {
    if (interrupted) break;
    if (!(await waitForQuiet(scenario))) {
      outcomes.push({ scenario, status: 'machine busy', seconds: 0, exitCode: null, results: [] });
      break;
    }
    outcomes.push(await runScenario(scenario));
  }

  if (process.env.BENCH_REPORT !== '0' && !interrupted) {
    const { markdownFile, pngFiles } = writeReport(loadAll(), join(ROOT, 'docs'));
    console.error(`\nrun-all: report → ${markdownFile} (${pngFiles.length} charts)`);
  }
  console.log('\n== run-all');
  for (const o of outcomes) {
    const res = o.results.length ? `wrote ${o.results.join(', ')}` : 'wrote no result';
    console.log(`   ${o.scenario.padEnd(20)} ${o.status.padEnd(11)} ${String(o.seconds).padStart(7)} s  ${o.status === 'missing' ? `no bench/${o.scenario}.ts` : res}`);
  }
  const bad = outcomes.filter((o) => o.status !== 'ok');
  process.exitCode = bad.length ? 1 : 0;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
