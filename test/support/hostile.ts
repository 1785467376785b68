import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { expect } from 'vitest';
import { AgentErrorCode, AuthErrorCode, CommonErrorCode, KanbanErrorCode, ProjectErrorCode, TaskErrorCode } from '../../src/common/errors';
import type { TestApp } from './app';

// Hostile inputs for the property-based fuzz tests (test/e2e/security-fuzz-*.test.ts): wrong
// types, huge strings, deep nesting, prototype-pollution keys, unicode edge cases, odd numbers,
// and valid payloads with some of their fields replaced by any of those.

/** Fixed by default so CI runs are reproducible; `FUZZ_SEED=<int>` explores other inputs. */
export const FUZZ_SEED = process.env.FUZZ_SEED !== undefined && process.env.FUZZ_SEED !== '' ? Number(process.env.FUZZ_SEED) | 0 : 424242;

/** Every code a refusal may carry; INTERNAL is deliberately absent (it means a bug). */
export const TYPED_CODES: readonly string[] = [
  ...Object.values(CommonErrorCode),
  ...Object.values(AuthErrorCode),
  ...Object.values(ProjectErrorCode),
  ...Object.values(AgentErrorCode),
  ...Object.values(TaskErrorCode),
  ...Object.values(KanbanErrorCode),
].filter((c) => c !== CommonErrorCode.INTERNAL);

// ---------------------------------------------------------------------------------------------
// Wire-level markers. Huge and deeply nested values are carried as ready-made JSON text: building
// a 10,000-level object (or printing a 1 MB string in a counterexample) would hurt the test
// process, not the server. `Secret` stands for a key or token the test fills in when sending, so
// a failing counterexample never shows one.

/** JSON text spliced verbatim into the serialized payload; prints as its label. */
export class RawJson {
  private cached?: string;
  constructor(
    readonly label: string,
    private readonly make: () => string,
  ) {}
  get text(): string {
    return (this.cached ??= this.make());
  }
  [fc.toStringMethod](): string {
    return `RawJson(${this.label})`;
  }
}

/** A credential by name (e.g. `adminKey`), replaced by its value when the request is built. */
export class Secret {
  constructor(readonly name: string) {}
  [fc.toStringMethod](): string {
    return `Secret(${this.name})`;
  }
}

export function containsMarker(v: unknown, depth = 0): boolean {
  if (v instanceof RawJson || v instanceof Secret) return true;
  if (depth > 20 || typeof v !== 'object' || v === null || Buffer.isBuffer(v)) return false;
  return Object.values(v).some((x) => containsMarker(x, depth + 1));
}

/**
 * JSON text of a payload with its markers expanded (`undefined` when the value has no JSON form,
 * e.g. `undefined` itself). NaN and Infinity become null, as with any JSON client.
 */
export function toJsonText(value: unknown, secrets: (name: string) => string = () => ''): string | undefined {
  const nonce = randomBytes(6).toString('hex');
  const raws: string[] = [];
  const json = JSON.stringify(value, (_k, v: unknown) => {
    if (v instanceof RawJson) {
      raws.push(v.text);
      return `@@raw${nonce}_${raws.length - 1}@@`;
    }
    if (v instanceof Secret) return secrets(v.name);
    return v;
  });
  if (json === undefined) return undefined;
  return raws.length === 0 ? json : json.replace(new RegExp(`"@@raw${nonce}_(\\d+)@@"`, 'g'), (_m, i: string) => raws[Number(i)]);
}

/** A plain object with `key` as a real own property (works for `__proto__`, unlike `{[key]: v}`). */
export function withOwn(base: Record<string, unknown>, key: string, value: unknown): Record<string, unknown> {
  const out = { ...base };
  Object.defineProperty(out, key, { value, enumerable: true, configurable: true, writable: true });
  return out;
}

// ---------------------------------------------------------------------------------------------
// Strings

