import { describe, expect, it } from 'vitest';
import { runChaosCase } from '../../bench/chaos';
import { TEST_RABBITMQ_URL } from '../support/env';

// The replica-kill chaos case at a small size: 24 agents on 3 replicas (events through RabbitMQ),
// two agents that take a task and vanish, SIGKILL of one replica mid-run. Asserts the invariants
// of bench/lib/invariants.ts only, never a timing: every task done exactly once, no duplicate
// assignment ever sampled, dead agents' leases returned by the sweeper, every event published and
// processed once per consumer, the killed replica's agents served elsewhere.

describe('chaos: SIGKILL of a replica under a small steady workload', () => {
  it('keeps every invariant', { timeout: 240_000 }, async () => {
    const result = await runChaosCase({
      chaosCase: 'replica-kill',
      agents: 24,
      deadAgents: 2,
      warmupS: 6,
      afterS: 4,
      workMs: 100,
      backlog: 2,
      // 0.05: a dead agent's task comes back 12 s after its claim (9 s lease + 3 s grace).
      leaseScale: 0.05,
      sweepMs: 200,
      downS: 0,
      latencyMs: 0,
      jitterMs: 0,
      phaseS: 0,
      drainS: 90,
      callTimeoutMs: 10_000,
      basePort: 3540,
      waitQuiet: 'never',
      restartCrashed: false,
      rabbitUrl: TEST_RABBITMQ_URL,
      // A loaded CI machine may delay a sweep: lateness is not what this test is about.
      sweepSlackMs: 10_000,
      log: (m) => console.log(`[chaos-small] ${m}`),
    });
    const failed = (result.checks ?? []).filter((c) => !c.ok);
    console.log(
      `[chaos-small] ${result.metrics.tasks} tasks, ${result.metrics.events} events, ${result.metrics.call_attempts} calls ` +
        `(${result.metrics.logical_calls_retried} retried); ${(result.checks ?? []).length} checks, ${failed.length} failed`,
    );
    expect(failed.map((c) => `${c.name}: ${c.detail ?? ''}`)).toEqual([]);
    const names = (result.checks ?? []).map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'every task done exactly once (one completed assignment per task)',
        'no duplicate assignment ever observed (sampled)',
        'every event processed once by each consumer it is routed to',
        "dead agents' leases returned by the sweeper after their grace, and their tasks finished by others",
      ]),
    );
  });
});
