// A userspace TCP proxy that holds every chunk for a fixed delay plus jitter, in both directions,
// without ever reordering bytes: `tc netem` is not available on this machine, so the replicas of
// the latency chaos case reach Postgres and the Redis Cluster through these proxies instead.
//
// A Redis Cluster tells its clients where its nodes are (CLUSTER SLOTS, MOVED/ASK redirections):
// those answers name the real ports, and a client following them would leave the proxies. The
// proxy can therefore rewrite byte patterns of equal length in the server → client stream
// (`redisClusterRewrites`), so that every address the cluster announces is the proxy's.
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface Rewrite {
  from: string;
  to: string;
}

export interface ProxyOptions {
  /** Port to listen on (0 = any free port). */
  listenPort: number;
  listenHost?: string;
  targetHost: string;
  targetPort: number;
  /** Added to every chunk, each way. */
  delayMs?: number;
  /** Uniform extra delay in [0, jitterMs) per chunk (order is kept: a chunk never overtakes the previous one). */
  jitterMs?: number;
  /** Same-length replacements applied to what the target sends. */
  rewrite?: readonly Rewrite[];
  name?: string;
}

export interface ProxyStats {
  connections: number;
  open: number;
  chunksUp: number;
  chunksDown: number;
  bytesUp: number;
  bytesDown: number;
  rewrites: number;
}

// Above this many bytes waiting in one direction the source is paused (backpressure).
const HIGH_WATER = 4 * 1024 * 1024;
// A chunk ending with the start of a rewrite pattern is held this long for the rest of it.
const HOLD_MS = 2;

/** Replaces same-length byte patterns in a stream, holding back a tail that may be a pattern cut in two. */
class StreamRewriter {
  private held: Buffer = Buffer.alloc(0);
  count = 0;
  private readonly pairs: { from: Buffer; to: Buffer }[];

  constructor(rewrites: readonly Rewrite[]) {
    this.pairs = rewrites.map((r) => {
      const from = Buffer.from(r.from, 'latin1');
      const to = Buffer.from(r.to, 'latin1');
      // Bulk strings carry their length: a longer or shorter replacement would corrupt the protocol.
      if (from.length !== to.length || from.length === 0) throw new Error(`rewrite ${JSON.stringify(r)}: both sides must have the same non-zero length`);
      return { from, to };
    });
  }

  /** Returns the bytes that may go out now; the rest waits for the next chunk or `flush()`. */
  push(chunk: Buffer): Buffer {
    const buf = this.held.length > 0 ? Buffer.concat([this.held, chunk]) : Buffer.from(chunk);
    for (const { from, to } of this.pairs) {
      for (let i = buf.indexOf(from); i >= 0; i = buf.indexOf(from, i + from.length)) {
        to.copy(buf, i);
        this.count++;
      }
    }
    const hold = this.partialTail(buf);
    this.held = hold > 0 ? Buffer.from(buf.subarray(buf.length - hold)) : Buffer.alloc(0);
    return buf.subarray(0, buf.length - hold);
  }

  flush(): Buffer {
    const out = this.held;
    this.held = Buffer.alloc(0);
    return out;
  }

  get holding(): boolean {
    return this.held.length > 0;
  }

  /** Length of the longest suffix of buf that is a proper prefix of some pattern. */
  private partialTail(buf: Buffer): number {
    let best = 0;
    for (const { from } of this.pairs) {
      for (let n = Math.min(from.length - 1, buf.length); n > best; n--) {
        if (buf.compare(from, 0, n, buf.length - n, buf.length) === 0) {
          best = n;
          break;
        }
      }
    }
    return best;
  }
}

/** One direction of a proxied connection: a FIFO of chunks, each released at its due time. */
class DelayedPipe {
  private readonly queue: { at: number; chunk: Buffer }[] = [];
  private queuedBytes = 0;
  private lastAt = 0;
  private timer?: NodeJS.Timeout;
  private holdTimer?: NodeJS.Timeout;
  private ended = false;
  private paused = false;
  private waitingDrain = false;

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly proxy: LatencyProxy,
    private readonly onChunk: (bytes: number) => void,
    private readonly rewriter?: StreamRewriter,
  ) {
    src.on('data', (chunk: Buffer) => this.onData(chunk));
    // A half-close is passed on once the bytes before it have gone out.
    src.on('end', () => {
      this.flushHeld();
      this.ended = true;
      this.pump();
    });
  }

  private onData(chunk: Buffer): void {
    this.onChunk(chunk.length);
    if (this.holdTimer) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
    const out = this.rewriter ? this.rewriter.push(chunk) : chunk;
    if (out.length > 0) this.enqueue(out);
    if (this.rewriter?.holding) this.holdTimer = setTimeout(() => this.flushHeld(), HOLD_MS);
  }

  private flushHeld(): void {
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.holdTimer = undefined;
    const rest = this.rewriter?.flush();
    if (rest && rest.length > 0) this.enqueue(rest);
  }

  private enqueue(chunk: Buffer): void {
    const now = Date.now();
    const { delayMs, jitterMs } = this.proxy;
    if (delayMs <= 0 && jitterMs <= 0 && this.queue.length === 0) {
      // No delay asked: straight through (the baseline of a latency run pays only the extra hop).
      this.write(chunk);
      return;
    }
    // Never earlier than the chunk before: TCP order is kept even with jitter.
    const at = Math.max(now + delayMs + Math.random() * jitterMs, this.lastAt);
    this.lastAt = at;
    this.queue.push({ at, chunk });
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > HIGH_WATER) this.pause();
    this.pump();
  }

  private write(chunk: Buffer): void {
    if (this.dst.destroyed) return;
    if (!this.dst.write(chunk) && !this.waitingDrain) {
      this.waitingDrain = true;
      this.pause();
      this.dst.once('drain', () => {
        this.waitingDrain = false;
        this.maybeResume();
      });
    }
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.src.pause();
  }

  private maybeResume(): void {
    if (!this.paused || this.waitingDrain || this.queuedBytes > HIGH_WATER) return;
    this.paused = false;
    if (!this.src.destroyed) this.src.resume();
  }

  private pump(): void {
    if (this.timer) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0].at <= now) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.write(chunk);
    }
    this.maybeResume();
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(0, this.queue[0].at - now));
    } else if (this.ended && !this.dst.destroyed) {
      this.dst.end();
    }
  }

  destroy(): void {
    if (this.timer) clearTimeout(this.timer);
    if (this.holdTimer) clearTimeout(this.holdTimer);
    this.queue.length = 0;
  }
}

