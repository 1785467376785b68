import { Logger } from '@nestjs/common';
import { OnGatewayConnection, OnGatewayInit, WebSocketGateway } from '@nestjs/websockets';
import type { Namespace, Socket } from 'socket.io';
import { AppError, CommonErrorCode } from '../../common/errors';
import { TokenService, type AgentIdentity } from '../auth/token.service';
import { agentRoom, projectRoom, PushService } from '../events/push.service';
import { Lifecycle } from '../health/lifecycle';
import { ToolsService } from './tools.service';

type Ack = (answer: object) => void;
interface SocketData {
  who: AgentIdentity;
}

/**
 * Namespace /agents: a JWT at the handshake, then every event is a tool call answered through
 * the acknowledgement. Thin on purpose: ToolsService validates and dispatches.
 */
@WebSocketGateway({ namespace: '/agents' })
export class AgentsGateway implements OnGatewayInit<Namespace>, OnGatewayConnection<Socket> {
  private readonly logger = new Logger('AgentsGateway');

  constructor(
    private readonly tokens: TokenService,
    private readonly tools: ToolsService,
    private readonly push: PushService,
    private readonly lifecycle: Lifecycle,
  ) {}

  afterInit(ns: Namespace): void {
    this.push.attach(ns);
    ns.use((socket, next) => {
      if (this.lifecycle.draining) return next(refusal(CommonErrorCode.UNAVAILABLE, 'Server is draining; connect to another replica'));
      try {
        (socket.data as SocketData).who = this.tokens.verify((socket.handshake.auth as { token?: unknown } | undefined)?.token);
        next();
      } catch (err) {
        const e = err instanceof AppError ? err : new AppError(CommonErrorCode.UNAUTHORIZED, 'Authentication failed');
        next(refusal(e.code, e.message));
      }
    });
  }

  async handleConnection(socket: Socket): Promise<void> {
    const who = (socket.data as SocketData).who;
    await socket.join([agentRoom(who.projectId, who.agentId), projectRoom(who.projectId)]);
    socket.onAny((event: string, ...args: unknown[]) => {
      const ack = typeof args[args.length - 1] === 'function' ? (args.pop() as Ack) : undefined;
      void this.dispatch(who, event, args[0], ack);
    });
  }

  private async dispatch(who: AgentIdentity, event: string, payload: unknown, ack?: Ack): Promise<void> {
    // Events without an ack that are not tools are ignored: there is nobody to answer.
    if (!ack && !this.tools.isTool(event)) return;
    let answer: object;
    try {
      answer = await this.tools.call(event, who, payload);
    } catch (err) {
      answer = errorAnswer(err, this.logger);
    }
    ack?.(answer);
  }
}

function refusal(code: string, message: string): Error & { data: { code: string } } {
  return Object.assign(new Error(message), { data: { code } });
}

export function errorAnswer(err: unknown, logger: Logger): object {
  if (err instanceof AppError) return { success: false, error: err.message, code: err.code, ...err.details };
  logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  return { success: false, error: 'Internal error', code: CommonErrorCode.INTERNAL };
}
