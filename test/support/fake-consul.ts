import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A FAKE of the Consul agent HTTP API, for tests only. It is not Consul and never talks to one: a
 * node:http server on 127.0.0.1 implementing the few agent endpoints pm-agent uses, with the
 * request and response shapes of the published API (https://developer.hashicorp.com/consul/api-docs/agent/service,
 * .../agent/check), so the real `consul` npm client can be pointed at it:
 *
 *   PUT /v1/agent/service/register          decoded like the agent does (Go encoding/json: field names
 *                                           matched case-insensitively, unknown fields ignored but
 *                                           recorded here so tests can assert there were none; wrong
 *                                           JSON types, bad durations and a missing Name are a 400
 *                                           with a plain-text reason)
 *   PUT /v1/agent/service/deregister/:id    404 "Unknown service ID ..." for an id it does not know
 *   GET /v1/agent/services                  map id -> {ID, Service, Tags, Meta, Port, Address, ...}
 *   GET /v1/agent/checks                    map check id -> {CheckID, Status, Output, ServiceID, ...}
 *
 * Like an agent, it runs each registered HTTP check itself: GET the check URL every Interval
 * (Timeout default 10s), 2xx = passing, 429 = warning, anything else or no answer = critical, a new
 * check starting critical. A check critical for longer than DeregisterCriticalServiceAfter gets
 * its service reaped (Consul's one-minute minimum applies unless `minDeregisterMs` lowers it).
 *
 * With `token` set it enforces ACLs the way an agent with default-deny does: the token comes from
 * X-Consul-Token, `Authorization: Bearer` or `?token=`; an unknown token is 403 "ACL not found",
 * no token at all is 403 "Permission denied" (the anonymous token).
 *
 * It can start "down" (its port reserved but nothing listening: connections are refused) and be
 * brought up later on the same port, or taken down again; registered services survive that like
 * the services an agent persists across restarts, and checks pause while it is down.
 */

export type CheckStatus = 'passing' | 'warning' | 'critical';

/** A service as the agent stores it. */
export interface FakeService {
  ID: string;
  Service: string;
  Tags: string[];
  Meta: Record<string, string>;
  Port: number;
  Address: string;
}

export interface FakeCheck {
  CheckID: string;
  Name: string;
  ServiceID: string;
  ServiceName: string;
  HTTP: string;
  Method: string;
  /** Milliseconds, as decoded from the duration strings. */
  intervalMs: number;
  timeoutMs: number;
  deregisterAfterMs?: number;
  /** The duration strings (or numbers) exactly as received. */
  Interval: string | number;
  Timeout?: string | number;
  DeregisterCriticalServiceAfter?: string | number;
  Status: CheckStatus;
  Output: string;
  /** Every status the check produced, oldest first (the initial critical included). */
  history: { at: number; status: CheckStatus; output: string }[];
  criticalSince?: number;
}

/** One request as the fake received it. */
export interface FakeConsulRequest {
  seq: number;
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
  /** Parsed JSON body (undefined when absent or not JSON). */
  body: any;
  /** The token the request carried (header, bearer or query), if any. */
  token?: string;
  /** Body fields the agent would have ignored (no such field in its structs), as paths. */
  unknownFields: string[];
  status?: number;
  /** Plain-text answer for errors. */
  error?: string;
  receivedAt: number;
}

export interface FakeConsulOptions {
  /** When set, ACLs are enforced and this is the only token with write and read rights. */
  token?: string;
  /** Start without listening (connections refused) until `up()`. */
  down?: boolean;
  /** Port to use (a free one otherwise). */
  port?: number;
  /** Lower bound on DeregisterCriticalServiceAfter, like Consul's one minute (default 60000). */
  minDeregisterMs?: number;
}

const DURATION_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Go's time.ParseDuration, in milliseconds (throws with Go's message). */
export function parseGoDuration(s: string): number {
  const bad = () => new Error(`time: invalid duration ${JSON.stringify(s)}`);
  if (s === '0') return 0;
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '') throw bad();
  let total = 0;
  while (rest !== '') {
    const m = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/.exec(rest);
    if (!m) throw rest.match(/^[\d.]+$/) ? new Error(`time: missing unit in duration ${JSON.stringify(s)}`) : bad();
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

class DecodeError extends Error {}

const jsonType = (v: unknown): string =>
  v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'boolean' ? 'bool' : typeof v;

type Kind = 'string' | 'int' | 'bool' | 'duration' | 'strings' | 'stringMap' | 'headerMap' | 'check' | 'checks' | 'object' | 'any';

// Fields of Consul's ServiceDefinition and CheckType (structs.go) the agent decodes, with their Go types.
const SERVICE_FIELDS: Record<string, Kind> = {
  Kind: 'string',
  ID: 'string',
  Name: 'string',
  Tags: 'strings',
  Address: 'string',
  TaggedAddresses: 'object',
  Meta: 'stringMap',
  Port: 'int',
  SocketPath: 'string',
  Check: 'check',
  Checks: 'checks',
  Weights: 'object',
  Token: 'string',
  EnableTagOverride: 'bool',
  Proxy: 'object',
  Connect: 'object',
  Namespace: 'string',
  Partition: 'string',
  Locality: 'object',
};

const CHECK_FIELDS: Record<string, Kind> = {
  CheckID: 'string',
  ID: 'string',
  Name: 'string',
  Status: 'string',
  Notes: 'string',
  ScriptArgs: 'strings',
  Args: 'strings',
  HTTP: 'string',
  Header: 'headerMap',
  Method: 'string',
  Body: 'string',
  DisableRedirects: 'bool',
  TCP: 'string',
  TCPUseTLS: 'bool',
  UDP: 'string',
  Interval: 'duration',
  Timeout: 'duration',
  TTL: 'duration',
  DockerContainerID: 'string',
  Shell: 'string',
  GRPC: 'string',
  GRPCUseTLS: 'bool',
  H2PING: 'string',
  H2PingUseTLS: 'bool',
  TLSServerName: 'string',
  TLSSkipVerify: 'bool',
  AliasNode: 'string',
  AliasService: 'string',
  OSService: 'string',
  DeregisterCriticalServiceAfter: 'duration',
  SuccessBeforePassing: 'int',
  FailuresBeforeWarning: 'int',
  FailuresBeforeCritical: 'int',
  OutputMaxSize: 'int',
};

// snake_case spellings CheckType.UnmarshalJSON also accepts.
const CHECK_ALIASES: Record<string, string> = {
  args: 'ScriptArgs',
  script_args: 'ScriptArgs',
  deregister_critical_service_after: 'DeregisterCriticalServiceAfter',
  docker_container_id: 'DockerContainerID',
  tls_server_name: 'TLSServerName',
  tls_skip_verify: 'TLSSkipVerify',
  grpc_use_tls: 'GRPCUseTLS',
  service_id: 'ServiceID',
};

/** Decodes `obj` against `fields` like encoding/json: case-insensitive names, unknown ones recorded. */
function decodeStruct(obj: unknown, fields: Record<string, Kind>, struct: string, path: string, unknown: string[], aliases: Record<string, string> = {}): Record<string, any> {
  if (obj === null) return {};
  if (jsonType(obj) !== 'object') throw new DecodeError(`json: cannot unmarshal ${jsonType(obj)} into Go value of type structs.${struct}`);
  const byLower = new Map(Object.keys(fields).map((k) => [k.toLowerCase(), k]));
  const out: Record<string, any> = {};
  for (const [key, value] of Object.entries(obj as Record<string, unknown>)) {
    const name = aliases[key] ?? byLower.get(key.toLowerCase());
    if (!name || !fields[name]) {
      unknown.push(`${path}${key}`);
      continue;
    }
    out[name] = decodeValue(value, fields[name], `${struct}.${name}`, `${path}${name}.`, unknown);
  }
  return out;
}

function decodeValue(v: unknown, kind: Kind, field: string, path: string, unknown: string[]): unknown {
  const mismatch = (goType: string) => new DecodeError(`json: cannot unmarshal ${jsonType(v)} into Go struct field ${field} of type ${goType}`);
  if (v === null) return undefined;
  switch (kind) {
    case 'string':
      if (typeof v !== 'string') throw mismatch('string');
      return v;
    case 'int':
      if (typeof v !== 'number') throw mismatch('int');
      if (!Number.isInteger(v)) throw new DecodeError(`json: cannot unmarshal number ${v} into Go struct field ${field} of type int`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw mismatch('bool');
      return v;
    case 'duration':
      // CheckType decodes durations from a Go duration string, or a number of nanoseconds.
      if (typeof v === 'number') return v;
      if (typeof v !== 'string') throw mismatch('time.Duration');
      try {
        parseGoDuration(v);
      } catch (err) {
        throw new DecodeError((err as Error).message);
      }
      return v;
    case 'strings':
      if (!Array.isArray(v)) throw mismatch('[]string');
      for (const s of v) if (typeof s !== 'string') throw new DecodeError(`json: cannot unmarshal ${jsonType(s)} into Go struct field ${field} of type string`);
      return v;
    case 'stringMap':
      if (jsonType(v) !== 'object') throw mismatch('map[string]string');
      for (const s of Object.values(v as object)) if (typeof s !== 'string') throw new DecodeError(`json: cannot unmarshal ${jsonType(s)} into Go struct field ${field} of type string`);
      return v;
    case 'headerMap':
      if (jsonType(v) !== 'object') throw mismatch('map[string][]string');
      for (const s of Object.values(v as object)) {
        if (!Array.isArray(s) || s.some((x) => typeof x !== 'string')) throw new DecodeError(`json: cannot unmarshal ${jsonType(s)} into Go struct field ${field} of type []string`);
      }
      return v;
    case 'check':
      return decodeStruct(v, CHECK_FIELDS, 'CheckType', path, unknown, CHECK_ALIASES);
    case 'checks':
      if (!Array.isArray(v)) throw mismatch('structs.CheckTypes');
      return v.map((c, i) => decodeStruct(c, CHECK_FIELDS, 'CheckType', `${path}${i}.`, unknown, CHECK_ALIASES));
    case 'object':
      if (jsonType(v) !== 'object') throw mismatch('struct');
      return v;
    case 'any':
      return v;
  }
}

const durationMs = (v: string | number): number => (typeof v === 'number' ? v / 1e6 : parseGoDuration(v));

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export class FakeConsul {
  /** host:port, for CONSUL_HTTP_ADDR. */
  addr = '';
  /** http://host:port. */
  url = '';
  port = 0;
  /** Every request received while up, in arrival order. */
  readonly requests: FakeConsulRequest[] = [];
  readonly services = new Map<string, FakeService>();
  readonly checks = new Map<string, FakeCheck>();
  /** Service ids deregistered through the API, in order. */
  readonly deregistered: string[] = [];
  /** Service ids the reaper removed (critical past DeregisterCriticalServiceAfter). */
  readonly reaped: string[] = [];
  /** Answer every request this much later (a slow agent); the request is handled when answered. */
  delayMs = 0;
  /** Never answer (a stuck agent): requests stay open until the client gives up or the fake goes down. */
  hang = false;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private seq = 0;
  private closed = false;

  private constructor(private readonly opts: FakeConsulOptions) {}

  /** Starts a fake agent on 127.0.0.1 (a free port unless given); with `down` it only reserves the port. */
  static async start(opts: FakeConsulOptions = {}): Promise<FakeConsul> {
    const fake = new FakeConsul(opts);
    fake.port = opts.port ?? (await freePort());
    fake.addr = `127.0.0.1:${fake.port}`;
    fake.url = `http://${fake.addr}`;
    if (!opts.down) await fake.up();
    return fake;
  }

  get isUp(): boolean {
    return this.server !== undefined;
  }

  /** Starts listening on its port (again); checks of known services resume. */
  async up(): Promise<void> {
    if (this.server || this.closed) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    for (const c of this.checks.values()) this.schedule(c, 0);
  }

  /** Stops listening and cuts open connections (clients then get ECONNREFUSED); state is kept. */
  async down(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((r) => server.close(() => r()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.down();
  }

  /** Registration requests the agent accepted, parsed bodies in order. */
  get registrations(): any[] {
    return this.requests.filter((r) => r.path === '/v1/agent/service/register' && r.status === 200).map((r) => r.body);
  }

  /** Resolves once `pred` holds (polling); rejects naming `what` after timeoutMs. */
  async waitFor<T>(what: string, pred: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`fake Consul: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://consul');
    const auth = req.headers.authorization;
    const token =
      (req.headers['x-consul-token'] as string | undefined) ||
      (auth?.toLowerCase().startsWith('bearer ') ? auth.slice(7).trim() : undefined) ||
      url.searchParams.get('token') ||
      undefined;
    const rec: FakeConsulRequest = {
      seq: ++this.seq,
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      rawBody,
      body: undefined,
      token,
      unknownFields: [],
      receivedAt: Date.now(),
    };
    try {
      rec.body = rawBody ? JSON.parse(rawBody) : undefined;
    } catch {
      // not JSON: the endpoint decides
    }
    this.requests.push(rec);
    if (this.hang) return;
    if (this.delayMs > 0) {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (res.destroyed) return;
    }
    const send = (status: number, body: unknown) => {
      rec.status = status;
      if (typeof body === 'string') {
        rec.error = body;
        res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'x-consul-default-acl-policy': this.opts.token ? 'deny' : 'allow' });
        res.end(body);
      } else {
        res.writeHead(status, { 'content-type': 'application/json', 'x-consul-default-acl-policy': this.opts.token ? 'deny' : 'allow' });
        res.end(body === undefined ? '' : JSON.stringify(body));
      }
    };
    try {
      send(200, this.route(rec));
    } catch (err) {
      if (err instanceof HttpError) send(err.status, err.message);
      else send(500, (err as Error).message);
    }
  }

  private route(rec: FakeConsulRequest): unknown {
    const p = rec.path;
    if (p === '/v1/agent/service/register') return this.method(rec, 'PUT', () => this.register(rec));
    if (p.startsWith('/v1/agent/service/deregister/')) return this.method(rec, 'PUT', () => this.deregister(rec, decodeURIComponent(p.slice('/v1/agent/service/deregister/'.length))));
    if (p === '/v1/agent/services') return this.method(rec, 'GET', () => this.listServices(rec));
    if (p === '/v1/agent/checks') return this.method(rec, 'GET', () => this.listChecks(rec));
    throw new HttpError(404, `404 page not found`);
  }

  private method(rec: FakeConsulRequest, allowed: string, fn: () => unknown): unknown {
    if (rec.method !== allowed) throw new HttpError(405, `method ${rec.method} not allowed`);
    return fn();
  }

  private authorize(rec: FakeConsulRequest, permission: string, resource: string): void {
    if (!this.opts.token) return;
    if (rec.token === undefined) throw new HttpError(403, `Permission denied: anonymous token lacks permission '${permission}' on "${resource}"`);
    if (rec.token !== this.opts.token) throw new HttpError(403, 'ACL not found');
  }

  private register(rec: FakeConsulRequest): undefined {
    let def: Record<string, any>;
    try {
      if (rec.rawBody.trim() === '') throw new DecodeError('EOF');
      if (rec.body === undefined) throw new DecodeError('invalid character in JSON body');
      def = decodeStruct(rec.body, SERVICE_FIELDS, 'ServiceDefinition', '', rec.unknownFields);
    } catch (err) {
      if (err instanceof DecodeError) throw new HttpError(400, `Request decode failed: ${err.message}`);
      throw err;
    }
    const name: string | undefined = def.Name;
    if (!name) throw new HttpError(400, 'Missing service name');
    this.authorize(rec, 'service:write', name);
    const meta: Record<string, string> = def.Meta ?? {};
    for (const [k, v] of Object.entries(meta)) {
      const fail = (why: string) => new HttpError(400, `Invalid Service Meta: Couldn't load metadata pair ('${k}', '${v}'): ${why}`);
      if (k === '') throw fail('Key cannot be blank');
      if (!/^[A-Za-z0-9_-]+$/.test(k)) throw fail('Key contains invalid characters');
      if (k.length > 128) throw fail('Key is too long (limit: 128 characters)');
      if (k.startsWith('consul-')) throw fail('Key prefix \'consul-\' is reserved for internal use');
      if (v.length > 512) throw fail('Value is too long (limit: 512 characters)');
    }
    if (Object.keys(meta).length > 64) throw new HttpError(400, 'Invalid Service Meta: Node metadata cannot contain more than 64 key/value pairs');
    const port: number = def.Port ?? 0;
    if (port < 0 || port > 65535) throw new HttpError(400, `Invalid Service Port: ${port}`);
    const checkDefs: Record<string, any>[] = [...(def.Check && Object.keys(def.Check).length ? [def.Check] : []), ...((def.Checks as Record<string, any>[] | undefined) ?? [])];
    const id: string = def.ID || name;
    const checks: FakeCheck[] = checkDefs.map((c, i) => {
      if (!c.HTTP) throw new HttpError(400, 'Invalid check: this fake only runs HTTP checks');
      if (c.Interval === undefined || durationMs(c.Interval) <= 0) throw new HttpError(400, 'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, or TCP checks');
      let target: URL;
      try {
        target = new URL(c.HTTP);
      } catch {
        throw new HttpError(400, `Invalid check: invalid HTTP URL ${JSON.stringify(c.HTTP)}`);
      }
      if (target.protocol !== 'http:') throw new HttpError(400, 'Invalid check: this fake only runs http:// checks');
      const checkId: string = c.CheckID || c.ID || (checkDefs.length === 1 ? `service:${id}` : `service:${id}:${i + 1}`);
      const deregisterAfterMs = c.DeregisterCriticalServiceAfter === undefined ? undefined : durationMs(c.DeregisterCriticalServiceAfter);
      const status: CheckStatus = c.Status === 'passing' || c.Status === 'warning' ? c.Status : 'critical';
      return {
        CheckID: checkId,
        Name: c.Name || `Service '${name}' check`,
        ServiceID: id,
        ServiceName: name,
        HTTP: c.HTTP,
        Method: c.Method || 'GET',
        Interval: c.Interval,
        Timeout: c.Timeout,
        DeregisterCriticalServiceAfter: c.DeregisterCriticalServiceAfter,
        intervalMs: durationMs(c.Interval),
        timeoutMs: c.Timeout === undefined ? 10_000 : durationMs(c.Timeout),
        deregisterAfterMs: deregisterAfterMs === undefined ? undefined : Math.max(deregisterAfterMs, this.opts.minDeregisterMs ?? 60_000),
        Status: status,
        Output: '',
        history: [{ at: Date.now(), status, output: '' }],
        criticalSince: status === 'critical' ? Date.now() : undefined,
      };
    });
    // Re-registering an id replaces the service and its checks, as the agent does.
    this.removeService(id);
    this.services.set(id, { ID: id, Service: name, Tags: def.Tags ?? [], Meta: meta, Port: port, Address: def.Address ?? '' });
    for (const c of checks) {
      this.checks.set(c.CheckID, c);
      this.schedule(c, 0);
    }
    return undefined;
  }

  private deregister(rec: FakeConsulRequest, id: string): undefined {
    const svc = this.services.get(id);
    this.authorize(rec, 'service:write', svc?.Service ?? id);
    if (!svc) throw new HttpError(404, `Unknown service ID ${JSON.stringify(id)}. Ensure that the service ID is passed, not the service name.`);
    this.removeService(id);
    this.deregistered.push(id);
    return undefined;
  }

  private listServices(rec: FakeConsulRequest): Record<string, unknown> {
    if (this.opts.token && rec.token !== undefined && rec.token !== this.opts.token) throw new HttpError(403, 'ACL not found');
    // Without a token the anonymous token sees nothing under default-deny (filtered, not refused).
    if (this.opts.token && rec.token !== this.opts.token) return {};
    return Object.fromEntries(
      [...this.services.values()].map((s) => [
          s.ID,
          { ...s, TaggedAddresses: {}, Weights: { Passing: 1, Warning: 1 }, EnableTagOverride: false, Datacenter: 'dc1' },
        ]),
    );
  }

  private listChecks(rec: FakeConsulRequest): Record<string, unknown> {
    if (this.opts.token && rec.token !== undefined && rec.token !== this.opts.token) throw new HttpError(403, 'ACL not found');
    if (this.opts.token && rec.token !== this.opts.token) return {};
    return Object.fromEntries(
      [...this.checks.values()].map((c) => [
          c.CheckID,
          {
            Node: 'fake-consul',
            CheckID: c.CheckID,
            Name: c.Name,
            Status: c.Status,
            Notes: '',
            Output: c.Output,
            ServiceID: c.ServiceID,
            ServiceName: c.ServiceName,
            ServiceTags: this.services.get(c.ServiceID)?.Tags ?? [],
            Type: 'http',
            Interval: typeof c.Interval === 'string' ? c.Interval : `${c.intervalMs}ms`,
            Timeout: typeof c.Timeout === 'string' ? c.Timeout : `${c.timeoutMs}ms`,
          },
        ]),
    );
  }

  private removeService(id: string): void {
    this.services.delete(id);
    for (const [cid, c] of this.checks) {
      if (c.ServiceID !== id) continue;
      this.checks.delete(cid);
      clearTimeout(this.timers.get(cid));
      this.timers.delete(cid);
    }
  }

  // ---- checks --------------------------------------------------------------------------------

  private schedule(c: FakeCheck, delayMs: number): void {
    if (!this.server) return;
    clearTimeout(this.timers.get(c.CheckID));
    const t = setTimeout(() => void this.runCheck(c), delayMs);
    t.unref();
    this.timers.set(c.CheckID, t);
  }

  private async runCheck(c: FakeCheck): Promise<void> {
    const { status, output } = await httpCheck(c);
    if (this.checks.get(c.CheckID) !== c || !this.server) return; // deregistered or down meanwhile
    const now = Date.now();
    if (status !== c.Status || c.Output !== output) c.history.push({ at: now, status, output });
    if (status === 'critical') c.criticalSince ??= now;
    else c.criticalSince = undefined;
    c.Status = status;
    c.Output = output;
    if (c.deregisterAfterMs !== undefined && c.criticalSince !== undefined && now - c.criticalSince >= c.deregisterAfterMs) {
      this.removeService(c.ServiceID);
      this.reaped.push(c.ServiceID);
      return;
    }
    this.schedule(c, c.intervalMs);
  }

  /** Statuses a check went through (passing/warning/critical), oldest first. */
  statuses(checkId: string): CheckStatus[] {
    return this.checks.get(checkId)?.history.map((h) => h.status) ?? [];
  }
}

/** One run of an HTTP check, with the agent's status rules and output format. */
function httpCheck(c: FakeCheck): Promise<{ status: CheckStatus; output: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (status: CheckStatus, output: string) => {
      if (settled) return;
      settled = true;
      resolve({ status, output });
    };
    const req = httpRequest(c.HTTP, {
      method: c.Method,
      headers: { 'user-agent': 'Consul Health Check', accept: 'text/plain, text/*, */*' },
      timeout: c.timeoutMs,
    });
    req.on('timeout', () => {
      req.destroy();
      done('critical', `Get "${c.HTTP}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)`);
    });
    req.on('error', (err) => done('critical', `Get "${c.HTTP}": ${err.message}`));
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        if (body.length < 4096) body += d;
      });
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        const line = `HTTP ${c.Method} ${c.HTTP}: ${code} ${res.statusMessage ?? ''} Output: ${body}`;
        done(code >= 200 && code < 300 ? 'passing' : code === 429 ? 'warning' : 'critical', line);
      });
      res.on('error', (err) => done('critical', `Get "${c.HTTP}": ${err.message}`));
    });
    req.end();
  });
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}
