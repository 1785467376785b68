import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
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
  sleep,
  startFleet,
  useFleetFixture,
  waitUntil,
} from '../support/sim-agent';

// Kill a master of the Redis Cluster while agents work on three replicas: the cluster fails over,
// the service keeps serving, and no assignment is lost or doubled. The killed node is restored
// (it rejoins as a replica) whatever happens, so later suites find a whole cluster.

const PORTS = [3311, 3312, 3313];
const AGENTS = 30;
const TASKS = 150;
const LATE_TASKS = 60;
const REDIS_PORTS = [7000, 7001, 7002, 7003, 7004, 7005];
const ROOT = join(__dirname, '..', '..');
// The sharded Socket.IO adapter's channel for the /agents namespace: killing the master that owns
// it also exercises the adapter's resubscription.
// The adapter's channels live under the replica's REDIS_KEY_PREFIX.
const adapterChannel = (prefix: string) => `${prefix}:socket.io#/agents#`;

interface NodeLine {
  id: string;
  port: number;
  flags: string[];
  master: string;
  link: string;
  slots: string[];
}

// redis-cli runs asynchronously: the simulated agents share this process, and a blocked event loop
// would fire their call timeouts.
function cli(port: number, ...args: string[]): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { encoding: 'utf8', timeout: 5000 }, (err, stdout) =>
      resolve(err || stdout.startsWith('Could not connect') ? null : stdout.replace(/\r/g, '')),
    );
  });
}

async function clusterNodes(port: number): Promise<NodeLine[] | null> {
  const out = await cli(port, 'cluster', 'nodes');
  if (!out || out.startsWith('ERR')) return null;
  return out
    .trim()
    .split('\n')
    .map((l) => l.split(' '))
    .map(([id, addr, flags, master, , , , link, ...slots]) => ({
      id,
      port: Number(addr.split('@')[0].split(':')[1]),
      flags: flags.split(','),
      master,
      link,
      slots,
    }));
}

async function clusterStateOk(port: number): Promise<boolean> {
  return /^cluster_state:ok$/m.test((await cli(port, 'cluster', 'info')) ?? '');
}

/** Every node answers, sees the cluster ok, knows 6 connected nodes and none failing. */
async function clusterWhole(): Promise<boolean> {
  const views = await Promise.all(REDIS_PORTS.map(async (p) => ({ ok: await clusterStateOk(p), nodes: await clusterNodes(p) })));
  return views.every(({ ok, nodes }) => {
    return (
      ok &&
      nodes !== null &&
      nodes.length === REDIS_PORTS.length &&
      nodes.every((n) => n.link === 'connected' && !n.flags.some((f) => f.startsWith('fail')))
    );
  });
}

function slotOwner(nodes: NodeLine[], slot: number): NodeLine | undefined {
  return nodes.find(
    (n) =>
      n.flags.includes('master') &&
      !n.flags.some((f) => f.startsWith('fail')) &&
      ownsSlot(n, slot),
  );
}

/** Redis Cluster key slot (CRC16/XMODEM of the hash tag, or of the key), to see whose keys the dead master held. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(hashed)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

function ownsSlot(node: NodeLine, slot: number): boolean {
  return node.slots.some((range) => {
    const [a, b = a] = range.split('-').map(Number);
    return slot >= a && slot <= b;
  });
}

/** The process id of the redis-server on `port`, checked against its command line. */
async function redisPid(port: number): Promise<number> {
  const info = (await cli(port, 'info', 'server')) ?? '';
  const pid = Number(/^process_id:(\d+)$/m.exec(info)?.[1]);
  if (!pid) throw new Error(`no process_id from redis ${port}`);
  const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  if (!cmdline.includes('redis-server') || !cmdline.includes(`:${port}`)) throw new Error(`pid ${pid} is not redis ${port}: ${cmdline}`);
  return pid;
}

