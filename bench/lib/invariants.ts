// The invariants a pm-agent cluster must keep whatever fails under it, checked against Postgres
// (the source of truth), RabbitMQ and the agents' own view. Used by bench/chaos.ts after each
// fault and by the chaos test of the cluster suite:
//
//   - every task done exactly once: one completed assignment per task, nothing left active;
//   - leases of dead agents returned by the sweeper once their grace is over, and only theirs;
//   - no duplicate assignment ever observed (sampled during the run, not only at the end);
//   - every outbox event published, and processed once by each consumer it is routed to (the
//     built-in board got exactly one comment per event that makes one), nothing dead-lettered.
import { connect as amqpConnect } from 'amqplib';
import { Client, type QueryResultRow } from 'pg';
import type { EventType } from '../../src/modules/events/event-types';
import { QUEUE_NAMES, queuesFor, topology, type QueueName } from '../../src/modules/events/topology';
import { boardEffect } from '../../src/modules/kanban/board-effects';
import type { SimAgent } from '../../test/support/sim-agent';

export interface Check {
  name: string;
  ok: boolean;
  detail?: string;
}

/** Anything that runs a query: a pg Pool or Client. */
export interface Sql {
  query<R extends QueryResultRow = QueryResultRow>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const few = (xs: readonly unknown[], n = 5): string => `${JSON.stringify(xs.slice(0, n))}${xs.length > n ? ` … (${xs.length} in all)` : ''}`;

/** A time interval during which a dependency was down (the sweeper could not run then). */
export interface Outage {
  from: number;
  to: number;
}

// ---- during the run -------------------------------------------------------------------------

/**
 * Records every delivery a consumer tries to record, also the duplicates processed_events turns
 * away (a BEFORE trigger fires before ON CONFLICT): redeliveries absorbed, per consumer. Lives in
 * the run's own database only.
 */
export async function installDeliveryLog(db: Sql): Promise<void> {
  await db.query(`
    CREATE TABLE IF NOT EXISTS bench_delivery_log (seq bigserial PRIMARY KEY, consumer text NOT NULL, event_id bigint NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
    CREATE OR REPLACE FUNCTION bench_log_delivery() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO bench_delivery_log (consumer, event_id) VALUES (NEW.consumer, NEW.event_id); RETURN NEW; END $$;
    DROP TRIGGER IF EXISTS bench_log_delivery ON processed_events;
    CREATE TRIGGER bench_log_delivery BEFORE INSERT ON processed_events FOR EACH ROW EXECUTE FUNCTION bench_log_delivery();
  `);
}

/**
 * Samples Postgres through the run: a task with two active assignments or an agent with two
 * active tasks (capacity 1) is a violation; also the unsent outbox rows and how far the most
 * overdue active lease is past its grace. Survives a Postgres restart: a failed sample is counted
 * and the connection opened again.
 */
export class InvariantSampler {
  samples = 0;
  errors = 0;
  readonly violations: { at: number; what: string }[] = [];
  readonly pending: { at: number; n: number }[] = [];
  /** Largest time an active lease was seen past expiry + grace. */
  maxOverdueMs = 0;
  readonly overdue: { at: number; ms: number }[] = [];
  private client?: Client;
  private stopped = false;
  private running?: Promise<void>;

  constructor(
    private readonly url: string,
    private readonly projectId: string,
    private readonly everyMs = 100,
  ) {}

  start(): void {
    this.running = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
    await this.client?.end().catch(() => undefined);
    this.client = undefined;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        if (!this.client) {
          const c = new Client({ connectionString: this.url, connectionTimeoutMillis: 2000 });
          c.on('error', () => undefined); // a dead server shows as a failed query below
          await c.connect();
          this.client = c;
        }
        await this.sample(this.client);
      } catch {
        this.errors++;
        const c = this.client;
        this.client = undefined;
        await c?.end().catch(() => undefined);
        await sleep(250);
      }
      await sleep(this.everyMs);
    }
  }

  private async sample(c: Client): Promise<void> {
    const r = await c.query<{ dups: { kind: string; id: string; n: number }[]; pending: number; overdue_ms: number }>(
      `SELECT
         (SELECT coalesce(json_agg(x), '[]'::json) FROM (
            SELECT 'task' AS kind, task_id::text AS id, count(*)::int AS n FROM assignments
             WHERE project_id = $1 AND state = 'active' GROUP BY task_id HAVING count(*) > 1
            UNION ALL
            SELECT 'agent', agent_id, count(*)::int FROM assignments
             WHERE project_id = $1 AND state = 'active' GROUP BY agent_id HAVING count(*) > 1) x) AS dups,
         (SELECT count(*)::int FROM outbox WHERE project_id = $1 AND published_at IS NULL) AS pending,
         (SELECT coalesce(max(extract(epoch FROM clock_timestamp() - (lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0)))) * 1000, 0)::float8
            FROM assignments WHERE project_id = $1 AND state = 'active'
             AND lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0) < clock_timestamp()) AS overdue_ms`,
      [this.projectId],
    );
    const at = Date.now();
    const row = r.rows[0];
    this.samples++;
    for (const d of row.dups) this.violations.push({ at, what: `${d.kind} ${d.id} has ${d.n} active assignments` });
    this.pending.push({ at, n: row.pending });
    if (row.overdue_ms > 0) this.overdue.push({ at, ms: row.overdue_ms });
    this.maxOverdueMs = Math.max(this.maxOverdueMs, row.overdue_ms);
  }
}

