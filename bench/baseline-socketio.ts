// Baseline: a bare Socket.IO server (the package and server options pm-agent uses, namespace
// /agents, two rooms per socket like pm-agent's gateway) whose request_next_task handler acks at
// once with an answer the size and shape of pm-agent's. No database, no Redis, no auth: the
// framework's floor on this machine. Three phases, each against a fresh server process:
//   1. idle: BENCH_IDLE_CONNECTIONS clients connect in steps; the server's memory (after GC) at
//      each step gives the per-connection floor of Socket.IO itself;
//   2. ceiling: BENCH_AGENTS clients call request_next_task in a closed loop (next call as soon as
//      the ack is in) for BENCH_DURATION_S after a warm-up: the most acks/s the machine gives;
//   3. paced: the same clients call every BENCH_WORK_MS, as the agents of the steady scenario
//      do: ack latency at the load pm-agent's request_next_task p99 is measured under.
//
//   npx tsx bench/baseline-socketio.ts
//
// Environment (defaults in brackets; names shared with the pm-agent scenarios):
//   BENCH_AGENTS            clients of the ceiling and paced phases          [1000]
//   BENCH_DURATION_S        measured seconds of each of those phases         [30]
//   BENCH_WARMUP_S          unmeasured seconds before them                   [5]
//   BENCH_WORK_MS           paced phase: time between two calls of a client  [5000] (steady's default)
//   BENCH_WORKERS           load processes (a process holds < 19,900 sockets) [max(2, ceil(N/3500))]
//   BENCH_IDLE_CONNECTIONS  connections of the idle phase, 0 skips it        [3334] (hold's 10,000 agents over 3 replicas)
//   BENCH_IDLE_STEPS        memory samples while they connect                [5]
//   BENCH_PORT              server port                                      [3590]
//   BENCH_ANSWER_FILE       the ack payload: a captured request_next_task answer (JSON) instead of the built-in one
import type { ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Server } from 'socket.io';
import { io as connectClient, type Socket } from 'socket.io-client';
import { envNum, forkRole, jsonBytes, machineCpu, nextMessage, nowMs, reap, sampleNextTaskAnswer, send, shares, sleep } from './lib/baseline-jobs';
import { machine, percentile, report, round, versions, type BenchResult, type Series } from './lib/result';

const AGENTS = envNum('BENCH_AGENTS', 1000);
const DURATION_S = envNum('BENCH_DURATION_S', 30);
const WARMUP_S = envNum('BENCH_WARMUP_S', 5);
const WORK_MS = envNum('BENCH_WORK_MS', 5000);
const LOAD_PROCS = Math.max(1, envNum('BENCH_WORKERS', Math.max(2, Math.ceil(AGENTS / 3500))));
const IDLE_CONNECTIONS = envNum('BENCH_IDLE_CONNECTIONS', 3334);
const IDLE_STEPS = Math.max(1, envNum('BENCH_IDLE_STEPS', 5));
const PORT = envNum('BENCH_PORT', 3590);
const MAX_MESSAGE_BYTES = 1_048_576; // pm-agent's MAX_MESSAGE_BYTES default
const CALL_TIMEOUT_MS = 10_000;

interface Mem {
  connections: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
}
interface Window {
  window: true;
  from: number;
  to: number;
}
interface ServerWindowResult {
  windowResult: true;
  cpuPct: number;
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
  answered: number;
}
interface ClientResult {
  clientResult: true;
  pid: number;
  lat: number[];
  /** Seconds since the window's start at which each call in `lat` was answered. */
  at: number[];
  timeouts: number;
  errors: number;
  cpuMs: number;
}

// ---- server process ------------------------------------------------------------------------------

