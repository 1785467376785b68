import { randomUUID } from 'node:crypto';
import { io, type Socket } from 'socket.io-client';
import { PmAgentError } from './errors';
import { PUSH_EVENTS, type ClientEventName, type ClientEvents } from './events';
import { KeepAlive, type KeepAliveOptions } from './keep-alive';
import type { BackoffOptions, CallOptions, PmAgentClientOptions } from './options';
import { asError, backoffDelayMs, closedError, emitWithAck, fetchAgentToken, isFatal, toPmAgentError } from './transport';
import {
  MUTATING_TOOLS,
  type AgentStatusAnswer,
  type AssignmentHealthAnswer,
  type ListRegisteredAgentsAnswer,
  type LogArtifactAnswer,
  type LogArtifactPayload,
  type LogDecisionAnswer,
  type PingAnswer,
  type ProjectStatusAnswer,
  type RegisterAgentAnswer,
  type ReportBlockerAnswer,
  type ReportBlockerPayload,
  type ReportTaskProgressAnswer,
  type ReportTaskProgressPayload,
  type RequestNextTaskAnswer,
  type TaskContextAnswer,
  type ToolAnswer,
  type ToolName,
  type ToolPayload,
} from './types';

type Handler<E extends ClientEventName> = (payload: ClientEvents[E]) => void;
type AnyHandler = (payload: unknown) => void;
type WithRequestId = { request_id?: string };

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A pm-agent agent connection: token, socket, typed tools. Mutating calls carry a request_id and
 * are retried with it after a timeout or a lost socket, which the server answers from the first
 * attempt. A lost socket is reopened (next replica first) and the agent registered again.
 */
export class PmAgentClient {
  readonly agentId: string;
  private readonly urls: string[];
  private readonly o: { callTimeoutMs: number; maxAttempts: number; connectTimeoutMs: number; maxConnectAttempts: number; backoff: Required<BackoffOptions> };
  private index = 0;
  private socket?: Socket;
  private connecting?: Promise<Socket>;
  private token?: string;
  private closed = false;
  private connects = 0;
  private moveRequested = false;
  private readonly handlers = new Map<ClientEventName, Set<AnyHandler>>();
  private readonly leases = new Map<string, string>();
  private readonly progressOf = new Map<string, number>();
  private readonly keepAlives = new Set<KeepAlive>();

  constructor(private readonly opts: PmAgentClientOptions) {
    const urls = opts.urls ?? (opts.url ? [opts.url] : []);
    if (urls.length === 0) throw new TypeError('PmAgentClient: give `url` or `urls`');
    if (!opts.apiKey && !opts.token) throw new TypeError('PmAgentClient: give `apiKey` or `token`');
    this.urls = urls.map((u) => u.replace(/\/+$/, ''));
    this.agentId = opts.agent.agent_id;
    this.token = opts.token;
    this.o = {
      callTimeoutMs: opts.callTimeoutMs ?? 10_000,
      maxAttempts: Math.max(1, opts.maxAttempts ?? 5),
      connectTimeoutMs: opts.connectTimeoutMs ?? 5_000,
      maxConnectAttempts: opts.maxConnectAttempts ?? Math.max(8, this.urls.length * 5),
      backoff: { initialMs: opts.backoff?.initialMs ?? 200, maxMs: opts.backoff?.maxMs ?? 5_000, factor: opts.backoff?.factor ?? 2 },
    };
  }

  /** Base URL of the replica holding the socket now, if connected. */
  get url(): string | undefined {
    return this.socket?.connected ? this.urls[this.index] : undefined;
  }

  get connected(): boolean {
    return this.socket?.connected === true;
  }

  /** Opens the socket and registers the agent (calls do this on demand too). */
  async connect(): Promise<this> {
    await this.ensureConnected();
    return this;
  }

  /** Stops keep-alives and closes the socket; later calls fail with CLIENT_CLOSED. */
  close(): void {
    this.closed = true;
    for (const k of [...this.keepAlives]) k.stop();
    const s = this.socket;
    this.socket = undefined;
    s?.removeAllListeners();
    s?.disconnect();
  }

  // ---- events ----------------------------------------------------------------------------------

  /** Listens to a server push or a client life event; returns a function that stops listening. */
  on<E extends ClientEventName>(event: E, handler: Handler<E>): () => void {
    let set = this.handlers.get(event);
    if (!set) this.handlers.set(event, (set = new Set()));
    set.add(handler as AnyHandler);
    return () => this.off(event, handler);
  }

  once<E extends ClientEventName>(event: E, handler: Handler<E>): () => void {
    const off = this.on(event, (p) => {
      off();
      handler(p);
    });
    return off;
  }

  off<E extends ClientEventName>(event: E, handler: Handler<E>): void {
    this.handlers.get(event)?.delete(handler as AnyHandler);
  }

  private fire<E extends ClientEventName>(event: E, payload: ClientEvents[E]): void {
    for (const h of [...(this.handlers.get(event) ?? [])]) {
      // A failing listener must not break the socket's event loop or the other listeners.
      try {
        h(payload);
      } catch {
        /* the listener's own business */
      }
    }
  }

