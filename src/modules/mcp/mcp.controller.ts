import { Controller, Delete, Get, Logger, Post, Req, Res } from '@nestjs/common';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, Response } from 'express';
import { AppConfig } from '../../config/app-config';
import { AppError } from '../../common/errors';
import { withCallTimeout } from '../../common/timeout';
import { MetricsService } from '../../infra/metrics/metrics.service';
import { RateLimiter } from '../../infra/shared-state/rate-limiter';
import { TokenService, type AgentIdentity } from '../auth/token.service';
import { errorAnswer, rateLimited } from '../connections/agents.gateway';
import { ToolsService } from '../connections/tools.service';
import { createMcpServer } from './mcp-server';

const MINUTE = 60_000;
/** JSON-RPC "server error" range; the SDK's own transport answers its HTTP-level refusals with it too. */
const SERVER_ERROR = -32000;

/**
 * MCP over streamable HTTP at /mcp, stateless: every POST gets a fresh server and transport, so
 * any replica can answer any request and nothing is kept between them. The agent token is the
 * same JWT the socket takes; calls count against the same per-agent rate limit.
 */
@Controller('mcp')
export class McpController {
  private readonly logger = new Logger('McpController');

  constructor(
    private readonly tokens: TokenService,
    private readonly tools: ToolsService,
    private readonly limiter: RateLimiter,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  @Post()
  async post(@Req() req: Request, @Res() res: Response): Promise<void> {
    let who: AgentIdentity;
    try {
      who = await this.tokens.authenticate(/^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '')?.[1]);
    } catch (err) {
      // Say why without echoing the token back.
      const code = err instanceof AppError ? err.code : 'UNAUTHORIZED';
      const given = err instanceof AppError ? err.details.reason : undefined;
      const reason = given === 'expired' || given === 'revoked' ? given : undefined;
      res.setHeader('WWW-Authenticate', 'Bearer');
      rpcError(res, 401, 'Unauthorized: send Authorization: Bearer <agent token> (POST /api/v1/agents/auth)', { code, ...(reason ? { reason } : {}) });
      return;
    }
    const server = createMcpServer({ agentId: who.agentId, call: (name, args) => this.call(who, name, args), errorAnswer: (err) => errorAnswer(err, this.logger) });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    try {
      await server.connect(transport);
      await transport.handleRequest(req, res, req.body);
    } catch (err) {
      this.logger.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
      if (!res.headersSent) rpcError(res, 500, 'Internal error');
    }
  }

  // Stateless: no SSE stream to resume and no session to end (the spec allows 405 for both).
  @Get()
  get(@Res() res: Response): void {
    methodNotAllowed(res);
  }

  @Delete()
  delete(@Res() res: Response): void {
    methodNotAllowed(res);
  }

  private async call(who: AgentIdentity, name: string, args: Record<string, unknown>): Promise<object> {
    // A made-up name must not become a metric label (unbounded series).
    const timer = this.metrics.requestDuration.startTimer({ event: this.tools.isTool(name) ? name : 'unknown' });
    let outcome = 'error';
    try {
      const rate = await this.limiter.hit(`agent:${who.projectId}:${who.agentId}`, this.config.rateLimits.agentPerMinute, MINUTE);
      if (!rate.allowed) throw rateLimited(rate.retryAfterMs, `Rate limit of ${this.config.rateLimits.agentPerMinute} calls a minute exceeded`);
      const answer = await withCallTimeout(this.tools.call(name, who, args), this.config.limits.toolCallTimeoutMs);
      if (!('success' in answer && answer.success === false)) outcome = 'ok';
      return answer;
    } finally {
      timer({ outcome });
    }
  }
}

function methodNotAllowed(res: Response): void {
  res.setHeader('Allow', 'POST');
  rpcError(res, 405, 'Method not allowed: this MCP endpoint is stateless and takes POST only');
}

function rpcError(res: Response, status: number, message: string, data?: Record<string, unknown>): void {
  res.status(status).json({ jsonrpc: '2.0', error: { code: SERVER_ERROR, message, ...(data ? { data } : {}) }, id: null });
}
