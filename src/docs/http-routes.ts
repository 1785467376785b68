import type { z } from 'zod';
import { authSchema } from '../modules/auth/agent-auth.controller';
import { boardSettingsSchema } from '../modules/kanban/board-config';
import { createKeySchema } from '../modules/projects/keys.controller';
import { createProjectSchema } from '../modules/projects/projects.controller';
import { createTaskSchema } from '../modules/tasks/tasks.service';

export type HttpMethod = 'get' | 'post' | 'put' | 'patch' | 'delete';
/** `admin`: the admin key; `project`: the admin key or this project's API key; `none`: no Authorization. */
export type RouteAuth = 'admin' | 'project' | 'none';

export interface HttpRoute {
  method: HttpMethod;
  /** Express-style path as Nest registers it, e.g. `/api/v1/projects/:id/tasks`. */
  path: string;
  summary: string;
  auth: RouteAuth;
  /** Name under components.schemas and the zod schema the controller parses the body with. */
  body?: { name: string; schema: z.ZodType };
  /** Answer codes with a short description; error answers are `{error, code}`. */
  responses: Record<number, string>;
  /** Media type of a success answer when it is not JSON. */
  produces?: 'text/html' | 'text/css';
}

const authErrors = { 401: 'missing or invalid key', 403: 'the key does not grant this' };
const projectErrors = { ...authErrors, 404: 'project not found' };

/**
 * Every HTTP route the service serves. The request bodies are the very zod schemas the controllers
 * parse with; the e2e test fails when Nest registers a route that is not listed here.
 */
export const HTTP_ROUTES: HttpRoute[] = [
  { method: 'get', path: '/health/live', summary: 'Liveness: the process answers', auth: 'none', responses: { 200: 'the process runs' } },
  {
    method: 'get',
    path: '/health/ready',
    summary: 'Readiness',
    auth: 'none',
    responses: { 200: 'serving', 503: 'draining or the database is down' },
  },
  { method: 'get', path: '/api/docs', summary: 'This reference as an HTML page', auth: 'none', responses: { 200: 'HTML' }, produces: 'text/html' },
  { method: 'get', path: '/api/docs/reference.css', summary: "The HTML reference's stylesheet", auth: 'none', responses: { 200: 'CSS' }, produces: 'text/css' },
  { method: 'get', path: '/api/docs/openapi.json', summary: 'This OpenAPI document', auth: 'none', responses: { 200: 'the OpenAPI 3.1 document' } },
  {
    method: 'post',
    path: '/api/v1/projects',
    summary: 'Create a project',
    auth: 'admin',
    body: { name: 'CreateProject', schema: createProjectSchema },
    responses: { 201: '`{id, name, api_key, api_key_id}` (the key is shown this once)', 400: 'invalid payload', ...authErrors },
  },
  {
    method: 'post',
    path: '/api/v1/projects/:id/keys',
    summary: 'Create another API key for the project (rotation); shown this once',
    auth: 'project',
    body: { name: 'CreateApiKey', schema: createKeySchema },
    responses: { 201: '`{id, label, prefix, created_at, revoked_at, api_key}`', 400: 'invalid payload', 409: 'the project has its maximum of active keys', ...projectErrors },
  },
  { method: 'get', path: '/api/v1/projects/:id/keys', summary: "The project's API keys (never their secrets)", auth: 'project', responses: { 200: '`{keys}`', ...projectErrors } },
  {
    method: 'delete',
    path: '/api/v1/projects/:id/keys/:keyId',
    summary: 'Revoke an API key: its requests and the agent tokens issued from it stop working, open sockets included',
    auth: 'project',
    responses: { 200: '`{key}` with `revoked_at`', ...projectErrors, 404: 'project or key not found' },
  },
  {
    method: 'get',
    path: '/api/v1/projects/:id/audit',
    summary: "The project's audit trail (project and key creation, revocation), newest first; `?limit=&before=`",
    auth: 'project',
    responses: { 200: '`{entries}`', 400: 'invalid query', ...projectErrors },
  },
  {
    method: 'get',
    path: '/api/v1/audit',
    summary: 'The whole audit trail, newest first; `?project_id=&limit=&before=`',
    auth: 'admin',
    responses: { 200: '`{entries}`', 400: 'invalid query', ...authErrors },
  },
  {
    method: 'post',
    path: '/api/v1/projects/:id/tasks',
    summary: 'Add a task to the project',
    auth: 'project',
    body: { name: 'CreateTask', schema: createTaskSchema },
    responses: { 201: 'the task (`status: "todo"`)', 400: 'invalid payload or unknown dependency', ...projectErrors },
  },
  { method: 'get', path: '/api/v1/projects/:id/tasks', summary: "List the project's tasks", auth: 'project', responses: { 200: '`{tasks}`', ...projectErrors } },
  {
    method: 'get',
    path: '/api/v1/projects/:id/agents',
    summary: 'Registered agents (the list_registered_agents tool)',
    auth: 'project',
    responses: { 200: '`{success, agents, total}`', ...projectErrors },
  },
  {
    method: 'get',
    path: '/api/v1/projects/:id/status',
    summary: 'Project status (the get_project_status tool)',
    auth: 'project',
    responses: { 200: '`{success, project, workers, provider}`', ...projectErrors },
  },
  {
    method: 'post',
    path: '/api/v1/agents/auth',
    summary: 'Exchange a project API key for an agent token',
    auth: 'none',
    body: { name: 'AgentAuth', schema: authSchema },
    responses: { 200: '`{access_token, token_type, expires_in}`', 400: 'invalid payload', 401: 'invalid API key' },
  },
  {
    method: 'put',
    path: '/api/v1/projects/:id/board',
    summary: 'Configure the kanban board',
    auth: 'admin',
    body: { name: 'BoardSettings', schema: boardSettingsSchema },
    responses: { 200: '`{board}`', 400: 'invalid board settings', ...projectErrors },
  },
  {
    method: 'get',
    path: '/api/v1/projects/:id/board',
    summary: 'Board settings, sync state, write-backs and breaker',
    auth: 'project',
    responses: { 200: '`{board, sync, writebacks, breaker}`', ...projectErrors },
  },
  {
    method: 'post',
    path: '/api/v1/projects/:id/board/sync',
    summary: 'Ask for a board sync',
    auth: 'project',
    responses: { 202: '`{accepted: true}`', ...projectErrors },
  },
  {
    method: 'get',
    path: '/api/v1/projects/:id/board/cards',
    summary: 'The board as its provider shows it (cached)',
    auth: 'project',
    responses: { 200: '`{provider, cards}`', ...projectErrors },
  },
  {
    method: 'post',
    path: '/api/v1/webhooks/:provider/:projectId',
    summary: 'GitHub or Linear webhook (authenticated by its signature, not a key)',
    auth: 'none',
    responses: { 202: '`{accepted, relevant}`', 401: 'webhook signature invalid', 404: 'unknown webhook provider' },
  },
];
