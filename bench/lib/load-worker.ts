// A load process: holds many pm-agent agents (socket.io-client, websocket transport) and drives
// them the way real agents behave, for bench/lib/load.ts. One process can hold ~19,900 sockets
// (open-files limit), so big fleets are spread over several of these.
//
// IPC with the parent (child_process.fork): commands in (`ToWorker`), stats out (`FromWorker`)
// every `statsMs`: latencies as plain arrays of milliseconds per event, counters, interruptions.
// Nothing is logged per call: the worker must stay light next to the replicas it loads.
//
// Behaviours:
//   idle   register, then an app-level `ping` every `pingMs` (Engine.IO heartbeats run underneath)
//   storm  request_next_task, then at once report_task_progress completed; again until stopped
//   work   request_next_task, `progressSteps` in_progress reports `workMs` apart, then completed
// Every agent: one socket; on a disconnect or `server_draining` it moves to the next replica of
// its list, registers again, and is "served again" at its first answered call after that.
// Mutating calls carry a request_id and are retried with it, so a retry acts once.
import { io, type Socket } from 'socket.io-client';

export type Behaviour = 'idle' | 'storm' | 'work';

export interface WorkerSetup {
  worker: number;
  /** Replica base URLs (http://127.0.0.1:port). */
  urls: string[];
  apiKey: string;
  /** This worker's agents and the index in `urls` of the replica each starts on. */
  agents: { id: string; start: number }[];
  behaviour: Behaviour;
  /** Ramp: connections this worker opens per second. */
  connectPerSecond: number;
  /** Ramp: connections (connect + register) in flight at once. */
  connectConcurrency: number;
  callTimeoutMs: number;
  pingMs: number;
  workMs: number;
  progressSteps: number;
  /** Pause after a "no task" answer (cut short by a `tasks_available` push). */
  idleMs: number;
  /** A moving agent waits a random 0..this before reconnecting (no thundering herd). */
  reconnectJitterMs: number;
  /** Send the ids of claimed tasks (correctness checks of the claim storm). */
  trackTasks: boolean;
  statsMs: number;
  skills: string[];
}

export type ToWorker =
  | { type: 'setup'; setup: WorkerSetup }
  | { type: 'auth' }
  | { type: 'connect' }
  | { type: 'start' }
  | { type: 'stop'; finish: boolean }
  | { type: 'close' };

/** An agent lost its replica and was later served again. Times are epoch ms. */
export interface Interruption {
  agent: string;
  from: number;
  to: number;
  reason: string;
  lostAt: number;
  servedAt: number;
}

/** What happened in one stats window of one worker. */
export interface WindowStats {
  worker: number;
  /** Date.now() when the window closed. */
  at: number;
  agents: number;
  connected: number;
  registered: number;
  /** Answered calls: latency in ms, per event (completions under `COMPLETE`). */
  lat: Record<string, number[]>;
  /** Error answers by code, plus `timeout`, `disconnected` (a call cut by a lost socket), `connect_failed`, `socket_lost`. */
  errors: Record<string, number>;
  calls: number;
  claims: number;
  completions: number;
  noTask: number;
  /** Send time of the worker's first request_next_task after `start`. */
  firstRequestAt?: number;
  /** Answer time of the worker's latest successful completion. */
  lastCompletedAt?: number;
  /** Connect (io() to `connect`) and register_agent latencies of the ramp, ms. */
  connect: number[];
  register: number[];
  interruptions: Interruption[];
  anomalies: string[];
  tasks?: string[];
  /** CPU time this worker used in the window, ms. */
  cpuMs: number;
  rssBytes: number;
}

export type FromWorker =
  | { type: 'ready'; worker: number }
  | { type: 'authed'; worker: number; ms: number }
  | { type: 'stats'; stats: WindowStats }
  | { type: 'connected'; worker: number; ok: number; failed: number; tokensMs: number; rampStartedAt: number; rampEndedAt: number }
  | { type: 'stopped'; worker: number; holding: number }
  | { type: 'fatal'; worker: number; message: string };

type Answer = {
  success?: boolean;
  code?: string;
  retry_after_seconds?: number;
  task?: { id: string; lease: { token: string | number } };
  message?: string;
};

