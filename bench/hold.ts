// hold: ramp to N connected, registered agents over K real replicas, hold them idle (Engine.IO
// heartbeats plus an app-level `ping` tool call every BENCH_PING_S, like an idle agent), and
// measure what the connections cost: replica RSS and heap before and after (/metrics of the
// management port), KiB per connection, connect and register times, failures and drops.
//
//   npx tsx bench/hold.ts                      (npm run build first: replicas run dist/main.js)
//
//   BENCH_AGENTS=10000       agents to connect
//   BENCH_REPLICAS=3         replicas (ports BENCH_BASE_PORT.., default 3501; management +1000)
//   BENCH_HOLD_S=30          seconds to hold them all after the ramp
//   BENCH_RAMP_PER_S=500     connections opened per second over the whole fleet
//   BENCH_PING_S=20          seconds between an agent's `ping` calls while idle
//   BENCH_WORKERS=ceil(N/3500)  load processes (a process holds at most ~19,900 sockets)
//   BENCH_SETTLE_S=10        idle seconds sampled for the "before" memory reading
import { Load, summarize } from './lib/load';
import { cpuBetween, cpuSnapshot, env, ForeignWatch, gcReplicas, MEM, MetricsSampler, scrape, seedProject, sleep, startBenchFleet, type Fleet } from './lib/fleet';
import { machine, percentile, report, round, versions, type BenchResult, type Series } from './lib/result';

const AGENTS = env.int('BENCH_AGENTS', 10_000);
const REPLICAS = env.int('BENCH_REPLICAS', 3);
const HOLD_S = env.int('BENCH_HOLD_S', 30);
const RAMP_PER_S = env.int('BENCH_RAMP_PER_S', 500);
const PING_S = env.int('BENCH_PING_S', 20);
const WORKERS = env.int('BENCH_WORKERS', Math.ceil(AGENTS / 3500));
const SETTLE_S = env.int('BENCH_SETTLE_S', 10);

const MiB = 2 ** 20;

