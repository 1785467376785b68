import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/*
 * A FAKE of the Anthropic Messages API, for tests only. It is not Anthropic's service and never
 * talks to it: a node:http server on 127.0.0.1 (random port) that implements POST /v1/messages
 * with the request and response shapes of the published API (https://docs.anthropic.com/en/api/messages,
 * https://docs.anthropic.com/en/api/errors), so the real @anthropic-ai/sdk client can be pointed
 * at it with `baseURL`. Each test scripts what the "model" does: the reply text (or a function of
 * the prompt), a delay, an error status (429 with retry-after, 500, 529, …), a malformed HTTP body
 * or a request that hangs. Every request received is recorded, headers included, so tests can
 * assert the prompt, the model, max_tokens and that the API key went only here.
 */

/** Error types of the published API, by HTTP status. */
const ERROR_TYPES: Record<number, string> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  402: 'billing_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

const DEFAULT_ERROR_MESSAGES: Record<number, string> = {
  429: 'Number of request tokens has exceeded your per-minute rate limit',
  500: 'Internal server error',
  504: 'Request timeout',
  529: 'Overloaded',
};

// Top-level request fields the Messages API accepts; anything else is "Extra inputs are not permitted".
const KNOWN_FIELDS = new Set([
  'model',
  'messages',
  'max_tokens',
  'system',
  'metadata',
  'stop_sequences',
  'stream',
  'temperature',
  'top_k',
  'top_p',
  'tools',
  'tool_choice',
  'thinking',
  'service_tier',
  'container',
  'mcp_servers',
  'context_management',
  'output_config',
  'output_format',
  'inference_geo',
]);

/** What the fake does with one request. With none of status/rawBody/hang set it answers 200 with `text`. */
export interface FakeReply {
  /** The assistant's text (content[0].text); a function gets the prompt (all user text joined). */
  text?: string | ((prompt: string, request: FakeRequest) => string);
  /** Wait this long before answering (the response counts as pending meanwhile). */
  delayMs?: number;
  /** Answer with this HTTP status and the documented error body (429 rate_limit_error, 500 api_error, 529 overloaded_error…). */
  status?: number;
  /** Error message for `status` (a documented default otherwise). */
  message?: string;
  /** With status 429 (or any error): the `retry-after` header, in seconds. */
  retryAfterSeconds?: number;
  /** Answer 200 with this exact body (e.g. malformed JSON) instead of a Messages API object. */
  rawBody?: string;
  /** Never answer: the request stays open until the client gives up (timeout) or the fake closes. */
  hang?: boolean;
}

export type FakeBehaviour = FakeReply | ((request: FakeRequest) => FakeReply);

/** One request as the fake received it. */
export interface FakeRequest {
  seq: number;
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The raw request body. */
  rawBody: string;
  /** The parsed JSON body (undefined when it was not JSON). */
  body: any;
  /** All user-message text joined with newlines ('' when the body was invalid). */
  prompt: string;
  receivedAt: number;
  /** Set when the response was fully written. */
  answeredAt?: number;
  /** HTTP status sent (undefined while pending, or when the client went away first). */
  status?: number;
  /** The client closed the connection before an answer was written. */
  aborted: boolean;
}

export interface FakeAnthropicOptions {
  /** The only API key accepted (in x-api-key or Authorization: Bearer). */
  apiKey: string;
  /** anthropic-version values accepted (the SDK's current one and the long-standing 2023-06-01). */
  versions?: readonly string[];
  /** When set, any other model gets 404 not_found_error. */
  models?: readonly string[];
  /** Default behaviour (a JSON-less "OK" answer otherwise). */
  behaviour?: FakeBehaviour;
}

export class FakeAnthropic {
  /** Base URL to give the SDK / ANTHROPIC_BASE_URL (no trailing slash, no /v1). */
  url = '';
  /** Every request received, in arrival order. */
  readonly requests: FakeRequest[] = [];
  /** Responses fully written (any status). */
  completed = 0;
  private behaviour: FakeBehaviour;
  private readonly queued: FakeBehaviour[] = [];
  private readonly server: Server;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly versions: ReadonlySet<string>;