export function samplerChecks(s: InvariantSampler): Check[] {
  return [
    {
      name: 'no duplicate assignment ever observed (sampled)',
      ok: s.violations.length === 0 && s.samples > 0,
      detail: `${s.samples} samples (${s.errors} failed while Postgres was away)${s.violations.length ? `; ${few(s.violations.map((v) => v.what))}` : ''}`,
    },
  ];
}

// ---- after the run --------------------------------------------------------------------------

export interface TaskFigures {
  tasks: number;
  done: number;
  assignments: number;
  completed_assignments: number;
  active_assignments: number;
  expired_assignments: number;
  dead_agent_leases: number;
  dead_agent_leases_recovered: number;
  sweep_overshoot_max_ms: number;
}

/**
 * Postgres after the run: each task done with exactly one completed assignment; nothing active;
 * every lease of a dead agent expired by the sweeper within the sweep interval (plus `slackMs`,
 * plus any outage that overlapped) after expiry + grace, and its task finished by someone else;
 * no other lease expired (live agents kept theirs).
 */
export async function checkTasks(
  db: Sql,
  projectId: string,
  opts: { deadAgents: readonly string[]; sweepIntervalMs: number; slackMs?: number; outages?: readonly Outage[] },
): Promise<{ checks: Check[]; figures: TaskFigures }> {
  const tasks = (
    await db.query<{ id: string; status: string; completed: number; active: number; completed_by: string[] }>(
      `SELECT t.id::text AS id, t.status,
              count(a.id) FILTER (WHERE a.state = 'completed')::int AS completed,
              count(a.id) FILTER (WHERE a.state = 'active')::int AS active,
              coalesce(array_agg(a.agent_id) FILTER (WHERE a.state = 'completed'), '{}') AS completed_by
         FROM tasks t LEFT JOIN assignments a ON a.task_id = t.id
        WHERE t.project_id = $1 GROUP BY t.id, t.status`,
      [projectId],
    )
  ).rows;
  const assignments = (
    await db.query<{ id: string; task_id: string; agent_id: string; state: string; end_reason: string | null; deadline: Date; ended_at: Date | null }>(
      `SELECT id::text AS id, task_id::text AS task_id, agent_id, state, end_reason,
              lease_expires_at + make_interval(secs => lease_grace_ms / 1000.0) AS deadline, ended_at
         FROM assignments WHERE project_id = $1`,
      [projectId],
    )
  ).rows;
  const dead = new Set(opts.deadAgents);
  const slack = opts.slackMs ?? 2000;
  const notOnce = tasks.filter((t) => t.status !== 'done' || t.completed !== 1);
  const active = assignments.filter((a) => a.state === 'active');
  const deadLeases = assignments.filter((a) => dead.has(a.agent_id));
  const overlap = (from: number, to: number) =>
    (opts.outages ?? []).reduce((s, o) => s + Math.max(0, Math.min(to, o.to) - Math.max(from, o.from)), 0);
  const late: string[] = [];
  let overshootMax = 0;
  for (const a of deadLeases) {
    if (a.state !== 'expired' || a.end_reason !== 'lease_expired' || !a.ended_at) {
      late.push(`${a.agent_id} ${a.task_id}: ${a.state}/${a.end_reason ?? '-'}`);
      continue;
    }
    const overshoot = a.ended_at.getTime() - a.deadline.getTime();
    overshootMax = Math.max(overshootMax, overshoot);
    const allowed = opts.sweepIntervalMs + slack + overlap(a.deadline.getTime(), a.ended_at.getTime());
    if (overshoot > allowed) late.push(`${a.agent_id} ${a.task_id}: returned ${overshoot} ms after its grace (allowed ${allowed})`);
    if (overshoot < 0) late.push(`${a.agent_id} ${a.task_id}: returned ${-overshoot} ms BEFORE its grace was over`);
  }
  const taskById = new Map(tasks.map((t) => [t.id, t]));
  const takenOver = deadLeases.filter((a) => {
    const t = taskById.get(a.task_id);
    return t && t.completed === 1 && !t.completed_by.some((x) => dead.has(x));
  });
  const liveExpired = assignments.filter((a) => a.state === 'expired' && !dead.has(a.agent_id));
  const checks: Check[] = [
    {
      name: 'every task done exactly once (one completed assignment per task)',
      ok: tasks.length > 0 && notOnce.length === 0,
      detail: `${tasks.length} tasks, ${tasks.filter((t) => t.status === 'done').length} done${notOnce.length ? `; not once: ${few(notOnce.map((t) => `${t.id} ${t.status} ×${t.completed}`))}` : ''}`,
    },
    {
      name: 'no assignment left active (none for dead agents)',
      ok: active.length === 0,
      detail: active.length ? few(active.map((a) => `${a.agent_id} ${a.task_id}${dead.has(a.agent_id) ? ' (dead agent)' : ''}`)) : undefined,
    },
    {
      name: "dead agents' leases returned by the sweeper after their grace, and their tasks finished by others",
      ok: deadLeases.length === opts.deadAgents.length && late.length === 0 && takenOver.length === deadLeases.length,
      detail:
        `${deadLeases.length} leases of ${opts.deadAgents.length} dead agents, ${takenOver.length} finished by another agent; ` +
        `latest return ${Math.round(overshootMax)} ms after expiry + grace (sweep every ${opts.sweepIntervalMs} ms)` +
        (late.length ? `; ${few(late)}` : ''),
    },
    {
      name: 'live agents kept their leases (no other lease expired)',
      ok: liveExpired.length === 0,
      detail: liveExpired.length ? few(liveExpired.map((a) => `${a.agent_id} ${a.task_id}`)) : undefined,
    },
  ];
  return {
    checks,
    figures: {
      tasks: tasks.length,
      done: tasks.filter((t) => t.status === 'done').length,
      assignments: assignments.length,
      completed_assignments: assignments.filter((a) => a.state === 'completed').length,
      active_assignments: active.length,
      expired_assignments: assignments.filter((a) => a.state === 'expired').length,
      dead_agent_leases: deadLeases.length,
      dead_agent_leases_recovered: deadLeases.filter((a) => a.state === 'expired').length,
      sweep_overshoot_max_ms: Math.round(overshootMax),
    },
  };
}

