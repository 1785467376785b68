import { randomUUID } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/*
 * A FAKE of the Kubernetes API server, for tests only. It is not Kubernetes and never talks to
 * one: a node:http server on 127.0.0.1 that implements the Lease endpoints of the
 * coordination.k8s.io/v1 API and nothing else, with the object and error shapes of the published
 * API (https://kubernetes.io/docs/reference/kubernetes-api/cluster-resources/lease-v1/ and
 * https://kubernetes.io/docs/reference/using-api/api-concepts/), so the real
 * @kubernetes/client-node CoordinationV1Api can be pointed at it:
 *
 *   GET  /apis/coordination.k8s.io/v1/namespaces/:ns/leases         LeaseList (items without kind/apiVersion)
 *   GET  /apis/coordination.k8s.io/v1/namespaces/:ns/leases/:name   Lease, or 404 Status NotFound
 *   POST /apis/coordination.k8s.io/v1/namespaces/:ns/leases         201 Lease; 409 Status AlreadyExists for an
 *                                                                   existing name; 500 when the body carries a
 *                                                                   resourceVersion (the storage layer refuses it)
 *   PUT  /apis/coordination.k8s.io/v1/namespaces/:ns/leases/:name   200 Lease; optimistic concurrency on
 *                                                                   metadata.resourceVersion: stale → 409 Status
 *                                                                   Conflict, missing → 422 Invalid (Leases do not
 *                                                                   allow unconditional updates); a missing Lease is
 *                                                                   created (201), as Leases allow create-on-update
 *
 * Objects look like the API server's: apiVersion, kind, metadata {name, namespace, uid,
 * resourceVersion, creationTimestamp, labels?, annotations?}, spec {holderIdentity,
 * leaseDurationSeconds, acquireTime, renewTime, leaseTransitions}. resourceVersion is one counter
 * for the whole fake (like etcd's revision), bumped on every write. MicroTime fields must have
 * exactly six fractional digits (Go parses them with layout 2006-01-02T15:04:05.000000Z07:00) or
 * the request is a 400; the spec is validated like ValidateLeaseSpec (422 Invalid).
 *
 * Every request needs `Authorization: Bearer <token>` (401 Status Unauthorized otherwise), as with
 * a service-account token. Errors are `Status` objects (kind Status, status Failure, reason, code,
 * details {name, group, kind}).
 *
 * Test controls: setDown(true) answers every request 503; failNext(n, status) answers the next n
 * requests with that status; rateLimitNext(n) answers the next n with API Priority and Fairness'
 * 429 (Retry-After header, details.retryAfterSeconds); injectConflicts(n) answers the next n PUTs
 * 409 Conflict even when their resourceVersion is current; `requests` logs every request.
 */

const GROUP = 'coordination.k8s.io';
const API_VERSION = `${GROUP}/v1`;
const PREFIX = `/apis/${API_VERSION}/namespaces/`;
// metav1.RFC3339Micro, as a pattern.
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export interface FakeLeaseSpec {
  holderIdentity?: string | null;
  leaseDurationSeconds?: number | null;
  acquireTime?: string | null;
  renewTime?: string | null;
  leaseTransitions?: number | null;
  [field: string]: unknown;
}

export interface FakeLease {
  apiVersion: string;
  kind: 'Lease';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: FakeLeaseSpec;
}

/** One request as the fake received it. */
export interface FakeK8sRequest {
  seq: number;
  method: string;
  path: string;
  namespace?: string;
  name?: string;
  /** Parsed JSON body, when there was one. */
  body?: any;
  headers: IncomingHttpHeaders;
  status?: number;
  /** The Status reason of an error answer. */
  reason?: string;
  receivedAt: number;
}

class StatusError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details?: Record<string, unknown>,
    readonly reason = REASONS[code] ?? 'Unknown',
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const qualified = (name: string) => `leases.${GROUP} "${name}"`;
const notFound = (name: string) => new StatusError(404, `${qualified(name)} not found`, { name, group: GROUP, kind: 'leases' });
const conflict = (name: string) =>
  new StatusError(409, `Operation cannot be fulfilled on ${qualified(name)}: the object has been modified; please apply your changes to the latest version and try again`, {
    name,
    group: GROUP,
    kind: 'leases',
  });

