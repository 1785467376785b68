import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { inputJsonSchema } from '../../docs/protocol-catalogue';
import { AGENT_LOOP_SUMMARY, toolDescriptions } from '../connections/tool-descriptions';
import { TOOL_NAMES, toolSchemas, type ToolName } from '../connections/tool-schemas';

// One MCP server definition for both bridges: the /mcp endpoint calls ToolsService in-process,
// `pm-agent mcp` calls through the socket SDK. Only the call and the error mapping differ.

/** Runs one tool; answers the pm-agent answer object (a `success: false` answer included). */
export type ToolCaller = (name: ToolName, args: Record<string, unknown>) => Promise<object>;

export interface McpBridgeOptions {
  call: ToolCaller;
  /** Turns a thrown error into a pm-agent error answer `{success: false, code, error, ...}`. */
  errorAnswer: (err: unknown) => object;
  /** The agent the credentials act for; named in the instructions so the model sends the right agent_id. */
  agentId?: string;
}

export const MCP_SERVER_NAME = 'pm-agent';
export const MCP_SERVER_VERSION = '0.1.0';

/** tools/list, computed once: the schemas and descriptions are static. */
export const MCP_TOOLS: Tool[] = TOOL_NAMES.map((name) => ({
  name,
  description: toolDescriptions[name],
  inputSchema: inputJsonSchema(toolSchemas[name]) as Tool['inputSchema'],
}));

/**
 * The low-level Server rather than McpServer.registerTool: the pm-agent tools validate their own
 * payloads (stable VALIDATION_FAILED answers, the same as on the socket), and the JSON Schemas
 * published here are the ones docs/protocol.md is generated from.
 */
export function createMcpServer(opts: McpBridgeOptions): Server {
  const instructions = opts.agentId ? `${AGENT_LOOP_SUMMARY}\n\nYour agent_id is "${opts.agentId}".` : AGENT_LOOP_SUMMARY;
  const server = new Server({ name: MCP_SERVER_NAME, version: MCP_SERVER_VERSION }, { capabilities: { tools: {} }, instructions });
  server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: MCP_TOOLS }));
  server.setRequestHandler(CallToolRequestSchema, async (req) => {
    const name = req.params.name;
    if (!isToolName(name)) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name.slice(0, 64)}`);
    try {
      return toolResult(await opts.call(name, req.params.arguments ?? {}));
    } catch (err) {
      return toolResult(opts.errorAnswer(err), true);
    }
  });
  return server;
}

export function isToolName(name: string): name is ToolName {
  return Object.hasOwn(toolSchemas, name);
}

/**
 * A pm-agent answer as an MCP tool result. An answer with `success: false` and a `code` is a tool
 * error the model should read and act on; request_next_task's "no task" answer (no code) is not.
 */
export function toolResult(answer: object, thrown = false): CallToolResult {
  const a = answer as { success?: unknown; code?: unknown };
  const isError = thrown || (a.success === false && typeof a.code === 'string');
  return {
    content: [{ type: 'text', text: JSON.stringify(answer) }],
    structuredContent: answer as Record<string, unknown>,
    ...(isError ? { isError: true } : {}),
  };
}