async function server(): Promise<void> {
  const answer = sampleNextTaskAnswer(0);
  const http = createServer();
  // The options pm-agent's SocketIoAdapter gives the server.
  const io = new Server(http, { maxHttpBufferSize: MAX_MESSAGE_BYTES, pingInterval: 20_000, pingTimeout: 20_000, cors: { origin: false } });
  const ns = io.of('/agents');
  let connections = 0;
  let answered = 0;
  ns.use((socket, next) => {
    // No token check: only the handshake's shape is kept.
    const id = (socket.handshake.auth as { agent_id?: unknown }).agent_id;
    socket.data.agentId = typeof id === 'string' ? id : socket.id;
    next();
  });
  ns.on('connection', (socket) => {
    connections++;
    void socket.join([`agent:bench:${String(socket.data.agentId)}`, 'project:bench']);
    socket.on('request_next_task', (_payload: unknown, ack?: (a: unknown) => void) => {
      answered++;
      ack?.(answer);
    });
    socket.on('disconnect', () => connections--);
  });
  await new Promise<void>((r) => http.listen(PORT, '127.0.0.1', r));

  const gc = (globalThis as { gc?: () => void }).gc;
  process.on('message', (m: any) => {
    if (m?.mem) {
      void (async () => {
        // Twice, with a pause: the first pass frees what the second can then compact.
        gc?.();
        await sleep(200);
        gc?.();
        const u = process.memoryUsage();
        await send({ memResult: true, connections, rss: u.rss, heapUsed: u.heapUsed, external: u.external, arrayBuffers: u.arrayBuffers } satisfies Mem & { memResult: true });
      })();
    } else if (m?.window) {
      const w = m as Window;
      void (async () => {
        await sleep(Math.max(0, w.from - nowMs()));
        const eld = monitorEventLoopDelay({ resolution: 10 });
        eld.enable();
        const cpu0 = process.cpuUsage();
        const a0 = answered;
        const t0 = nowMs();
        await sleep(Math.max(0, w.to - nowMs()));
        const cpu = process.cpuUsage(cpu0);
        eld.disable();
        const r: ServerWindowResult = {
          windowResult: true,
          cpuPct: (100 * (cpu.user + cpu.system)) / 1000 / (nowMs() - t0),
          eldP50Ms: eld.percentile(50) / 1e6,
          eldP99Ms: eld.percentile(99) / 1e6,
          eldMaxMs: eld.max / 1e6,
          answered: answered - a0,
        };
        await send(r);
      })();
    }
  });
  await send({ listening: true, answerBytes: jsonBytes(answer) });
}

// ---- client (load) process -----------------------------------------------------------------------

async function clients(): Promise<void> {
  const url = `http://127.0.0.1:${PORT}/agents`;
  const sockets: Socket[] = [];
  const open = (i: number) =>
    new Promise<Socket>((resolve, reject) => {
      const s = connectClient(url, { auth: { agent_id: `p${process.pid}-${i}` }, transports: ['websocket'], reconnection: false, forceNew: true, timeout: 20_000 });
      s.once('connect', () => resolve(s));
      s.once('connect_error', (err) => {
        s.close();
        reject(err);
      });
    });
  process.on('message', (m: any) => {
    if (typeof m?.connect === 'number') {
      void (async () => {
        // In batches: a few hundred handshakes at once is what a reconnect storm looks like, not ten thousand.
        const target = sockets.length + (m.connect as number);
        while (sockets.length < target) {
          const batch = Math.min(100, target - sockets.length);
          const base = sockets.length;
          sockets.push(...(await Promise.all(Array.from({ length: batch }, (_, j) => open(base + j)))));
        }
        await send({ connected: sockets.length });
      })();
    } else if (m?.go) {
      void (async () => {
        const { startAt, from, to, intervalMs } = m as { startAt: number; from: number; to: number; intervalMs: number };
        await sleep(Math.max(0, startAt - nowMs()));
        const r: ClientResult = { clientResult: true, pid: process.pid, lat: [], at: [], timeouts: 0, errors: 0, cpuMs: 0 };
        // CPU over the measured window only, as the server's.
        let cpu0: NodeJS.CpuUsage | undefined;
        const cpuFrom = setTimeout(() => (cpu0 = process.cpuUsage()), Math.max(0, from - nowMs()));
        let cpuRead = false;
        const readCpu = () => {
          if (cpuRead) return;
          cpuRead = true;
          const cpu = process.cpuUsage(cpu0);
          r.cpuMs = (cpu.user + cpu.system) / 1000;
        };
        const cpuTo = setTimeout(readCpu, Math.max(0, to - nowMs()));
        await Promise.all(
          sockets.map(async (s, i) => {
            const agentId = `p${process.pid}-${i}`;
            // Paced: each client on its own schedule, spread at random over the interval.
            let next = startAt + Math.random() * intervalMs;
            while (nowMs() < to) {
              if (intervalMs > 0) {
                await sleep(Math.max(0, next - nowMs()));
                next += intervalMs;
                if (nowMs() >= to) break;
              }
              const t0 = nowMs();
              try {
                await s.timeout(CALL_TIMEOUT_MS).emitWithAck('request_next_task', { agent_id: agentId, request_id: randomUUID() });
                const t1 = nowMs();
                if (t0 >= from && t1 <= to) {
                  r.lat.push(round(t1 - t0, 3));
                  r.at.push(round((t1 - from) / 1000, 3));
                }
              } catch (err) {
                if ((err as Error).message.includes('timed out')) r.timeouts++;
                else r.errors++;
              }
            }
          }),
        );
        clearTimeout(cpuFrom);
        clearTimeout(cpuTo);
        readCpu();
        await send(r);
      })();
    } else if (m?.drop) {
      for (const s of sockets.splice(0)) s.disconnect();
      void send({ dropped: true });
    } else if (m?.close) {
      for (const s of sockets) s.disconnect();
      setTimeout(() => process.exit(0), 200);
    }
  });
  await send({ ready: true });
}