/** The agents' own view: none gave up, none was refused or handed a wrong task, each task finished by one agent. */
export function checkAgents(agents: readonly SimAgent[], failures: readonly unknown[], doneTaskIds?: ReadonlySet<string>): Check[] {
  const completed = agents.flatMap((a) => a.completed);
  const seen = new Map<string, number>();
  for (const t of completed) seen.set(t, (seen.get(t) ?? 0) + 1);
  const twice = [...seen].filter(([, n]) => n > 1).map(([t, n]) => `${t} ×${n}`);
  const anomalies = agents.flatMap((a) => a.anomalies);
  const checks: Check[] = [
    { name: 'no agent gave up', ok: failures.length === 0, detail: failures.length ? few(failures.map((e) => (e as Error).message ?? String(e))) : undefined },
    { name: 'agents saw no anomaly (refused report, wrong task on resume)', ok: anomalies.length === 0, detail: anomalies.length ? few(anomalies, 3) : undefined },
    { name: 'no task completed by two agents (agents’ view)', ok: twice.length === 0, detail: `${completed.length} completions${twice.length ? `; twice: ${few(twice)}` : ''}` },
  ];
  if (doneTaskIds) {
    const missing = [...doneTaskIds].filter((t) => !seen.has(t));
    const unknown = completed.filter((t) => !doneTaskIds.has(t));
    checks.push({
      name: 'agents’ completions match the done tasks in Postgres',
      ok: missing.length === 0 && unknown.length === 0,
      detail: missing.length || unknown.length ? `done in Postgres but no agent saw it: ${few(missing)}; seen but not done: ${few(unknown)}` : undefined,
    });
  }
  return checks;
}

