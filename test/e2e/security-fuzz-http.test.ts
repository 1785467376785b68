import { Logger } from '@nestjs/common';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HTTP_ROUTES, type HttpRoute } from '../../src/docs/http-routes';
import { ApiClient } from '../support/client';
import { startTestApp, type StorageMode, type TestApp } from '../support/app';
import {
  bigString,
  deepNesting,
  expectDbInvariants,
  expectNoPollution,
  FUZZ_SEED,
  hostilePayload,
  hostileString,
  hostileValue,
  INJECTION,
  NUMBERISH_STRINGS,
  projectRows,
  PROTO_WORDS,
  prototypeFingerprint,
  RawJson,
  Secret,
  SQLISH,
  toJsonText,
  TYPED_CODES,
  type FuzzTargets,
} from '../support/hostile';

// Security issue: property-based fuzzing of every HTTP endpoint (the route table, so a new route
// is fuzzed without touching this file). Hostile bodies (wrong types, non-JSON, wrong content
// types, over the size limit), path params, query strings and Authorization headers: every answer
// is JSON with a typed `code` (or a legitimate 2xx), never a 5xx, never a 2xx without the right
// key; afterwards the database invariants hold and project B, which only the fuzz's refused
// requests aim at, is untouched. Seed: FUZZ_SEED.

const NO_RATE_LIMIT = { RATE_LIMIT_AGENT_PER_MINUTE: '1000000', RATE_LIMIT_HANDSHAKE_PER_MINUTE: '1000000' };
const MAX_BODY_BYTES = 1_048_576;
/** Requests per storage mode, spread over the routes however many the table lists; at least FILE_MIN in all. */
const RUNS: Record<StorageMode, { unknownPaths: number; minTotal: number }> = {
  embedded: { unknownPaths: 200, minTotal: 3_000 },
  postgres: { unknownPaths: 50, minTotal: 500 },
};
const FILE_MIN = 3_500;
let fileTotal = 0;

/** Who the request claims to be; the real keys are filled in at send time (never printed). */
type AuthSpec =
  | { kind: 'none' | 'admin' | 'keyA' | 'keyB' | 'agentToken' | 'adminLower' | 'adminNoScheme' | 'adminBasic' | 'adminSuffixed' | 'adminTruncated' | 'adminTwice' | 'keyAWrongSecret' }
  | { kind: 'header'; value: string | RawJson };
/** A path parameter: project A, project B, or hostile text (encoded or as is). */
type ParamSpec = { kind: 'A' | 'B' } | { kind: 'text'; value: string | RawJson; encode: boolean };
type BodySpec = { kind: 'none' } | { kind: 'json'; value: unknown } | { kind: 'text'; text: string | RawJson };

interface RequestSpec {
  method: string;
  params: Record<string, ParamSpec>;
  query: string | RawJson;
  auth: AuthSpec;
  contentType: string | undefined;
  body: BodySpec;
}