// ---- orchestration -------------------------------------------------------------------------------

async function startServer(): Promise<{ proc: ChildProcess; answerBytes: number }> {
  const proc = forkRole(__filename, 'server', {}, ['--expose-gc']);
  const m = await nextMessage<{ answerBytes: number }>(proc, (x) => x?.listening === true, 30_000);
  return { proc, answerBytes: m.answerBytes };
}

async function startClients(n: number): Promise<ChildProcess[]> {
  const procs = Array.from({ length: Math.max(1, Math.min(n, LOAD_PROCS)) }, () => forkRole(__filename, 'client', {}));
  await Promise.all(procs.map((p) => nextMessage(p, (m) => m?.ready === true, 30_000)));
  return procs;
}

async function connectMore(procs: readonly ChildProcess[], n: number): Promise<void> {
  const parts = shares(n, procs.length);
  await Promise.all(
    procs.map((p, i) => {
      const answer = nextMessage(p, (m) => typeof m?.connected === 'number', 300_000);
      p.send({ connect: parts[i] });
      return answer;
    }),
  );
}

async function serverMem(proc: ChildProcess): Promise<Mem> {
  const answer = nextMessage<Mem>(proc, (m) => m?.memResult === true, 30_000);
  proc.send({ mem: true });
  return answer;
}

async function closeClients(procs: readonly ChildProcess[]): Promise<void> {
  for (const p of procs) if (p.connected) p.send({ close: true });
  await sleep(500);
  await reap(procs);
}

const kib = (bytes: number) => bytes / 1024;

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.x - mx) ** 2, 0);
  return den === 0 ? Number.NaN : num / den;
}