function invalid(kindQualified: string, name: string, kind: string, causes: { field: string; message: string; reason?: string }[]): StatusError {
  const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
  return new StatusError(422, `${kindQualified} "${name}" is invalid: ${text}`, {
    name,
    group: GROUP,
    kind,
    causes: causes.map((c) => ({ reason: c.reason ?? 'FieldValueInvalid', message: c.message, field: c.field })),
  });
}

const clone = <T>(v: T): T => structuredClone(v);
const rfc3339Seconds = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');

export interface FakeK8sLeaseOptions {
  /** The bearer token requests must carry (default 'test-token'). */
  token?: string;
}

export class FakeK8sLeaseServer {
  url = '';
  port = 0;
  /** Every request received, in arrival order. */
  readonly requests: FakeK8sRequest[] = [];
  /** Answer every request this much later (a slow API server). */
  delayMs = 0;
  private readonly leases = new Map<string, FakeLease>();
  private revision = 100;
  private down = false;
  private failures: number[] = [];
  private rateLimited = 0;
  private conflicts = 0;
  private seq = 0;
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  private readonly token: string;

  private constructor(opts: FakeK8sLeaseOptions) {
    this.token = opts.token ?? 'test-token';
  }

  static async start(opts: FakeK8sLeaseOptions = {}): Promise<FakeK8sLeaseServer> {
    const fake = new FakeK8sLeaseServer(opts);
    const server = createServer((req, res) => void fake.handle(req, res));
    server.on('connection', (s: Socket) => {
      fake.sockets.add(s);
      s.once('close', () => fake.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.server = server;
    fake.port = (server.address() as AddressInfo).port;
    fake.url = `http://127.0.0.1:${fake.port}`;
    return fake;
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** While down, every request is answered 503. */
  setDown(down: boolean): void {
    this.down = down;
  }

  /** The next `n` requests are answered with `status` (a Status object with the matching reason). */
  failNext(n: number, status: number): void {
    for (let i = 0; i < n; i++) this.failures.push(status);
  }

  /** The next `n` requests are refused the way API Priority and Fairness does: 429 with Retry-After. */
  rateLimitNext(n: number): void {
    this.rateLimited += n;
  }

  /** The next `n` PUTs answer 409 Conflict even when their resourceVersion is current. */
  injectConflicts(n: number): void {
    this.conflicts += n;
  }

  /** The stored Lease (a copy), or undefined. */
  lease(namespace: string, name: string): FakeLease | undefined {
    const l = this.leases.get(`${namespace}/${name}`);
    return l && clone(l);
  }

  /** Requests of one method (and optionally one Lease name). */
  requestsOf(method: string, name?: string): FakeK8sRequest[] {
    return this.requests.filter((r) => r.method === method && (name === undefined || r.name === name));
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake-k8s');
    const rec: FakeK8sRequest = { seq: ++this.seq, method: req.method ?? 'GET', path: url.pathname, headers: req.headers, receivedAt: Date.now() };
    this.requests.push(rec);
    if (this.delayMs > 0) {
      await new Promise((r) => setTimeout(r, this.delayMs));
      if (res.destroyed) return;
    }
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache, private', ...headers });
      res.end(JSON.stringify(body));
    };
    try {
      const [status, body] = this.route(rec, raw, req.headers);
      send(status, body);
    } catch (err) {
      const e = err instanceof StatusError ? err : new StatusError(500, `Internal error occurred: ${(err as Error).message}`);
      rec.reason = e.reason;
      send(
        e.code,
        { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: e.message, reason: e.reason, ...(e.details ? { details: e.details } : {}), code: e.code },
        e.headers,
      );
    }
  }

  private route(rec: FakeK8sRequest, raw: string, headers: IncomingHttpHeaders): [number, unknown] {
    if (this.down) throw new StatusError(503, 'the server is currently unable to handle the request');
    const failure = this.failures.shift();
    if (failure !== undefined) throw new StatusError(failure, `injected failure (${failure})`);

    const auth = headers.authorization ?? '';
    if (!auth.startsWith('Bearer ') || auth.slice(7) !== this.token) throw new StatusError(401, 'Unauthorized');

    // API Priority and Fairness judges authenticated requests.
    if (this.rateLimited > 0) {
      this.rateLimited--;
      throw new StatusError(429, 'Too many requests, please try again later.', { retryAfterSeconds: 1 }, 'TooManyRequests', { 'retry-after': '1' });
    }

    if (!rec.path.startsWith(PREFIX)) throw new StatusError(404, 'the server could not find the requested resource');
    const parts = rec.path.slice(PREFIX.length).split('/').map(decodeURIComponent);
    if (parts.length < 2 || parts.length > 3 || parts[1] !== 'leases' || !parts[0]) throw new StatusError(404, 'the server could not find the requested resource');
    const namespace = parts[0];
    const name = parts[2];
    rec.namespace = namespace;
    rec.name = name;

    if (name === undefined) {
      if (rec.method === 'GET') return [200, this.list(namespace)];
      if (rec.method === 'POST') return this.create(rec, namespace, this.decode(rec, raw, headers));
    } else {
      if (rec.method === 'GET') return [200, this.get(namespace, name)];
      if (rec.method === 'PUT') return this.replace(rec, namespace, name, this.decode(rec, raw, headers));
    }
    throw new StatusError(405, `the server does not allow this method on the requested resource`);
  }

  private list(namespace: string) {
    const items = [...this.leases.values()]
      .filter((l) => l.metadata.namespace === namespace)
      // List items carry no kind/apiVersion of their own.
      .map((l) => ({ metadata: clone(l.metadata), spec: clone(l.spec) }));
    return { kind: 'LeaseList', apiVersion: API_VERSION, metadata: { resourceVersion: String(this.revision) }, items };
  }

  private get(namespace: string, name: string): FakeLease {
    const l = this.leases.get(`${namespace}/${name}`);
    if (!l) throw notFound(name);
    return clone(l);
  }

  private create(rec: FakeK8sRequest, namespace: string, body: Partial<FakeLease>): [number, FakeLease] {
    const name = body.metadata?.name ?? '';
    if (!name) throw invalid(`Lease.${GROUP}`, '', 'Lease', [{ field: 'metadata.name', message: 'Required value: name or generateName is required', reason: 'FieldValueRequired' }]);
    rec.name = name;
    this.checkNamespace(body, namespace);
    this.validate(name, body.spec ?? {});
    const key = `${namespace}/${name}`;
    if (this.leases.has(key)) throw new StatusError(409, `${qualified(name)} already exists`, { name, group: GROUP, kind: 'leases' }, 'AlreadyExists');
    if (body.metadata?.resourceVersion) throw new StatusError(500, 'Internal error occurred: resourceVersion should not be set on objects to be created');
    return [201, this.store(namespace, name, body)];
  }

  private replace(rec: FakeK8sRequest, namespace: string, name: string, body: Partial<FakeLease>): [number, FakeLease] {
    const bodyName = body.metadata?.name ?? '';
    if (bodyName !== name) throw new StatusError(400, `the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    this.checkNamespace(body, namespace);
    this.validate(name, body.spec ?? {});
    if (this.conflicts > 0) {
      this.conflicts--;
      rec.reason = 'Conflict (injected)';
      throw conflict(name);
    }
    const existing = this.leases.get(`${namespace}/${name}`);
    if (!existing) return [201, this.store(namespace, name, body)];
    const version = body.metadata?.resourceVersion;
    if (!version) {
      throw invalid(`leases.${GROUP}`, name, 'leases', [{ field: 'metadata.resourceVersion', message: 'Invalid value: 0x0: must be specified for an update' }]);
    }
    if (version !== existing.metadata.resourceVersion) throw conflict(name);
    return [200, this.store(namespace, name, body, existing)];
  }

  private store(namespace: string, name: string, body: Partial<FakeLease>, existing?: FakeLease): FakeLease {
    const lease: FakeLease = {
      apiVersion: API_VERSION,
      kind: 'Lease',
      metadata: {
        name,
        namespace,
        // Server-owned fields survive an update whatever the client sent.
        uid: existing?.metadata.uid ?? randomUUID(),
        resourceVersion: String(++this.revision),
        creationTimestamp: existing?.metadata.creationTimestamp ?? rfc3339Seconds(new Date()),
        ...(body.metadata?.labels ? { labels: body.metadata.labels } : {}),
        ...(body.metadata?.annotations ? { annotations: body.metadata.annotations } : {}),
      },
      spec: Object.fromEntries(Object.entries(body.spec ?? {}).filter(([, v]) => v !== null && v !== undefined)),
    };
    this.leases.set(`${namespace}/${name}`, lease);
    return clone(lease);
  }

  private checkNamespace(body: Partial<FakeLease>, namespace: string): void {
    const ns = body.metadata?.namespace;
    if (ns && ns !== namespace) throw new StatusError(400, 'the namespace of the provided object does not match the namespace sent on the request');
  }

  /** Decodes a Lease body the way the API server's JSON decoder would (400 on what it cannot decode). */
  private decode(rec: FakeK8sRequest, raw: string, headers: IncomingHttpHeaders): Partial<FakeLease> {
    const type = (headers['content-type'] ?? '').split(';')[0].trim();
    if (type !== 'application/json') throw new StatusError(415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
    const cannot = (why: string) => new StatusError(400, `Lease in version "v1" cannot be handled as a Lease: ${why}`);
    let body: any;
    try {
      body = JSON.parse(raw);
    } catch (err) {
      throw cannot((err as Error).message);
    }
    rec.body = body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw cannot('json: cannot unmarshal into Go value of type coordination.Lease');
    if (body.kind !== undefined && body.kind !== 'Lease') throw new StatusError(400, `the object provided is unrecognized (must be of type Lease): ${String(body.kind)}`);
    if (body.apiVersion !== undefined && body.apiVersion !== API_VERSION) throw new StatusError(400, `the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${API_VERSION})`);
    const spec = body.spec ?? {};
    if (typeof spec !== 'object' || Array.isArray(spec)) throw cannot('json: cannot unmarshal into Go struct field Lease.spec of type v1.LeaseSpec');
    for (const f of ['acquireTime', 'renewTime']) {
      const v = spec[f];
      if (v === null || v === undefined) continue;
      if (typeof v !== 'string') throw cannot(`json: cannot unmarshal ${typeof v} into Go struct field LeaseSpec.spec.${f} of type string`);
      if (!MICRO_TIME.test(v)) throw cannot(`parsing time "${v}" as "2006-01-02T15:04:05.000000Z07:00": cannot parse "${v.slice(19)}" as ".000000"`);
    }
    for (const f of ['leaseDurationSeconds', 'leaseTransitions']) {
      const v = spec[f];
      if (v === null || v === undefined) continue;
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) > 2 ** 31 - 1) {
        throw cannot(`json: cannot unmarshal ${typeof v === 'number' ? `number ${v}` : typeof v} into Go struct field LeaseSpec.spec.${f} of type int32`);
      }
    }
    if (spec.holderIdentity !== undefined && spec.holderIdentity !== null && typeof spec.holderIdentity !== 'string') {
      throw cannot(`json: cannot unmarshal ${typeof spec.holderIdentity} into Go struct field LeaseSpec.spec.holderIdentity of type string`);
    }
    return body as Partial<FakeLease>;
  }

  /** ValidateLeaseSpec. */
  private validate(name: string, spec: FakeLeaseSpec): void {
    const causes: { field: string; message: string }[] = [];
    if (typeof spec.leaseDurationSeconds === 'number' && spec.leaseDurationSeconds <= 0) {
      causes.push({ field: 'spec.leaseDurationSeconds', message: `Invalid value: ${spec.leaseDurationSeconds}: must be greater than 0` });
    }
    if (typeof spec.leaseTransitions === 'number' && spec.leaseTransitions < 0) {
      causes.push({ field: 'spec.leaseTransitions', message: `Invalid value: ${spec.leaseTransitions}: must be greater than or equal to 0` });
    }
    if (causes.length) throw invalid(`Lease.${GROUP}`, name, 'Lease', causes);
  }
}