async function main(): Promise<void> {
  const startedAt = new Date();
  const watch = new ForeignWatch().start();
  let fleet: Fleet | undefined;
  let load: Load | undefined;
  try {
    fleet = await startBenchFleet({ replicas: REPLICAS, gcOnSignal: true });
    const { apiKey } = await seedProject(fleet, 0, 'hold');
    // Readings of idle, started replicas: what the connections add is measured against these.
    const sampler = new MetricsSampler(fleet.replicas, 1000).start();
    const settleStart = Date.now();
    await sleep(SETTLE_S * 1000);
    const settleEnd = Date.now();
    // And once more right after a full collection: the live set, read like the bare Socket.IO baseline's.
    await gcReplicas(fleet.replicas);
    const gcBefore = await Promise.all(fleet.replicas.map((r) => scrape(r)));

    load = await Load.start({
      urls: fleet.urls,
      apiKey,
      agents: AGENTS,
      behaviour: 'idle',
      workers: WORKERS,
      connectPerSecond: RAMP_PER_S,
      pingMs: PING_S * 1000,
      callTimeoutMs: 20_000,
    });
    const tokensMs = await load.authenticate();
    const rampCpu0 = cpuSnapshot({ replicas: fleet.replicas.map((r) => r.proc.pid!), workers: load.workerPids });
    const ramp = await load.connect();
    const rampCpu1 = cpuSnapshot({ replicas: fleet.replicas.map((r) => r.proc.pid!), workers: load.workerPids });
    const rampStart = ramp.rampStartedAt;
    const rampEnd = ramp.rampEndedAt;
    const afterRamp = load.gauges();

    load.begin();
    const cpu0 = cpuSnapshot({ replicas: fleet.replicas.map((r) => r.proc.pid!), workers: load.workerPids });
    const holdStart = Date.now();
    let minConnected = afterRamp.connected;
    while (Date.now() - holdStart < HOLD_S * 1000) {
      await sleep(1000);
      minConnected = Math.min(minConnected, load.gauges().connected);
    }
    const holdEnd = Date.now();
    const cpu1 = cpuSnapshot({ replicas: fleet.replicas.map((r) => r.proc.pid!), workers: load.workerPids });
    const end = await Promise.all(fleet.replicas.map((r) => scrape(r)));
    await gcReplicas(fleet.replicas);
    const gcAfter = await Promise.all(fleet.replicas.map((r) => scrape(r)));
    const atEnd = load.gauges();
    await sampler.stop();
    await load.stop(false);

    // ---- figures ----
    // One reading goes up and down with the garbage collector: RSS is the median of the per-second
    // samples of a phase, heap the lowest (the live set right after a collection).
    const phase = (from: number, to: number) => sampler.samples.filter((x) => x.at >= from && x.at <= to);
    const reading = (samples: ReturnType<typeof phase>, i: number): Record<string, number> => {
      const vals = (name: string) => samples.flatMap((x) => (x.replicas[i] ? [x.replicas[i][name]] : []));
      return { [MEM.rss]: percentile(vals(MEM.rss), 50), [MEM.heap]: Math.min(...vals(MEM.heap)) };
    };
    const before = fleet.replicas.map((_, i) => reading(phase(settleStart, settleEnd), i));
    const after = fleet.replicas.map((_, i) => reading(phase(holdStart, holdEnd), i));
    const conns = end.map((m) => m[MEM.conns]);
    const totalConns = conns.reduce((a, b) => a + b, 0);
    const delta = (name: string) => after.map((m, i) => m[name] - before[i][name]);
    const rssDelta = delta(MEM.rss);
    const heapDelta = delta(MEM.heap);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const { connect, register } = load.connectLatencies();
    const c = summarize(connect);
    const reg = summarize(register);
    const ping = summarize(load.latencies('ping', holdStart, holdEnd + 1500));
    const errors = load.errors();
    const lag = sampler.maxOf(MEM.lagP99, holdStart, holdEnd);

    const metrics: Record<string, number> = {
      agents_target: AGENTS,
      agents_connected_after_ramp: afterRamp.connected,
      agents_registered_after_ramp: afterRamp.registered,
      agents_connected_at_end: atEnd.connected,
      connect_failures: ramp.failed,
      drops_during_hold: Math.max(0, afterRamp.connected - minConnected),
      tokens_s: round(tokensMs / 1000, 1),
      ramp_s: round((rampEnd - rampStart) / 1000, 1),
      ramp_connections_per_s: round(ramp.ok / ((rampEnd - rampStart) / 1000), 1),
      connect_p50_ms: c.p50,
      connect_p95_ms: c.p95,
      connect_p99_ms: c.p99,
      connect_max_ms: c.max,
      register_p50_ms: reg.p50,
      register_p99_ms: reg.p99,
      ping_calls: ping.n,
      ping_p50_ms: ping.p50,
      ping_p99_ms: ping.p99,
      call_errors: sum(Object.entries(errors).filter(([k]) => k !== 'connect_failed').map(([, v]) => v)),
      replica_connections_total: totalConns,
      // Headline: after a full collection on both sides (what the connections keep alive).
      kib_per_connection: round(sum(gcAfter.map((m, i) => m[MEM.rss] - gcBefore[i][MEM.rss])) / 1024 / Math.max(1, totalConns), 1),
      heap_kib_per_connection: round(sum(gcAfter.map((m, i) => m[MEM.heap] - gcBefore[i][MEM.heap])) / 1024 / Math.max(1, totalConns), 1),
      // Sampled while running (garbage not yet collected included).
      kib_per_connection_sampled: round(sum(rssDelta) / 1024 / Math.max(1, totalConns), 1),
      heap_kib_per_connection_sampled: round(sum(heapDelta) / 1024 / Math.max(1, totalConns), 1),
      replica_rss_total_mib_before: round(sum(before.map((m) => m[MEM.rss])) / MiB, 1),
      replica_rss_total_mib_after: round(sum(after.map((m) => m[MEM.rss])) / MiB, 1),
      event_loop_lag_p99_max_ms: round(Math.max(...lag.filter((x) => !Number.isNaN(x))) * 1000, 1),
      load_worker_rss_mib: round(atEnd.workerRssBytes / MiB, 1),
    };
    fleet.replicas.forEach((_, i) => {
      metrics[`r${i + 1}_connections`] = conns[i];
      metrics[`r${i + 1}_rss_mib_before`] = round(before[i][MEM.rss] / MiB, 1);
      metrics[`r${i + 1}_rss_mib_after`] = round(after[i][MEM.rss] / MiB, 1);
      metrics[`r${i + 1}_heap_mib_before`] = round(before[i][MEM.heap] / MiB, 1);
      metrics[`r${i + 1}_heap_mib_after`] = round(after[i][MEM.heap] / MiB, 1);
      metrics[`r${i + 1}_kib_per_connection`] = round((gcAfter[i][MEM.rss] - gcBefore[i][MEM.rss]) / 1024 / Math.max(1, conns[i]), 1);
      metrics[`r${i + 1}_kib_per_connection_sampled`] = round(rssDelta[i] / 1024 / Math.max(1, conns[i]), 1);
    });
    for (const [k, v] of Object.entries(cpuBetween(rampCpu0, rampCpu1))) metrics[`ramp_cpu_${k}`] = v;
    for (const [k, v] of Object.entries(cpuBetween(cpu0, cpu1))) metrics[`hold_cpu_${k}`] = v;

    // Memory against connections while the ramp ran (one point per scrape).
    const ramping = sampler.samples.filter((s) => s.at >= rampStart - 1000 && s.at <= rampEnd + 3000 && s.replicas.every(Boolean));
    const point = (s: (typeof ramping)[number], name: string) => sum(s.replicas.map((m) => m![name]));
    const series: Record<string, Series> = {
      rss_vs_connections: {
        label: 'Replica RSS (sum over replicas) vs connected agents, during the ramp',
        xLabel: 'connections',
        yLabel: 'RSS MiB',
        points: ramping.map((s) => ({ x: point(s, MEM.conns), y: round(point(s, MEM.rss) / MiB, 1) })),
      },
      heap_vs_connections: {
        label: 'Replica heap used (sum) vs connected agents, during the ramp',
        xLabel: 'connections',
        yLabel: 'heap MiB',
        points: ramping.map((s) => ({ x: point(s, MEM.conns), y: round(point(s, MEM.heap) / MiB, 1) })),
      },
    };

    const held = atEnd.connected >= AGENTS && metrics.drops_during_hold === 0 && ramp.failed === 0;
    const others = watch.stop();
    const result: BenchResult = {
      name: 'hold',
      title: `${AGENTS.toLocaleString('en')} idle agents held over ${REPLICAS} replicas for ${HOLD_S} s`,
      startedAt: startedAt.toISOString(),
      durationMs: Date.now() - startedAt.getTime(),
      machine: machine(),
      versions: versions(['@socket.io/redis-adapter']),
      params: { agents: AGENTS, replicas: REPLICAS, hold_s: HOLD_S, ramp_per_s: RAMP_PER_S, ping_s: PING_S, load_workers: WORKERS },
      metrics,
      series,
      checks: [
        { name: 'the machine to ourselves (no other benchmark, test or replica seen)', ok: others.length === 0, detail: `${others.length} other program(s)` },
        { name: 'every agent connected and registered', ok: afterRamp.registered === AGENTS, detail: `${afterRamp.registered}/${AGENTS}` },
        { name: 'no agent dropped during the hold', ok: held, detail: `min connected ${minConnected}, at end ${atEnd.connected}` },
        { name: 'idle connection < 30 KiB of replica RSS', ok: metrics.kib_per_connection < 30, detail: `${metrics.kib_per_connection} KiB` },
      ],
      notes: [
        'memory per connection = (RSS after the hold - RSS of the idle replicas before the ramp) / connections, summed over replicas, each reading taken right after a full garbage collection (SIGUSR2 to a bench-only preload that calls gc() twice), as the bare Socket.IO baseline reads its own',
        `while running, without forcing a collection: ${metrics.kib_per_connection_sampled} KiB RSS and ${metrics.heap_kib_per_connection_sampled} KiB heap per connection (RSS: median of per-second samples; heap: lowest sample)`,
        `RSS at the last scrape: ${end.map((m) => round(m[MEM.rss] / MiB, 1)).join(' / ')} MiB`,
        `errors: ${JSON.stringify(errors)}`,
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