  // ---- tools -----------------------------------------------------------------------------------

  /**
   * Calls a tool. Mutating tools get a request_id unless given; on a timeout or a lost socket
   * the call is sent again with the same request_id. `success: false` answers throw PmAgentError,
   * except request_next_task's "no task" answer, which is returned.
   */
  async call<N extends ToolName>(name: N, payload: ToolPayload<N>, opts: CallOptions = {}): Promise<ToolAnswer<N>> {
    const given = payload as ToolPayload<N> & WithRequestId;
    const body: ToolPayload<N> & WithRequestId = MUTATING_TOOLS.has(name) && given.request_id === undefined ? { ...given, request_id: randomUUID() } : given;
    const timeoutMs = opts.timeoutMs ?? this.o.callTimeoutMs;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < this.o.maxAttempts; attempt++) {
      if (attempt > 0) await sleep(backoffDelayMs(attempt - 1, this.o.backoff));
      if (this.closed) throw closedError();
      let socket: Socket;
      try {
        socket = await this.ensureConnected();
      } catch (err) {
        if (isFatal(err)) throw err;
        lastError = asError(err);
        continue;
      }
      let answer: unknown;
      try {
        answer = await emitWithAck(socket, name, body, timeoutMs);
      } catch (err) {
        // No answer: the socket dropped (reconnect is under way) or the replica is silent (leave it).
        lastError = asError(err);
        if (this.socket === socket && socket.connected) this.moveRequested = true;
        continue;
      }
      const failure = answer as { success?: unknown; code?: unknown };
      if (failure.success === false) {
        if (name === 'request_next_task' && failure.code === undefined) return answer as ToolAnswer<N>;
        const err = toPmAgentError(name, answer);
        // The token expired (or its key was revoked) on an open socket: the server closes it; a new
        // token from the API key continues, a revoked key ends in INVALID_API_KEY on the next try.
        if (err.code === 'INVALID_TOKEN' && this.opts.apiKey) {
          this.token = undefined;
          this.moveRequested = true;
          lastError = err;
          continue;
        }
        // The server could not reach its database and asked for a retry; the request_id keeps it safe.
        if (err.code === 'UNAVAILABLE') {
          lastError = err;
          continue;
        }
        throw err;
      }
      this.track(name, body, answer);
      return answer as ToolAnswer<N>;
    }
    if (lastError instanceof PmAgentError) throw lastError;
    throw new PmAgentError('CLIENT_TIMEOUT', `${name}: no answer after ${this.o.maxAttempts} attempts (${lastError?.message ?? 'unknown'})`, {}, name);
  }

  /** Registers (or updates) the agent; done automatically on every connect. */
  register(request_id?: string): Promise<RegisterAgentAnswer> {
    return this.call('register_agent', { ...this.opts.agent, request_id });
  }

  /** The next task (or the one held), or a `success: false` "no task" answer with retry_after_seconds. */
  requestNextTask(request_id?: string): Promise<RequestNextTaskAnswer> {
    return this.call('request_next_task', { agent_id: this.agentId, request_id });
  }

  /** Reports progress; the lease token of the task is filled in when the client knows it. */
  reportProgress(p: Omit<ReportTaskProgressPayload, 'agent_id'>): Promise<ReportTaskProgressAnswer> {
    return this.call('report_task_progress', { ...p, agent_id: this.agentId, lease_token: p.lease_token ?? this.leases.get(p.task_id) });
  }

  /** Marks the task completed (stopping its keep-alives first). */
  complete(taskId: string, message = 'completed', request_id?: string): Promise<ReportTaskProgressAnswer> {
    for (const k of [...this.keepAlives]) if (k.taskId === taskId) k.stop();
    return this.reportProgress({ task_id: taskId, status: 'completed', progress: 100, message, request_id });
  }

  reportBlocker(p: Omit<ReportBlockerPayload, 'agent_id'>): Promise<ReportBlockerAnswer> {
    return this.call('report_blocker', { ...p, agent_id: this.agentId, lease_token: p.lease_token ?? this.leases.get(p.task_id) });
  }

  getProjectStatus(): Promise<ProjectStatusAnswer> {
    return this.call('get_project_status', {});
  }

  getAgentStatus(): Promise<AgentStatusAnswer> {
    return this.call('get_agent_status', { agent_id: this.agentId });
  }

  listRegisteredAgents(): Promise<ListRegisteredAgentsAnswer> {
    return this.call('list_registered_agents', {});
  }

  ping(echo?: string): Promise<PingAnswer> {
    return this.call('ping', echo === undefined ? {} : { echo });
  }

  getTaskContext(taskId: string): Promise<TaskContextAnswer> {
    return this.call('get_task_context', { task_id: taskId });
  }

  logDecision(taskId: string, decision: string, request_id?: string): Promise<LogDecisionAnswer> {
    return this.call('log_decision', { agent_id: this.agentId, task_id: taskId, decision, request_id });
  }

  logArtifact(p: Omit<LogArtifactPayload, 'agent_id'>): Promise<LogArtifactAnswer> {
    return this.call('log_artifact', { ...p, agent_id: this.agentId });
  }

  checkAssignmentHealth(): Promise<AssignmentHealthAnswer> {
    return this.call('check_assignment_health', {});
  }

  /** The lease token the client last saw for a task it holds. */
  leaseToken(taskId: string): string | undefined {
    return this.leases.get(taskId);
  }

  /**
   * Renews the lease of a held task every `everyMs` with an in_progress report (lease token
   * included). Stops by itself when the server says the task is no longer held.
   */
  keepAlive(taskId: string, everyMs: number, opts: KeepAliveOptions = {}): KeepAlive {
    const k = new KeepAlive(
      taskId,
      everyMs,
      opts,
      () => this.progressOf.get(taskId) ?? 0,
      (p) => this.reportProgress(p),
      (error, stopped) => this.fire('keepalive_error', { task_id: taskId, error, stopped }),
      () => this.keepAlives.delete(k),
    );
    this.keepAlives.add(k);
    k.start();
    return k;
  }

  private track(name: ToolName, body: object, answer: unknown): void {
    if (name === 'request_next_task') {
      const task = (answer as { task?: { id: string; lease: { token: string } } }).task;
      if (task) this.leases.set(task.id, String(task.lease.token));
    } else if (name === 'report_task_progress') {
      const sent = body as ReportTaskProgressPayload;
      const a = answer as ReportTaskProgressAnswer;
      if (a.task_status === 'done') {
        this.leases.delete(sent.task_id);
        this.progressOf.delete(sent.task_id);
      } else {
        if (a.lease) this.leases.set(sent.task_id, String(a.lease.token));
        if (sent.progress !== undefined) this.progressOf.set(sent.task_id, sent.progress);
      }
    }
  }

  // ---- connection ------------------------------------------------------------------------------

  private async ensureConnected(): Promise<Socket> {
    if (this.closed) throw closedError();
    if (this.socket?.connected && !this.moveRequested) return this.socket;
    this.connecting ??= this.establish().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /** Opens a socket, the next replica first when leaving one, with backoff between failures. */
  private async establish(): Promise<Socket> {
    const leaving = this.socket;
    if (leaving) {
      this.socket = undefined;
      leaving.removeAllListeners();
      leaving.disconnect();
      this.index = (this.index + 1) % this.urls.length;
    }
    this.moveRequested = false;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < this.o.maxConnectAttempts; attempt++) {
      if (this.closed) throw closedError();
      if (attempt > 0) await sleep(backoffDelayMs(attempt - 1, this.o.backoff));
      const url = this.urls[this.index];
      try {
        const socket = await this.open(url);
        if (this.closed) {
          socket.disconnect();
          throw closedError();
        }
        this.adopt(socket, url);
        return socket;
      } catch (err) {
        if (isFatal(err)) throw err;
        lastError = asError(err);
        this.index = (this.index + 1) % this.urls.length;
      }
    }
    throw new PmAgentError('CLIENT_CONNECT_FAILED', `no replica accepted the connection (${lastError?.message ?? 'unknown'})`);
  }

  /** One connection attempt: token if needed, socket, register_agent. */
  private async open(url: string): Promise<Socket> {
    this.token ??= await fetchAgentToken(url, this.opts.apiKey, this.agentId, this.o.connectTimeoutMs);
    const socket = io(`${url}/agents`, {
      auth: { token: this.token },
      transports: ['websocket'],
      // Reconnection is ours: it has to move between replicas and register again.
      reconnection: false,
      forceNew: true,
      timeout: this.o.connectTimeoutMs,
    });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', () => resolve());
        socket.once('connect_error', (err: Error & { data?: { code?: string } }) => {
          const code = err.data?.code;
          if (code === 'INVALID_TOKEN' && this.opts.apiKey) this.token = undefined; // expired: fetch a new one next try
          reject(code ? new PmAgentError(code === 'INVALID_TOKEN' && this.opts.apiKey ? 'UNAUTHORIZED' : code, err.message, err.data ?? {}) : err);
        });
      });
      const registered = await emitWithAck(socket, 'register_agent', { ...this.opts.agent, request_id: randomUUID() }, this.o.callTimeoutMs);
      if ((registered as { success?: unknown }).success !== true) throw toPmAgentError('register_agent', registered);
      return socket;
    } catch (err) {
      socket.removeAllListeners();
      socket.disconnect();
      throw err;
    }
  }

  private adopt(socket: Socket, url: string): void {
    this.socket = socket;
    const reconnect = this.connects++ > 0;
    for (const event of PUSH_EVENTS) {
      socket.on(event, (payload: unknown) => {
        // The server is going away: the next call (or the disconnect) moves to another replica.
        if (event === 'server_draining' && this.socket === socket) this.moveRequested = true;
        this.fire(event, payload as ClientEvents[typeof event]);
      });
    }
    socket.on('disconnect', (reason: string) => {
      if (this.socket !== socket) return;
      this.fire('disconnected', { url, reason });
      if (this.closed) return;
      // Reopen at once so pushes keep coming; a failure here is retried by the next call.
      void this.ensureConnected().catch(() => undefined);
    });
    this.fire('connected', { url, reconnect });
  }
}