export interface EventFigures {
  events: number;
  events_unpublished: number;
  processed_kanban: number;
  processed_ai: number;
  processed_notifications: number;
  deliveries_absorbed: number;
  board_comments: number;
  dead_lettered: number;
  events_settle_ms: number;
}

interface OutboxRow {
  id: string;
  aggregate_id: string;
  event_type: EventType;
  payload: Record<string, unknown>;
  created_at: Date;
  published_at: Date | null;
}

/**
 * Waits (up to `timeoutMs`) for every outbox row of the project to be published and for every
 * consumer to have recorded every event routed to it, then checks: all published; per consumer
 * the processed set equals the routed set; the board holds exactly the comments the events make;
 * nothing in a dead-letter queue (when `rabbit` is given).
 */
export async function checkEvents(
  db: Sql,
  projectId: string,
  opts: { timeoutMs: number; rabbit?: { url: string; prefix: string } },
): Promise<{ checks: Check[]; figures: EventFigures }> {
  const t0 = Date.now();
  const routedFor = async () => {
    const rows = (
      await db.query<OutboxRow>(
        `SELECT id::text AS id, aggregate_id, event_type, payload, created_at, published_at FROM outbox WHERE project_id = $1 ORDER BY id`,
        [projectId],
      )
    ).rows;
    const routed = Object.fromEntries(QUEUE_NAMES.map((q) => [q, new Set(rows.filter((r) => queuesFor(r.event_type).includes(q)).map((r) => r.id))])) as Record<
      QueueName,
      Set<string>
    >;
    return { rows, routed };
  };
  const processedFor = async () => {
    const r = await db.query<{ consumer: string; event_id: string }>(
      `SELECT p.consumer, p.event_id::text AS event_id FROM processed_events p JOIN outbox o ON o.id = p.event_id WHERE o.project_id = $1`,
      [projectId],
    );
    const by = Object.fromEntries(QUEUE_NAMES.map((q) => [q, new Set<string>()])) as Record<QueueName, Set<string>>;
    const other: string[] = [];
    for (const x of r.rows) {
      if ((QUEUE_NAMES as readonly string[]).includes(x.consumer)) by[x.consumer as QueueName].add(x.event_id);
      else other.push(`${x.consumer}:${x.event_id}`);
    }
    return { by, other };
  };
  const complete = (routed: Record<QueueName, Set<string>>, by: Record<QueueName, Set<string>>) =>
    QUEUE_NAMES.every((q) => [...routed[q]].every((id) => by[q].has(id)));

  let state = await routedFor();
  let processed = await processedFor();
  for (;;) {
    const unpublished = state.rows.filter((r) => r.published_at === null).length;
    if (unpublished === 0 && complete(state.routed, processed.by)) break;
    if (Date.now() - t0 > opts.timeoutMs) break;
    await sleep(250);
    state = await routedFor();
    processed = await processedFor();
  }
  const settleMs = Date.now() - t0;
  // A late redelivery would arrive now: it must add nothing.
  await sleep(2000);
  state = await routedFor();
  processed = await processedFor();
  const { rows, routed } = state;
  const unpublished = rows.filter((r) => r.published_at === null);

  const perConsumer = QUEUE_NAMES.map((q) => ({
    q,
    missing: [...routed[q]].filter((id) => !processed.by[q].has(id)),
    extra: [...processed.by[q]].filter((id) => !routed[q].has(id)),
  }));

  // Effects once: exactly one board comment per event that makes one.
  const comments = (
    await db.query<{ task_id: string; body: string }>(`SELECT task_id::text AS task_id, body FROM board_comments WHERE project_id = $1 ORDER BY id`, [projectId])
  ).rows;
  const expected = rows
    .filter((r) => queuesFor(r.event_type).includes('kanban'))
    .flatMap((r) => {
      const e = boardEffect({ id: r.id, type: r.event_type, project_id: projectId, aggregate_id: r.aggregate_id, payload: r.payload, occurred_at: r.created_at.toISOString() });
      return e ? [{ task_id: e.taskId, body: e.comment }] : [];
    });
  const count = (list: { task_id: string; body: string }[]) => {
    const m = new Map<string, number>();
    for (const c of list) m.set(`${c.task_id}\u0000${c.body}`, (m.get(`${c.task_id}\u0000${c.body}`) ?? 0) + 1);
    return m;
  };
  const got = count(comments);
  const want = count(expected);
  const commentDiff = [...new Set([...got.keys(), ...want.keys()])]
    .filter((k) => (got.get(k) ?? 0) !== (want.get(k) ?? 0))
    .map((k) => `${k.split('\u0000')[0]} "${k.split('\u0000')[1].slice(0, 40)}": ${got.get(k) ?? 0} instead of ${want.get(k) ?? 0}`);

  let absorbed = 0;
  try {
    const r = await db.query<{ n: number }>(
      `SELECT (count(*) - count(DISTINCT (consumer, event_id)))::int AS n FROM bench_delivery_log l JOIN outbox o ON o.id = l.event_id WHERE o.project_id = $1`,
      [projectId],
    );
    absorbed = r.rows[0].n;
  } catch {
    // no delivery log installed in this database
  }

  const checks: Check[] = [
    {
      name: 'every outbox event published',
      ok: rows.length > 0 && unpublished.length === 0,
      detail: `${rows.length} events${unpublished.length ? `, ${unpublished.length} still unpublished after ${opts.timeoutMs} ms: ${few(unpublished.map((r) => `${r.id} ${r.event_type}`))}` : ''}`,
    },
    {
      name: 'every event processed once by each consumer it is routed to',
      ok: perConsumer.every((c) => c.missing.length === 0 && c.extra.length === 0) && processed.other.length === 0,
      detail:
        perConsumer.map((c) => `${c.q} ${processed.by[c.q].size}/${routed[c.q].size}${c.missing.length ? ` missing ${few(c.missing, 3)}` : ''}${c.extra.length ? ` extra ${few(c.extra, 3)}` : ''}`).join(', ') +
        `; ${absorbed} duplicate deliveries turned away`,
    },
    {
      name: 'board effects applied once (one comment per kanban event)',
      ok: commentDiff.length === 0,
      detail: `${comments.length} comments for ${expected.length} events${commentDiff.length ? `; ${few(commentDiff, 3)}` : ''}`,
    },
  ];
  let deadLettered = 0;
  if (opts.rabbit) {
    const { url, prefix } = opts.rabbit;
    let depths: Record<string, number> | { error: string };
    try {
      depths = await queueDepths(url, prefix);
    } catch (err) {
      depths = { error: (err as Error).message };
    }
    const byName = depths as Record<string, number>;
    const dl = 'error' in depths ? NaN : QUEUE_NAMES.reduce((s, q) => s + (byName[topology(prefix).queues[q].deadLetter] ?? 0), 0);
    deadLettered = dl;
    checks.push({ name: 'nothing dead-lettered', ok: dl === 0, detail: JSON.stringify(depths) });
  }
  return {
    checks,
    figures: {
      events: rows.length,
      events_unpublished: unpublished.length,
      processed_kanban: processed.by.kanban.size,
      processed_ai: processed.by.ai.size,
      processed_notifications: processed.by.notifications.size,
      deliveries_absorbed: absorbed,
      board_comments: comments.length,
      dead_lettered: deadLettered,
      events_settle_ms: settleMs,
    },
  };
}

