import type { Queryable } from '../infra/database/db';
import type { Statement } from '../infra/database/write-batch';
import { AppError, TaskErrorCode } from './errors';

export interface IdempotencyScope {
  projectId: string;
  agentId: string;
  requestId?: string;
  tool: string;
}

export type IdempotencyStart<T> =
  | { replay: true; response: T }
  | {
      replay: false;
      finish: (response: T) => Promise<void>;
      /** The write finish() does, to run with the transaction's other writes (null: nothing to record). */
      finishWrite: (response: T) => Statement | null;
    };

/**
 * Claims a request id inside the caller's transaction. A retry (or a concurrent duplicate, which
 * waits on the key's row lock) gets the first answer back; the work is done once.
 */
export async function beginIdempotent<T>(q: Queryable, scope: IdempotencyScope): Promise<IdempotencyStart<T>> {
  const { requestId } = scope;
  if (!requestId) return { replay: false, finish: async () => undefined, finishWrite: () => null };
  const inserted = await q.query(
    `INSERT INTO idempotency_keys (project_id, agent_id, request_id, tool) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING RETURNING request_id`,
    [scope.projectId, scope.agentId, requestId, scope.tool],
  );
  if (inserted.rows.length === 0) {
    const prior = await q.query<{ tool: string; response: T | null }>(
      'SELECT tool, response FROM idempotency_keys WHERE project_id = $1 AND agent_id = $2 AND request_id = $3',
      [scope.projectId, scope.agentId, requestId],
    );
    const row = prior.rows[0];
    if (!row || row.tool !== scope.tool || row.response === null) {
      throw new AppError(TaskErrorCode.IDEMPOTENCY_CONFLICT, `request_id ${requestId} was already used for another call`);
    }
    return { replay: true, response: row.response };
  }
  const finishWrite = (response: T): Statement => ({
    text: 'UPDATE idempotency_keys SET response = $4 WHERE project_id = $1 AND agent_id = $2 AND request_id = $3',
    params: [scope.projectId, scope.agentId, requestId, JSON.stringify(response)],
  });
  return {
    replay: false,
    finish: async (response: T) => {
      const w = finishWrite(response);
      await q.query(w.text, w.params);
    },
    finishWrite,
  };
}