export const UNICODE_EDGE = [
  '\u0000',
  'a\u0000b',
  'agent\u0000',
  '\uD800',
  '\uDFFF',
  'x\uDBFFy',
  '\uDC00\uD800',
  '\u202Eevil\u202C',
  '\u200B',
  '\u200D\u200D',
  '\uFEFF',
  '\uFFFE',
  '\uFFFF',
  '😀',
  '👩‍👩‍👧‍👦',
  'e\u0301\u0301\u0301\u0301',
  '\u0085',
  '\u2028\u2029',
  'Ａｄｍｉｎ',
  '\u00C0\u00AF',
  '\u00C0\u0080',
  '%C0%AF',
  '%00',
  '\u007F',
  '\t\r\n',
  '\r\n\r\nHTTP/1.1 200 OK',
  ' ',
  '   ',
  '',
  'İ',
  'ß'.repeat(100),
  '\u0301',
  '\uD83D',
  '\u{10FFFF}',
  '\u{E0001}tag',
] as const;

export const SQLISH = [
  "' OR 1=1 --",
  "'; DROP TABLE tasks; --",
  '1; SELECT pg_sleep(30)',
  "x' UNION SELECT key_hash FROM api_keys --",
  '$1',
  "E'\\x00'",
  "\\'",
  'NULL',
  'null',
  'undefined',
  'true',
  '%',
  '_',
  '\\',
  '*/',
  "');--",
] as const;

export const PROTO_WORDS = ['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__', 'isPrototypeOf'] as const;

export const NUMBERISH_STRINGS = ['NaN', 'Infinity', '-Infinity', '-0', '1e308', '-1', '0', '99999999999999999999999', '9223372036854775808', '0x10', '1_000', ' 5 ', '5.5', '1e-400', '+1'] as const;

export const INJECTION = [
  '%s%s%s%n',
  '${7*7}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..\\..\\windows\\win.ini',
  'file:///etc/passwd',
  'javascript:alert(1)',
  '\u001b[31mred\u001b[0m',
  'Bearer x',
] as const;

/** A string of `n` characters as raw JSON, without holding it in the counterexample. */
export const bigString = (n: number, ch = 'x'): RawJson => new RawJson(`'${ch}'×${n}`, () => JSON.stringify(ch.repeat(n)));

/** Lengths around the schemas' limits (64, 100, 128, 200, 255, 500, 1000, 2000, 10k, 20k, 512 KiB). */
export const EDGE_LENGTHS = [63, 64, 65, 100, 101, 127, 128, 129, 199, 200, 201, 255, 256, 499, 500, 501, 999, 1000, 1001, 2000, 2001, 10_000, 10_001, 20_000, 20_001, 512 * 1024, 512 * 1024 + 1];

export const hostileString: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...UNICODE_EDGE), weight: 4 },
  { arbitrary: fc.constantFrom(...SQLISH), weight: 2 },
  { arbitrary: fc.constantFrom(...PROTO_WORDS), weight: 2 },
  { arbitrary: fc.constantFrom(...NUMBERISH_STRINGS), weight: 2 },
  { arbitrary: fc.constantFrom(...INJECTION), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 20 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 30 }), weight: 2 },
  // Valid-looking text with an edge character somewhere in it.
  {
    arbitrary: fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom(...UNICODE_EDGE), fc.string({ maxLength: 10 })).map(([a, b, c]) => `${a}${b}${c}`),
    weight: 3,
  },
  { arbitrary: fc.constantFrom(...EDGE_LENGTHS).map((n) => (n <= 2001 ? 'y'.repeat(n) : bigString(n))), weight: 2 },
  { arbitrary: fc.integer({ min: 100_000, max: 900_000 }).map((n) => bigString(n, 'é')), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Numbers

export const HOSTILE_NUMBERS = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  -1,
  1e308,
  -1e308,
  Number.MAX_VALUE,
  Number.MIN_VALUE,
  Number.MAX_SAFE_INTEGER,
  Number.MAX_SAFE_INTEGER + 2,
  -Number.MAX_SAFE_INTEGER - 2,
  2 ** 31,
  2 ** 31 - 1,
  -(2 ** 31),
  2 ** 63,
  2 ** 64,
  0.1 + 0.2,
  1.5,
  -0.5,
  101,
  100,
  33,
  32,
  1e21,
] as const;

