import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TOOL_NAMES } from '../../src/modules/connections/tool-schemas';
import { ApiClient } from '../support/client';
import { startTestApp, type TestApp } from '../support/app';
import { callTool, expectEveryTool, expectFullLoop, expectToolErrors } from '../support/mcp';

// `pm-agent mcp` (stdio) driven by the MCP SDK's own client; it reaches the service through the
// socket SDK. Assumes dist/ is built (`npm test` builds first).
const CLI = resolve(__dirname, '../../dist/cli/pm-agent.js');

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bridge by hand: writes `lines` to stdin, closes it, and waits for the process to end. */
function runRaw(args: string[], lines: object[], env: Record<string, string> = {}): Promise<Exit> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      // Close stdin once every request has its answer.
      const answered = stdout.split('\n').filter((l) => l.trim() !== '').length;
      if (answered >= lines.filter((l) => 'id' in l).length) child.stdin.end();
    });
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      fail(new Error(`the bridge did not exit; stderr: ${stderr}`));
    }, 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    });
    for (const l of lines) child.stdin.write(`${JSON.stringify(l)}\n`);
    if (lines.every((l) => !('id' in l))) child.stdin.end();
  });
}

describe('MCP over stdio: pm-agent mcp (embedded storage)', () => {
  let t: TestApp;
  let api: ApiClient;
  let project: { id: string; api_key: string };
  const clients: Client[] = [];

  beforeAll(async () => {
    t = await startTestApp('embedded');
    api = new ApiClient(t.url, t.adminKey);
    project = await api.createProject('mcp stdio');
  });
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
  });
  afterAll(async () => t?.close());

  const connect = async (agentId: string, viaEnv = false): Promise<{ client: Client; stderr: () => string }> => {
    const flags = ['--url', t.url, '--api-key', project.api_key, '--agent-id', agentId];
    const env: Record<string, string> = viaEnv ? { PM_AGENT_URL: t.url, PM_AGENT_API_KEY: project.api_key, PM_AGENT_AGENT_ID: agentId } : {};
    const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', ...(viaEnv ? [] : flags)], env: { PATH: process.env.PATH ?? '', ...env }, stderr: 'pipe' });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const client = new Client({ name: 'mcp-stdio-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    return { client, stderr: () => stderr };
  };

  it('lists every tool with its description and input schema', async () => {
    const { client } = await connect('stdio-lister');
    await expectEveryTool(client);
    expect(client.getInstructions()).toContain('"stdio-lister"');
  });

  it('runs the whole loop through the socket SDK, configured from the environment', async () => {
    const { client, stderr } = await connect('stdio-worker', true);
    await expectFullLoop(client, api, project, 'stdio-worker');
    // The model's register_agent reached the service under the name it chose.
    const agents = (await api.request('GET', `/api/v1/projects/${project.id}/agents`, undefined, project.api_key)).body.agents as { id: string; name: string }[];
    expect(agents.find((a) => a.id === 'stdio-worker')).toMatchObject({ name: 'MCP stdio-worker' });
    expect(stderr()).not.toContain(project.api_key);
  });

  it('answers bad payloads, another agent id and unknown tools with errors carrying the code', async () => {
    const { client } = await connect('stdio-errors');
    await expectToolErrors(client, 'stdio-errors');
  });

  it('a wrong API key comes back as a tool error, not a crash', async () => {
    const transport = new StdioClientTransport({
      command: process.execPath,
      args: [CLI, 'mcp', '--url', t.url, '--api-key', 'not-a-real-key', '--agent-id', 'stdio-locked-out'],
      env: { PATH: process.env.PATH ?? '' },
      stderr: 'pipe',
    });
    const client = new Client({ name: 'mcp-stdio-test', version: '1.0.0' });
    clients.push(client);
    await client.connect(transport);
    const r = await callTool(client, 'ping');
    expect(r.result.isError).toBe(true);
    expect(r.answer).toMatchObject({ success: false, code: 'INVALID_API_KEY' });
  });

  it('writes nothing but JSON-RPC to stdout and exits 0 when stdin closes', async () => {
    const run = await runRaw(
      ['mcp', '--url', t.url, '--api-key', project.api_key, '--agent-id', 'stdio-raw'],
      [
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } },
        { jsonrpc: '2.0', method: 'notifications/initialized' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'ping', arguments: { echo: 'raw' } } },
      ],
    );
    expect(run.code).toBe(0);
    const messages = run.stdout.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { jsonrpc: string; id: number; result: any });
    expect(messages.map((m) => [m.jsonrpc, m.id])).toEqual([['2.0', 1], ['2.0', 2], ['2.0', 3]]);
    expect(messages[1].result.tools).toHaveLength(TOOL_NAMES.length);
    expect(messages[2].result.structuredContent).toMatchObject({ success: true, echo: 'raw' });
    expect(run.stderr).not.toContain(project.api_key);
  });

  it('a missing --agent-id is a usage error (exit 2) before anything is started', async () => {
    const run = await runRaw(['mcp', '--url', t.url, '--api-key', project.api_key], []);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('--agent-id');
  });
});