/** Header-safe text (fetch refuses control characters and anything past U+00FF in headers). */
const headerText = fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./0123456789:;<=>?@ABCXYZ[\\]^_`abcxyz{|}~\u00a0\u00e9\u00ff'.split('')), maxLength: 60 });

const authSpec: fc.Arbitrary<AuthSpec> = fc.oneof(
  { arbitrary: fc.constantFrom<AuthSpec>({ kind: 'admin' }, { kind: 'keyA' }), weight: 18 },
  { arbitrary: fc.constantFrom<AuthSpec>({ kind: 'none' }, { kind: 'keyB' }, { kind: 'agentToken' }), weight: 9 },
  {
    arbitrary: fc.constantFrom<AuthSpec>({ kind: 'adminLower' }, { kind: 'adminNoScheme' }, { kind: 'adminBasic' }, { kind: 'adminSuffixed' }, { kind: 'adminTruncated' }, { kind: 'adminTwice' }),
    weight: 6,
  },
  // A well-formed key of project A with a wrong secret costs a (deliberately slow) scrypt check: rare.
  { arbitrary: fc.constant<AuthSpec>({ kind: 'keyAWrongSecret' }), weight: 1 },
  {
    arbitrary: fc
      .oneof(
        headerText,
        headerText.map((s) => `Bearer ${s}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Bearer  x', 'Bearer\tx', 'Bearer pmk_', 'Bearer pmk_0123456789abcdef_', `Bearer pmk_${'0'.repeat(16)}_${'A'.repeat(43)}`, 'Bearer null', 'Bearer undefined', "Bearer ' OR 1=1 --"),
      )
      .map((value): AuthSpec => ({ kind: 'header', value })),
    weight: 9,
  },
  // Long keys (the request head stays under Node's 16 KiB limit: see the test of that limit below).
  {
    arbitrary: fc.integer({ min: 1_000, max: 4_000 }).map((n): AuthSpec => ({ kind: 'header', value: new RawJson(`Bearer k×${n}`, () => `Bearer ${'k'.repeat(n)}`) })),
    weight: 3,
  },
);

const URL_WEIRD = ['%', '%zz', '%00', '%C0%AF', '%ED%A0%80', '..', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', ';', '*', '@', '~', "'", '%20', '+', '%2F', '%5C', '%0A', 'null', '-1', '0'];

const paramSpec: fc.Arbitrary<ParamSpec> = fc.oneof(
  { arbitrary: fc.constant<ParamSpec>({ kind: 'A' }), weight: 5 },
  { arbitrary: fc.constant<ParamSpec>({ kind: 'B' }), weight: 1 },
  { arbitrary: fc.constantFrom(...URL_WEIRD).map((value): ParamSpec => ({ kind: 'text', value, encode: false })), weight: 2 },
  {
    arbitrary: fc
      .oneof(
        hostileString.filter((s): s is string => typeof s === 'string' && s.length > 0 && s.length < 2_000),
        fc.uuid(),
        fc.constantFrom('00000000-0000-0000-0000-000000000000', ...PROTO_WORDS, ...SQLISH, ...NUMBERISH_STRINGS, ...INJECTION),
        fc.integer({ min: 1_000, max: 4_000 }).map((n) => new RawJson(`p×${n}`, () => 'p'.repeat(n))),
      )
      .map((value): ParamSpec => ({ kind: 'text', value, encode: true })),
    weight: 3,
  },
);

/** Query strings the routes ignore, which the parsers must still survive. */
const queryString: fc.Arbitrary<string | RawJson> = fc.oneof(
  { arbitrary: fc.constant(''), weight: 4 },
  {
    arbitrary: fc.constantFrom<string | RawJson>(
      '?__proto__[polluted]=1',
      '?constructor[prototype][polluted]=1',
      '?__proto__.polluted=1',
      '?a=1&a=2&a=3',
      '?%zz=%zz',
      '?%00=%00',
      '?a[b][c][d][e][f]=1',
      new RawJson('?a[×500=1', () => `?${'a['.repeat(500)}=1`),
      new RawJson('?x×4000=1', () => `?${'x'.repeat(4_000)}=1`),
      new RawJson('?k0=0&…k599=599', () => `?${Array.from({ length: 600 }, (_, i) => `k${i}=${i}`).join('&')}`),
      '?limit=-1&offset=NaN',
      '?limit=1e308&offset=-0',
      '?status[$ne]=done',
      '?id=%27%20OR%201%3D1--',
      '?&&&==&=',
      '?#fragment',
    ),
    weight: 3,
  },
  { arbitrary: fc.tuple(fc.string({ maxLength: 12 }), fc.string({ maxLength: 20 })).map(([k, v]) => `?${encodeURIComponent(k)}=${encodeURIComponent(v)}`), weight: 1 },
);

const CONTENT_TYPES = [
  'application/json',
  'application/json; charset=utf-8',
  'application/json; charset=utf-16',
  'application/json; charset=latin1',
  'application/json; charset=bogus',
  'application/vnd.api+json',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=xyz',
  'application/xml',
  'application/json, text/plain',
  '',
];

/** Bodies that are not JSON, or JSON over the size limit. */
const NOT_JSON = [
  '{',
  '{"name": "x",}',
  "{'name': 'x'}",
  '{"name": undefined}',
  '{"name": NaN}',
  'NaN',
  'undefined',
  '\u0000',
  '\uFEFF{"name":"bom"}',
  '[',
  ']',
  '"',
  '{"a":1}{"b":2}',
  '<?xml version="1.0"?><a/>',
  'name=x&__proto__[polluted]=1',
  '--xyz\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--xyz--',
  '\u00ff\u00fe{\u0000"\u0000',
];

/** Percent-encodes a path segment; lone surrogates (which encodeURIComponent refuses) as their WTF-8 bytes. */
function encodePathText(s: string): string {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\uD800-\uDFFF]/g, '')) + '%ED%A0%80';
  }
}