/** Every node that answers sees cluster_state:ok (a failover in progress has finished). */
async function answeringNodesOk(): Promise<boolean> {
  const states = await Promise.all(REDIS_PORTS.map(async (p) => ((await cli(p, 'ping')) === null ? null : await clusterStateOk(p))));
  return states.some((s) => s !== null) && states.every((s) => s !== false);
}

/**
 * Brings back whatever node is missing (it rejoins as a replica) and waits for a whole cluster.
 * Waits for any failover in progress first: services.sh recreates the cluster from scratch when a
 * restarted node does not bring it back to ok within 15 s, which would wipe other users' keys.
 */
async function restoreCluster(): Promise<void> {
  await waitUntil('the surviving Redis nodes to report cluster_state:ok', answeringNodesOk, 60_000, 250);
  const out: string[] = [];
  const code = await new Promise<number | null>((resolve) => {
    const p = spawn('bash', [join(ROOT, 'scripts', 'services.sh')], {
      env: { ...process.env, WITH_POSTGRES: '0', WITH_RABBITMQ: '0', WITH_REDIS_STANDALONE: '0', WITH_REDIS_CLUSTER: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 120_000,
    });
    p.stdout.on('data', (b: Buffer) => out.push(b.toString()));
    p.stderr.on('data', (b: Buffer) => out.push(b.toString()));
    p.on('error', (err) => out.push(String(err)));
    p.on('close', (c) => resolve(c));
  });
  if (code !== 0) throw new Error(`services.sh failed (${code}):\n${out.join('')}`);
  await waitUntil('a whole Redis Cluster (6 nodes connected, cluster_state:ok)', clusterWhole, 60_000, 250);
}

describe('failover: a Redis Cluster master dies', () => {
  let killedPort: number | undefined;
  const f = useFleetFixture({
    // Start from a whole cluster: another suite may be restoring a node right now; give it time first.
    before: () => waitUntil('a whole Redis Cluster', clusterWhole, 60_000, 500).catch(() => restoreCluster()),
    after: async () => {
      if (killedPort !== undefined) await restoreCluster();
    },
  });

  it('fails over while agents work; the service keeps serving and no assignment is lost or doubled', { timeout: 300_000 }, async () => {
    const db = f.db!;
    const fleet = fleetEnv(f.database!.url);
    const started = await startFleet(PORTS, fleet.env, f.replicas);
    const urls = started.map((r) => r.url);
    const api = new ApiClient(urls[0], fleet.adminKey);
    const { projectId, apiKey } = await seedProject(api, TASKS, 'redis-failover');
    const agents = (f.agents = await makeAgents(api, apiKey, urls, AGENTS, { workMs: 150, callTimeoutMs: 5000 }));

    const sampler = (f.sampler = new OwnershipSampler(db, projectId));
    sampler.start();
    const runs = agents.map((a) => a.start());
    const failed: unknown[] = [];
    runs.forEach((p) => p.catch((err: unknown) => failed.push(err)));

    await waitUntil('20 completions before the kill', async () => (await doneCount(db, projectId)) >= 20 || failed.length > 0, 60_000);
    expect(failed).toEqual([]);
    await waitUntil('a whole Redis Cluster before the kill', clusterWhole, 60_000, 250);

    // The master that owns the adapter's channel.
    const slot = Number(await cli(7000, 'cluster', 'keyslot', adapterChannel(fleet.env.REDIS_KEY_PREFIX)));
    const before = (await clusterNodes(7000))!;
    const victim = slotOwner(before, slot)!;
    expect(victim).toBeDefined();
    const pid = await redisPid(victim.port);

    // Readiness of every replica through the failover.
    const readiness: { url: string; status: number; at: number; ms: number }[] = [];
    const liveness: { url: string; at: number; ms: number }[] = [];
    let watching = true;
    const probe = async (url: string, path: string) => {
      const at = Date.now();
      try {
        const r = await fetch(`${url}${path}`, { signal: AbortSignal.timeout(5000) });
        await r.body?.cancel();
        return { status: r.status, at, ms: Date.now() - at };
      } catch {
        return { status: 0, at, ms: Date.now() - at };
      }
    };
    const watchReadiness = (async () => {
      while (watching) {
        await Promise.all(
          urls.map(async (url) => {
            const [ready, live] = await Promise.all([probe(url, '/health/ready'), probe(url, '/health/live')]);
            readiness.push({ url, ...ready });
            liveness.push({ url, at: live.at, ms: live.ms });
          }),
        );
        await sleep(200);
      }
    })();

    const doneAtKill = await doneCount(db, projectId);
    const killAt = Date.now();
    killedPort = victim.port;
    process.kill(pid, 'SIGKILL');

    // The cluster promotes the replica: a live master owns the slot again and the state is ok.
    const survivor = REDIS_PORTS.find((p) => p !== victim.port)!;
    let newMaster: NodeLine | undefined;
    await waitUntil(
      'the Redis Cluster to fail over',
      async () => {
        const nodes = await clusterNodes(survivor);
        newMaster = nodes ? slotOwner(nodes, slot) : undefined;
        return newMaster !== undefined && newMaster.id !== victim.id && (await clusterStateOk(survivor));
      },
      60_000,
      50,
    );
    const failoverAt = Date.now();
    const doneAtFailover = await doneCount(db, projectId);

    // Work resumes after the failover: tasks added now are assigned and completed too.
    for (let i = 0; i < LATE_TASKS; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, LATE_TASKS - i) }, (_, j) =>
          api.addTask(projectId, { name: `late ${i + j}`, description: 'added after the failover', priority: 'high', labels: ['backend'] }),
        ),
      );
    }
    const total = TASKS + LATE_TASKS;
    await waitUntil(`all ${total} tasks done`, async () => (await doneCount(db, projectId)) === total || failed.length > 0, 180_000, 200);
    expect(failed).toEqual([]);
    watching = false;
    await watchReadiness;
    await Promise.all(agents.map((a) => a.stop()));
    await sampler.stop();

    // Pushes still cross replicas after the failover (the adapter's subscriber moved to the new
    // master): one waiting agent per replica, one new task, every one of them hears tasks_available.
    const watchers = await Promise.all(
      urls.map(async (url, i) => {
        const s = await api.connect(await api.token(apiKey, `watcher-${i}`), { url });
        const reg = await s.call('register_agent', { agent_id: `watcher-${i}`, name: `watcher ${i}`, role: 'developer', skills: ['backend'] });
        expect(reg.success).toBe(true);
        const none = await s.call('request_next_task', { agent_id: `watcher-${i}` });
        expect(none.success).toBe(false);
        return s;
      }),
    );
    let pushes: PromiseSettledResult<unknown>[];
    try {
      const heard = watchers.map((w) => w.next('tasks_available', 15_000));
      const pushTask = await api.addTask(projectId, { name: 'push probe', description: 'after the failover', priority: 'low', labels: ['backend'] });
      pushes = await Promise.allSettled(heard);
      const taker = await watchers[0].call('request_next_task', { agent_id: 'watcher-0' });
      expect(taker.task?.id).toBe(pushTask.id);
      const fin = await watchers[0].call('report_task_progress', {
        agent_id: 'watcher-0',
        task_id: pushTask.id,
        status: 'completed',
        progress: 100,
        lease_token: taker.task.lease.token,
      });
      expect(fin.success).toBe(true);
    } finally {
      watchers.forEach((w) => w.close());
    }
    expect(pushes.map((p) => p.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);

    // No assignment lost or doubled.
    const own = await ownership(db, projectId);
    expect(own.tasks).toBe(total + 1);
    expect(own.done).toBe(total + 1);
    expect(own.notCompletedOnce).toEqual([]);
    expect(own.active).toBe(0);
    expect(own.expired).toBe(0);
    expect(own.assignments).toBe(total + 1);
    expect(sampler.violations).toEqual([]);
    const completedByAgents = agents.flatMap((a) => a.completed);
    expect(completedByAgents.length).toBe(total);
    expect(new Set(completedByAgents).size).toBe(total);
    expect(agents.flatMap((a) => a.anomalies)).toEqual([]);

    // Calls during the failover window, and after it.
    const calls = agents.flatMap((a) => a.calls);
    const during = calls.filter((c) => c.sentAt >= killAt && c.sentAt <= failoverAt);
    const failedDuring = during.filter((c) => c.outcome !== 'answered' || c.code !== undefined);
    const after = calls.filter((c) => c.sentAt > failoverAt);
    expect(after.filter((c) => c.outcome === 'answered' && c.code === undefined).length).toBeGreaterThan(LATE_TASKS);
    const slowest = Math.max(0, ...during.filter((c) => c.endedAt !== undefined).map((c) => c.endedAt! - c.sentAt));
    const notReady = readiness.filter((r) => r.status !== 200);

    console.log(
      `[redis] killed master 127.0.0.1:${victim.port} (pid ${pid}, owner of slot ${slot}) after ${doneAtKill} completions; ` +
        `failover took ${failoverAt - killAt} ms (kill → 127.0.0.1:${newMaster!.port} master of the slot, cluster_state:ok); ` +
        `${doneAtFailover - doneAtKill} tasks completed meanwhile`,
    );
    console.log(
      `[redis] calls sent during the failover: ${during.length}, failed ${failedDuring.length} ` +
        `(${JSON.stringify(Object.fromEntries(['timeout', 'disconnected'].map((o) => [o, failedDuring.filter((c) => c.outcome === o).length])))}, ` +
        `error answers ${failedDuring.filter((c) => c.code !== undefined).length}); slowest answer ${slowest} ms; ` +
        `/health/ready non-200: ${notReady.length} of ${readiness.length} probes`,
    );
    const windows = { before: calls.filter((c) => c.sentAt < killAt), during, after };
    const liveWindows = {
      before: liveness.filter((l) => l.at < killAt),
      during: liveness.filter((l) => l.at >= killAt && l.at <= failoverAt),
      after: liveness.filter((l) => l.at > failoverAt),
    };
    console.log(
      `[redis] /health/live latency (event loop of the replicas) p50/max ms: ${JSON.stringify(
        Object.fromEntries(Object.entries(liveWindows).map(([k, l]) => [k, `${percentile(l.map((x) => x.ms), 50)}/${Math.max(...l.map((x) => x.ms))}`])),
      )}`,
    );
    console.log(
      `[redis] timeouts by window: ${JSON.stringify(Object.fromEntries(Object.entries(windows).map(([k, cs]) => [k, `${cs.filter((c) => c.outcome === 'timeout').length}/${cs.length}`])))}`,
    );
    // Whose calls stalled: agents whose per-agent rate-limit counter lives on the dead master, or others?
    const onDeadMaster = new Set(agents.filter((a) => ownsSlot(victim, keySlot(`{rl:agent:${projectId}:${a.agentId}}`))).map((a) => a.agentId));
    const stalled = failedDuring.filter((c) => c.outcome === 'timeout');
    console.log(
      `[redis] timeouts during the failover: ${stalled.filter((c) => onDeadMaster.has(c.agentId)).length} from the ${onDeadMaster.size} agents ` +
        `whose rate-limit key is on the dead master, ${stalled.filter((c) => !onDeadMaster.has(c.agentId)).length} from the other ${AGENTS - onDeadMaster.size}`,
    );
    for (const r of started) {
      const warnings = r
        .log()
        .split('\n')
        .map((l) => stripVTControlCharacters(l))
        .filter((l) => /WARN|ERROR/.test(l));
      const kinds = new Map<string, number>();
      for (const w of warnings) {
        const k = w.replace(/^.*?(WARN|ERROR)\s+/, '$1 ').replace(/\d+/g, 'N').slice(0, 120);
        kinds.set(k, (kinds.get(k) ?? 0) + 1);
      }
      console.log(`[redis] ${r.id} warnings: ${JSON.stringify(Object.fromEntries(kinds))}`);
    }
    console.log(`[redis] calls: ${JSON.stringify(callTotals(agents))}; latency: ${JSON.stringify(latencies(agents))}`);
  });
});
