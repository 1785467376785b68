import { Injectable } from '@nestjs/common';
import { AppError, CommonErrorCode } from '../../common/errors';
import { parseOrThrow } from '../../common/validation';
import { AgentsService } from '../agents/agents.service';
import type { AgentIdentity } from '../auth/token.service';
import { AssignmentService } from '../tasks/assignment.service';
import { BlockerService } from '../tasks/blocker.service';
import { ProgressService } from '../tasks/progress.service';
import { ProjectStatusService } from '../tasks/project-status.service';
import { TaskContextService } from '../tasks/task-context.service';
import { BoardRegistry } from '../kanban/board-registry';
import { toolSchemas, type ToolInput, type ToolName } from './tool-schemas';

type Handlers = { [N in ToolName]: (who: AgentIdentity, input: ToolInput<N>) => Promise<object> };

/** The agent tools: validate, check the caller acts as itself, call one service method. */
@Injectable()
export class ToolsService {
  private readonly handlers: Handlers;

  constructor(
    agents: AgentsService,
    assignment: AssignmentService,
    progress: ProgressService,
    blockers: BlockerService,
    status: ProjectStatusService,
    context: TaskContextService,
    boards: BoardRegistry,
  ) {
    const provider = async (projectId: string): Promise<string> => (await boards.settings(projectId)).provider;
    this.handlers = {
      register_agent: (who, i) => agents.register(who, i),
      request_next_task: (who, i) => assignment.requestNextTask(who, i.request_id),
      report_task_progress: (who, i) => progress.report(who, i),
      report_blocker: (who, i) => blockers.report(who, i),
      get_project_status: async (who) => ({ ...(await status.status(who.projectId)), provider: await provider(who.projectId) }),
      get_agent_status: (who) => agents.status(who),
      list_registered_agents: (who) => agents.list(who.projectId),
      ping: async (who, i) => ({ success: true, status: 'online', provider: await provider(who.projectId), echo: i.echo ?? 'pong', timestamp: new Date().toISOString() }),
      get_task_context: (who, i) => context.context(who, i.task_id),
      log_decision: (who, i) => context.logDecision(who, i),
      log_artifact: (who, i) => context.logArtifact(who, i),
      check_assignment_health: (who) => status.assignmentHealth(who.projectId),
    };
  }

  isTool(name: string): name is ToolName {
    return Object.hasOwn(toolSchemas, name);
  }

  async call(name: string, who: AgentIdentity, payload: unknown): Promise<object> {
    // socket.io also delivers numeric event names: `name` is only typed as a string.
    if (!this.isTool(name)) throw new AppError(CommonErrorCode.UNKNOWN_TOOL, `Unknown tool: ${String(name).slice(0, 64)}`);
    return this.run(name, who, payload);
  }

  private async run<N extends ToolName>(name: N, who: AgentIdentity, payload: unknown): Promise<object> {
    // zod's object schemas take any non-array object, a binary attachment (Buffer) included.
    if (payload != null && !isPlainObject(payload)) {
      throw new AppError(CommonErrorCode.VALIDATION_FAILED, 'Invalid payload: expected an object with the named fields');
    }
    const input = parseOrThrow(toolSchemas[name], payload ?? {}) as ToolInput<N>;
    const claimed = (input as { agent_id?: string }).agent_id;
    if (claimed !== undefined && claimed !== who.agentId) {
      throw new AppError(CommonErrorCode.FORBIDDEN, `This token acts for agent ${who.agentId}, not ${claimed}`);
    }
    return this.handlers[name](who, input);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}