  private constructor(private readonly opts: FakeAnthropicOptions) {
    this.behaviour = opts.behaviour ?? { text: 'OK' };
    this.versions = new Set(opts.versions ?? ['2023-06-01', '2026-10-21']);
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  /** Starts a fake on 127.0.0.1 and a random port. */
  static async start(opts: FakeAnthropicOptions): Promise<FakeAnthropic> {
    const fake = new FakeAnthropic(opts);
    await new Promise<void>((resolve, reject) => {
      fake.server.once('error', reject);
      fake.server.listen(0, '127.0.0.1', () => resolve());
    });
    fake.url = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}`;
    return fake;
  }

  /** Behaviour for every request from now on (after any queued one-shot replies). */
  setBehaviour(b: FakeBehaviour): void {
    this.behaviour = b;
  }

  /** One-shot behaviours, used in order by the next requests before the default one. */
  enqueue(...bs: FakeBehaviour[]): void {
    this.queued.push(...bs);
  }

  /** Requests received but not answered yet (delayed or hanging). */
  get pending(): FakeRequest[] {
    return this.requests.filter((r) => r.answeredAt === undefined && !r.aborted);
  }

  /** Forgets recorded requests and queued replies (the counters restart too). */
  reset(): void {
    this.requests.length = 0;
    this.queued.length = 0;
    this.completed = 0;
  }

  /** Resolves with the first recorded request matching `pred` (polling; rejects after timeoutMs). */
  async waitForRequest(pred: (r: FakeRequest) => boolean, timeoutMs = 10_000): Promise<FakeRequest> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.requests.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`fake Anthropic: no matching request within ${timeoutMs} ms (${this.requests.length} received)`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops listening and cuts every open connection (hanging requests end with a connection error). */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const rawBody = Buffer.concat(chunks).toString('utf8');
    const record: FakeRequest = {
      seq: this.requests.length + 1,
      method: req.method ?? '',
      path: (req.url ?? '').split('?')[0],
      headers: req.headers,
      rawBody,
      body: undefined,
      prompt: '',
      receivedAt: Date.now(),
      aborted: false,
    };
    this.requests.push(record);
    res.on('close', () => {
      if (record.answeredAt === undefined) record.aborted = true;
    });
    try {
      record.body = JSON.parse(rawBody);
    } catch {
      // stays undefined; answered below as an invalid request
    }

    if (record.path !== '/v1/messages') return this.error(record, res, 404, `${record.method} ${record.path}: not found`);
    if (record.method !== 'POST') return this.error(record, res, 405, `Method ${record.method} not allowed`);
    // Authentication comes first, as on the real API. The key is accepted in `x-api-key` (the
    // long-documented header) or as `Authorization: Bearer <key>`, which is how @anthropic-ai/sdk 1.x
    // (API version 2026-10-21) sends it.
    const key = apiKeyOf(req.headers);
    if (!key) return this.error(record, res, 401, 'x-api-key header is required');
    if (key !== this.opts.apiKey) return this.error(record, res, 401, 'invalid x-api-key');
    const version = header(req.headers, 'anthropic-version');
    if (!version) return this.error(record, res, 400, 'anthropic-version: header is required');
    if (!this.versions.has(version)) return this.error(record, res, 400, `anthropic-version: invalid version ${JSON.stringify(version)}`);
    if (!/^application\/json\b/i.test(header(req.headers, 'content-type') ?? '')) {
      return this.error(record, res, 400, 'Request body must be JSON (content-type: application/json)');
    }
    if (record.body === undefined) return this.error(record, res, 400, 'There was an error parsing the body of your request: invalid JSON');
    const invalid = validateBody(record.body);
    if (invalid) return this.error(record, res, 400, invalid);
    record.prompt = promptOf(record.body);
    if (this.opts.models && !this.opts.models.includes(record.body.model)) {
      return this.error(record, res, 404, `model: ${String(record.body.model)}`);
    }

    const next = this.queued.shift() ?? this.behaviour;
    const reply = typeof next === 'function' ? next(record) : next;
    if (reply.hang) return; // the client's timeout (or close()) ends it
    if (reply.delayMs && reply.delayMs > 0) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          this.timers.delete(t);
          resolve();
        }, reply.delayMs);
        this.timers.add(t);
      });
    }
    if (record.aborted || res.destroyed) return;
    if (reply.status !== undefined && reply.status !== 200) {
      return this.error(record, res, reply.status, reply.message ?? DEFAULT_ERROR_MESSAGES[reply.status] ?? 'error', reply.retryAfterSeconds);
    }
    if (reply.rawBody !== undefined) return this.send(record, res, 200, reply.rawBody);
    const text = typeof reply.text === 'function' ? reply.text(record.prompt, record) : (reply.text ?? 'OK');
    this.send(
      record,
      res,
      200,
      JSON.stringify({
        id: `msg_${randomBytes(12).toString('hex')}`,
        type: 'message',
        role: 'assistant',
        model: record.body.model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: tokens(record.rawBody), output_tokens: tokens(text), cache_creation_input_tokens: 0, cache_read_input_tokens: 0 },
      }),
    );
  }

  private error(record: FakeRequest, res: ServerResponse, status: number, message: string, retryAfterSeconds?: number): void {
    const type = ERROR_TYPES[status] ?? (status >= 500 ? 'api_error' : 'invalid_request_error');
    const id = requestId();
    const headers: Record<string, string> = { 'request-id': id };
    if (retryAfterSeconds !== undefined) headers['retry-after'] = String(retryAfterSeconds);
    this.send(record, res, status, JSON.stringify({ type: 'error', error: { type, message }, request_id: id }), headers);
  }

  private send(record: FakeRequest, res: ServerResponse, status: number, body: string, extra: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': requestId(), ...extra });
    res.end(body, () => {
      record.answeredAt = Date.now();
      record.status = status;
      this.completed++;
    });
  }
}

function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function apiKeyOf(h: IncomingHttpHeaders): string | undefined {
  const direct = header(h, 'x-api-key');
  if (direct) return direct;
  const m = /^Bearer\s+(\S+)$/i.exec(header(h, 'authorization') ?? '');
  return m?.[1];
}

function requestId(): string {
  return `req_${randomBytes(12).toString('hex')}`;
}

/** Rough token count (≈ 4 characters a token), enough for a plausible `usage`. */
function tokens(s: string): number {
  return Math.max(1, Math.ceil(s.length / 4));
}

function promptOf(body: { messages: { role: string; content: unknown }[] }): string {
  return body.messages
    .filter((m) => m.role === 'user')
    .map((m) =>
      typeof m.content === 'string'
        ? m.content
        : (m.content as { type: string; text?: string }[])
            .filter((b) => b.type === 'text')
            .map((b) => b.text ?? '')
            .join('\n'),
    )
    .join('\n');
}

/** The published API's body checks, with its messages; null when valid. */
function validateBody(body: unknown): string | null {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'Request body must be a JSON object';
  const b = body as Record<string, unknown>;
  for (const k of Object.keys(b)) if (!KNOWN_FIELDS.has(k)) return `${k}: Extra inputs are not permitted`;
  if (b.model === undefined) return 'model: Field required';
  if (typeof b.model !== 'string' || b.model.length === 0) return 'model: Input should be a valid string';
  if (b.max_tokens === undefined) return 'max_tokens: Field required';
  if (typeof b.max_tokens !== 'number' || !Number.isInteger(b.max_tokens)) return 'max_tokens: Input should be a valid integer';
  if (b.max_tokens < 1) return 'max_tokens: Input should be greater than or equal to 1';
  if (b.stream === true) return 'stream: this fake answers non-streaming requests only';
  if (b.temperature !== undefined && (typeof b.temperature !== 'number' || b.temperature < 0 || b.temperature > 1)) {
    return 'temperature: Input should be less than or equal to 1';
  }
  if (b.system !== undefined && typeof b.system !== 'string' && !Array.isArray(b.system)) return 'system: Input should be a valid string or list';
  if (b.messages === undefined) return 'messages: Field required';
  if (!Array.isArray(b.messages)) return 'messages: Input should be a valid list';
  if (b.messages.length === 0) return 'messages: at least one message is required';
  for (const [i, m] of (b.messages as unknown[]).entries()) {
    if (typeof m !== 'object' || m === null) return `messages.${i}: Input should be a valid dictionary`;
    const msg = m as Record<string, unknown>;
    if (msg.role === undefined) return `messages.${i}.role: Field required`;
    if (msg.role !== 'user' && msg.role !== 'assistant') return `messages.${i}.role: Input should be 'user' or 'assistant'`;
    if (msg.content === undefined) return `messages.${i}.content: Field required`;
    if (typeof msg.content === 'string') {
      if (msg.content.length === 0 && i < b.messages.length - 1) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
      continue;
    }
    if (!Array.isArray(msg.content)) return `messages.${i}.content: Input should be a valid string or list`;
    for (const [j, block] of (msg.content as unknown[]).entries()) {
      if (typeof block !== 'object' || block === null || typeof (block as { type?: unknown }).type !== 'string') {
        return `messages.${i}.content.${j}.type: Field required`;
      }
      const bl = block as { type: string; text?: unknown };
      if (bl.type === 'text' && (typeof bl.text !== 'string' || bl.text.length === 0)) return `messages.${i}.content.${j}.text: text content blocks must be non-empty`;
    }
  }
  if ((b.messages[0] as { role: string }).role !== 'user') return 'messages: first message must use the "user" role';
  return null;
}