export const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_NUMBERS), weight: 4 },
  { arbitrary: fc.double(), weight: 2 },
  { arbitrary: fc.integer(), weight: 1 },
  { arbitrary: fc.integer({ min: -100, max: 200 }), weight: 1 },
  // A number too large for any integer type, as JSON text (parsed as 1e+30 or Infinity).
  { arbitrary: fc.constantFrom('123456789012345678901234567890', '1e99999', '-1e99999', '1' + '0'.repeat(400)).map((t) => new RawJson(`number ${t.slice(0, 12)}…`, () => t)), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Structure

/** 1,000–10,000 levels of arrays, objects or both, as JSON text. */
export const deepNesting: fc.Arbitrary<RawJson> = fc
  .tuple(fc.integer({ min: 1_000, max: 10_000 }), fc.constantFrom('array', 'object', 'mixed', 'proto'))
  .map(([depth, kind]) => {
    return new RawJson(`${kind} nested ${depth} deep`, () => {
      switch (kind) {
        case 'array':
          return '['.repeat(depth) + ']'.repeat(depth);
        case 'object':
          return '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
        case 'mixed':
          return '[{"a":'.repeat(depth) + 'null' + '}]'.repeat(depth);
        case 'proto':
          return '{"__proto__":'.repeat(depth) + '{"polluted":"deep"}' + '}'.repeat(depth);
      }
    });
  });

/** Markers a successful prototype pollution would leave on `{}`. */
export const POLLUTION_MARKERS = ['polluted', 'isAdmin', 'fuzzPolluted'] as const;

/** Objects whose own keys are `__proto__`, `constructor`, `prototype` (as JSON.parse makes them). */
export const protoObject: fc.Arbitrary<unknown> = fc.constantFrom(
  () => JSON.parse('{"__proto__":{"polluted":"yes","isAdmin":true}}') as unknown,
  () => JSON.parse('{"constructor":{"prototype":{"polluted":"yes"}}}') as unknown,
  () => JSON.parse('{"prototype":{"fuzzPolluted":1}}') as unknown,
  () => JSON.parse('{"__proto__":[1,2,3],"length":5}') as unknown,
  () => JSON.parse('{"__proto__":null}') as unknown,
  () => JSON.parse('{"toString":"x","valueOf":1,"hasOwnProperty":null}') as unknown,
  () => JSON.parse('{"a":{"__proto__":{"polluted":"nested"}},"constructor":"Object"}') as unknown,
  () => JSON.parse('[{"__proto__":{"polluted":"array"}}]') as unknown,
).map((f) => f());

const primitive: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.constant(undefined),
  fc.boolean(),
  hostileNumber,
  hostileString,
  fc.constantFrom([], {}, [[]], [{}], [null]),
);

/** Any hostile value: a wrong type, a huge or odd string, an odd number, deep nesting, a proto bomb. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: primitive, weight: 10 },
  { arbitrary: deepNesting, weight: 1 },
  { arbitrary: protoObject, weight: 2 },
  { arbitrary: fc.array(primitive, { maxLength: 5 }), weight: 2 },
  { arbitrary: fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom(...PROTO_WORDS)), primitive, { maxKeys: 4 }), weight: 2 },
  // Wide rather than deep: 100k array items or 20k keys.
  { arbitrary: fc.constant(new RawJson('array of 100000 numbers', () => `[${Array.from({ length: 100_000 }, (_, i) => i).join(',')}]`)), weight: 1 },
  { arbitrary: fc.constant(new RawJson('object with 20000 keys', () => `{${Array.from({ length: 20_000 }, (_, i) => `"k${i}":${i}`).join(',')}}`)), weight: 1 },
);

// ---------------------------------------------------------------------------------------------
// Mutated valid payloads

/** Ids and keys the fuzz may aim at: other agents, other projects' tasks, unknown tasks. */
export interface FuzzTargets {
  agentIds: readonly string[];
  /** Valid task ids, of this project and of other projects. */
  taskIds: readonly string[];
}

