import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toOpenApiPath, type OpenApiDocument } from '../../src/docs/openapi';
import { startTestApp, type TestApp } from '../support/app';

interface Layer {
  route?: { path: string | string[]; methods: Record<string, boolean> };
}

/** Every method + path express has registered, read from the running app's router. */
function registeredRoutes(t: TestApp): { method: string; path: string }[] {
  const express = t.app.getHttpAdapter().getInstance() as { router?: { stack: Layer[] }; _router?: { stack: Layer[] } };
  const stack = (express.router ?? express._router)?.stack ?? [];
  const out: { method: string; path: string }[] = [];
  for (const layer of stack) {
    if (!layer.route) continue;
    const paths = Array.isArray(layer.route.path) ? layer.route.path : [layer.route.path];
    for (const path of paths) {
      for (const [method, on] of Object.entries(layer.route.methods)) if (on && method !== '_all') out.push({ method, path });
    }
  }
  return out;
}

describe('OpenAPI document (embedded)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startTestApp('embedded');
  });
  afterAll(async () => {
    await t?.close();
  });

  it('GET /api/docs/openapi.json answers the document without auth', async () => {
    const res = await fetch(`${t.url}/api/docs/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as OpenApiDocument;
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toContain('/api/v1/projects');
  });

  it('documents every route Nest registered under /api/v1', async () => {
    const doc = (await (await fetch(`${t.url}/api/docs/openapi.json`)).json()) as OpenApiDocument;
    const routes = registeredRoutes(t).filter((r) => r.path.startsWith('/api/v1'));
    expect(routes.length).toBeGreaterThan(5);
    const missing = routes.filter((r) => !doc.paths[toOpenApiPath(r.path)]?.[r.method]).map((r) => `${r.method.toUpperCase()} ${r.path}`);
    expect(missing, 'add these routes to HTTP_ROUTES in src/docs/http-routes.ts').toEqual([]);
    const listed = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).map((m) => `${m} ${p}`));
    const served = new Set(registeredRoutes(t).map((r) => `${r.method} ${toOpenApiPath(r.path)}`));
    expect(listed.filter((op) => !served.has(op)), 'documented routes that the app does not serve').toEqual([]);
  });
});