// ---- RabbitMQ ---------------------------------------------------------------------------------

/** Messages waiting in each queue of a topology (work, retry and dead-letter queues). */
export async function queueDepths(url: string, prefix: string): Promise<Record<string, number>> {
  const t = topology(prefix);
  const conn = await amqpConnect(url);
  const out: Record<string, number> = {};
  try {
    for (const q of QUEUE_NAMES) {
      for (const name of [t.queues[q].name, t.queues[q].retry, t.queues[q].deadLetter]) {
        // checkQueue on a missing queue closes the channel: one channel per queue.
        const ch = await conn.createChannel();
        try {
          out[name] = (await ch.checkQueue(name)).messageCount;
          await ch.close();
        } catch {
          out[name] = -1;
        }
      }
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
  return out;
}

/** Deletes a run's exchanges and queues (RABBITMQ_PREFIX); returns the messages left in each queue. */
export async function deleteTopology(url: string, prefix: string): Promise<Record<string, number>> {
  const t = topology(prefix);
  const conn = await amqpConnect(url);
  const left: Record<string, number> = {};
  try {
    const ch = await conn.createChannel();
    for (const q of QUEUE_NAMES) {
      for (const name of [t.queues[q].name, t.queues[q].retry, t.queues[q].deadLetter]) left[name] = (await ch.deleteQueue(name)).messageCount;
    }
    await ch.deleteExchange(t.eventsExchange);
    await ch.deleteExchange(t.deadLetterExchange);
    await ch.close();
  } finally {
    await conn.close().catch(() => undefined);
  }
  return left;
}
