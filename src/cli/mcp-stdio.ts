import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
// The built SDK (npm run build compiles packages/client first): the CLI ships compiled, and
// packages/client/src lies outside this build's rootDir.
import { PmAgentClient, PmAgentError, type AgentProfile } from '../../packages/client/dist';
import { createMcpServer } from '../modules/mcp/mcp-server';

export interface McpStdioOptions {
  url: string;
  apiKey: string;
  agentId: string;
}

/**
 * `pm-agent mcp`: an MCP server on stdin/stdout for one agent, forwarding every tool call through
 * the socket SDK (token from the API key, reconnects, request_id retries). stdout carries
 * JSON-RPC only; diagnostics go to stderr. Resolves once stdin closes (the MCP client is gone).
 */
export async function runMcpStdio(o: McpStdioOptions): Promise<void> {
  // A stray console.log from any library would corrupt the JSON-RPC stream on stdout.
  console.log = console.info = console.debug = console.error;
  const log = (msg: string) => process.stderr.write(`pm-agent mcp: ${msg}\n`);

  // The client registers this profile on every (re)connect; the model's own register_agent
  // updates it so a reconnect keeps the name, role and skills the model chose.
  const profile: AgentProfile = { agent_id: o.agentId, name: o.agentId, role: 'agent' };
  const client = new PmAgentClient({ url: o.url, apiKey: o.apiKey, agent: profile });
  // The SDK types each tool's payload; here the payload is the model's JSON, checked by the server.
  const call = client.call.bind(client) as (name: string, payload: Record<string, unknown>) => Promise<object>;

  const server = createMcpServer({
    agentId: o.agentId,
    call: async (name, args) => {
      const answer = await call(name, args);
      if (name === 'register_agent' && args.agent_id === o.agentId) adoptProfile(profile, args);
      return answer;
    },
    errorAnswer: (err) => {
      if (err instanceof PmAgentError) return { ...err.details, success: false, code: err.code, error: err.message };
      log(err instanceof Error ? err.message : String(err));
      return { success: false, code: 'INTERNAL', error: 'Internal error in the MCP bridge' };
    },
  });

  // Warm up (token, socket, registration) so the first tool call is fast; failures are retried by calls.
  client.connect().then(
    () => log(`connected to ${o.url} as ${o.agentId}`),
    (err: unknown) => {
      if (err instanceof PmAgentError && err.code === 'CLIENT_CLOSED') return; // shut down before it connected
      log(`not connected yet: ${err instanceof PmAgentError ? `${err.code}: ${err.message}` : String(err)}`);
    },
  );

  const closed = new Promise<void>((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await server.connect(new StdioServerTransport());
  await closed;
  client.close();
  await server.close();
  // Whatever is still pending (a retry's backoff sleep, say) must not hold the process open.
  setTimeout(() => process.exit(0), 2_000).unref();
}

function adoptProfile(profile: AgentProfile, args: Record<string, unknown>): void {
  if (typeof args.name === 'string') profile.name = args.name;
  if (typeof args.role === 'string') profile.role = args.role;
  if (Array.isArray(args.skills) && args.skills.every((s) => typeof s === 'string')) profile.skills = args.skills;
  if (typeof args.capacity === 'number') profile.capacity = args.capacity;
}