export class LatencyProxy {
  delayMs: number;
  jitterMs: number;
  readonly name: string;
  readonly stats: ProxyStats = { connections: 0, open: 0, chunksUp: 0, chunksDown: 0, bytesUp: 0, bytesDown: 0, rewrites: 0 };
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly rewriters: StreamRewriter[] = [];
  port = 0;

  constructor(private readonly opts: ProxyOptions) {
    this.delayMs = opts.delayMs ?? 0;
    this.jitterMs = opts.jitterMs ?? 0;
    this.name = opts.name ?? `${opts.targetHost}:${opts.targetPort}`;
    // Fail at construction on a bad rewrite, not on the first connection.
    if (opts.rewrite) new StreamRewriter(opts.rewrite);
  }

  /** Listens; resolves with the port. */
  start(): Promise<number> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.opts.listenPort, this.opts.listenHost ?? '127.0.0.1', () => {
        server.off('error', reject);
        const addr = server.address();
        this.port = typeof addr === 'object' && addr ? addr.port : this.opts.listenPort;
        resolve(this.port);
      });
    });
  }

  /** Changes the delay of every chunk from now on (connections already open included). */
  setDelay(delayMs: number, jitterMs = 0): void {
    this.delayMs = delayMs;
    this.jitterMs = jitterMs;
  }

  /** Rewrites applied so far (Redis addresses turned into the proxies'). */
  get rewrites(): number {
    return this.rewriters.reduce((s, r) => s + r.count, 0);
  }

  private accept(client: Socket): void {
    this.stats.connections++;
    this.stats.open++;
    client.setNoDelay(true);
    const upstream = connect({ host: this.opts.targetHost, port: this.opts.targetPort });
    upstream.setNoDelay(true);
    this.sockets.add(client);
    this.sockets.add(upstream);
    const rewriter = this.opts.rewrite ? new StreamRewriter(this.opts.rewrite) : undefined;
    if (rewriter) this.rewriters.push(rewriter);
    const up = new DelayedPipe(client, upstream, this, (n) => {
      this.stats.chunksUp++;
      this.stats.bytesUp += n;
    });
    const down = new DelayedPipe(
      upstream,
      client,
      this,
      (n) => {
        this.stats.chunksDown++;
        this.stats.bytesDown += n;
      },
      rewriter,
    );
    let closed = 0;
    let cleaned = false;
    const cleanup = () => {
      if (cleaned) return;
      cleaned = true;
      this.stats.open--;
      up.destroy();
      down.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
      if (rewriter) {
        this.stats.rewrites += rewriter.count;
        this.rewriters.splice(this.rewriters.indexOf(rewriter), 1);
      }
    };
    // An error on either side (a reset, a killed server) ends both at once; an orderly close of
    // one side reaches the other through its pipe, after the bytes still delayed.
    for (const s of [client, upstream]) {
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => {
        if (++closed === 2) cleanup();
      });
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/**
 * Rewrites that make a Redis Cluster announce the proxies: `host:port` (MOVED, ASK, CLUSTER
 * NODES) and the host followed by the port as an integer reply (CLUSTER SLOTS). Real and proxy
 * ports must have the same number of digits.
 */
export function redisClusterRewrites(host: string, portMap: Readonly<Record<number, number>>): Rewrite[] {
  return Object.entries(portMap).flatMap(([real, proxy]) => {
    if (String(real).length !== String(proxy).length) throw new Error(`proxy port ${proxy} for ${real}: same number of digits needed`);
    return [
      { from: `${host}:${real}`, to: `${host}:${proxy}` },
      { from: `${host}\r\n:${real}\r\n`, to: `${host}\r\n:${proxy}\r\n` },
    ];
  });
}

/** A set of proxies whose delay changes together. */
export class ProxySet {
  constructor(readonly proxies: readonly LatencyProxy[]) {}

  static async start(opts: readonly ProxyOptions[]): Promise<ProxySet> {
    const set = new ProxySet(opts.map((o) => new LatencyProxy(o)));
    try {
      await Promise.all(set.proxies.map((p) => p.start()));
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  setDelay(delayMs: number, jitterMs = 0): void {
    for (const p of this.proxies) p.setDelay(delayMs, jitterMs);
  }

  totals(): ProxyStats {
    const t: ProxyStats = { connections: 0, open: 0, chunksUp: 0, chunksDown: 0, bytesUp: 0, bytesDown: 0, rewrites: 0 };
    for (const p of this.proxies) {
      for (const k of Object.keys(t) as (keyof ProxyStats)[]) t[k] += p.stats[k];
      t.rewrites += p.rewrites;
    }
    return t;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.proxies.map((p) => p.close()));
  }
}
