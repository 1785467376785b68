import { watchSecret } from './secret-registry';
import { io, type Socket } from 'socket.io-client';

/** Small HTTP + socket client used by the end-to-end tests (speaks the public API only). */
export class ApiClient {
  constructor(
    readonly url: string,
    readonly adminKey: string,
  ) {}

  async request(method: string, path: string, body?: unknown, key?: string): Promise<{ status: number; body: any }> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...(key ? { authorization: `Bearer ${key}` } : {}),
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : null;
    // Keys and tokens the service hands out are secrets the suite's output must never show.
    watchSecret(parsed?.api_key);
    watchSecret(parsed?.access_token);
    return { status: res.status, body: parsed };
  }

  async createProject(name = 'test project'): Promise<{ id: string; api_key: string }> {
    const r = await this.request('POST', '/api/v1/projects', { name }, this.adminKey);
    if (r.status !== 201) throw new Error(`createProject: ${r.status} ${JSON.stringify(r.body)}`);
    watchSecret(r.body.api_key);
    return r.body;
  }

  async addTask(projectId: string, task: Record<string, unknown>, key = this.adminKey): Promise<any> {
    const r = await this.request('POST', `/api/v1/projects/${projectId}/tasks`, task, key);
    if (r.status !== 201) throw new Error(`addTask: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body;
  }

  async listTasks(projectId: string, key = this.adminKey): Promise<any[]> {
    const r = await this.request('GET', `/api/v1/projects/${projectId}/tasks`, undefined, key);
    if (r.status !== 200) throw new Error(`listTasks: ${r.status} ${JSON.stringify(r.body)}`);
    return r.body.tasks;
  }

  async token(apiKey: string, agentId: string): Promise<string> {
    const r = await this.request('POST', '/api/v1/agents/auth', { api_key: apiKey, agent_id: agentId });
    if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
    watchSecret(r.body.access_token);
    return r.body.access_token;
  }

  /** Connects an agent socket (websocket transport) and waits for the connection. */
  async connect(token: string, opts: { url?: string } = {}): Promise<AgentSocket> {
    const socket = io(`${opts.url ?? this.url}/agents`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true });
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', (err) => reject(err));
    });
    return new AgentSocket(socket);
  }

  /** Opens an /agents socket with this handshake `auth` and resolves with its connect_error (fails if it connects). */
  async connectError(auth?: Record<string, unknown>): Promise<Error & { data?: { code?: string } }> {
    const socket = io(`${this.url}/agents`, { ...(auth ? { auth } : {}), transports: ['websocket'], reconnection: false, forceNew: true });
    try {
      return await new Promise((resolve, reject) => {
        socket.once('connect', () => reject(new Error('connected although the handshake should have been refused')));
        socket.once('connect_error', (err) => resolve(err as Error & { data?: { code?: string } }));
      });
    } finally {
      socket.disconnect();
    }
  }

  /** Token, socket and register_agent in one go. */
  async agent(apiKey: string, agentId: string, skills: string[] = [], name = agentId): Promise<AgentSocket> {
    const s = await this.connect(await this.token(apiKey, agentId));
    const r = await s.call('register_agent', { agent_id: agentId, name, role: 'developer', skills });
    if (!r.success) throw new Error(`register: ${JSON.stringify(r)}`);
    s.agentId = agentId;
    return s;
  }

  /**
   * Several registered agents of one project at once (same skills), in the order of `agentIds`.
   * The first token is fetched alone: the server then has the API key verified (scrypt, slow on
   * purpose) and answers the others from its cache instead of hashing the same key 50 times.
   */
  async agents(apiKey: string, agentIds: readonly string[], skills: string[] = []): Promise<AgentSocket[]> {
    if (agentIds.length === 0) return [];
    const first = await this.agent(apiKey, agentIds[0], skills);
    return [first, ...(await Promise.all(agentIds.slice(1).map((id) => this.agent(apiKey, id, skills))))];
  }
}

export class AgentSocket {
  agentId = '';
  constructor(readonly socket: Socket) {}

  call(event: string, payload?: unknown, timeoutMs = 15_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const args: unknown[] = payload === undefined ? [] : [payload];
      this.socket.timeout(timeoutMs).emit(event, ...args, (err: Error | null, answer: unknown) => (err ? reject(err) : resolve(answer)));
    });
  }

  /** Resolves with the next push of that name. */
  next(event: string, timeoutMs = 15_000): Promise<any> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no ${event} within ${timeoutMs} ms`)), timeoutMs);
      this.socket.once(event, (p: unknown) => {
        clearTimeout(t);
        resolve(p);
      });
    });
  }

  /** Records every push of that name from now on (the array fills as they arrive). */
  record(event: string): any[] {
    const seen: any[] = [];
    this.socket.on(event, (p: unknown) => seen.push(p));
    return seen;
  }

  close(): void {
    this.socket.disconnect();
  }
}
