import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildOpenApiDocument } from '../../src/docs/openapi';
import { buildProtocolCatalogue, fieldsOf } from '../../src/docs/protocol-catalogue';
import { generatedDocs } from '../../src/docs/write-docs';
import { toolSchemas } from '../../src/modules/connections/tool-schemas';
import { PUSH_EVENT_DOCS } from '../../src/modules/events/push.service';

const ROOT = join(__dirname, '..', '..');
const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

describe('generated protocol docs', () => {
  for (const [rel, expected] of Object.entries(generatedDocs())) {
    it(`${rel} is up to date`, () => {
      const committed = readFileSync(join(ROOT, rel), 'utf8');
      expect(committed === expected, `${rel} is stale: run \`npm run docs\` and commit the result`).toBe(true);
    });
  }

  it('lists every socket tool with all its fields', () => {
    const md = buildProtocolCatalogue();
    for (const [name, schema] of Object.entries(toolSchemas)) {
      const start = md.indexOf(`### \`${name}\``);
      expect(start, `tool ${name} missing from the catalogue`).toBeGreaterThanOrEqual(0);
      const next = md.indexOf('\n### ', start + 1);
      const section = md.slice(start, next === -1 ? undefined : next);
      const shape = Object.keys((schema as { shape: Record<string, unknown> }).shape);
      expect(fieldsOf(schema).map((f) => f.name).sort()).toEqual([...shape].sort());
      for (const field of shape) expect(section, `${name}.${field}`).toContain(`| \`${field}\` |`);
    }
  });

  it('documents required fields and defaults from the zod schemas', () => {
    const fields = Object.fromEntries(fieldsOf(toolSchemas.report_blocker).map((f) => [f.name, f]));
    expect(fields.task_id.required).toBe(true);
    expect(fields.severity).toMatchObject({ required: false, default: 'medium' });
    expect(fields.blocker_description.constraints).toContain('maxLength 10000');
  });

  it('lists every server push with its payload fields', () => {
    const md = buildProtocolCatalogue();
    for (const [name, doc] of Object.entries(PUSH_EVENT_DOCS)) {
      expect(md).toContain(`### \`${name}\``);
      for (const field of Object.keys(doc.fields)) expect(md).toContain(`| \`${field}\` |`);
    }
  });

  it('the OpenAPI document has the OpenAPI 3.1 shape', () => {
    const doc = buildOpenApiDocument();
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info.title).toBeTruthy();
    expect(doc.info.version).toBeTruthy();
    const paths = Object.entries(doc.paths);
    expect(paths.length).toBeGreaterThan(0);
    for (const [path, item] of paths) {
      expect(path.startsWith('/'), path).toBe(true);
      expect(path, 'express-style :params must be {params}').not.toMatch(/:/);
      const ops = Object.entries(item);
      expect(ops.length, path).toBeGreaterThan(0);
      for (const [method, op] of ops) {
        expect(METHODS, `${method} ${path}`).toContain(method);
        expect(Object.keys(op.responses).length, `${method} ${path} has no responses`).toBeGreaterThan(0);
        for (const [code, res] of Object.entries(op.responses)) {
          expect(code).toMatch(/^[1-5]\d\d$/);
          expect((res as { description?: string }).description).toBeTruthy();
        }
        const declared = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
        expect(((op.parameters ?? []) as { name: string }[]).map((p) => p.name).sort()).toEqual(declared);
        for (const s of op.security) for (const scheme of Object.keys(s)) expect(doc.components.securitySchemes).toHaveProperty(scheme);
      }
    }
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/\w+/g) ?? [];
    for (const ref of refs) expect(doc.components.schemas).toHaveProperty(ref.split('/').pop()!);
  });

  it('request bodies come from the controllers\' zod schemas', () => {
    const schemas = buildOpenApiDocument().components.schemas as Record<string, { properties?: Record<string, unknown>; required?: string[] }>;
    expect(schemas.CreateProject.required).toEqual(['name']);
    expect(Object.keys(schemas.AgentAuth.properties ?? {}).sort()).toEqual(['agent_id', 'api_key']);
    expect(schemas.CreateTask.required).toEqual(['name']);
    expect(schemas.BoardSettings).toHaveProperty('oneOf');
  });
});