const NEAR_UUIDS = [
  '00000000-0000-0000-0000-000000000000',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '00000000-0000-4000-8000-000000000000',
  '6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f',
  '6F1C2D9E-3B4A-4C5D-8E6F-7A8B9C0D1E2F',
  '6f1c2d9e3b4a4c5d8e6f7a8b9c0d1e2f',
  '{6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f}',
  ' 6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f',
  '6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f\u0000',
  '6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f; DROP TABLE tasks',
  'urn:uuid:6f1c2d9e-3b4a-4c5d-8e6f-7a8b9c0d1e2f',
];

/** Values for a field by its name: mostly near-valid (so some mutations stay valid), else hostile. */
export function fieldValue(key: string, targets: FuzzTargets): fc.Arbitrary<unknown> {
  const near = nearValid(key, targets);
  return near ? fc.oneof({ arbitrary: near, weight: 1 }, { arbitrary: hostileValue, weight: 2 }) : hostileValue;
}

function nearValid(key: string, t: FuzzTargets): fc.Arbitrary<unknown> | undefined {
  switch (key) {
    case 'agent_id':
      return fc.oneof(fc.constantFrom(...t.agentIds), fc.constantFrom('a', 'A'.repeat(128), 'x.y_z:w@q-1', '-leading', '.dot', 'a b', 'agent\u0000', 'agent\n', 'ᴀgent'));
    case 'task_id':
    case 'parent_task_id':
      return fc.oneof(fc.constantFrom(...t.taskIds), fc.constantFrom(...NEAR_UUIDS), fc.uuid());
    case 'dependencies':
      return fc.oneof(fc.array(fc.oneof(fc.constantFrom(...t.taskIds), fc.uuid()), { maxLength: 3 }), fc.constant(Array.from({ length: 101 }, () => t.taskIds[0])));
    case 'status':
      return fc.constantFrom('in_progress', 'completed', 'blocked', 'done', 'todo', 'IN_PROGRESS', 'in_progress ', '');
    case 'severity':
      return fc.constantFrom('low', 'medium', 'high', 'critical', 'HIGH', 'extreme', '');
    case 'priority':
      return fc.constantFrom('low', 'medium', 'high', 'urgent', 'URGENT', 'critical', '');
    case 'progress':
      return fc.constantFrom(0, 50, 100, -1, 101, 1e308, -0, 99.99, 2 ** 31);
    case 'capacity':
      return fc.constantFrom(1, 2, 32, 0, 33, -1, 1.5, 2 ** 31);
    case 'lease_token':
      return fc.constantFrom('0', '1', '9999999999999999999', '99999999999999999999', '-1', '1.5', 0, 1, -1, 1.5, 2 ** 63, '1e3', ' 1');
    case 'estimated_hours':
      return fc.constantFrom(0, 1.5, 10_000, 10_001, -1, -0, null);
    case 'due_date':
      return fc.constantFrom('2030-01-01T00:00:00Z', '2030-01-01T00:00:00+14:00', '2030-13-45T99:99:99Z', '0000-00-00T00:00:00Z', '+275760-09-13T00:00:00Z', '2030-01-01', null, '1970-01-01T00:00:00.000000001Z');
    case 'skills':
    case 'labels':
    case 'acceptance_criteria':
    case 'checklist':
      return fc.oneof(fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 }), fc.array(hostileString, { maxLength: 3 }), fc.constant(Array.from({ length: 101 }, (_, i) => `s${i}`)));
    case 'request_id':
      return fc.oneof(fc.uuid(), fc.constantFrom('r1', 'r1', 'x'.repeat(128), 'x'.repeat(129), ''));
    case 'provider':
      // Never a real board: the fuzz must not point a project at an outside service.
      return fc.constantFrom('builtin', 'BUILTIN', 'planka ', 'jira', '', '__proto__');
    case 'echo':
    case 'name':
    case 'role':
    case 'message':
    case 'decision':
    case 'blocker_description':
    case 'description':
    case 'filename':
    case 'content':
    case 'artifact_type':
      return fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('ok', 'x', 'report.md', '../../etc/passwd', 'CON', 'a/b\\c'));
    default:
      return undefined;
  }
}

/** Keys an attacker adds besides the expected ones. */
export const extraKey: fc.Arbitrary<string> = fc.oneof(fc.constantFrom(...PROTO_WORDS, 'project_id', 'projectId', 'id', 'assigned_to', 'status', 'is_admin', 'fencing_token'), fc.string({ maxLength: 12 }));