/** Answers worth asking again (same request_id): the replica or its database is momentarily short. */
/** Latency key of report_task_progress with status completed (load.ts has the same; it imports only types from here). */
const COMPLETE = 'report_task_progress:completed';

const RETRYABLE = new Set(['INTERNAL', 'UNAVAILABLE', 'RATE_LIMITED']);
/** Attempts of a call that timed out or lost its socket. */
const MAX_ATTEMPTS = 8;
/** How long a call is asked again while the answer is retryable. */
const RETRY_FOR_MS = 300_000;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const ms = (t0: number) => Math.round((performance.now() - t0) * 100) / 100;

let setup: WorkerSetup;
let agents: Agent[] = [];
let stopping = false;
let finishHeld = false;
let closing = false;
let connectedCount = 0;
let registeredCount = 0;
let win = freshWindow();
let cpuMark = process.cpuUsage();

function freshWindow(): Omit<WindowStats, 'worker' | 'at' | 'agents' | 'connected' | 'registered' | 'cpuMs' | 'rssBytes'> {
  return { lat: {}, errors: {}, calls: 0, claims: 0, completions: 0, noTask: 0, connect: [], register: [], interruptions: [], anomalies: [] };
}

function countError(code: string): void {
  win.errors[code] = (win.errors[code] ?? 0) + 1;
}

function anomaly(text: string): void {
  if (win.anomalies.length < 50) win.anomalies.push(text);
  countError('anomaly');
}

function send(msg: FromWorker): void {
  process.send?.(msg);
}

function flush(): void {
  const cpu = process.cpuUsage(cpuMark);
  cpuMark = process.cpuUsage();
  const w = win;
  win = freshWindow();
  // The first request and the last completion are running extremes: keep them across windows.
  win.firstRequestAt = w.firstRequestAt;
  win.lastCompletedAt = w.lastCompletedAt;
  send({
    type: 'stats',
    stats: {
      ...w,
      worker: setup.worker,
      at: Date.now(),
      agents: agents.length,
      connected: connectedCount,
      registered: registeredCount,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      rssBytes: process.memoryUsage.rss(),
    },
  });
}

class CallFailed extends Error {}

class Agent {
  socket?: Socket;
  private token = '';
  private urlIdx: number;
  private seq = 0;
  private held?: { taskId: string; lease: string; step: number };
  private reconnecting?: Promise<Socket>;
  private lost?: { from: number; at: number; reason: string; inFlight: boolean };
  private inFlight = 0;
  private wake?: () => void;
  private loop?: Promise<void>;
  /** The socket this agent is registered on (counted in `registeredCount`). */
  private registeredOn?: Socket;

  constructor(
    readonly id: string,
    start: number,
  ) {
    this.urlIdx = start % setup.urls.length;
  }

  get holding(): boolean {
    return this.held !== undefined;
  }

