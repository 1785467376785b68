import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HTTP_ROUTES } from '../../src/docs/http-routes';
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

  it('GET /api/docs is an HTML reference of every route, styled by a same-origin sheet and allowed by the CSP', async () => {
    const res = await fetch(`${t.url}/api/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await res.text();
    for (const r of HTTP_ROUTES) expect(html, r.path).toContain(`<code>${r.path}</code>`);
    // The body schemas are spelled out: a field of the task body and its constraint.
    expect(html).toContain('<code>estimated_hours</code>');
    expect(html).not.toMatch(/<script|style=/);
    const css = await fetch(`${t.url}/api/docs/reference.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
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