/**
 * A valid payload with some fields replaced by field-specific or hostile values, some dropped,
 * and maybe one extra (possibly `__proto__`) own key. May come out valid: that is fine.
 */
export function mutatedPayload(base: Record<string, unknown>, targets: FuzzTargets): fc.Arbitrary<unknown> {
  const keys = Object.keys(base);
  return fc
    .tuple(fc.subarray(keys, { minLength: keys.length > 0 ? 1 : 0 }), fc.subarray(keys, { maxLength: Math.min(1, keys.length) }), fc.option(fc.tuple(extraKey, hostileValue), { freq: 3 }))
    .chain(([replaced, dropped, extra]) =>
      fc.tuple(...replaced.map((k) => fieldValue(k, targets))).map((values) => {
        let out: Record<string, unknown> = { ...base };
        for (const k of dropped) delete out[k];
        replaced.forEach((k, i) => (out = withOwn(out, k, values[i])));
        if (extra) out = withOwn(out, extra[0], extra[1]);
        return out;
      }),
    );
}

/** A whole payload: mostly mutated valid ones, else anything hostile (a non-object, a proto bomb...). */
export function hostilePayload(base: Record<string, unknown> | undefined, targets: FuzzTargets): fc.Arbitrary<unknown> {
  const others = fc.oneof(hostileValue, fc.constant(Buffer.from('{"agent_id":"x"}')), fc.constant(Buffer.alloc(0)));
  if (!base) return others;
  return fc.oneof({ arbitrary: mutatedPayload(base, targets), weight: 4 }, { arbitrary: others, weight: 1 });
}

// ---------------------------------------------------------------------------------------------
// Invariants

const ORPHANS: Record<string, string> = {
  'two active holders of one task': `SELECT task_id::text AS x FROM assignments WHERE state = 'active' GROUP BY task_id HAVING count(*) > 1`,
  'an agent holding more active tasks than its capacity': `SELECT a.project_id || '/' || a.agent_id AS x FROM assignments a JOIN agents g ON g.project_id = a.project_id AND g.id = a.agent_id
     WHERE a.state = 'active' GROUP BY a.project_id, a.agent_id, g.capacity HAVING count(*) > g.capacity`,
  'an active slot outside the capacity': `SELECT a.id::text AS x FROM assignments a JOIN agents g ON g.project_id = a.project_id AND g.id = a.agent_id WHERE a.state = 'active' AND a.slot >= g.capacity`,
  'an assignment without its task': `SELECT a.id::text AS x FROM assignments a LEFT JOIN tasks t ON t.id = a.task_id WHERE t.id IS NULL`,
  'an assignment without its agent': `SELECT a.id::text AS x FROM assignments a LEFT JOIN agents g ON g.project_id = a.project_id AND g.id = a.agent_id WHERE g.id IS NULL`,
  "an assignment in another project than its task": `SELECT a.id::text AS x FROM assignments a JOIN tasks t ON t.id = a.task_id WHERE t.project_id <> a.project_id`,
  'an active assignment whose task does not show its holder': `SELECT a.id::text AS x FROM assignments a JOIN tasks t ON t.id = a.task_id
     WHERE a.state = 'active' AND (t.status NOT IN ('in_progress', 'blocked') OR t.assigned_to IS DISTINCT FROM a.agent_id)`,
  'a task in progress without an active holder': `SELECT t.id::text AS x FROM tasks t WHERE t.status = 'in_progress' AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.task_id = t.id AND a.state = 'active')`,
  'a progress report without its assignment or task': `SELECT p.id::text AS x FROM progress_reports p LEFT JOIN assignments a ON a.id = p.assignment_id LEFT JOIN tasks t ON t.id = p.task_id
     WHERE a.id IS NULL OR t.id IS NULL OR a.task_id <> p.task_id OR t.project_id <> p.project_id OR a.agent_id <> p.agent_id`,
  'a progress value outside 0..100': `SELECT id::text AS x FROM progress_reports WHERE progress < 0 OR progress > 100 UNION ALL SELECT id::text FROM assignments WHERE progress < 0 OR progress > 100`,
  'a blocker without its task or in another project': `SELECT b.id::text AS x FROM blockers b LEFT JOIN tasks t ON t.id = b.task_id WHERE t.id IS NULL OR t.project_id <> b.project_id`,
  'a decision without its task or in another project': `SELECT d.id::text AS x FROM decisions d LEFT JOIN tasks t ON t.id = d.task_id WHERE t.id IS NULL OR t.project_id <> d.project_id`,
  'an artifact without its task or in another project': `SELECT r.id::text AS x FROM artifacts r LEFT JOIN tasks t ON t.id = r.task_id WHERE t.id IS NULL OR t.project_id <> r.project_id`,
  'a dependency across projects or on a missing task': `SELECT d.task_id::text AS x FROM task_dependencies d LEFT JOIN tasks a ON a.id = d.task_id LEFT JOIN tasks b ON b.id = d.depends_on
     WHERE a.id IS NULL OR b.id IS NULL OR a.project_id <> b.project_id`,
  'a parent task in another project': `SELECT t.id::text AS x FROM tasks t JOIN tasks p ON p.id = t.parent_task_id WHERE p.project_id <> t.project_id`,
  'a row of a missing project': `SELECT id::text AS x FROM tasks WHERE project_id NOT IN (SELECT id FROM projects)
     UNION ALL SELECT id FROM agents WHERE project_id NOT IN (SELECT id FROM projects)
     UNION ALL SELECT id::text FROM api_keys WHERE project_id NOT IN (SELECT id FROM projects)`,
  'a progress/decision/artifact/blocker by an unknown agent': `SELECT x FROM (
       SELECT project_id, agent_id, id::text AS x FROM progress_reports UNION ALL SELECT project_id, agent_id, id::text FROM blockers
       UNION ALL SELECT project_id, agent_id, id::text FROM decisions UNION ALL SELECT project_id, agent_id, id::text FROM artifacts WHERE agent_id IS NOT NULL) r
     WHERE NOT EXISTS (SELECT 1 FROM agents g WHERE g.project_id = r.project_id AND g.id = r.agent_id)`,
};