async function idlePhase(): Promise<{ metrics: Record<string, number>; series: Record<string, Series> }> {
  const srv = await startServer();
  let procs: ChildProcess[] = [];
  try {
    procs = await startClients(IDLE_CONNECTIONS);
    // A first batch connects and leaves before the empty sample: module loading, JIT and the
    // allocator's first pools then count as the empty server's, not as the connections'.
    // Kept small: memory freed by these stays in the RSS and is reused by the first measured ones.
    await connectMore(procs, Math.min(50, Math.round(IDLE_CONNECTIONS / IDLE_STEPS)));
    await Promise.all(
      procs.map((p) => {
        const answer = nextMessage(p, (m) => m?.dropped === true, 30_000);
        p.send({ drop: true });
        return answer;
      }),
    );
    await sleep(1000);
    let empty = await serverMem(srv.proc);
    for (let i = 0; i < 50 && empty.connections > 0; i++) {
      await sleep(100);
      empty = await serverMem(srv.proc);
    }
    const mems: Mem[] = [empty];
    let connected = 0;
    for (let step = 1; step <= IDLE_STEPS; step++) {
      const target = Math.round((IDLE_CONNECTIONS * step) / IDLE_STEPS);
      await connectMore(procs, target - connected);
      connected = target;
      await sleep(1000); // handshake buffers settle before the sample
      mems.push(await serverMem(srv.proc));
    }
    const first = mems[0];
    const last = mems[mems.length - 1];
    const heap = (m: Mem) => m.heapUsed + m.external;
    const rssPts = mems.map((m) => ({ x: m.connections, y: round(kib(m.rss) / 1024, 2) }));
    const heapPts = mems.map((m) => ({ x: m.connections, y: round(kib(heap(m)) / 1024, 2) }));
    return {
      metrics: {
        idle_connections: last.connections,
        idle_rss_kib_per_connection: round(kib(last.rss - first.rss) / Math.max(1, last.connections), 2),
        idle_heap_kib_per_connection: round(kib(heap(last) - heap(first)) / Math.max(1, last.connections), 2),
        idle_rss_slope_kib_per_connection: round(slope(mems.slice(1).map((m) => ({ x: m.connections, y: kib(m.rss) }))), 2),
        idle_server_rss_mib_empty: round(kib(first.rss) / 1024, 1),
        idle_server_rss_mib_full: round(kib(last.rss) / 1024, 1),
      },
      series: {
        idle_rss: { label: 'bare Socket.IO server RSS vs idle connections', xLabel: 'connections', yLabel: 'MiB', points: rssPts },
        idle_heap: { label: 'bare Socket.IO server heap + external vs idle connections', xLabel: 'connections', yLabel: 'MiB', points: heapPts },
      },
    };
  } finally {
    await closeClients(procs);
    await reap([srv.proc]);
  }
}

type CallPhase = 'ceiling' | 'paced';

/** Clients call request_next_task (closed loop, or every `intervalMs`) against a fresh server. */
async function callPhase(
  phase: CallPhase,
  intervalMs: number,
): Promise<{ metrics: Record<string, number>; series: Record<string, Series>; answerBytes: number; notes: string[] }> {
  const srv = await startServer();
  let procs: ChildProcess[] = [];
  try {
    procs = await startClients(AGENTS);
    await connectMore(procs, AGENTS);
    const startAt = nowMs() + 500;
    const from = startAt + WARMUP_S * 1000;
    const to = from + DURATION_S * 1000;
    const serverResult = nextMessage<ServerWindowResult>(srv.proc, (m) => m?.windowResult === true);
    const clientResults = procs.map((p) => nextMessage<ClientResult>(p, (m) => m?.clientResult === true));
    srv.proc.send({ window: true, from, to } satisfies Window);
    for (const p of procs) p.send({ go: true, startAt, from, to, intervalMs });
    await sleep(Math.max(0, from - nowMs()));
    const cpu = machineCpu();
    await sleep(Math.max(0, to - nowMs()));
    const machinePct = cpu.stop();
    const results = await Promise.all(clientResults);
    const s = await serverResult;

    const lat = results.flatMap((r) => r.lat);
    const at = results.flatMap((r) => r.at);
    const perSec = Array.from({ length: Math.max(1, Math.ceil(DURATION_S)) }, () => [] as number[]);
    at.forEach((t, i) => perSec[Math.min(perSec.length - 1, Math.floor(t))].push(lat[i]));
    const loadCpuPct = (100 * results.reduce((sum, r) => sum + r.cpuMs, 0)) / (DURATION_S * 1000);
    // The headline names: acks_per_s from the ceiling, ack_p*_ms from the paced phase.
    const p = phase === 'ceiling' ? 'ceiling_' : 'ack_';
    const q = `${phase}_`;
    const metrics: Record<string, number> = {
      [phase === 'ceiling' ? 'acks_per_s' : 'paced_acks_per_s']: round(lat.length / DURATION_S, 1),
      [`${p}p50_ms`]: round(percentile(lat, 50)),
      [`${p}p95_ms`]: round(percentile(lat, 95)),
      [`${p}p99_ms`]: round(percentile(lat, 99)),
      [`${p}max_ms`]: round(lat.length ? lat.reduce((a, b) => (b > a ? b : a), -Infinity) : Number.NaN),
      [`${q}timeouts`]: results.reduce((sum, r) => sum + r.timeouts, 0),
      [`${q}errors`]: results.reduce((sum, r) => sum + r.errors, 0),
      [`${q}server_cpu_pct_of_one_core`]: round(s.cpuPct, 1),
      [`${q}server_event_loop_delay_p99_ms`]: round(s.eldP99Ms),
      [`${q}load_procs_cpu_pct_of_one_core`]: round(loadCpuPct, 1),
      [`${q}machine_cpu_pct`]: round(machinePct, 1),
    };
    const pts = (pc: number) => perSec.flatMap((b, i) => (b.length ? [{ x: i + 1, y: round(percentile(b, pc)) }] : []));
    const what = phase === 'ceiling' ? 'closed loop' : `a call every ${intervalMs} ms per client`;
    const series: Record<string, Series> = {
      [`${q}acks_per_s`]: { label: `bare Socket.IO acks per second (${what})`, xLabel: 's', yLabel: 'acks/s', points: perSec.map((b, i) => ({ x: i + 1, y: b.length })) },
      [`${q}latency_p50`]: { label: `bare Socket.IO ack latency p50 (${what})`, xLabel: 's', yLabel: 'ms', points: pts(50) },
      [`${q}latency_p99`]: { label: `bare Socket.IO ack latency p99 (${what})`, xLabel: 's', yLabel: 'ms', points: pts(99) },
    };
    const notes = [
      `${phase} (${what}): server ${round(s.cpuPct, 0)} % of one core, load processes ${round(loadCpuPct, 0)} % of one core, machine ${round(machinePct, 0)} % of ${machine().cores} cores` +
        (phase === 'ceiling'
          ? s.cpuPct >= 90
            ? ': the server (one event loop) is the limit.'
            : ': the server had CPU to spare; the load processes, sharing the same cores, limit the figure.'
          : '.'),
    ];
    return { metrics, series, answerBytes: srv.answerBytes, notes };
  } finally {
    await closeClients(procs);
    await reap([srv.proc]);
  }
}

