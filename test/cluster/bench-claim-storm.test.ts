import { describe, expect, it } from 'vitest';
import { runClaimStorm } from '../../bench/claim-storm';

// The claim storm of the benchmarks (bench/claim-storm.ts), small: 2 real replicas, 200 agents in
// a load process racing for 100 tasks through the same harness (bench/lib: fleet, load workers).
// Correctness only, never timing: every task claimed and completed exactly once, no duplicate in
// Postgres or at the agents, no error.

describe('claim storm through the benchmark harness', () => {
  it('200 agents over 2 replicas claim 100 tasks: each exactly once, no errors', async () => {
    const r = await runClaimStorm({ replicas: 2, agents: 200, tasks: 100, workers: 1, basePort: 3581, timeoutS: 120, idleMs: 200 });
    expect(r.connected).toBe(200);
    expect(r.timedOut).toBe(false);
    expect(r.ledger).toMatchObject({
      tasks: 100,
      done: 100,
      assignments: 100,
      activeAssignments: 0,
      tasksAssignedMoreThanOnce: 0,
      tasksCompletedMoreThanOnce: 0,
      doneWithoutOneCompletion: 0,
      tasksWithTwoActive: 0,
    });
    expect(r.clientClaims).toBe(100);
    expect(r.distinctTasksClaimed).toBe(100);
    expect(r.clientDuplicates).toBe(0);
    expect(r.errors).toEqual({});
    expect(r.anomalies).toEqual([]);
  }, 240_000);
});
