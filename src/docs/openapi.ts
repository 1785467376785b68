import { inputJsonSchema } from './protocol-catalogue';
import { HTTP_ROUTES, type HttpRoute } from './http-routes';

export type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string; description?: string };
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: Record<string, Record<string, unknown>>;
};
export type OpenApiOperation = {
  operationId: string;
  summary: string;
  security: Record<string, string[]>[];
  parameters?: unknown[];
  requestBody?: unknown;
  responses: Record<string, unknown>;
};

/** `/api/v1/projects/:id/tasks` → `/api/v1/projects/{id}/tasks`. */
export const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

const SECURITY: Record<HttpRoute['auth'], Record<string, string[]>[]> = {
  admin: [{ adminKey: [] }],
  project: [{ adminKey: [] }, { projectKey: [] }],
  none: [],
};

function operationId(route: HttpRoute): string {
  const words = route.path
    .replace(/^\/api\/(v1\/)?/, '')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w && w !== 'id');
  return [route.method, ...words].map((w, i) => (i === 0 ? w : w[0].toUpperCase() + w.slice(1))).join('');
}

/** The OpenAPI 3.1 document of the HTTP API, built from HTTP_ROUTES and the controllers' zod schemas. */
export function buildOpenApiDocument(version = '0.1.0'): OpenApiDocument {
  const schemas: Record<string, unknown> = {
    Error: {
      type: 'object',
      properties: { error: { type: 'string' }, code: { type: 'string' } },
      required: ['error', 'code'],
    },
  };
  const paths: OpenApiDocument['paths'] = {};
  for (const route of HTTP_ROUTES) {
    const params = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => ({ name: m[1], in: 'path', required: true, schema: { type: 'string' } }));
    const responses: Record<string, unknown> = {};
    for (const [code, description] of Object.entries(route.responses)) {
      const n = Number(code);
      responses[code] =
        n >= 400 && n < 500
          ? { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }
          : route.produces && n < 300
            ? { description, content: { [route.produces]: { schema: { type: 'string' } } } }
            : { description };
    }
    const op: OpenApiOperation = { operationId: operationId(route), summary: route.summary, security: SECURITY[route.auth], responses };
    if (params.length > 0) op.parameters = params;
    if (route.body) {
      schemas[route.body.name] = inputJsonSchema(route.body.schema);
      op.requestBody = { required: true, content: { 'application/json': { schema: { $ref: `#/components/schemas/${route.body.name}` } } } };
    }
    (paths[toOpenApiPath(route.path)] ??= {})[route.method] = op;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'pm-agent HTTP API',
      version,
      description: 'Generated from src/docs/http-routes.ts and the zod schemas the controllers parse with. Errors answer `{error, code}`.',
    },
    paths,
    components: {
      schemas,
      securitySchemes: {
        adminKey: { type: 'http', scheme: 'bearer', description: 'PM_AGENT_ADMIN_KEY' },
        projectKey: { type: 'http', scheme: 'bearer', description: "the project's API key" },
      },
    },
  };
}