  async authenticate(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        const r = await fetch(`${setup.urls[this.urlIdx]}/api/v1/agents/auth`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ api_key: setup.apiKey, agent_id: this.id }),
          signal: AbortSignal.timeout(30_000),
        });
        const body = (await r.json()) as { access_token?: string };
        if (r.status !== 200 || !body.access_token) throw new Error(`auth ${r.status}`);
        this.token = body.access_token;
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
        await sleep(200 * attempt);
      }
    }
  }

  /** First connection (the ramp): connect and register, timing both. */
  async join(): Promise<boolean> {
    for (let attempt = 1; attempt <= 3; attempt++) {
      try {
        const t0 = performance.now();
        const socket = await this.open();
        win.connect.push(ms(t0));
        const t1 = performance.now();
        await this.register(socket);
        win.register.push(ms(t1));
        return true;
      } catch {
        countError('connect_failed');
        this.closeSocket();
        await sleep(250 * attempt);
      }
    }
    return false;
  }

  private open(): Promise<Socket> {
    const idx = this.urlIdx;
    const socket = io(`${setup.urls[idx]}/agents`, {
      auth: { token: this.token },
      transports: ['websocket'],
      reconnection: false,
      forceNew: true,
      timeout: 20_000,
    });
    return new Promise<Socket>((resolve, reject) => {
      socket.once('connect', () => {
        this.socket = socket;
        connectedCount++;
        socket.on('disconnect', (reason) => {
          connectedCount--;
          if (this.registeredOn === socket) {
            this.registeredOn = undefined;
            registeredCount--;
          }
          if (this.socket !== socket) return;
          this.socket = undefined;
          if (closing || reason === 'io client disconnect') return;
          countError('socket_lost');
          this.lose(idx, `disconnect: ${reason}`);
        });
        socket.on('server_draining', () => {
          if (this.socket !== socket || closing) return;
          this.socket = undefined;
          this.lose(idx, 'server_draining');
          // Calls in flight on it still get their answers; the replica closes it after them.
        });
        socket.on('tasks_available', () => this.wake?.());
        resolve(socket);
      });
      socket.once('connect_error', (err) => {
        socket.close();
        reject(err);
      });
    });
  }

  private lose(from: number, reason: string): void {
    this.lost ??= { from, at: Date.now(), reason, inFlight: this.inFlight > 0 };
    void this.reconnect().catch(() => undefined);
  }

  private async register(socket: Socket): Promise<void> {
    const a = await this.emit(socket, 'register_agent', {
      agent_id: this.id,
      name: this.id,
      role: 'developer',
      skills: setup.skills,
      request_id: `${this.id}-${++this.seq}`,
    });
    if (!a.success) throw new Error(`register_agent: ${a.code}`);
    if (!this.registeredOn) registeredCount++;
    this.registeredOn = socket;
  }

  /** Moves to the next replica: connect, register, and take up the work where it was. */
  private reconnect(): Promise<Socket> {
    this.reconnecting ??= (async () => {
      if (setup.reconnectJitterMs > 0) await sleep(Math.random() * setup.reconnectJitterMs);
      for (let tries = 0; ; tries++) {
        if (closing) throw new CallFailed('closing');
        // First a random other replica (a dead replica's agents spread over the survivors), then in turn.
        const k = setup.urls.length;
        this.urlIdx = tries === 0 && k > 1 ? (this.urlIdx + 1 + Math.floor(Math.random() * (k - 1))) % k : (this.urlIdx + 1) % k;
        try {
          const socket = await this.open();
          await this.register(socket);
          if (this.lost && !this.lost.inFlight) await this.resume(socket);
          return socket;
        } catch {
          countError('connect_failed');
          this.closeSocket();
          await sleep(Math.min(2000, 100 * 2 ** tries));
        }
      }
    })().finally(() => (this.reconnecting = undefined));
    return this.reconnecting;
  }

  /**
   * Nothing was in flight when the socket went: ask at once (the agent would otherwise notice only
   * at its next call). A holder asks for its task again and must get the same task and lease token.
   */
  private async resume(socket: Socket): Promise<void> {
    const held = this.held;
    if (!held) {
      await this.emit(socket, 'ping', {});
      return;
    }
    const body = { agent_id: this.id, request_id: `${this.id}-${++this.seq}` };
    const startedAt = Date.now();
    let a = await this.emit(socket, 'request_next_task', body);
    // A saturated replica may answer UNAVAILABLE: ask again (same request_id) as for any call.
    for (let attempt = 1; a.code && RETRYABLE.has(a.code) && !closing && Date.now() - startedAt < RETRY_FOR_MS; attempt++) {
      await sleep(Math.min(2000, 100 * attempt));
      a = await this.emit(socket, 'request_next_task', body);
    }
    if (!a.success || !a.task) anomaly(`${this.id}: lost task ${held.taskId} across a move (${a.code ?? a.message})`);
    else if (a.task.id !== held.taskId || String(a.task.lease.token) !== held.lease)
      anomaly(`${this.id}: resume gave ${a.task.id}/${a.task.lease.token}, held ${held.taskId}/${held.lease}`);
  }

  private ensureConnected(): Promise<Socket> {
    if (this.socket?.connected) return Promise.resolve(this.socket);
    if (!this.reconnecting) this.lost ??= { from: this.urlIdx, at: Date.now(), reason: 'not connected', inFlight: true };
    return this.reconnect();
  }

  /** One attempt on one socket; latencies and the "served again" moment are recorded here. */
  private emit(socket: Socket, event: string, payload: object): Promise<Answer> {
    this.inFlight++;
    win.calls++;
    const t0 = performance.now();
    return new Promise<Answer>((resolve, reject) => {
      socket.timeout(setup.callTimeoutMs).emit(event, payload, (err: Error | null, answer: Answer) => {
        this.inFlight--;
        if (err) {
          countError(err.message.includes('disconnected') ? 'disconnected' : 'timeout');
          reject(new CallFailed(err.message));
          return;
        }
        // Completions apart from in_progress reports: they do more work (and close the task).
        const key = event === 'report_task_progress' && (payload as { status?: string }).status === 'completed' ? COMPLETE : event;
        (win.lat[key] ??= []).push(ms(t0));
        if (answer.code) countError(answer.code);
        // Served again: the first real answer after a move (a retry-later answer is not one).
        if (this.lost && event !== 'register_agent' && !(answer.code && RETRYABLE.has(answer.code))) {
          win.interruptions.push({ agent: this.id, from: this.lost.from, to: this.urlIdx, reason: this.lost.reason, lostAt: this.lost.at, servedAt: Date.now() });
          this.lost = undefined;
        }
        resolve(answer);
      });
    });
  }

  /** A logical call: retried (same request_id) across timeouts, moves and retryable answers. */
  private async call(event: string, payload: object, mutating: boolean): Promise<Answer> {
    const body = mutating ? { ...payload, request_id: `${this.id}-${++this.seq}` } : payload;
    const startedAt = Date.now();
    for (let attempt = 1; ; attempt++) {
      let answer: Answer;
      try {
        const socket = await this.ensureConnected();
        answer = await this.emit(socket, event, body);
      } catch (err) {
        // Once stopping, only a holder finishing its task keeps trying.
        if (closing || attempt >= MAX_ATTEMPTS || (stopping && !(finishHeld && this.held))) throw err;
        await sleep(50 * attempt);
        continue;
      }
      // A saturated replica answers UNAVAILABLE (its pool wait timed out): a real agent asks again
      // until it is served, so the call goes on for up to RETRY_FOR_MS (each one counted as an error).
      const persist = !closing && Date.now() - startedAt < RETRY_FOR_MS && !(stopping && !(finishHeld && this.held));
      if (answer.code && RETRYABLE.has(answer.code) && persist) {
        await sleep(Math.min(2000, (answer.retry_after_seconds ?? 0) * 1000 || 100 * attempt));
        continue;
      }
      return answer;
    }
  }

  start(): void {
    this.loop ??= this.run().catch((err: Error) => {
      if (!closing) anomaly(`${this.id}: gave up: ${err.message}`);
    });
  }

  async stopped(): Promise<void> {
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    try {
      await this.work();
    } catch (err) {
      // A call abandoned because the run is stopping is no failure of the agent.
      if (!stopping) throw err;
    }
  }

  private async work(): Promise<void> {
    if (setup.behaviour === 'idle') {
      // Spread the pings: agents that connected together must not ping together.
      await this.pause(Math.random() * setup.pingMs);
      while (!stopping) {
        await this.call('ping', {}, false);
        await this.pause(setup.pingMs);
      }
      return;
    }
    if (setup.behaviour === 'work') await this.pause(Math.random() * setup.workMs);
    for (;;) {
      if (this.held) {
        await this.advance(this.held);
        continue;
      }
      if (stopping) return;
      const sentAt = Date.now();
      win.firstRequestAt ??= sentAt;
      const a = await this.call('request_next_task', { agent_id: this.id }, true);
      if (a.success && a.task) {
        this.held = { taskId: a.task.id, lease: String(a.task.lease.token), step: 0 };
        win.claims++;
        if (setup.trackTasks) (win.tasks ??= []).push(a.task.id);
      } else {
        if (!a.code) win.noTask++;
        await this.pause(setup.idleMs);
      }
    }
  }

  /** The next call about the held task: a progress report after some work, or the completion. */
  private async advance(held: { taskId: string; lease: string; step: number }): Promise<void> {
    const last = setup.behaviour === 'storm' || held.step >= setup.progressSteps || (stopping && finishHeld);
    if (setup.behaviour === 'work' && !(stopping && finishHeld)) await this.pause(setup.workMs);
    if (stopping && !finishHeld) {
      this.held = undefined;
      return;
    }
    const progress = last ? 100 : Math.round(((held.step + 1) / (setup.progressSteps + 1)) * 100);
    const a = await this.call(
      'report_task_progress',
      { agent_id: this.id, task_id: held.taskId, status: last ? 'completed' : 'in_progress', progress, message: last ? 'done' : `step ${held.step + 1}`, lease_token: held.lease },
      true,
    );
    if (!a.success) {
      anomaly(`${this.id}: report on ${held.taskId} refused: ${a.code}`);
      this.held = undefined;
      return;
    }
    held.step++;
    if (last) {
      win.completions++;
      win.lastCompletedAt = Date.now();
      this.held = undefined;
    }
  }

  /** Sleeps, cut short by a `tasks_available` push or by stop. */
  private pause(msToWait: number): Promise<void> {
    if (stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, msToWait);
      this.wake = done;
    });
  }

  closeSocket(): void {
    const s = this.socket;
    this.socket = undefined;
    s?.disconnect();
  }
}