function bodySpec(route: HttpRoute, targets: FuzzTargets): fc.Arbitrary<BodySpec> {
  const base = baseBody(route);
  return fc.oneof(
    { arbitrary: hostilePayload(base, targets).map((value): BodySpec => ({ kind: 'json', value })), weight: 8 },
    { arbitrary: fc.constant<BodySpec>({ kind: 'none' }), weight: 1 },
    { arbitrary: fc.constantFrom(...NOT_JSON).map((text): BodySpec => ({ kind: 'text', text })), weight: 2 },
    { arbitrary: deepNesting.map((text): BodySpec => ({ kind: 'text', text })), weight: 1 },
    // Over the body limit: 413, typed. Near it (but valid JSON): refused by the schema instead.
    {
      arbitrary: fc.constantFrom(MAX_BODY_BYTES + 1, MAX_BODY_BYTES * 2, MAX_BODY_BYTES - 100, 700_000).map((n): BodySpec => ({ kind: 'text', text: bigString(n - 2) })),
      weight: 1,
    },
  );
}

/** A valid body of each route with a body schema (a route added later gets its schema's keys). */
function baseBody(route: HttpRoute): Record<string, unknown> | undefined {
  switch (route.body?.name) {
    case undefined:
      return undefined;
    case 'CreateProject':
      return { name: 'fuzzed project' };
    case 'CreateTask':
      return { name: 'fuzzed task', description: 'd', priority: 'high', labels: ['qa'], estimated_hours: 2, checklist: ['a'], acceptance_criteria: ['b'], due_date: '2030-01-01T00:00:00Z' };
    case 'AgentAuth':
      return { api_key: new Secret('keyA'), agent_id: 'fz-http' };
    case 'BoardSettings':
      return { provider: 'builtin' };
    default: {
      const shape = (route.body!.schema as { shape?: Record<string, unknown> }).shape ?? {};
      return Object.fromEntries(Object.keys(shape).map((k) => [k, 'x']));
    }
  }
}

