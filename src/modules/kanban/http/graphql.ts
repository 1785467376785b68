import { KanbanErrorCode } from '../../../common/errors';
import { KanbanError } from '../kanban-error';
import type { BoardHttp } from './board-http';

interface GraphQLAnswer<T> {
  data?: T | null;
  errors?: { message?: string; type?: string; extensions?: { code?: string } }[];
}

/**
 * POSTs one GraphQL document. GraphQL errors become BOARD_REJECTED (or BOARD_RATE_LIMITED /
 * BOARD_NOT_FOUND when the API says so); the documents themselves are validated against the
 * published schemas in the test suite.
 */
export async function graphqlRequest<T>(http: BoardHttp, p: { path: string; query: string; variables?: Record<string, unknown>; headers?: Record<string, string>; signal?: AbortSignal }): Promise<T> {
  // Queries may be retried after a timeout; a mutation that may have been applied may not.
  const idempotent = /^\s*(query\b|\{)/.test(p.query.replace(/^\s*#.*$/gm, ''));
  const res = await http.request<GraphQLAnswer<T>>({ method: 'POST', path: p.path, body: { query: p.query, variables: p.variables ?? {} }, headers: p.headers, signal: p.signal, idempotent });
  const errors = res.body?.errors ?? [];
  if (errors.length > 0) {
    const kinds = errors.map((e) => e.type ?? e.extensions?.code ?? '');
    const msg = errors.map((e) => e.message ?? 'error').join('; ').slice(0, 500);
    if (kinds.some((k) => /^RATE_?LIMIT(ED)?$/i.test(k))) throw new KanbanError(KanbanErrorCode.BOARD_RATE_LIMITED, `${http.provider} GraphQL: ${msg}`, { provider: http.provider });
    if (kinds.every((k) => k === 'NOT_FOUND')) throw new KanbanError(KanbanErrorCode.BOARD_NOT_FOUND, `${http.provider} GraphQL: ${msg}`, { provider: http.provider });
    throw new KanbanError(KanbanErrorCode.BOARD_REJECTED, `${http.provider} GraphQL: ${msg}`, { provider: http.provider });
  }
  if (!res.body?.data) throw new KanbanError(KanbanErrorCode.BOARD_BAD_RESPONSE, `${http.provider} GraphQL: answer without data`, { provider: http.provider });
  return res.body.data;
}
