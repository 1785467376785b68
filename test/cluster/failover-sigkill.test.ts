import { describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import {
  callTotals,
  doneCount,
  latencies,
  fleetEnv,
  makeAgents,
  OwnershipSampler,
  ownership,
  percentile,
  seedProject,
  startFleet,
  useFleetFixture,
  waitUntil,
} from '../support/sim-agent';

// SIGKILL one of three replicas in the middle of a run: its agents move to the others, carry on
// with the tasks they hold, and every task is completed exactly once.

const PORTS = [3301, 3302, 3303];
const AGENTS = 30;
const TASKS = 150;

describe('failover: SIGKILL a replica mid-run', () => {
  const f = useFleetFixture();

  it('agents of the killed replica are served again elsewhere and every task is completed exactly once', { timeout: 300_000 }, async () => {
    const db = f.db!;
    const fleet = fleetEnv(f.database!.url);
    const started = await startFleet(PORTS, fleet.env, f.replicas);
    const urls = started.map((r) => r.url);
    const api = new ApiClient(urls[0], fleet.adminKey);
    const { projectId, apiKey, taskIds } = await seedProject(api, TASKS, 'sigkill');
    const agents = (f.agents = await makeAgents(api, apiKey, urls, AGENTS, { workMs: 100, callTimeoutMs: 10_000 }));

    const sampler = (f.sampler = new OwnershipSampler(db, projectId));
    sampler.start();
    const t0 = Date.now();
    const runs = agents.map((a) => a.start());
    const failed: unknown[] = [];
    runs.forEach((p) => p.catch((err: unknown) => failed.push(err)));

    await waitUntil('30 completions before the kill', async () => (await doneCount(db, projectId)) >= 30 || failed.length > 0, 60_000);
    expect(failed).toEqual([]);

    const victim = started[1];
    // Phases drift apart after the first round: wait (a little) for most of the victim's agents to
    // be in the middle of a task, so the kill catches leases in hand and not only claims.
    await waitUntil('agents holding tasks on the victim', () => agents.filter((a) => a.url === victim.url && a.holding).length >= 6, 20_000, 20).catch(
      () => undefined,
    );
    const onVictim = agents.filter((a) => a.url === victim.url);
    const heldAtKill = onVictim.filter((a) => a.holding !== undefined).map((a) => ({ agent: a, taskId: a.holding! }));
    const doneAtKill = await doneCount(db, projectId);
    const killAt = Date.now();
    victim.proc.kill('SIGKILL');
    const exit = await victim.exited;
    expect(exit.signal).toBe('SIGKILL');

    await waitUntil(`all ${TASKS} tasks done`, async () => (await doneCount(db, projectId)) === TASKS || failed.length > 0, 120_000, 200);
    expect(failed).toEqual([]);
    const runMs = Date.now() - t0;
    await Promise.all(agents.map((a) => a.stop()));
    await sampler.stop();

    // Every agent that was on the victim lost it and was served again by another replica.
    expect(onVictim.length).toBeGreaterThan(0);
    const moves = onVictim.map((a) => a.interruptions.find((i) => i.from === victim.url && i.at >= killAt));
    expect(moves.every((m) => m !== undefined)).toBe(true);
    expect(moves.every((m) => m!.servedAt !== undefined && m!.to !== victim.url)).toBe(true);
    // Whoever held a task on the victim finished it itself: the task did not change hands.
    for (const h of heldAtKill) expect(h.agent.completed, h.agent.agentId).toContain(h.taskId);
    const resumed = heldAtKill.filter((h) => h.agent.resumed.includes(h.taskId)).length;
    // Agents elsewhere were not disturbed.
    for (const a of agents.filter((x) => !onVictim.includes(x))) expect(a.interruptions).toEqual([]);

    // Postgres: each task done, exactly one assignment, completed; nothing expired or still active.
    const own = await ownership(db, projectId);
    expect(own.tasks).toBe(TASKS);
    expect(own.done).toBe(TASKS);
    expect(own.notCompletedOnce).toEqual([]);
    expect(own.completedAssignments).toBe(TASKS);
    expect(own.active).toBe(0);
    expect(own.expired).toBe(0);
    expect(own.assignments).toBe(TASKS);
    expect(sampler.violations).toEqual([]);
    expect(sampler.samples).toBeGreaterThan(5);

    // The agents' own view: each task completed by exactly one agent, no refusal, no lost task.
    const completedByAgents = agents.flatMap((a) => a.completed);
    expect(completedByAgents.length).toBe(TASKS);
    expect(new Set(completedByAgents)).toEqual(new Set(taskIds));
    expect(agents.flatMap((a) => a.anomalies)).toEqual([]);

    const recovery = moves.map((m) => m!.servedAt! - m!.at);
    const totals = callTotals(agents);
    console.log(
      `[sigkill] ${AGENTS} agents, ${TASKS} tasks, 3 replicas; killed ${victim.id} after ${doneAtKill} completions ` +
        `with ${onVictim.length} agents on it (${heldAtKill.length} holding a task, each finished it itself on another replica; ${resumed} re-fetched it first with request_next_task, same lease token); run took ${runMs} ms`,
    );
    console.log(
      `[sigkill] killed replica's agents served again: p50 ${percentile(recovery, 50)} ms, max ${Math.max(...recovery)} ms ` +
        `(disconnect → first answered call on another replica, n=${recovery.length})`,
    );
    console.log(`[sigkill] calls: ${JSON.stringify(totals)}; duplicates in Postgres: ${own.notCompletedOnce.length}; ownership samples: ${sampler.samples}`);
    console.log(`[sigkill] answer latency (ms): ${JSON.stringify(latencies(agents))}`);
  });
});
