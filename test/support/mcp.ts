import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { expect } from 'vitest';
import { toolDescriptions } from '../../src/modules/connections/tool-descriptions';
import { TOOL_NAMES, toolSchemas } from '../../src/modules/connections/tool-schemas';
import type { ApiClient } from './client';

// Assertions shared by the two MCP bridges (/mcp over HTTP and `pm-agent mcp` over stdio).

/** Calls a tool and answers the result with its structured answer. */
export async function callTool(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ result: CallToolResult; answer: any }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const text = result.content.find((c) => c.type === 'text');
  if (!text || text.type !== 'text') throw new Error(`${name}: no text content in ${JSON.stringify(result)}`);
  // The text and the structured content carry the same answer.
  expect(JSON.parse(text.text)).toEqual(result.structuredContent);
  return { result, answer: result.structuredContent };
}

/** tools/list has every tool, described, with the zod schema's required fields. */
export async function expectEveryTool(client: Client): Promise<void> {
  const { tools } = await client.listTools();
  expect(tools.map((t) => t.name).sort()).toEqual([...TOOL_NAMES].sort());
  for (const tool of tools) {
    const name = tool.name as keyof typeof toolSchemas;
    expect(tool.description, name).toBe(toolDescriptions[name]);
    expect(tool.description!.length, name).toBeGreaterThan(60);
    expect(tool.inputSchema.type, name).toBe('object');
    const shape = toolSchemas[name].shape as Record<string, { isOptional(): boolean }>;
    const required = Object.keys(shape).filter((k) => !shape[k].isOptional());
    expect([...(tool.inputSchema.required ?? [])].sort(), name).toEqual(required.sort());
    expect(Object.keys(tool.inputSchema.properties ?? {}).sort(), name).toEqual(Object.keys(shape).sort());
  }
  const progress = tools.find((t) => t.name === 'report_task_progress')!;
  expect(progress.description).toMatch(/lease_token/);
  expect(progress.inputSchema.required).toEqual(expect.arrayContaining(['agent_id', 'task_id', 'status']));
}

/** register → request_next_task → in_progress → completed, all through MCP; the task ends done. */
export async function expectFullLoop(client: Client, api: ApiClient, project: { id: string; api_key: string }, agentId: string): Promise<void> {
  const task = await api.addTask(project.id, { name: 'MCP task', description: 'through the bridge', labels: ['backend'] });

  const reg = await callTool(client, 'register_agent', { agent_id: agentId, name: `MCP ${agentId}`, role: 'developer', skills: ['backend'] });
  expect(reg.result.isError).toBeFalsy();
  expect(reg.answer.success).toBe(true);

  const next = await callTool(client, 'request_next_task', { agent_id: agentId, request_id: `next-${agentId}` });
  expect(next.result.isError).toBeFalsy();
  expect(next.answer).toMatchObject({ success: true, task: { id: task.id, name: 'MCP task' } });
  const lease = String(next.answer.task.lease.token);
  expect(lease).toMatch(/^\d+$/);

  const started = await callTool(client, 'report_task_progress', { agent_id: agentId, task_id: task.id, status: 'in_progress', progress: 30, message: 'half way', lease_token: lease });
  expect(started.result.isError).toBeFalsy();
  expect(started.answer).toMatchObject({ success: true, task_status: 'in_progress' });

  const done = await callTool(client, 'report_task_progress', { agent_id: agentId, task_id: task.id, status: 'completed', message: 'shipped', lease_token: lease });
  expect(done.result.isError).toBeFalsy();
  expect(done.answer).toMatchObject({ success: true, task_status: 'done' });

  const tasks = await api.listTasks(project.id, project.api_key);
  expect(tasks.find((t) => t.id === task.id)).toMatchObject({ status: 'done', assigned_to: agentId });

  // Nothing left: the "no task" answer is an answer, not a tool error.
  const none = await callTool(client, 'request_next_task', { agent_id: agentId });
  expect(none.result.isError).toBeFalsy();
  expect(none.answer).toMatchObject({ success: false, retry_after_seconds: expect.any(Number) });
}

/** A bad payload and another agent's id come back as MCP tool errors carrying the pm-agent code. */
export async function expectToolErrors(client: Client, agentId: string): Promise<void> {
  const invalid = await callTool(client, 'report_task_progress', { agent_id: agentId, task_id: 'not-a-uuid', status: 'finished' });
  expect(invalid.result.isError).toBe(true);
  expect(invalid.answer).toMatchObject({ success: false, code: 'VALIDATION_FAILED', error: expect.any(String) });

  const forbidden = await callTool(client, 'request_next_task', { agent_id: `${agentId}-impostor` });
  expect(forbidden.result.isError).toBe(true);
  expect(forbidden.answer).toMatchObject({ success: false, code: 'FORBIDDEN' });
  expect(forbidden.answer.error).toContain(agentId);

  // An unknown tool is a protocol error (JSON-RPC invalid params), not a tool result.
  await expect(client.callTool({ name: 'drop_all_tables', arguments: {} })).rejects.toMatchObject({ code: -32602 });
}
