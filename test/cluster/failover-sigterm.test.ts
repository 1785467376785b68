import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../support/client';
import {
  callTotals,
  doneCount,
  fleetEnv,
  latencies,
  makeAgents,
  OwnershipSampler,
  ownership,
  percentile,
  seedProject,
  startFleet,
  sleep,
  useFleetFixture,
  waitUntil,
  type CallRecord,
} from '../support/sim-agent';

// SIGTERM one of three replicas while its agents have calls in flight: readiness turns 503, the
// agents are told `server_draining`, every call sent before the signal is answered, the process
// exits 0, and no task changes hands.

const PORTS = [3307, 3308, 3309];
const AGENTS = 30;
const TASKS = 150;
const BURST_PER_AGENT = 1;

describe('failover: SIGTERM drains a replica', () => {
  const f = useFleetFixture();

  it('answers every call in flight, exits 0, and leaves the leases to the agents who carry on elsewhere', { timeout: 300_000 }, async () => {
    const db = f.db!;
    const fleet = fleetEnv(f.database!.url, { DRAIN_NOTICE_MS: '300', SHUTDOWN_GRACE_MS: '10000', LOG_LEVEL: 'log' });
    const started = await startFleet(PORTS, fleet.env, f.replicas);
    const urls = started.map((r) => r.url);
    const api = new ApiClient(urls[0], fleet.adminKey);
    const { projectId, apiKey, taskIds } = await seedProject(api, TASKS, 'sigterm');
    const agents = (f.agents = await makeAgents(api, apiKey, urls, AGENTS, { workMs: 100, callTimeoutMs: 10_000 }));

    const sampler = (f.sampler = new OwnershipSampler(db, projectId));
    sampler.start();
    const runs = agents.map((a) => a.start());
    const failed: unknown[] = [];
    runs.forEach((p) => p.catch((err: unknown) => failed.push(err)));

    await waitUntil('30 completions before the drain', async () => (await doneCount(db, projectId)) >= 30 || failed.length > 0, 60_000);
    expect(failed).toEqual([]);

    const victim = started[2];
    // Phases drift apart after the first round: wait (a little) for most of the victim's agents to
    // be in the middle of a task, so the drain catches leases in hand and not only claims.
    await waitUntil('agents holding tasks on the victim', () => agents.filter((a) => a.url === victim.url && a.holding).length >= 6, 20_000, 20).catch(
      () => undefined,
    );
    const onVictim = agents.filter((a) => a.url === victim.url);
    expect(onVictim.length).toBeGreaterThan(0);
    const heldAtTerm = onVictim.filter((a) => a.holding !== undefined).map((a) => ({ agent: a, taskId: a.holding! }));
    // Extra read calls on every socket of the victim, sent just before the signal: in flight for sure.
    const bursts = onVictim.map((a) => a.burst(BURST_PER_AGENT));
    const termAt = Date.now();
    victim.proc.kill('SIGTERM');

    // Readiness of the draining replica, until it stops listening.
    const readiness: { at: number; status: number }[] = [];
    const watchReadiness = (async () => {
      for (let i = 0; i < 2000; i++) {
        try {
          const r = await fetch(`${victim.url}/health/ready`, { signal: AbortSignal.timeout(2000) });
          readiness.push({ at: Date.now(), status: r.status });
          await r.body?.cancel();
        } catch {
          if (victim.proc.exitCode !== null || victim.proc.signalCode !== null) return;
          readiness.push({ at: Date.now(), status: 0 });
        }
        await sleep(20);
      }
    })();

    const exit = await Promise.race([
      victim.exited,
      sleep(20_000).then(() => ({ code: null, signal: 'timeout' as unknown as NodeJS.Signals })),
    ]);
    const exitAt = Date.now();
    await watchReadiness;
    const burstCalls = (await Promise.all(bursts)).flat();
    expect(exit).toEqual({ code: 0, signal: null });

    await waitUntil(`all ${TASKS} tasks done`, async () => (await doneCount(db, projectId)) === TASKS || failed.length > 0, 120_000, 200);
    expect(failed).toEqual([]);
    await Promise.all(agents.map((a) => a.stop()));
    await sampler.stop();

    // Readiness went 503 during the drain and never back to 200.
    const firstUnready = readiness.findIndex((r) => r.status === 503);
    expect(firstUnready).toBeGreaterThanOrEqual(0);
    expect(readiness.slice(firstUnready).filter((r) => r.status === 200)).toEqual([]);

    // Every agent on the victim heard `server_draining`, moved and was served elsewhere.
    for (const a of onVictim) {
      expect(a.drainNotices, a.agentId).toBeGreaterThan(0);
      const move = a.interruptions.find((i) => i.from === victim.url);
      expect(move?.reason, a.agentId).toBe('server_draining');
      expect(move?.servedAt, a.agentId).toBeDefined();
      expect(move?.to, a.agentId).not.toBe(victim.url);
    }
    for (const a of agents.filter((x) => !onVictim.includes(x))) expect(a.interruptions).toEqual([]);
    // Whoever held a task on the draining replica finished it itself, elsewhere.
    for (const h of heldAtTerm) expect(h.agent.completed, h.agent.agentId).toContain(h.taskId);
    const resumed = heldAtTerm.filter((h) => h.agent.resumed.includes(h.taskId)).length;

    // No lost acks: every call sent to the victim before SIGTERM was answered by it.
    const toVictim = agents.flatMap((a) => a.calls).filter((c) => c.url === victim.url);
    const sentBefore = toVictim.filter((c) => c.sentAt <= termAt);
    const unanswered = (cs: CallRecord[]) => cs.filter((c) => c.outcome !== 'answered');
    expect(burstCalls.length).toBe(onVictim.length * BURST_PER_AGENT);
    expect(unanswered(burstCalls)).toEqual([]);
    expect(unanswered(sentBefore)).toEqual([]);
    expect(sentBefore.filter((c) => c.code !== undefined)).toEqual([]);
    const sentAfter = toVictim.filter((c) => c.sentAt > termAt);

    // No task changed hands: one assignment per task, completed; none expired.
    const own = await ownership(db, projectId);
    expect(own.done).toBe(TASKS);
    expect(own.notCompletedOnce).toEqual([]);
    expect(own.expired).toBe(0);
    expect(own.active).toBe(0);
    expect(own.assignments).toBe(TASKS);
    expect(sampler.violations).toEqual([]);
    const completedByAgents = agents.flatMap((a) => a.completed);
    expect(completedByAgents.length).toBe(TASKS);
    expect(new Set(completedByAgents)).toEqual(new Set(taskIds));
    expect(agents.flatMap((a) => a.anomalies)).toEqual([]);

    const recovery = onVictim.map((a) => {
      const m = a.interruptions.find((i) => i.from === victim.url)!;
      return m.servedAt! - m.at;
    });
    const unreadyAfter = readiness[firstUnready].at - termAt;
    console.log(
      `[sigterm] drain took ${exitAt - termAt} ms (SIGTERM → exit 0; DRAIN_NOTICE_MS 300); readiness 503 ${unreadyAfter} ms after SIGTERM ` +
        `(${readiness.filter((r) => r.status === 503).length} × 503 seen)`,
    );
    console.log(
      `[sigterm] calls to the draining replica sent before SIGTERM: ${sentBefore.length} sent, ` +
        `${sentBefore.length - unanswered(sentBefore).length} answered (burst: ${burstCalls.length} sent, ${burstCalls.length - unanswered(burstCalls).length} answered); ` +
        `sent after SIGTERM: ${sentAfter.length}, answered ${sentAfter.length - unanswered(sentAfter).length}`,
    );
    console.log(
      `[sigterm] ${onVictim.length} agents moved (${heldAtTerm.length} holding a task, each finished it itself on another replica; ${resumed} re-fetched it first with request_next_task, same lease token): served again p50 ${percentile(recovery, 50)} ms, max ${Math.max(...recovery)} ms after server_draining`,
    );
    const drainLines = victim.log().split('\n').filter((l) => /drain/i.test(l));
    console.log(`[sigterm] the replica's own account:\n${drainLines.map((l) => `  ${stripVTControlCharacters(l).trim()}`).join('\n')}`);
    console.log(`[sigterm] calls: ${JSON.stringify(callTotals(agents))}; latency: ${JSON.stringify(latencies(agents))}`);
  });
});
