import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import { STORAGE_MODES, startTestApp, type TestApp } from '../support/app';
import { callTool, expectEveryTool, expectFullLoop, expectToolErrors } from '../support/mcp';

// The streamable-HTTP MCP endpoint (/mcp) driven by the MCP SDK's own client.

const RATE_LIMIT = 20;
const INITIALIZE = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

describe.each(STORAGE_MODES)('MCP over streamable HTTP (%s storage)', (mode) => {
  let t: TestApp;
  let api: ApiClient;
  let project: { id: string; api_key: string };
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestApp(mode, { RATE_LIMIT_AGENT_PER_MINUTE: String(RATE_LIMIT) });
    api = new ApiClient(t.url, t.adminKey);
    project = await api.createProject(`mcp http ${mode}`);
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => t?.close());

  const connect = async (agentId: string): Promise<Client> => {
    const token = await api.token(project.api_key, agentId);
    const client = new Client({ name: 'mcp-http-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    return client;
  };
  const post = (headers: Record<string, string>) =>
    fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
      body: JSON.stringify(INITIALIZE),
    });

  it('lists every tool with its description and input schema, and tells the agent its id', async () => {
    const client = await connect('http-lister');
    await expectEveryTool(client);
    expect(client.getInstructions()).toContain('request_next_task');
    expect(client.getInstructions()).toContain('"http-lister"');
  });

  it('runs the whole loop: register → request_next_task → in_progress → completed', async () => {
    await expectFullLoop(await connect('http-worker'), api, project, 'http-worker');
  });

  it('answers bad payloads, another agent id and unknown tools with errors carrying the code', async () => {
    await expectToolErrors(await connect('http-errors'), 'http-errors');
  });

  it('counts tools/call against the per-agent rate limit of the socket', async () => {
    const client = await connect('http-busy');
    let limited: any;
    for (let i = 0; i <= RATE_LIMIT && !limited; i++) {
      const r = await callTool(client, 'ping', { echo: `n${i}` });
      if (r.result.isError) limited = r.answer;
      else expect(r.answer).toMatchObject({ success: true, echo: `n${i}` });
    }
    expect(limited).toMatchObject({ success: false, code: 'RATE_LIMITED', retry_after_seconds: expect.any(Number) });
    expect(limited.retry_after_seconds).toBeGreaterThanOrEqual(1);
    // tools/list is not a tool call and still answers.
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
  });

  it('refuses a missing or forged token with 401 and a JSON-RPC error that does not echo it', async () => {
    const missing = await post({});
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    expect(await missing.json()).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32000, message: expect.stringContaining('Bearer'), data: { code: 'INVALID_TOKEN' } } });

    const real = await api.token(project.api_key, 'http-forger');
    const forged = `${real.slice(0, -4)}AAAA`;
    const res = await post({ authorization: `Bearer ${forged}` });
    expect(res.status).toBe(401);
    const text = await res.text();
    expect(text).not.toContain(forged);
    expect(text).not.toContain(real.split('.')[2]);
    expect(JSON.parse(text)).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, data: { code: 'INVALID_TOKEN' } } });

    // The project API key is not an agent token either, and the SDK client surfaces the 401.
    expect((await post({ authorization: `Bearer ${project.api_key}` })).status).toBe(401);
    const client = new Client({ name: 'mcp-http-test', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(`${t.url}/mcp`), { requestInit: { headers: { Authorization: `Bearer ${forged}` } } });
    await expect(client.connect(transport)).rejects.toMatchObject({ code: 401, message: expect.stringContaining('INVALID_TOKEN') });
    await client.close();
  });

  it('answers GET and DELETE with 405 (stateless: no stream, no session)', async () => {
    const token = await api.token(project.api_key, 'http-getter');
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(`${t.url}/mcp`, { method, headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' } });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
      expect(await res.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000, message: expect.stringContaining('POST') }, id: null });
    }
  });

  it('keeps no session: a tools/call works without any initialize on that connection', async () => {
    const token = await api.token(project.api_key, 'http-bare');
    const res = await fetch(`${t.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'ping', arguments: { echo: 'bare' } } }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('mcp-session-id')).toBeNull();
    const body = await res.json();
    expect(body).toMatchObject({ jsonrpc: '2.0', id: 7, result: { structuredContent: { success: true, echo: 'bare' } } });
  });
});
