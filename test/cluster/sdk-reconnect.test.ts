import { afterAll, describe, expect, it } from 'vitest';
import { PmAgentClient } from '../../packages/client/src';
import { ApiClient } from '../support/client';
import { fleetEnv, seedProject, startFleet, useFleetFixture } from '../support/sim-agent';

// The SDK given two replica URLs: SIGKILL the replica it is connected to, and its next call goes
// through the other one, still holding the same task under the same lease token.

const PORTS = [3451, 3452];

describe('SDK client: failover to another replica', () => {
  const f = useFleetFixture();
  let c: PmAgentClient | undefined;
  afterAll(() => c?.close());

  it('after a SIGKILL of its replica the next call succeeds through the other one, same task and lease', { timeout: 180_000 }, async () => {
    const fleet = fleetEnv(f.database!.url);
    const [r1, r2] = await startFleet(PORTS, fleet.env, f.replicas);
    const api = new ApiClient(r1.url, fleet.adminKey);
    const { projectId, apiKey, taskIds } = await seedProject(api, 1, 'sdk-failover');

    c = new PmAgentClient({
      urls: [r1.url, r2.url],
      apiKey,
      agent: { agent_id: 'sdk-fo', name: 'Failover agent', role: 'developer', skills: ['backend'] },
      callTimeoutMs: 5_000,
      connectTimeoutMs: 3_000,
      backoff: { initialMs: 100, maxMs: 1_000 },
    });
    const connects: { url: string; reconnect: boolean }[] = [];
    const drops: string[] = [];
    c.on('connected', (e) => connects.push(e));
    c.on('disconnected', (e) => drops.push(e.url));
    await c.connect();
    expect(c.url).toBe(r1.url);

    const next = await c.requestNextTask();
    if (!next.success) throw new Error(`expected a task, got ${JSON.stringify(next)}`);
    expect(next.task.id).toBe(taskIds[0]);
    const token = next.task.lease.token;
    expect(await c.reportProgress({ task_id: taskIds[0], status: 'in_progress', progress: 20, message: 'before the kill' })).toMatchObject({
      success: true,
      lease: { token },
    });

    r1.proc.kill('SIGKILL');
    expect((await r1.exited).signal).toBe('SIGKILL');

    // Sent straight after the kill: the SDK finds the socket dead, moves to r2, registers again, retries.
    const after = await c.reportProgress({ task_id: taskIds[0], status: 'in_progress', progress: 50, message: 'after the kill' });
    expect(after).toMatchObject({ success: true, task_status: 'in_progress', lease: { token } });
    expect(c.url).toBe(r2.url);
    expect(drops).toContain(r1.url);
    expect(connects).toEqual([
      { url: r1.url, reconnect: false },
      { url: r2.url, reconnect: true },
    ]);

    // r2 hands back the same task under the same lease token, and takes the completion.
    const resumed = await c.requestNextTask();
    expect(resumed.success && { id: resumed.task.id, token: resumed.task.lease.token }).toEqual({ id: taskIds[0], token });
    expect(await c.complete(taskIds[0], 'done after failover')).toMatchObject({ success: true, task_status: 'done' });

    const own = await f.db!.query<{ state: string; agent_id: string; n: number }>(
      `SELECT state, agent_id, count(*)::int AS n FROM assignments WHERE project_id = $1 GROUP BY state, agent_id`,
      [projectId],
    );
    // One assignment, completed by the agent: the task never changed hands.
    expect(own.rows).toEqual([{ state: 'completed', agent_id: 'sdk-fo', n: 1 }]);
    const reports = await f.db!.query<{ message: string }>('SELECT message FROM progress_reports WHERE task_id = $1 ORDER BY id', [taskIds[0]]);
    expect(reports.rows.map((r) => r.message)).toEqual(['before the kill', 'after the kill', 'done after failover']);
  });
});