function requestSpec(route: HttpRoute, targets: FuzzTargets): fc.Arbitrary<RequestSpec> {
  const names = [...route.path.matchAll(/:(\w+)/g)].map((m) => m[1]);
  const params = fc.tuple(...names.map((n) => (n === 'provider' ? fc.oneof(fc.constantFrom<ParamSpec>({ kind: 'text', value: 'github', encode: true }, { kind: 'text', value: 'linear', encode: true }), paramSpec) : paramSpec)));
  return fc.record({
    method: fc.oneof({ arbitrary: fc.constant(route.method.toUpperCase()), weight: 9 }, { arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD'), weight: 1 }),
    params: params.map((values) => Object.fromEntries(names.map((n, i) => [n, values[i]]))),
    query: queryString,
    auth: authSpec,
    contentType: fc.oneof({ arbitrary: fc.constant('application/json'), weight: 6 }, { arbitrary: fc.constantFrom(...CONTENT_TYPES, undefined), weight: 2 }),
    body: bodySpec(route, targets),
  });
}

describe.each(['embedded', 'postgres'] as const)('HTTP fuzz, hostile requests to every route (%s storage)', (mode) => {
  const runs = RUNS[mode];
  const perRoute = Math.ceil((runs.minTotal - runs.unknownPaths) / HTTP_ROUTES.length);
  let t: TestApp;
  let api: ApiClient;
  let projectA: { id: string; api_key: string };
  let projectB: { id: string; api_key: string };
  let agentToken: string;
  let targets: FuzzTargets;
  let rowsOfB: Record<string, string[]>;
  let protoBefore: Record<string, string[]>;
  const processErrors: unknown[] = [];
  const onProcessError = (e: unknown) => processErrors.push(e);
  const loggedErrors: string[] = [];
  const tally = new Map<string, number>();
  let total = 0;
  const count = (key: string) => tally.set(key, (tally.get(key) ?? 0) + 1);

  function secret(name: string): string {
    if (name === 'keyA') return projectA.api_key;
    if (name === 'keyB') return projectB.api_key;
    if (name === 'admin') return t.adminKey;
    return '';
  }

  function authorization(a: AuthSpec): string | undefined {
    switch (a.kind) {
      case 'none':
        return undefined;
      case 'admin':
        return `Bearer ${t.adminKey}`;
      case 'keyA':
        return `Bearer ${projectA.api_key}`;
      case 'keyB':
        return `Bearer ${projectB.api_key}`;
      case 'agentToken':
        return `Bearer ${agentToken}`;
      case 'adminLower':
        return `bearer ${t.adminKey}`;
      case 'adminNoScheme':
        return t.adminKey;
      case 'adminBasic':
        return `Basic ${t.adminKey}`;
      case 'adminSuffixed':
        return `Bearer ${t.adminKey}x`;
      case 'adminTruncated':
        return `Bearer ${t.adminKey.slice(0, -1)}`;
      case 'adminTwice':
        return `Bearer ${t.adminKey} ${t.adminKey}`;
      case 'keyAWrongSecret':
        return `Bearer ${projectA.api_key.slice(0, 21)}${'A'.repeat(43)}`;
      case 'header':
        return typeof a.value === 'string' ? a.value : a.value.text;
    }
  }

  /** Which credential actually reaches the server as a valid key (bearer scheme is case-insensitive). */
  function effectiveKey(a: AuthSpec): 'admin' | 'keyA' | 'keyB' | 'other' {
    if (a.kind === 'admin' || a.kind === 'adminLower') return 'admin';
    if (a.kind === 'keyA' || a.kind === 'keyB') return a.kind;
    return 'other';
  }

  function pathOf(route: HttpRoute, spec: RequestSpec): string {
    return route.path.replace(/:(\w+)/g, (_m, name: string) => {
      const p = spec.params[name];
      if (p.kind !== 'text') return p.kind === 'A' ? projectA.id : projectB.id;
      const value = typeof p.value === 'string' ? p.value : p.value.text;
      return p.encode ? encodePathText(value) : value;
    });
  }

  /** One request: a JSON answer, typed when refused, never 5xx, never 2xx without the right key. */
  async function fuzzOne(route: HttpRoute | undefined, spec: RequestSpec, rawPath?: string): Promise<void> {
    total++;
    fileTotal++;
    // Project B is only aimed at with keys that must not open it (its rows are compared at the end).
    const auth: AuthSpec = route && Object.values(spec.params).some((p) => p.kind === 'B') && ['admin', 'adminLower', 'keyB'].includes(spec.auth.kind) ? { kind: 'keyA' } : spec.auth;
    const path = rawPath ?? pathOf(route!, spec);
    const headers: Record<string, string> = {};
    const authz = authorization(auth);
    if (authz !== undefined) headers.authorization = authz;
    if (spec.contentType !== undefined) headers['content-type'] = spec.contentType;
    let body: string | undefined;
    if (spec.body.kind === 'json') body = toJsonText(spec.body.value, secret);
    else if (spec.body.kind === 'text') body = typeof spec.body.text === 'string' ? spec.body.text : spec.body.text.text;
    const method = spec.method;
    const canHaveBody = method !== 'GET' && method !== 'HEAD';
    const query = typeof spec.query === 'string' ? spec.query : spec.query.text;
    const res = await fetch(`${t.url}${path}${query}`, { method, headers, body: canHaveBody ? body : undefined, signal: AbortSignal.timeout(20_000) });
    const text = await res.text();
    const what = `${method} ${route?.path ?? 'unknown path'} → ${res.status}`;
    expect(res.status, `${what}: ${text.slice(0, 200)}`).toBeLessThan(500);
    if (method === 'HEAD' || res.status === 204) {
      count(`${res.status}`);
      return;
    }
    // Errors are always JSON; a success is JSON unless the route table says otherwise (the HTML reference).
    const produces = res.status < 400 && route?.produces ? route.produces : 'application/json';
    expect(res.headers.get('content-type') ?? '', `${what}: a ${produces} answer`).toMatch(new RegExp(`^${produces.replace('/', '\\/')}`));
    if (produces !== 'application/json') {
      count(`${res.status} ${produces}`);
      return;
    }
    const answer = JSON.parse(text) as Record<string, unknown>;
    if (res.status >= 400) {
      expect(TYPED_CODES, `${what}: code ${String(answer.code)}`).toContain(answer.code);
      expect(answer.error, what).toEqual(expect.any(String));
      count(`${res.status} ${String(answer.code)}`);
      return;
    }
    // A success: the route must be the one matched, with a key that grants it.
    expect(route, `${what}: success on a path outside the route table`).toBeDefined();
    const key = effectiveKey(auth);
    if (route!.auth === 'admin') expect(key, `${what} without the admin key`).toBe('admin');
    if (route!.auth === 'project') expect(['admin', 'keyA'], `${what} with key ${key}`).toContain(key);
    if (route!.path.startsWith('/api/v1/webhooks')) throw new Error(`${what}: a webhook accepted without a secret configured`);
    expect(answer).toBeTypeOf('object');
    count(`${res.status}`);
  }

  beforeAll(async () => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation((...args: unknown[]) => void loggedErrors.push(String(args[0]).slice(0, 500)));
    process.on('uncaughtException', onProcessError);
    process.on('unhandledRejection', onProcessError);
    protoBefore = prototypeFingerprint();
    t = await startTestApp(mode, NO_RATE_LIMIT);
    api = new ApiClient(t.url, t.adminKey);
    projectA = await api.createProject('http fuzz A');
    projectB = await api.createProject('http fuzz B');
    const tasksA = [(await api.addTask(projectA.id, { name: 'a0' })).id, (await api.addTask(projectA.id, { name: 'a1' })).id];
    const tasksB = [(await api.addTask(projectB.id, { name: 'b0' })).id];
    const b = await api.agent(projectB.api_key, 'fzb-http');
    expect(await b.call('request_next_task', { agent_id: 'fzb-http' })).toMatchObject({ success: true });
    b.close();
    agentToken = await api.token(projectA.api_key, 'fz-http');
    targets = { agentIds: ['fz-http', 'fzb-http'], taskIds: [...tasksA, ...tasksB] };
    await expectDbInvariants(t);
    rowsOfB = await projectRows(t, projectB.id);
  });

  afterAll(async () => {
    await t?.close();
    process.off('uncaughtException', onProcessError);
    process.off('unhandledRejection', onProcessError);
    vi.restoreAllMocks();
  });

  it('the route table is fuzzed whole', () => {
    expect(HTTP_ROUTES.length).toBeGreaterThanOrEqual(10);
  });

  it.each(HTTP_ROUTES.map((r, i) => [`${r.method.toUpperCase()} ${r.path}`, i] as const))('%s: hostile requests get a typed answer', async (_label, index) => {
    const route = HTTP_ROUTES[index];
    const before = total;
    await fc.assert(
      fc.asyncProperty(requestSpec(route, targets), async (spec) => fuzzOne(route, spec)),
      { seed: FUZZ_SEED + index, numRuns: perRoute, endOnFailure: true },
    );
    expect(total - before).toBe(perRoute);
    expect((await api.request('GET', '/health/live')).status).toBe(200);
  }, 240_000);

  it('paths outside the route table: 404 typed, never a 5xx', async () => {
    const segment = fc.oneof(
      fc.constantFrom(...URL_WEIRD, ...PROTO_WORDS, 'api', 'v1', 'projects', 'admin', '.env', '.git', 'health', 'metrics'),
      hostileString.filter((s): s is string => typeof s === 'string' && s.length < 500).map(encodePathText),
    );
    const arb = fc.tuple(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH'), queryString, authSpec, hostileValue);
    const before = total;
    await fc.assert(
      fc.asyncProperty(arb, async ([segments, method, query, auth, value]) => {
        const path = `/api/v1/${segments.join('/')}`;
        // Skip the (rare) generated path that is a real route: that one is covered above.
        const spec: RequestSpec = { method, params: {}, query, auth, contentType: 'application/json', body: { kind: 'json', value } };
        await fuzzOne(undefined, spec, path);
      }),
      { seed: FUZZ_SEED + 1_000, numRuns: runs.unknownPaths, endOnFailure: true },
    );
    expect(total - before).toBe(runs.unknownPaths);
  }, 240_000);

  it("a request head over Node's 16 KiB limit is refused (431) before the app, and the server carries on", async () => {
    for (const [label, init] of [
      ['a 20 KB Authorization header', { headers: { authorization: `Bearer ${'k'.repeat(20_000)}` } }],
      ['a 20 KB query string', { query: `?q=${'x'.repeat(20_000)}` }],
    ] as const) {
      total++;
      fileTotal++;
      const res = await fetch(`${t.url}/api/v1/projects/${projectA.id}/tasks${'query' in init ? init.query : ''}`, { headers: 'headers' in init ? init.headers : {}, signal: AbortSignal.timeout(20_000) });
      const text = await res.text();
      expect(res.status, label).toBe(431);
      // Node's parser refuses it before Nest; the server's clientError handler still answers typed JSON.
      expect(JSON.parse(text), label).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', error: expect.any(String) });
      count('431 (request head too large)');
      expect((await api.request('GET', '/health/live')).status).toBe(200);
    }
  });

  it('afterwards: invariants hold, project B untouched, nothing polluted, no error, counts printed', async () => {
    expect(processErrors).toEqual([]);
    expect(loggedErrors, 'errors the server logged (unexpected failures)').toEqual([]);
    expectNoPollution(protoBefore);
    await expectDbInvariants(t);
    expect(await projectRows(t, projectB.id)).toEqual(rowsOfB);
    expect((await api.request('GET', '/health/ready')).status).toBe(200);
    expect(await api.listTasks(projectA.id)).toEqual(expect.any(Array));
    const byCode = [...tally.entries()].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k}=${n}`).join(', ');
    console.log(`[http fuzz ${mode}] seed ${FUZZ_SEED}: ${total} hostile requests over ${HTTP_ROUTES.length} routes; outcomes: ${byCode}`);
    expect(total).toBeGreaterThanOrEqual(runs.minTotal);
    if (mode === 'postgres') {
      console.log(`[http fuzz] ${fileTotal} hostile requests in this file`);
      expect(fileTotal).toBeGreaterThanOrEqual(FILE_MIN);
    }
    expect([...tally.keys()].some((k) => k.startsWith('2')), 'some requests were valid and succeeded').toBe(true);
    expect(tally.get('413 PAYLOAD_TOO_LARGE') ?? 0, 'bodies over the limit were refused as such').toBeGreaterThan(0);
  });
});