async function main(): Promise<void> {
  const startedAt = new Date();
  const t0 = Date.now();
  const idle = IDLE_CONNECTIONS > 0 ? await idlePhase() : { metrics: {}, series: {} };
  const ceiling = await callPhase('ceiling', 0);
  const paced = await callPhase('paced', WORK_MS);
  const r: BenchResult = {
    name: 'baseline-socketio',
    title: `bare Socket.IO request/ack with pm-agent's answer (${ceiling.answerBytes} B), ${AGENTS} clients: closed loop and one call per ${WORK_MS} ms; memory of ${IDLE_CONNECTIONS} idle connections`,
    startedAt: startedAt.toISOString(),
    durationMs: Date.now() - t0,
    machine: machine(),
    versions: versions(),
    params: {
      agents: AGENTS,
      duration_s: DURATION_S,
      warmup_s: WARMUP_S,
      work_ms: WORK_MS,
      load_procs: Math.min(AGENTS, LOAD_PROCS),
      idle_connections: IDLE_CONNECTIONS,
      answer_bytes: ceiling.answerBytes,
      transport: 'websocket',
      namespace: '/agents',
    },
    metrics: { ...ceiling.metrics, ...paced.metrics, ...idle.metrics },
    series: { ...ceiling.series, ...paced.series, ...idle.series },
    notes: [
      'Server: Socket.IO with pm-agent\'s options (maxHttpBufferSize 1 MiB, ping 20 s), two rooms per socket, in-memory adapter (no Redis), no auth, no database: the ack is sent at once.',
      ...ceiling.notes,
      ...paced.notes,
      'Idle memory: server process after two GCs; per connection = (full - empty) / connections, the empty sample taken after a first batch of connections came and went; the slope is fitted over the steps with connections.',
    ],
  };
  report(r);
}

const role = process.env.BENCH_ROLE ?? 'main';
// A load or server process goes with its parent: no strays when the benchmark is stopped.
if (role !== 'main') process.on('disconnect', () => process.exit(0));
const run = role === 'server' ? server() : role === 'client' ? clients() : main().then(() => process.exit(0));
run.catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