let authed: Promise<number> | undefined;

/** Tokens for every agent (HTTP, 32 at a time), once: the ramp then measures sockets only. */
function authenticateAll(): Promise<number> {
  authed ??= (async () => {
    const t0 = Date.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(32, agents.length) }, async () => {
        while (next < agents.length) await agents[next++].authenticate();
      }),
    );
    return Date.now() - t0;
  })();
  return authed;
}

async function connectAll(): Promise<void> {
  const tokensMs = await authenticateAll();
  const t0 = Date.now();
  const gap = 1000 / setup.connectPerSecond;
  let inFlight = 0;
  let ok = 0;
  let failed = 0;
  const slots: (() => void)[] = [];
  const all: Promise<void>[] = [];
  for (let i = 0; i < agents.length; i++) {
    const due = t0 + i * gap - Date.now();
    if (due > 0) await sleep(due);
    if (inFlight >= setup.connectConcurrency) await new Promise<void>((r) => slots.push(r));
    inFlight++;
    all.push(
      agents[i].join().then((joined) => {
        if (joined) ok++;
        else failed++;
        inFlight--;
        slots.shift()?.();
      }),
    );
  }
  await Promise.all(all);
  // A fresh window first: the parent reads the gauges as of the end of the ramp.
  flush();
  send({ type: 'connected', worker: setup.worker, ok, failed, tokensMs, rampStartedAt: t0, rampEndedAt: Date.now() });
}

