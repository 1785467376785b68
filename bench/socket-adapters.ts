// Measures cross-replica push delivery over the Redis Cluster for the two adapters that work on
// a cluster: the sharded pub/sub adapter (what pm-agent uses) and the Redis Streams adapter.
// Two Socket.IO servers in this process; clients on server B; server A emits to each client's
// room. Prints latency percentiles and throughput as JSON plus a summary line.
//
//   npx tsx bench/socket-adapters.ts   (or: npx vite-node bench/socket-adapters.ts)
//   BENCH_CLIENTS=200 BENCH_ROUNDS=20 REDIS_CLUSTER_NODES=127.0.0.1:7000,...
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createShardedAdapter } from '@socket.io/redis-adapter';
import { createAdapter as createStreamsAdapter } from '@socket.io/redis-streams-adapter';
import { Cluster } from 'ioredis';
import { Server } from 'socket.io';
import { io as connect, type Socket } from 'socket.io-client';

const nodes = (process.env.REDIS_CLUSTER_NODES ?? '127.0.0.1:7000,127.0.0.1:7001,127.0.0.1:7002').split(',').map((hp) => {
  const [host, port] = hp.split(':');
  return { host, port: Number(port) };
});
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 20);

type Kind = 'sharded' | 'streams';

async function server(kind: Kind, stream: string): Promise<{ io: Server; port: number; close: () => Promise<void> }> {
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'] });
  const conns: Cluster[] = [];
  if (kind === 'sharded') {
    const pub = new Cluster(nodes);
    const sub = new Cluster(nodes, { shardedSubscribers: true });
    conns.push(pub, sub);
    io.adapter(createShardedAdapter(pub, sub, { subscriptionMode: 'static' }));
  } else {
    const c = new Cluster(nodes);
    conns.push(c);
    io.adapter(createStreamsAdapter(c, { streamName: stream }));
  }
  io.on('connection', (s) => void s.join(`agent:${String(s.handshake.auth.id)}`));
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  return {
    io,
    port: (http.address() as AddressInfo).port,
    close: async () => {
      await io.close();
      await Promise.all(conns.map((c) => c.quit()));
    },
  };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

async function run(kind: Kind) {
  const stream = `pm-agent-bench-${Date.now()}`; // both servers must read the same stream
  const a = await server(kind, stream);
  const b = await server(kind, stream);
  const clients: Socket[] = [];
  for (let i = 0; i < CLIENTS; i++) {
    const c = connect(`http://127.0.0.1:${b.port}`, { auth: { id: i }, transports: ['websocket'], forceNew: true });
    await new Promise<void>((r) => c.once('connect', () => r()));
    clients.push(c);
  }
  await new Promise((r) => setTimeout(r, 500)); // let subscriptions settle
  const latencies: number[] = [];
  const t0 = Date.now();
  for (let round = 0; round < ROUNDS; round++) {
    const got = clients.map(
      (c) => new Promise<void>((resolve) => c.once('ping_push', (sent: number) => (latencies.push(performance.now() - sent), resolve()))),
    );
    for (let i = 0; i < CLIENTS; i++) a.io.to(`agent:${i}`).emit('ping_push', performance.now());
    await Promise.race([Promise.all(got), new Promise((r) => setTimeout(r, 10_000))]);
    if (process.env.BENCH_DEBUG) console.error(kind, 'round', round, 'delivered so far', latencies.length);
  }
  const seconds = (Date.now() - t0) / 1000;
  for (const c of clients) c.disconnect();
  await a.close();
  await b.close();
  const expected = CLIENTS * ROUNDS;
  return {
    adapter: kind,
    delivered: latencies.length,
    expected,
    lost: expected - latencies.length,
    pushes_per_s: Math.round(latencies.length / seconds),
    p50_ms: latencies.length ? +pct(latencies, 50).toFixed(2) : null,
    p95_ms: latencies.length ? +pct(latencies, 95).toFixed(2) : null,
    p99_ms: latencies.length ? +pct(latencies, 99).toFixed(2) : null,
  };
}

async function main() {
  const results = [await run('sharded'), await run('streams')];
  console.log(JSON.stringify({ clients: CLIENTS, rounds: ROUNDS, results }, null, 2));
  for (const r of results) {
    console.log(`${r.adapter.padEnd(8)} delivered ${r.delivered}/${r.expected}  ${r.pushes_per_s} pushes/s  p50 ${r.p50_ms} ms  p95 ${r.p95_ms} ms  p99 ${r.p99_ms} ms`);
  }
  process.exit(0);
}

void main();