/** Checks every invariant; the message lists the broken ones with a few offending ids. */
export async function expectDbInvariants(t: TestApp): Promise<void> {
  const broken: string[] = [];
  for (const [what, sql] of Object.entries(ORPHANS)) {
    const r = await t.db.query<{ x: string }>(sql);
    if (r.rows.length > 0) broken.push(`${what}: ${r.rows.slice(0, 3).map((row) => row.x).join(', ')}`);
  }
  expect(broken, 'database invariants').toEqual([]);
}

/** Every row of the per-project tables that belongs to `projectId` (to show it was left alone). */
export async function projectRows(t: TestApp, projectId: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const table of ['tasks', 'agents', 'assignments', 'progress_reports', 'blockers', 'decisions', 'artifacts', 'api_keys', 'project_boards', 'idempotency_keys']) {
    const later = table === 'tasks' ? ['prepared_instructions'] : table === 'blockers' ? ['analysis', 'suggestions'] : [];
    const r = await t.db.query<{ r: string }>(`SELECT (to_jsonb(x) - $2::text[])::text AS r FROM "${table}" x WHERE project_id = $1`, [projectId, later]);
    out[table] = r.rows.map((row) => row.r).sort();
  }
  return out;
}

/** Own properties of the built-in prototypes, to compare before and after. */
export function prototypeFingerprint(): Record<string, string[]> {
  return {
    object: Object.getOwnPropertyNames(Object.prototype).sort(),
    array: Object.getOwnPropertyNames(Array.prototype).sort(),
    function: Object.getOwnPropertyNames(Function.prototype).sort(),
    string: Object.getOwnPropertyNames(String.prototype).sort(),
  };
}

export function expectNoPollution(before: Record<string, string[]>): void {
  const probe = {} as Record<string, unknown>;
  for (const m of POLLUTION_MARKERS) expect(probe[m], `Object.prototype.${m}`).toBeUndefined();
  expect(prototypeFingerprint()).toEqual(before);
  expect(typeof ({} as { toString: unknown }).toString).toBe('function');
}