let timer: NodeJS.Timeout | undefined;

process.on('message', (msg: ToWorker) => {
  const fail = (err: unknown) => send({ type: 'fatal', worker: setup?.worker ?? -1, message: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  switch (msg.type) {
    case 'setup':
      setup = msg.setup;
      agents = setup.agents.map((a) => new Agent(a.id, a.start));
      timer = setInterval(flush, setup.statsMs);
      send({ type: 'ready', worker: setup.worker });
      return;
    case 'auth':
      authenticateAll().then((ms) => send({ type: 'authed', worker: setup.worker, ms }), fail);
      return;
    case 'connect':
      connectAll().catch(fail);
      return;
    case 'start':
      for (const a of agents) a.start();
      return;
    case 'stop':
      stopping = true;
      finishHeld = msg.finish;
      void Promise.all(agents.map((a) => a.stopped())).then(() => {
        flush();
        send({ type: 'stopped', worker: setup.worker, holding: agents.filter((a) => a.holding).length });
      }, fail);
      return;
    case 'close':
      closing = true;
      stopping = true;
      if (timer) clearInterval(timer);
      for (const a of agents) a.closeSocket();
      // Give the close frames a moment to leave, then go.
      setTimeout(() => process.exit(0), 200);
      return;
  }
});

// The parent went away (crashed or killed): never outlive it with thousands of open sockets.
process.on('disconnect', () => process.exit(0));
